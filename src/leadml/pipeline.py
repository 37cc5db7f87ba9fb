"""The training pipeline: data -> labels -> features -> time split -> model -> evidence.

`fit_and_evaluate` is the pure core (frames in, a `TrainedModel` out). `train` adds the
edges: reading the folder, writing plots and the report, MLflow logging, registration,
the gate and the bundle export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import __version__, schema
from leadml.baselines import LogisticBaseline, PointsScore
from leadml.bundle import Bundle, grade_thresholds, score_quantiles
from leadml.calibration import fit_calibrator
from leadml.config import Config
from leadml.drift import REFERENCE_KEY, build_reference
from leadml.evaluate import breakdown, compare_table, headline_metrics, oracle_comparison
from leadml.explain import contributions
from leadml.features.build import build_features
from leadml.features.spec import FeatureSpec, encode, learn_spec
from leadml.labels import Labels, cutoffs, data_end, make_labels
from leadml.leakage import LeakFlag, refuse_leaks
from leadml.scoring import stage_names
from leadml.train import TimeSplit, fit_booster, lgb_params, time_split, tune

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
    y_train = y_all.loc[split.train].to_numpy()
    y_valid = y_all.loc[split.valid].to_numpy()
    y_test = y_all.loc[split.test].to_numpy()
    for name, y in (("train", y_train), ("valid", y_valid), ("test", y_test)):
        if len(np.unique(y)) < 2:
            from leadml.errors import InputError

            raise InputError(
                f"the {name} window has only one class",
                value=f"{int(y.sum())} conversions in {len(y)} leads",
                expected="conversions and non-conversions in every time window; "
                "add data or widen the window",
            )

    spec = learn_spec(raw.loc[split.train], config.features)
    X_train, _ = encode(raw.loc[split.train], spec)
    X_valid, _ = encode(raw.loc[split.valid], spec)
    leak_flags = refuse_leaks(X_train, y_train, tc.allow_leaky)

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
    p_points = points.predict_proba(test_raw)
    p_logistic = logistic.predict_proba(test_raw)

    step("evaluation")
    results = {
        "model": headline_metrics(y_test, p_test, n_boot=tc.bootstrap_rounds, seed=tc.seed),
        "points": headline_metrics(y_test, p_points, n_boot=tc.bootstrap_rounds, seed=tc.seed),
        "logistic": headline_metrics(y_test, p_logistic, n_boot=tc.bootstrap_rounds, seed=tc.seed),
    }
    test_frame = pd.DataFrame(
        {
            "label": y_test,
            "cutoff": eligible.loc[split.test, "cutoff"].to_numpy(),
            "model": p_test,
            "points": p_points,
            "logistic": p_logistic,
            "lead_source": test_raw["lead_source"].to_numpy(),
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
        data_digest=data_digest(leads, events),
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
    from leadml.io import find_table, read_table

    try:
        find_table(data_dir, schema.TRUTH)
    except Exception:
        return None
    truth = read_table(data_dir, schema.TRUTH)
    truth[schema.LEAD_ID] = truth[schema.LEAD_ID].astype(str)
    truth[schema.TRUE_PROBABILITY] = pd.to_numeric(truth[schema.TRUE_PROBABILITY])
    return truth
