"""The training pipeline: data -> labels -> features -> time split -> model -> evidence.

`fit_and_evaluate` is the pure core (frames in, a `TrainedModel` out). `train` adds the
edges: reading the folder, writing plots and the report, MLflow logging, registration,
the gate and the bundle export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import __version__, schema
from leadml.bundle import Bundle, grade_thresholds, score_quantiles
from leadml.config import Config, TrainConfig
from leadml.errors import InputError
from leadml.explain.reasons import contributions
from leadml.features.build import build_features
from leadml.features.spec import FeatureSpec, encode, learn_spec
from leadml.model.baselines import LogisticBaseline, PointsScore
from leadml.model.calibration import fit_calibrator
from leadml.model.evaluate import breakdown, compare_table, headline_metrics, oracle_comparison
from leadml.model.labels import Labels, cutoffs, data_end, flat_labels, make_labels
from leadml.model.leakage import LeakFlag, refuse_leaks
from leadml.model.train import TimeSplit, fit_booster, lgb_params, time_split, tune
from leadml.monitor.drift import REFERENCE_KEY, build_reference
from leadml.scoring import stage_names

StepFn = Callable[[str], None]
BUNDLE_METRIC_KEYS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10")


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
    """A flat model's leakage-guard report (checked, flags, allowed, evidence)."""


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
    _require_both_classes(y_all, split)
    spec = learn_spec(raw.loc[split.train], config.features)
    X_train, _ = encode(raw.loc[split.train], spec)
    leak_flags = refuse_leaks(X_train, y_all.loc[split.train].to_numpy(), tc.allow_leaky)
    return _fit_core(
        raw,
        y_all,
        eligible["cutoff"],
        split,
        spec,
        labels,
        config,
        leak_flags=leak_flags,
        X_train=X_train,
        digest=data_digest(leads, events),
        source=raw["lead_source"],
        truth=truth,
        step=step,
        on_round=on_round,
    )


def fit_and_evaluate_flat(
    frame: pd.DataFrame,
    config: Config,
    *,
    on_step: StepFn | None = None,
    on_round: Callable[[int, int], None] | None = None,
    on_warning: StepFn | None = None,
) -> TrainedModel:
    """Fit on a flat CRM export (`read_flat`'s frame and `config.dataset`): labels from the
    mapping, the leakage guard on every candidate column, then the same model, calibration,
    baselines and evaluation as the event model."""
    from leadml.data.mapping.config import resolve_types
    from leadml.features.flat import flat_catalogue, flat_features
    from leadml.model.leakage import guard

    step = on_step or (lambda _msg: None)
    warn = on_warning or (lambda _msg: None)
    tc = config.train
    if config.dataset is None:
        raise InputError("no [dataset] section in the config", expected="a flat export mapping")
    step("labels")
    found = flat_labels(frame, config.dataset, window_days=config.labels.window_days)
    rows = frame.loc[found.y.index]
    dataset = resolve_types(rows, config.dataset)
    y_all = found.y
    step("features")
    raw = flat_features(rows, dataset)
    split, order = flat_split(y_all, found.created, dataset.effective_split(), tc)
    if dataset.effective_split() == "random":
        warn(RANDOM_SPLIT_WARNING)
    _require_both_classes(y_all, split)
    step("leakage guard")
    report = guard(raw.loc[split.train], y_all.loc[split.train].to_numpy(), tc.allow_leaky)
    report.refuse()
    for flag in report.allowed_flags:
        warn(f"leakage guard: {flag.column} kept by allow_leaky despite: {flag.evidence}")
    spec = learn_spec(raw.loc[split.train], config.features, catalogue=flat_catalogue(dataset))
    n_pos = int(y_all.sum())
    labels = Labels(
        frame=pd.DataFrame({"cutoff": order, "label": y_all}),
        n_total=found.n_rows,
        n_converted_before_cutoff=0,
        n_censored=found.n_unlabelled,
        n_eligible=len(y_all),
        n_positive=n_pos,
    )
    source = dataset.source_column
    trained = _fit_core(
        raw,
        y_all,
        order,
        split,
        spec,
        labels,
        config,
        leak_flags=report.allowed_flags,
        digest=data_digest(frame, pd.DataFrame()),
        source=raw[source] if source and source in raw else None,
        truth=None,
        step=step,
        on_round=on_round,
    )
    trained.bundle = replace(trained.bundle, flat=dataset)
    trained.guard_report = report.to_dict() | {"split": dataset.effective_split()}
    return trained


