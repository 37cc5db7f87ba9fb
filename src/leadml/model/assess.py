"""The test window, scored once: the shipped bundle's probabilities (through the Scorer's
own `probability_from_matrix`), the baselines', the headline metrics, the breakdowns and,
for the synthetic funnel, the oracle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadml import schema
from leadml.bundle import Bundle
from leadml.config import Config
from leadml.features.build import build_features
from leadml.features.spec import encode
from leadml.model.evaluate import (
    breakdown,
    expected_calibration_error,
    headline_metrics,
    oracle_comparison,
)
from leadml.model.fit import Fitted
from leadml.model.labels import cutoffs, data_end, make_labels
from leadml.model.snapshots import AGE, AGE_BUCKETS, SNAPSHOT, age_bucket
from leadml.model.train import TimeSplit
from leadml.scoring import probability_from_matrix, stage_names

StepFn = Callable[[str], None]

POINTS_LEFT_OUT: Final = (
    "points baseline left out: its rules score leadml's engagement events (demo requests, "
    "pricing views, ...), which a flat export does not have, so it would rank every lead alike"
)
STANDARD_MOMENT: Final = "model_one_cutoff"
"""`results` key of a snapshot model's metrics on the test window's leads at their standard
cutoff (created_at + observation_days): comparable with one-cutoff models and the oracle."""
ONE_CUTOFF_SUFFIX: Final = "_one_cutoff"
"""Suffix of a baseline's `results` key on the one-cutoff test window (`points_one_cutoff`)."""
HEADLINE_METRICS: Final = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10")
"""The headline metrics, written once: the bundle's `metrics`, the `--metrics-out` JSON,
the CLI's results table. The gate compares a subset (`promotion.GATE_METRICS`)."""


@dataclass(frozen=True)
class Assessment:
    """What the test window showed, per scorer and per lead."""

    results: dict[str, dict[str, float]]
    """Headline test metrics per scorer: model, points, logistic (and oracle when known)."""
    oracle: dict[str, float] | None
    breakdowns: dict[str, pd.DataFrame]
    test_frame: pd.DataFrame
    """Per test lead: label, cutoff, model and baseline probabilities, segments."""
    X_test: pd.DataFrame
    """The encoded test window (the SHAP sample is drawn from it)."""
    by_age: pd.DataFrame | None = None
    """Snapshot training: ROC AUC, ECE, mean predicted and realized per lead-age bucket."""


class Assess(Protocol):
    """How the test window is scored once and measured: `assess_test_window` on one
    machine; the Dask engine scores its partitions and measures the gathered frame."""

    def __call__(
        self,
        bundle: Bundle,
        fitted: Fitted,
        raw: pd.DataFrame,
        y_all: pd.Series,
        cutoff: pd.Series,
        split: TimeSplit,
        config: Config,
        *,
        source: pd.Series | None,
        truth: pd.DataFrame | None,
        step: StepFn,
        rows: pd.DataFrame | None = None,
    ) -> Assessment: ...


def assess_test_window(
    bundle: Bundle,
    fitted: Fitted,
    raw: pd.DataFrame,
    y_all: pd.Series,
    cutoff: pd.Series,
    split: TimeSplit,
    config: Config,
    *,
    source: pd.Series | None,
    truth: pd.DataFrame | None,
    step: StepFn,
    rows: pd.DataFrame | None = None,
) -> Assessment:
    """Score the test window once with the bundle and both baselines, then measure.

    With snapshot `rows` (lead_id and age_days per row) the test frame carries both, the
    metrics are also reported per lead-age bucket; the oracle, defined only at the standard
    cutoff, is then compared by `assess_standard_moment` instead."""
    step("test window (scored once)")
    test_raw = raw.loc[split.test]
    test_frame, X_test = scored_test_rows(
        bundle,
        {"points": fitted.points, "logistic": fitted.logistic},
        test_raw,
        y_all.loc[split.test].to_numpy(),
        cutoff.loc[split.test],
        source=None if source is None else source.loc[split.test],
        rows=None if rows is None else rows.loc[split.test],
    )
    step("evaluation")
    return measure_test_window(test_frame, X_test, config, truth=truth)


