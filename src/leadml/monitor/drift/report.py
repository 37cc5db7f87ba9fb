"""Comparing a current population with a reference: PSI table, level changes, unseen
sources and calibration on recent outcomes (see `leadml.monitor.drift`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.features.spec import FeatureSpec
from leadml.monitor.drift.profiles import (
    GONE_MIN_SHARE,
    PSI_ALERT,
    PSI_WATCH,
    SCORE,
    Profile,
    Reference,
    as_text,
    psi,
    shares,
    status,
)


@dataclass(frozen=True)
class Calibration:
    """Calibration on current leads whose outcome window has closed."""

    n: int
    positives: int
    observed_rate: float
    mean_predicted: float
    ece: float
    brier: float
    roc_auc: float
    table: pd.DataFrame
    """The current leads in the ECE's equal-width probability bins (those holding leads):
    n, share, mean predicted, observed rate and gap (see `reliability_table`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the table)."""
        return {
            "n": self.n,
            "positives": self.positives,
            "observed_rate": _finite(self.observed_rate),
            "mean_predicted": _finite(self.mean_predicted),
            "ece": _finite(self.ece),
            "brier": _finite(self.brier),
            "roc_auc": _finite(self.roc_auc),
        }


def calibration_check(y: np.ndarray, p: np.ndarray) -> Calibration | None:
    """ECE, Brier, AUC and a reliability table for labelled leads; None without labels."""
    from sklearn.metrics import roc_auc_score

    from leadml.model.evaluate import expected_calibration_error

    yv = np.asarray(y, dtype=np.float64)
    pv = np.asarray(p, dtype=np.float64)
    if len(yv) == 0:
        return None
    positives = int(yv.sum())
    return Calibration(
        n=len(yv),
        positives=positives,
        observed_rate=float(yv.mean()),
        mean_predicted=float(pv.mean()),
        ece=expected_calibration_error(yv, pv),
        brier=float(np.mean((pv - yv) ** 2)),
        roc_auc=float(roc_auc_score(yv, pv)) if 0 < positives < len(yv) else math.nan,
        table=reliability_table(yv, pv),
    )


def reliability_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """The ECE's own equal-width bins (`evaluate.calibration_bins`) that hold leads: n,
    share of leads, mean predicted, observed rate and gap. The ECE is sum(share * |gap|)."""
    from leadml.model.evaluate import calibration_bins

    binned = calibration_bins(y, p)
    seen = binned.seen
    count = binned.count[seen]
    mean_predicted = binned.probability_sum[seen] / count
    observed_rate = binned.positives[seen] / count
    edges = binned.edges
    labels = [
        f"{lo:.0%}-{hi:.0%}" for lo, hi in zip(edges[:-1][seen], edges[1:][seen], strict=True)
    ]
    return pd.DataFrame(
        {
            "n": count,
            "share": count / binned.count.sum(),
            "mean_predicted": mean_predicted,
            "observed_rate": observed_rate,
            "gap": observed_rate - mean_predicted,
        },
        index=pd.Index(labels, name="predicted_probability"),
    )


@dataclass(frozen=True)
class Current:
    """The current population: raw features and calibrated probability per lead."""

    raw: pd.DataFrame
    probability: np.ndarray
    labels: pd.Series | None
    """0/1 outcome of leads whose window has closed (index lead_id); None without a
    converted_at column."""
    counts: dict[str, int]
    """How the current leads were counted: total, scored and each exclusion."""
    converted: int | None = None
    """Leads whose observation period is over that have a conversion date: `labels` count
    as outcomes only when some lead has one (`Tally.converted`). None: not counted, the
    labels are outcomes."""


OUTCOMES = ["label", "probability"]


@dataclass(frozen=True)
class Tally:
    """What `compare` needs of a current population, as quantities that add up: the tally
    of two parts of the data is the sum of theirs (the Dask engine sums one per partition).

    Bin counts per profile, level counts per categorical feature, and the (label,
    probability) pair of each labelled lead, which is small enough to gather."""

    n: int
    """Compared leads."""
    bins: dict[str, np.ndarray]
    """Per profile (the score and every spec feature): leads in each of its bins."""
    levels: dict[str, pd.Series]
    """Per categorical feature: leads holding each level (as text; missing not counted),
    most common first, ties by name."""
    outcomes: pd.DataFrame | None
    """label and probability of labelled leads (index lead_id); None without outcomes."""
    converted: int
    """Leads whose observation period is over that have a conversion date. Outcomes count
    only when some lead has one: data without conversion dates labels nothing, rather than
    every lead 0."""
    counts: dict[str, int]

    def __add__(self, other: Tally) -> Tally:
        levels = {
            name: _ordered(counts.add(other.levels[name], fill_value=0))
            for name, counts in self.levels.items()
        }
        parts = [o for o in (self.outcomes, other.outcomes) if o is not None]
        return Tally(
            n=self.n + other.n,
            bins={name: counts + other.bins[name] for name, counts in self.bins.items()},
            levels=levels,
            outcomes=pd.concat(parts) if parts else None,
            converted=self.converted + other.converted,
            counts={
                key: self.counts.get(key, 0) + other.counts.get(key, 0)
                for key in dict.fromkeys([*self.counts, *other.counts])
            },
        )


def tally(reference: Reference, current: Current, spec: FeatureSpec) -> Tally:
    """Count a current population into the reference's bins (see `Tally`)."""
    bins = {SCORE: reference.score.counts(current.probability)}
    levels: dict[str, pd.Series] = {}
    for column in spec.columns:
        values = current.raw[column.name]
        bins[column.name] = reference.feature(column.name).counts(values)
        if column.kind == "categorical" or column.name == schema.LEAD_SOURCE:
            levels[column.name] = _ordered(as_text(values).dropna().value_counts())
    outcomes = None
    if current.labels is not None:
        p = pd.Series(current.probability, index=current.raw.index).reindex(current.labels.index)
        outcomes = pd.DataFrame({"label": current.labels, "probability": p}, columns=OUTCOMES)
    converted = current.converted
    if converted is None:
        converted = 0 if current.labels is None else 1
    return Tally(
        n=len(current.raw),
        bins=bins,
        levels=levels,
        outcomes=outcomes,
        converted=converted,
        counts=dict(current.counts),
    )


