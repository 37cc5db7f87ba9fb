"""Promotion, in one place: the gate rule, the champion re-scored by its own bundle on the
challenger's test window (event and flat-export models alike), the gate against the
registry's champion, and promoting a gated challenger after the fact.

`leadml train`, `leadml retrain` and the retraining notebook all decide here, so a
challenger is judged the same way whichever path trained it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle
from leadml.config import Config, GateConfig
from leadml.errors import InputError, LeadmlError
from leadml.model.evaluate import breakdown, compare_table, headline_metrics
from leadml.model.leakage import LeakFlag
from leadml.scoring import Scorer
from leadml.tracking.log import tag_run
from leadml.tracking.registry import CHAMPION, alias_version, client_for, load_version, promote

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from leadml.model.pipeline import TrainedModel

GATE_METRICS: Final = ("roc_auc", "ece")
"""What the gate compares: ranking (ROC AUC) and calibration (ECE), on one test window."""


@dataclass(frozen=True)
class FeatureChanges:
    """How the challenger's features differ from the champion's, and the champion's columns
    the leakage guard refuses on the challenger's training data."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    suspect: tuple[LeakFlag, ...] = ()

    def text(self) -> str:
        """'features: added a, b; removed c' (empty when both use the same features)."""
        parts = [
            f"{word} {', '.join(names)}"
            for word, names in (("added", self.added), ("removed", self.removed))
            if names
        ]
        return f"features: {'; '.join(parts)}" if parts else ""


@dataclass(frozen=True)
class GateResult:
    """The promotion decision and the evidence behind it."""

    passed: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_version: str | None
    changes: FeatureChanges = field(default_factory=FeatureChanges)

    @property
    def suspect_champion(self) -> bool:
        """The champion used columns the leakage guard now refuses."""
        return bool(self.changes.suspect)


def gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    config: GateConfig,
    *,
    champion_version: str | None = None,
    changes: FeatureChanges | None = None,
    challenger_version: str | None = None,
) -> GateResult:
    """Pass when the challenger's AUC >= champion's - tolerance and ECE is no worse by > tol.

    Both sets of metrics must come from the same (the challenger's) test window. The reason
    names the features added and removed; a champion that used columns the leakage guard
    now refuses is reported as suspect (its AUC is no reason to keep it) with the command
    that replaces it, and the gate does not promote on its own.
    """
    if champion is None:
        return GateResult(True, "no champion yet", challenger, None, None)
    changes = changes or FeatureChanges()
    if changes.suspect:
        return GateResult(
            False,
            _suspect_reason(changes, champion, champion_version, challenger_version),
            challenger,
            champion,
            champion_version,
            changes,
        )
    auc_ok = challenger["roc_auc"] >= champion["roc_auc"] - config.auc_tolerance
    ece_ok = challenger["ece"] <= champion["ece"] + config.ece_tolerance
    if auc_ok and ece_ok:
        reason = (
            f"AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f}, "
            f"ECE {challenger['ece']:.4f} vs {champion['ece']:.4f}: within tolerance"
        )
    else:
        failed = []
        if not auc_ok:
            failed.append(
                f"AUC {challenger['roc_auc']:.4f} < champion {champion['roc_auc']:.4f}"
                f" - {config.auc_tolerance}"
            )
        if not ece_ok:
            failed.append(
                f"ECE {challenger['ece']:.4f} > champion {champion['ece']:.4f}"
                f" + {config.ece_tolerance}"
            )
        reason = "; ".join(failed)
    if changes.text():
        reason += f"; {changes.text()}"
    return GateResult(auc_ok and ece_ok, reason, challenger, champion, champion_version, changes)


def _suspect_reason(
    changes: FeatureChanges,
    champion: dict[str, float],
    champion_version: str | None,
    challenger_version: str | None,
) -> str:
    """Why a suspect champion's AUC is not compared, and how to replace it."""
    columns = ", ".join(dict.fromkeys(f.column for f in changes.suspect))
    evidence = "; ".join(f"{f.column} [{f.rule}]: {f.evidence}" for f in changes.suspect)
    which = f"version {champion_version}" if champion_version else "the champion"
    command = f"leadml promote {challenger_version or '<challenger version>'}"
    return (
        f"champion {which} is suspect: it used {columns}, which the leakage guard refuses on "
        f"this training data ({evidence}). Its ROC AUC {champion['roc_auc']:.4f} on this test "
        f"window is inflated by that column and is no reason to keep it; the challenger was "
        f"not promoted automatically. Replace the champion: {command}"
        + (f"; {changes.text()}" if changes.text() else "")
    )


