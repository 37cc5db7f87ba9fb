"""The test window, scored once: the shipped bundle's probabilities (through the Scorer's
own `probability_from_matrix`), the baselines', the headline metrics, the breakdowns and,
for the synthetic funnel, the oracle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle
from leadml.config import Config
from leadml.features.spec import encode
from leadml.model.evaluate import breakdown, headline_metrics, oracle_comparison
from leadml.model.fit import Fitted
from leadml.model.train import TimeSplit
from leadml.scoring import probability_from_matrix, stage_names

StepFn = Callable[[str], None]

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
) -> Assessment:
    """Score the test window once with the bundle and both baselines, then measure."""
    tc = config.train
    y_test = y_all.loc[split.test].to_numpy()
    step("test window (scored once)")
    X_test, _ = encode(raw.loc[split.test], bundle.spec)
    p_test = probability_from_matrix(bundle, X_test).probability
    test_raw = raw.loc[split.test]
    p_points = fitted.points.predict_proba(test_raw)[:, 1]
    p_logistic = fitted.logistic.predict_proba(test_raw)[:, 1]

    step("evaluation")
    results = {
        name: headline_metrics(y_test, p, n_boot=tc.bootstrap_rounds, seed=tc.seed)
        for name, p in (("model", p_test), ("points", p_points), ("logistic", p_logistic))
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
    return Assessment(results, oracle, breakdowns, test_frame, X_test)


def _sources(source: pd.Series | None, ids: pd.Index) -> np.ndarray:
    if source is None:
        return np.full(len(ids), "unknown", dtype=object)
    values = source.loc[ids].astype(object)
    return values.where(values.notna(), "unknown").to_numpy(dtype=object)


def _standard_moment(config: Config) -> bool:
    """The synthetic truth is defined only for the standard cutoff and window."""
    lc = config.labels
    return (
        lc.snapshot is None
        and lc.observation_days == schema.STANDARD_OBSERVATION_DAYS
        and lc.window_days == schema.STANDARD_WINDOW_DAYS
    )
