"""The training pipeline: data -> labels -> features -> split -> fit -> assess -> bundle.

`fit_and_evaluate` (leads + events) and `model.flat_pipeline.fit_and_evaluate_flat` (a flat
CRM export) are the pure core: frames in, a `TrainedModel` out. Each builds labels and
features, then shares the same three steps (`fit_core`): `model.fit` (tuning, LightGBM,
calibration, baselines), `model.assemble` (the bundle) and `model.assess` (the test window,
scored once through the bundle). `jobs.train` adds the edges: files, MLflow, the gate
and the bundle export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle
from leadml.config import Config
from leadml.data.mapping.config import DatasetConfig
from leadml.features.build import build_features
from leadml.features.spec import FeatureSpec, encode, learn_spec
from leadml.model.assemble import (
    assemble_bundle,
    shap_sample,
    with_metrics,
    with_standard_reference,
)
from leadml.model.assess import (
    HEADLINE_METRICS,
    Assess,
    assess_standard_moment,
    assess_test_window,
    standard_view,
)
from leadml.model.evaluate import compare_table
from leadml.model.fit import fit_models
from leadml.model.labels import Labels, cutoffs, data_end, make_labels
from leadml.model.leakage import EVENT_RULES, LeakFlag, guard
from leadml.model.snapshots import lead_weights, snapshot_rows, snapshot_split
from leadml.model.split import require_both_classes
from leadml.model.train import BoosterFit, TimeSplit, fit_booster, time_split

StepFn = Callable[[str], None]
LEAD_ID = schema.LEAD_ID


@dataclass
class TrainedModel:
    """Everything the fit produced, before any I/O: the bundle and the evidence for it."""

    bundle: Bundle
    split: TimeSplit
    labels: Labels
    results: dict[str, dict[str, float]]
    """Headline test metrics per scorer: model, points, logistic (and oracle when known)."""
    oracle: dict[str, float] | None
    breakdowns: dict[str, pd.DataFrame]
    calibration_choice: dict[str, Any]
    leak_flags: list[LeakFlag]
    test_frame: pd.DataFrame
    """Per test lead: label, cutoff, model and baseline probabilities, segments."""
    shap_values: np.ndarray
    shap_features: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    guard_report: dict[str, Any] = field(default_factory=dict)
    """The leakage guard's report (`GuardReport.to_dict`: rules, flags, allowed and every
    checked column's figures and verdict); a flat model's also says its split."""
    by_age: pd.DataFrame | None = None
    """Snapshot training: test-window metrics per lead-age bucket (`model.assess`)."""
    snapshot_counts: pd.DataFrame | None = None
    """Snapshot training: rows, positives, excluded and censored per snapshot age."""
    baselines: dict[str, Any] = field(default_factory=dict)
    """The fitted baselines (points, logistic), to score other windows the same way."""
    notes: list[str] = field(default_factory=list)
    """One line each: choices the run made that a reader of its results should know."""
    engine: dict[str, Any] = field(default_factory=dict)
    """The Dask engine's run: engine, workers, partitions, sample_rows (empty: local)."""