def gate_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The gate's subset of a headline-metrics dict, as plain floats."""
    return {k: float(metrics[k]) for k in GATE_METRICS}


def same_contract(champion: Bundle, challenger: Bundle) -> bool:
    """Both models read the same kind of data (leads + events, or a flat export)."""
    return (champion.flat is None) == (challenger.flat is None)


Rescore = Callable[[Bundle, pd.DataFrame], np.ndarray]
"""The champion's probabilities on the challenger's test frame, in its order."""


def champion_probabilities(
    champion: Bundle, test_frame: pd.DataFrame, leads: pd.DataFrame, events: pd.DataFrame
) -> np.ndarray:
    """The champion's calibrated probabilities on the challenger's test window, in its order.

    The champion is scored by its own bundle (its spec, calibration and features). An event
    model scores the test leads at the challenger's cutoffs; a flat-export model scores the
    test rows of the export (`leads`: `read_flat`'s frame, index the lead id).
    """
    scorer = Scorer(champion)
    if champion.flat is not None:
        scored = scorer.score(leads.loc[test_frame.index], events, explain=False)
        return scored.frame["probability"].reindex(test_frame.index).to_numpy(dtype="float64")
    if schema.LEAD_ID not in test_frame:  # one row per lead, indexed by lead id
        return _event_probabilities(scorer, test_frame["cutoff"], leads, events)
    out = np.empty(len(test_frame), dtype="float64")  # snapshot rows: a lead once per age
    for _, rows in test_frame.groupby("snapshot", sort=False):
        cutoff = pd.Series(rows["cutoff"].to_numpy(), index=rows[schema.LEAD_ID].to_numpy())
        found = _event_probabilities(scorer, cutoff, leads, events)
        out[test_frame.index.get_indexer(rows.index)] = found
    return out


def _event_probabilities(
    scorer: Scorer, cutoff: pd.Series, leads: pd.DataFrame, events: pd.DataFrame
) -> np.ndarray:
    """An event model's probabilities for leads at the given cutoffs (index lead id)."""
    test_leads = leads[leads[schema.LEAD_ID].isin(cutoff.index)]
    scored = scorer.score(test_leads, events, cutoff=cutoff.rename(None), explain=False)
    return scored.frame["probability"].reindex(cutoff.index).to_numpy(dtype="float64")


def model_features(bundle: Bundle) -> list[str]:
    """A model's input columns: a flat model's export and calendar columns, else its spec."""
    return bundle.flat.model_columns if bundle.flat is not None else bundle.spec.names


def feature_changes(champion: Bundle, trained: TrainedModel, leads: pd.DataFrame) -> FeatureChanges:
    """The challenger's added and removed features against the champion's, and, for flat
    models, the champion's removed columns re-checked by the leakage guard (without the
    uplift check) on the challenger's training rows of the export (`leads`)."""
    mine, theirs = model_features(trained.bundle), model_features(champion)
    added = tuple(c for c in mine if c not in theirs)
    removed = tuple(c for c in theirs if c not in mine)
    if not removed or champion.flat is None or trained.bundle.flat is None:
        return FeatureChanges(added, removed)
    from leadml.errors import InputError
    from leadml.features.flat import flat_features
    from leadml.model.leakage import GuardRules, guard

    train = trained.split.train
    try:  # the export as the champion read it; a column since retyped cannot be re-checked
        raw = flat_features(leads.loc[train], champion.flat)[list(removed)]
    except (InputError, KeyError):
        return FeatureChanges(added, removed)
    y = trained.labels.frame.loc[train, "label"].to_numpy()
    report = guard(raw, y, rules=GuardRules(check_uplift=False))
    return FeatureChanges(added, removed, report.flags)


def gate_challenger(
    trained: TrainedModel,
    champion: Bundle | None,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: GateConfig,
    *,
    champion_version: str | None = None,
    challenger_version: str | None = None,
    rescore: Rescore | None = None,
) -> GateResult:
    """The gate for a freshly trained challenger against a champion bundle (or none).

    A champion trained on another kind of data cannot be scored on this test window; the
    challenger then passes as if there were no champion. `rescore`: how the champion is
    scored on the test window when `leads`/`events` do not hold the data (the Dask
    engine's, per partition); default `champion_probabilities` on them.
    """
    challenger = gate_metrics(trained.results["model"])
    if champion is None or not same_contract(champion, trained.bundle):
        return gate(challenger, None, config)
    tf = trained.test_frame
    if rescore is None:
        p = champion_probabilities(champion, tf, leads, events)
    else:
        p = rescore(champion, tf)
    metrics = headline_metrics(tf["label"].to_numpy(), p, n_boot=0)
    return gate(
        challenger,
        gate_metrics(metrics),
        config,
        champion_version=champion_version,
        changes=feature_changes(champion, trained, leads),
        challenger_version=challenger_version,
    )