def scored_test_rows(
    bundle: Bundle,
    baselines: Mapping[str, Any],
    raw: pd.DataFrame,
    y: np.ndarray,
    cutoff: pd.Series,
    *,
    source: pd.Series | None,
    rows: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test rows scored by the bundle (the Scorer's `probability_from_matrix`) and the
    baselines: label, cutoff, one probability column per scorer, segments (and lead_id,
    snapshot, age_days for snapshot `rows`); and the encoded rows. Runs on any share of
    the window (the Dask engine: per partition, then gathered)."""
    X, _ = encode(raw, bundle.spec)
    scorers = {"model": probability_from_matrix(bundle, X).probability}
    if bundle.flat is None:  # the points rules read leadml's events (see POINTS_LEFT_OUT)
        scorers["points"] = baselines["points"].predict_proba(raw)[:, 1]
    scorers["logistic"] = baselines["logistic"].predict_proba(raw)[:, 1]
    frame = pd.DataFrame(
        {
            "label": y,
            "cutoff": cutoff.to_numpy(),
            **scorers,
            "lead_source": _sources(source, raw.index),
            "stage": stage_names(raw),
        },
        index=raw.index,
    )
    if rows is not None:
        for column in (schema.LEAD_ID, SNAPSHOT, AGE):
            frame[column] = rows[column].to_numpy()
    return frame, X


def measure_test_window(
    test_frame: pd.DataFrame,
    X_test: pd.DataFrame,
    config: Config,
    *,
    truth: pd.DataFrame | None,
) -> Assessment:
    """Headline metrics per scorer, breakdowns, metrics by lead age (snapshot rows) and
    the oracle (one-cutoff rows) of the scored test rows (`scored_test_rows`). `X_test`:
    encoded test rows, all or a sample (the SHAP sample is drawn from it)."""
    tc = config.train
    y_test = test_frame["label"].to_numpy()
    p_test = test_frame["model"].to_numpy()
    names = [n for n in ("model", "points", "logistic") if n in test_frame.columns]
    results = {
        name: headline_metrics(
            y_test, test_frame[name].to_numpy(), n_boot=tc.bootstrap_rounds, seed=tc.seed
        )
        for name in names
    }
    breakdowns = {
        "by lead source": breakdown(y_test, p_test, test_frame["lead_source"]),
        "by stage": breakdown(y_test, p_test, test_frame["stage"]),
    }
    by_age = None
    snapshots = AGE in test_frame.columns
    if snapshots:
        by_age = metrics_by_age(y_test, p_test, test_frame[AGE].to_numpy())
    oracle = None
    if truth is not None and not snapshots and _standard_moment(config):
        oracle = _oracle(truth, test_frame, results, seed=tc.seed)
    return Assessment(results, oracle, breakdowns, test_frame, X_test, by_age)


def metrics_by_age(y: np.ndarray, p: np.ndarray, age_days: np.ndarray) -> pd.DataFrame:
    """Per lead-age bucket (and all): rows, ROC AUC, ECE, mean predicted and realized."""
    buckets = age_bucket(age_days)
    out = {}
    for name, _, _ in AGE_BUCKETS:
        inside = buckets == name
        if inside.any():
            out[name] = _calibration_row(y[inside], p[inside])
    out["all"] = _calibration_row(y, p)
    return pd.DataFrame(out).T.rename_axis("lead age (days)")


def table_records(frame: pd.DataFrame | None) -> dict[str, dict[str, float]] | None:
    """A small table as {row: {column: value}} for JSON and MLflow (None when absent)."""
    if frame is None:
        return None
    return {str(k): {str(c): float(v) for c, v in row.items()} for k, row in frame.iterrows()}


def _calibration_row(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = 0 < y.sum() < len(y)
    return {
        "rows": float(len(y)),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "ece": expected_calibration_error(y, p),
        "mean_predicted": float(p.mean()),
        "realized": float(y.mean()),
    }


def _oracle(
    truth: pd.DataFrame,
    test_frame: pd.DataFrame,
    results: dict[str, dict[str, float]],
    *,
    seed: int,
) -> dict[str, float] | None:
    """Model vs the generator's true probability on the one-cutoff test window."""
    true = truth.set_index(schema.LEAD_ID)[schema.TRUE_PROBABILITY]
    p_true = true.reindex(test_frame.index).to_numpy()
    if np.isnan(p_true).any():
        return None
    test_frame["oracle"] = p_true
    y = test_frame["label"].to_numpy()
    results["oracle"] = headline_metrics(y, p_true, n_boot=0, seed=seed)
    return oracle_comparison(y, test_frame["model"].to_numpy(), p_true)


def standard_view(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: Config,
    *,
    end: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every lead at its standard cutoff (created_at + observation_days) whose window has
    closed: labels (cutoff, label; index lead_id) and raw features. Where one-cutoff models,
    the oracle and drift look at leads. `end`: the end of all the data (default: of these
    frames; the Dask engine passes the global one to each partition)."""
    cut = cutoffs(leads, config.labels)
    made = make_labels(
        leads,
        cut,
        window_days=config.labels.window_days,
        data_end=data_end(leads, events) if end is None else end,
    )
    frame = made.frame
    rows = leads[leads[schema.LEAD_ID].isin(frame.index)]
    raw = build_features(rows, events, frame["cutoff"], config.features).loc[frame.index]
    return frame, raw


def assess_standard_moment(
    bundle: Bundle,
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    config: Config,
    *,
    truth: pd.DataFrame | None,
    results: dict[str, dict[str, float]],
    baselines: Mapping[str, Any] | None = None,
) -> dict[str, float] | None:
    """A snapshot model on the one-cutoff test window (`frame`, `raw`: the leads whose
    standard cutoff falls in the test window, from `standard_view`), scored once there.
    This is where the generator's truth is defined, so the oracle is compared here; at
    other ages the generator defines no true probability to compare with.

    Adds `results[STANDARD_MOMENT]` (and `results["oracle"]` with truth) and returns the
    oracle comparison (None without truth)."""
    if frame.empty or frame["label"].nunique() < 2:
        return None
    scored = score_standard_moment(bundle, frame, raw, baselines)
    return measure_standard_moment(scored, config, truth=truth, results=results)


def score_standard_moment(
    bundle: Bundle,
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    baselines: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Leads at their standard cutoff scored by the bundle and each baseline: label and
    one probability column per scorer (index lead_id). Runs on any share of the leads."""
    X, _ = encode(raw, bundle.spec)
    scored = {
        "label": frame["label"].to_numpy(),
        "model": probability_from_matrix(bundle, X).probability,
    }
    for name, baseline in (baselines or {}).items():
        scored[name] = baseline.predict_proba(raw)[:, 1]
    return pd.DataFrame(scored, index=frame.index)


def measure_standard_moment(
    scored: pd.DataFrame,
    config: Config,
    *,
    truth: pd.DataFrame | None,
    results: dict[str, dict[str, float]],
) -> dict[str, float] | None:
    """`assess_standard_moment`'s figures from the scored leads (`score_standard_moment`)."""
    if scored.empty or scored["label"].nunique() < 2:
        return None
    y = scored["label"].to_numpy()
    seed = config.train.seed
    results[STANDARD_MOMENT] = headline_metrics(
        y, scored["model"].to_numpy(), n_boot=0, seed=seed
    ) | {"leads": float(len(scored))}
    for name in scored.columns.drop(["label", "model"]):
        results[f"{name}{ONE_CUTOFF_SUFFIX}"] = headline_metrics(
            y, scored[name].to_numpy(), n_boot=0, seed=seed
        )
    if truth is None or not _standard_moment(config):
        return None
    view = scored[["label", "model"]].copy()
    return _oracle(truth, view, results, seed=seed)


def _sources(source: pd.Series | None, ids: pd.Index) -> np.ndarray:
    if source is None:
        return np.full(len(ids), "unknown", dtype=object)
    values = source.astype(object)
    return values.where(values.notna(), "unknown").to_numpy(dtype=object)


def _standard_moment(config: Config) -> bool:
    """The synthetic truth is defined only for the standard cutoff and window."""
    lc = config.labels
    return (
        lc.snapshot is None
        and lc.observation_days == schema.STANDARD_OBSERVATION_DAYS
        and lc.window_days == schema.STANDARD_WINDOW_DAYS
    )