def _ordered(counts: pd.Series) -> pd.Series:
    """Level counts as integers, most common first, ties by name (an order that does not
    depend on how the data was split)."""
    counts = counts.astype(np.int64)
    return counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")


def compare(
    reference: Reference,
    current: Current | Tally,
    spec: FeatureSpec,
    *,
    alert: float = PSI_ALERT,
    model: str = "",
) -> DriftReport:
    """PSI per feature and for the score, level changes, unseen sources and calibration,
    from a current population or its tally (the same numbers either way)."""
    counted = current if isinstance(current, Tally) else tally(reference, current, spec)
    rows: list[dict[str, Any]] = []
    distributions: dict[str, pd.DataFrame] = {}
    level_rows: list[dict[str, Any]] = []
    targets: list[tuple[Profile, str, str]] = [(reference.score, "score", "model")]
    for column in spec.columns:
        targets.append((reference.feature(column.name), column.field, column.family))
    for ref, field_name, family in targets:
        row, distributions[ref.name] = _psi_row(
            ref, field_name, family, counted.bins[ref.name], alert
        )
        rows.append(row)
        if ref.kind == "categorical":
            level_rows += _level_changes(ref.name, ref, counted.levels[ref.name], counted.n)
    table = pd.DataFrame(rows).set_index("feature")
    table = table.sort_values("psi", ascending=False, kind="stable")
    levels = pd.DataFrame(
        level_rows, columns=["feature", "change", "level", "reference_share", "current_share"]
    )
    unseen = _unseen_sources(counted.levels, spec)
    n = max(counted.n, 1)
    calibration = None
    counts = dict(counted.counts)
    if counted.outcomes is not None and counted.converted:
        # Lead order, so that the sums behind the metrics do not depend on the partitions.
        outcomes = counted.outcomes.sort_index(kind="stable")
        calibration = calibration_check(
            outcomes["label"].to_numpy(), outcomes["probability"].to_numpy()
        )
    else:
        counts.pop("labelled", None)
    return DriftReport(
        model=model,
        alert_threshold=alert,
        psi=table,
        levels=levels,
        distributions=distributions,
        unseen_sources=unseen,
        unseen_source_share=float(sum(unseen.values()) / n) if counted.n else 0.0,
        calibration=calibration,
        counts=counts,
        reference_window=dict(reference.window),
    )