def data_digest(leads: pd.DataFrame, events: pd.DataFrame) -> str:
    """A content hash of the training data (row order and values), for lineage."""
    digest = hashlib.sha256()
    for frame in (leads, events):
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_and_evaluate(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: Config,
    *,
    truth: pd.DataFrame | None = None,
    on_step: StepFn | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> TrainedModel:
    """Fit the calibrated model and both baselines; score the test window exactly once."""
    step = on_step or (lambda _msg: None)
    tc = config.train
    if config.labels.uses_snapshots:
        return _fit_snapshots(leads, events, config, truth=truth, step=step, on_round=on_round)

    step("labels")
    cut = cutoffs(leads, config.labels)
    labels = make_labels(
        leads, cut, window_days=config.labels.window_days, data_end=data_end(leads, events)
    )
    eligible = labels.frame
    y_all = eligible["label"]

    step("features")
    lead_rows = leads[leads[schema.LEAD_ID].isin(eligible.index)]
    raw = build_features(lead_rows, events, eligible["cutoff"], config.features)
    raw = raw.loc[eligible.index]

    split = time_split(
        eligible["cutoff"], train_fraction=tc.train_fraction, valid_fraction=tc.valid_fraction
    )
    require_both_classes(y_all, split)
    return _guard_and_fit(
        raw,
        y_all,
        eligible["cutoff"],
        split,
        labels,
        config,
        spec_rows=split.train,
        digest=data_digest(leads, events),
        truth=truth,
        step=step,
        on_round=on_round,
    )


def _guard_and_fit(
    raw: pd.DataFrame,
    y_all: pd.Series,
    cutoff: pd.Series,
    split: TimeSplit,
    labels: Labels,
    config: Config,
    *,
    spec_rows: pd.Index,
    digest: str,
    truth: pd.DataFrame | None,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
    rows: pd.DataFrame | None = None,
) -> TrainedModel:
    """Learn the spec on `spec_rows` of the train window, refuse leaky columns, then fit
    (leads + events: one-cutoff rows, or snapshot `rows`)."""
    spec = learn_spec(raw.loc[spec_rows], config.features, vocabulary=raw)
    X_train, _ = encode(raw.loc[split.train], spec)
    # leadml's own features are computed as of the cutoff: only the AUC rule refuses them,
    # and the guard's table (every figure) is kept for the run all the same.
    y_train = y_all.loc[split.train].to_numpy()
    report = guard(X_train, y_train, config.train.allow_leaky, EVENT_RULES)
    report.refuse()
    trained = fit_core(
        raw,
        y_all,
        cutoff,
        split,
        spec,
        labels,
        config,
        leak_flags=report.allowed_flags,
        X_train=X_train,
        digest=digest,
        source=raw["lead_source"],
        truth=truth,
        step=step,
        on_round=on_round,
        rows=rows,
    )
    trained.guard_report = report.to_dict()
    return trained


def _fit_snapshots(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: Config,
    *,
    truth: pd.DataFrame | None,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
) -> TrainedModel:
    """Snapshot training (`model.snapshots`): every lead on every snapshot while it was open,
    split on snapshot time with a label-window gap before each later fold, then the same
    fit, bundle and test window as one-cutoff rows; the one-cutoff view is scored once too
    (oracle, baselines) and carries the drift reference."""
    tc = config.train
    step("labels and features at each snapshot")
    snaps = snapshot_rows(
        leads,
        events,
        config.labels,
        config.features,
        end=data_end(leads, events),
        on_snapshot=lambda name: step(f"snapshot {name}"),
        max_rows=config.labels.snapshot_max_rows,
        seed=tc.seed,
    )
    step("split, spec and leakage guard")
    rows, raw = snaps.rows, snaps.raw
    y_all = rows["label"]
    split = snapshot_split(
        rows["cutoff"],
        train_fraction=tc.train_fraction,
        valid_fraction=tc.valid_fraction,
        window_days=config.labels.window_days,
    )
    require_both_classes(y_all, split)
    # Levels are learned from leads, not rows: a lead seen at ten snapshots is still one lead
    # of its campaign (`campaign_min_leads`), so levels mean what they mean for one cutoff.
    trained = _guard_and_fit(
        raw,
        y_all,
        rows["cutoff"],
        split,
        snaps.labels,
        config,
        spec_rows=rows.loc[split.train].drop_duplicates(LEAD_ID).index,
        digest=data_digest(leads, events),
        truth=truth,
        step=step,
        on_round=on_round,
        rows=rows,
    )
    trained.snapshot_counts = snaps.per_snapshot
    step("the one-cutoff view: test window (scored once) and drift reference")
    frame, std_raw = standard_view(leads, events, config)
    at = frame["cutoff"]
    valid_at = rows.loc[split.valid, "cutoff"]
    in_train = (at <= rows.loc[split.train, "cutoff"].max()).to_numpy()
    in_valid = ((at >= valid_at.min()) & (at <= valid_at.max())).to_numpy()
    test = (at >= rows.loc[split.test, "cutoff"].min()).to_numpy()
    trained.oracle = assess_standard_moment(
        trained.bundle,
        frame[test],
        std_raw[test],
        config,
        truth=truth,
        results=trained.results,
        baselines=trained.baselines,
    )
    trained.bundle = with_standard_reference(
        trained.bundle, std_raw[in_train], at[in_train], std_raw[in_valid]
    )
    return trained


def fit_core(
    raw: pd.DataFrame,
    y_all: pd.Series,
    cutoff: pd.Series,
    split: TimeSplit,
    spec: FeatureSpec,
    labels: Labels,
    config: Config,
    *,
    leak_flags: list[LeakFlag],
    X_train: pd.DataFrame | None = None,
    digest: str,
    source: pd.Series | None,
    truth: pd.DataFrame | None,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
    rows: pd.DataFrame | None = None,
    flat: DatasetConfig | None = None,
    fit: BoosterFit = fit_booster,
    assess: Assess = assess_test_window,
) -> TrainedModel:
    """Fit, assemble the bundle, score the test window once through it, sample SHAP.

    `rows`: snapshot rows (lead_id, age_days per row) when training on snapshots; `flat`:
    a flat export's mapping as trained (types, calendar features, id-like columns set aside).
    The Dask engine passes the gathered sample as `raw` (train sample + validation) with its
    own booster `fit` and test-window `assess` (distributed predictions)."""
    weight = None
    if rows is not None and config.train.snapshot_weighting == "lead":
        weight = lead_weights(rows.loc[split.train, LEAD_ID].to_numpy())
    fitted = fit_models(
        raw,
        y_all,
        split,
        spec,
        config.train,
        X_train=X_train,
        step=step,
        on_round=on_round,
        weight=weight,
        fit=fit,
    )
    bundle = assemble_bundle(fitted, raw, split, spec, config, digest=digest, rows=rows)
    if flat is not None:  # a flat export's mapping: how serving reads its rows
        bundle = replace(bundle, flat=flat)
    assessed = assess(
        bundle,
        fitted,
        raw,
        y_all,
        cutoff,
        split,
        config,
        source=source,
        truth=truth,
        step=step,
        rows=rows,
    )
    step("explanations")
    shap_values, shap_features = shap_sample(bundle.booster, assessed.X_test, config.train)
    return TrainedModel(
        bundle=with_metrics(bundle, assessed.results["model"]),
        split=split,
        labels=labels,
        results=assessed.results,
        oracle=assessed.oracle,
        breakdowns=assessed.breakdowns
        | ({} if assessed.by_age is None else {"by lead age": assessed.by_age}),
        calibration_choice=fitted.calibration_choice,
        leak_flags=leak_flags,
        test_frame=assessed.test_frame,
        shap_values=shap_values,
        shap_features=shap_features,
        params={k: v for k, v in fitted.params.items() if k != "monotone_constraints"},
        by_age=assessed.by_age,
        baselines={"points": fitted.points, "logistic": fitted.logistic},
    )


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """The stable headline subset of a metrics dict (the --metrics-out contract)."""
    return {k: float(metrics[k]) for k in HEADLINE_METRICS}


def comparison_table(trained: TrainedModel) -> pd.DataFrame:
    """Model vs baselines vs oracle on every headline metric."""
    return compare_table(trained.results)


def label_summary(labels: Labels) -> dict[str, int]:
    """Counts of the label construction, for the report and the run."""
    return {
        "leads": labels.n_total,
        "eligible": labels.n_eligible,
        "positives": labels.n_positive,
        "excluded_converted_before_cutoff": labels.n_converted_before_cutoff,
        "censored_window_not_closed": labels.n_censored,
    }