RANDOM_SPLIT_WARNING = (
    "no created_at column: using a stratified random split. The test score is then "
    "optimistic whenever leads change over time (new sources, seasons, a new sales "
    "process), because test leads are interleaved with training leads. Add a created-at "
    "column to [dataset] for a time-ordered split."
)


def flat_split(
    y: pd.Series, created: pd.Series | None, mode: str, tc: TrainConfig
) -> tuple[TimeSplit, pd.Series]:
    """Train/valid/test ids of a flat export and each row's ordering time.

    time: by created_at (ties by id); file_order: by row position; random: stratified by
    label, seeded. The ordering 'time' of file_order/random rows is a synthetic stamp
    (epoch + row seconds) so the downstream windows stay well defined.
    """
    if mode == "time":
        assert created is not None
        cutoff = pd.Series(created.to_numpy(), index=y.index, name="cutoff")
        return time_split(
            cutoff, train_fraction=tc.train_fraction, valid_fraction=tc.valid_fraction
        ), cutoff
    position = np.arange(len(y))
    if mode == "random":
        position = _stratified_order(y.to_numpy(), tc)
    stamps = pd.Timestamp("1970-01-01", tz="UTC") + pd.to_timedelta(position, unit="s")
    cutoff = pd.Series(stamps, index=y.index, name="cutoff")
    ordered = y.index[np.argsort(position, kind="stable")]
    n = len(ordered)
    i_train = int(round(n * tc.train_fraction))
    i_valid = int(round(n * (tc.train_fraction + tc.valid_fraction)))
    parts = {
        "train": ordered[:i_train],
        "valid": ordered[i_train:i_valid],
        "test": ordered[i_valid:],
    }
    windows = {
        name: {"first_cutoff": f"{mode} split", "last_cutoff": f"{mode} split",
               "leads": str(len(part))}
        for name, part in parts.items()
    }  # fmt: skip
    return TimeSplit(parts["train"], parts["valid"], parts["test"], windows), cutoff


def _stratified_order(y: np.ndarray, tc: TrainConfig) -> np.ndarray:
    """A seeded permutation position per row such that every contiguous share (train,
    valid, test) holds each class in proportion: classes are interleaved evenly."""
    rng = np.random.default_rng(tc.seed)
    key = np.empty(len(y))
    for value in (0, 1):
        members = np.flatnonzero(y == value)
        rng.shuffle(members)
        key[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    order = np.argsort(key, kind="stable")
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y))
    return position


def _require_both_classes(y_all: pd.Series, split: TimeSplit) -> None:
    for name, ids in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        y = y_all.loc[ids].to_numpy()
        if len(np.unique(y)) < 2:
            raise InputError(
                f"the {name} window has only one class",
                value=f"{int(y.sum())} conversions in {len(y)} leads",
                expected="conversions and non-conversions in every time window; "
                "add data or widen the window",
            )