def gate_against_registry(
    trained: TrainedModel,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: Config,
    client: MlflowClient,
    version: str,
    *,
    rescore: Rescore | None = None,
) -> GateResult:
    """Gate the registered challenger `version` against the registry's current champion
    (`rescore`: see `gate_challenger`)."""
    name = config.mlflow.model_name
    champion_version = alias_version(client, name, CHAMPION)
    if champion_version is None or champion_version == version:
        return gate_challenger(trained, None, leads, events, config.gate)
    champion = load_version(client, config, name, champion_version)
    return gate_challenger(
        trained,
        champion,
        leads,
        events,
        config.gate,
        champion_version=champion_version,
        challenger_version=version,
        rescore=rescore,
    )


class GatedRun(Protocol):
    """A registered, gated training run (`jobs.train.TrainOutcome`)."""

    @property
    def run_id(self) -> str: ...
    @property
    def model_name(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def gate(self) -> GateResult | None: ...


def promote_if_passed(outcome: GatedRun, config: Config) -> GateResult:
    """Promote a challenger registered with `Promotion.NEVER` if it passed its gate.

    This is the gate `leadml train` and `leadml retrain` apply, decided when the run was
    gated; it refuses when the champion has changed since (the decision would be stale).
    """
    decision = outcome.gate
    if decision is None:
        raise LeadmlError(f"run {outcome.run_id} has no gate decision to apply")
    client = client_for(config)
    current = alias_version(client, outcome.model_name, CHAMPION)
    if current != decision.champion_version and current != outcome.model_version:
        raise LeadmlError(
            f"the champion changed from version {decision.champion_version} to {current} "
            f"since version {outcome.model_version} was gated; retrain to gate it again"
        )
    if decision.passed and current != outcome.model_version:
        promote(client, outcome.model_name, outcome.model_version)
        tag_run(config, outcome.run_id, {"leadml.promoted": "true"})
    return decision


@dataclass(frozen=True)
class ChampionComparison:
    """Challenger and champion scored on the challenger's test window, side by side."""

    frame: pd.DataFrame
    """Per test lead (index lead_id): label, challenger, champion, lead_source."""
    metrics: pd.DataFrame
    """Headline metrics, one row per model."""
    by_source: pd.DataFrame
    """Per lead source: leads, conversions, and each model's ROC AUC."""


def compare_with_champion(
    trained: TrainedModel, champion: Bundle, leads: pd.DataFrame, events: pd.DataFrame
) -> ChampionComparison:
    """The gate's comparison in full: the champion re-scored with its own bundle on the
    challenger's test window (`champion_probabilities`), metrics and AUC per lead source."""
    if not same_contract(champion, trained.bundle):
        raise InputError(
            "the champion and the challenger were trained on different kinds of data",
            expected="two event models, or two flat-export models",
        )
    tf = trained.test_frame
    frame = pd.DataFrame(
        {
            "label": tf["label"].to_numpy(),
            "challenger": tf["model"].to_numpy(),
            "champion": champion_probabilities(champion, tf, leads, events),
            "lead_source": tf["lead_source"].to_numpy(),
        },
        index=tf.index,
    )
    y = frame["label"].to_numpy()
    names = {"challenger": "challenger", "champion": f"champion (v{champion.version or '?'})"}
    metrics = compare_table(
        {
            label: headline_metrics(y, frame[key].to_numpy(), n_boot=0)
            for key, label in names.items()
        }
    )
    parts = {
        key: breakdown(y, frame[key].to_numpy(), frame["lead_source"].rename("lead_source"))
        for key in names
    }
    first = parts["challenger"]
    by_source = pd.DataFrame(
        {
            "leads": first["n"],
            "conversions": first["positives"],
            "challenger_auc": first["roc_auc"],
            "champion_auc": parts["champion"]["roc_auc"].reindex(first.index),
        }
    )
    by_source["difference"] = by_source["challenger_auc"] - by_source["champion_auc"]
    return ChampionComparison(frame=frame, metrics=metrics, by_source=by_source)