def _psi_row(
    ref: Profile, field_name: str, family: str, counts: np.ndarray, alert: float
) -> tuple[dict[str, Any], pd.DataFrame]:
    """One feature's (or the score's) PSI table row, and its reference and current shares
    per bin, from the current leads' count in each bin."""
    now = shares(counts)
    before = np.asarray(ref.shares)
    value = psi(before, now)
    labels = ref.bin_labels()
    distribution = pd.DataFrame(
        {"reference": before, "current": now}, index=pd.Index(labels, name="bin")
    )
    biggest = int(np.argmax(np.abs(now - before)))
    row = {
        "feature": ref.name,
        "field": field_name,
        "family": family,
        "kind": ref.kind,
        "psi": value,
        "status": status(value, alert),
        "largest_change": f"{labels[biggest]}: {before[biggest]:.1%} -> {now[biggest]:.1%}",
    }
    return row, distribution


@dataclass(frozen=True)
class DriftReport:
    """Everything `leadml drift` prints, plots and logs."""

    model: str
    alert_threshold: float
    psi: pd.DataFrame
    """Index feature ('score' included); field, family, kind, psi, status, largest_change.
    Sorted by PSI, largest first."""
    levels: pd.DataFrame
    """Categorical levels that are new (absent from the reference) or gone (absent now)."""
    distributions: dict[str, pd.DataFrame]
    """Per feature: reference and current share in each bin."""
    unseen_sources: dict[str, int]
    """Lead sources the model never saw in training, with their current lead counts."""
    unseen_source_share: float
    calibration: Calibration | None
    counts: dict[str, int]
    reference_window: dict[str, str] = field(default_factory=dict)

    @property
    def score_psi(self) -> float:
        """PSI of the calibrated probability."""
        return float(self.psi["psi"].get(SCORE, 0.0))

    @property
    def max_psi(self) -> float:
        """The largest PSI of any feature or the score."""
        return float(self.psi["psi"].max()) if len(self.psi) else 0.0

    @property
    def alerts(self) -> list[str]:
        """Features (and 'score') whose PSI reaches the alert threshold."""
        return [str(name) for name in self.psi.index[self.psi["psi"] >= self.alert_threshold]]

    @property
    def alert(self) -> bool:
        """True when any PSI reaches the alert threshold (the CLI then exits 2)."""
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary: the whole PSI table, level changes and calibration."""
        return {
            "model": self.model,
            "alert_threshold": self.alert_threshold,
            "watch_threshold": PSI_WATCH,
            "alert": self.alert,
            "alerts": self.alerts,
            "max_psi": self.max_psi,
            "score_psi": self.score_psi,
            "unseen_source_share": self.unseen_source_share,
            "unseen_sources": dict(self.unseen_sources),
            "counts": dict(self.counts),
            "reference_window": dict(self.reference_window),
            "psi": {
                str(name): {"psi": float(row["psi"]), "status": str(row["status"])}
                for name, row in self.psi.iterrows()
            },
            "levels": self.levels.to_dict(orient="records"),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for MLflow (psi.<feature>, psi.max, shares, calibration)."""
        out = {f"psi.{name}": float(v) for name, v in self.psi["psi"].items()}
        out |= {
            "psi.max": self.max_psi,
            "alerts": float(len(self.alerts)),
            "unseen_source_share": self.unseen_source_share,
            "leads.current": float(self.counts.get("scored", 0)),
        }
        if self.calibration is not None:
            cal = self.calibration.to_dict()
            out |= {f"calibration.{k}": float(v) for k, v in cal.items() if v is not None}
        return out


def _level_changes(name: str, ref: Profile, counts: pd.Series, total: int) -> list[dict[str, Any]]:
    """New levels (with their share of the `total` compared leads) and gone ones."""
    total = total or 1
    known = set(ref.seen)
    out = [
        {
            "feature": name,
            "change": "new",
            "level": str(level),
            "reference_share": 0.0,
            "current_share": float(count / total),
        }
        for level, count in counts.items()
        if str(level) not in known
    ]
    for level, share in zip(ref.seen, ref.seen_shares, strict=True):
        if share >= GONE_MIN_SHARE and counts.get(level, 0) == 0:
            out.append(
                {
                    "feature": name,
                    "change": "gone",
                    "level": level,
                    "reference_share": float(share),
                    "current_share": 0.0,
                }
            )
    return out


def _unseen_sources(levels: dict[str, pd.Series], spec: FeatureSpec) -> dict[str, int]:
    """Current lead sources that are not among the model's learned levels."""
    try:
        known = set(spec.column(schema.LEAD_SOURCE).levels) - {schema.UNKNOWN}
    except KeyError:
        return {}
    source = levels[schema.LEAD_SOURCE]
    unseen = source[~source.index.isin(list(known)) & (source > 0)]
    return {str(k): int(v) for k, v in unseen.items()}


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