def _fit_core(
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
) -> TrainedModel:
    """Model, calibration, baselines and the once-only test evaluation, on raw features."""
    tc = config.train
    y_train = y_all.loc[split.train].to_numpy()
    y_valid = y_all.loc[split.valid].to_numpy()
    y_test = y_all.loc[split.test].to_numpy()
    if X_train is None:
        X_train, _ = encode(raw.loc[split.train], spec)
    X_valid, _ = encode(raw.loc[split.valid], spec)
    params = lgb_params(tc, spec)
    if tc.tune_trials > 0:
        step(f"tuning ({tc.tune_trials} trials)")
        params = lgb_params(
            tc, spec, **tune(X_train, y_train, X_valid, y_valid, spec, tc, tc.tune_trials)
        )

    step("model")
    booster = fit_booster(
        X_train, y_train, X_valid, y_valid, spec, tc, params=params, progress=on_round
    )

    step("calibration")
    raw_valid = np.asarray(booster.predict(X_valid, raw_score=True))
    calibrator, calibration_choice = fit_calibrator(raw_valid, y_valid, seed=tc.seed)
    p_valid = calibrator.apply(raw_valid)

    step("baselines")
    points = PointsScore().fit(raw.loc[split.valid], y_valid)
    logistic = LogisticBaseline(random_state=tc.seed).fit(raw.loc[split.train], y_train)

    step("test window (scored once)")
    X_test, _ = encode(raw.loc[split.test], spec)
    raw_test = np.asarray(booster.predict(X_test, raw_score=True))
    p_test = calibrator.apply(raw_test)
    test_raw = raw.loc[split.test]
    p_points = points.predict_proba(test_raw)[:, 1]
    p_logistic = logistic.predict_proba(test_raw)[:, 1]

    step("evaluation")
    results = {
        "model": headline_metrics(y_test, p_test, n_boot=tc.bootstrap_rounds, seed=tc.seed),
        "points": headline_metrics(y_test, p_points, n_boot=tc.bootstrap_rounds, seed=tc.seed),
        "logistic": headline_metrics(y_test, p_logistic, n_boot=tc.bootstrap_rounds, seed=tc.seed),
    }
    test_frame = pd.DataFrame(
        {
            "label": y_test,
            "cutoff": cutoff.loc[split.test].to_numpy(),
            "model": p_test,
            "points": p_points,
            "logistic": p_logistic,
            "lead_source": _sources(source, split.test),
            "stage": stage_names(test_raw),
        },
        index=split.test,
    )
    breakdowns = {
        "by lead source": breakdown(y_test, p_test, test_frame["lead_source"]),
        "by stage": breakdown(y_test, p_test, test_frame["stage"]),
    }
    oracle = None
    if truth is not None and _standard_moment(config):
        p_true = truth.set_index(schema.LEAD_ID)[schema.TRUE_PROBABILITY].reindex(split.test)
        if p_true.notna().all():
            test_frame["oracle"] = p_true.to_numpy()
            oracle = oracle_comparison(y_test, p_test, p_true.to_numpy())
            results["oracle"] = headline_metrics(y_test, p_true.to_numpy(), n_boot=0, seed=tc.seed)

    step("explanations")
    n_shap = min(tc.shap_sample, len(split.test))
    shap_ids = split.test[np.random.default_rng(tc.seed).permutation(len(split.test))[:n_shap]]
    shap_X = X_test.loc[shap_ids]
    shap_values = contributions(booster, shap_X)[:, :-1]

    bundle = Bundle(
        booster=booster,
        spec=spec,
        calibrator=calibrator,
        labels=config.labels,
        score_quantiles=score_quantiles(p_valid),
        grade_thresholds=grade_thresholds(p_valid),
        metrics={k: results["model"][k] for k in BUNDLE_METRIC_KEYS},
        data_digest=digest,
        training_window=split.windows,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        leadml_version=__version__,
        extra={REFERENCE_KEY: drift_reference(raw, split, spec, p_valid)},
    )
    return TrainedModel(
        bundle=bundle,
        split=split,
        labels=labels,
        results=results,
        oracle=oracle,
        breakdowns=breakdowns,
        calibration_choice=calibration_choice,
        leak_flags=leak_flags,
        test_frame=test_frame,
        shap_values=shap_values,
        shap_features=shap_X,
        params={k: v for k, v in params.items() if k != "monotone_constraints"},
    )


def _sources(source: pd.Series | None, ids: pd.Index) -> np.ndarray:
    if source is None:
        return np.full(len(ids), "unknown", dtype=object)
    values = source.loc[ids].astype(object)
    return values.where(values.notna(), "unknown").to_numpy(dtype=object)


def drift_reference(
    raw: pd.DataFrame, split: TimeSplit, spec: FeatureSpec, p_valid: np.ndarray
) -> dict[str, Any]:
    """The drift reference stored with the model: train-window features, validation scores."""
    reference = build_reference(raw.loc[split.train], spec, p_valid, window=split.windows["train"])
    return reference.to_dict()


def _standard_moment(config: Config) -> bool:
    """The synthetic truth is defined only for the standard cutoff and window."""
    lc = config.labels
    return (
        lc.snapshot is None
        and lc.observation_days == schema.STANDARD_OBSERVATION_DAYS
        and lc.window_days == schema.STANDARD_WINDOW_DAYS
    )


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """The stable headline subset of a metrics dict (the --metrics-out contract)."""
    return {k: float(metrics[k]) for k in BUNDLE_METRIC_KEYS}


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


def read_truth(data_dir: Path) -> pd.DataFrame | None:
    """The synthetic ground truth, if the folder has one. Used for evaluation only."""
    from leadml.data.io import find_table, read_table

    try:
        find_table(data_dir, schema.TRUTH)
    except Exception:
        return None
    truth = read_table(data_dir, schema.TRUTH)
    truth[schema.LEAD_ID] = truth[schema.LEAD_ID].astype(str)
    truth[schema.TRUE_PROBABILITY] = pd.to_numeric(truth[schema.TRUE_PROBABILITY])
    return truth
