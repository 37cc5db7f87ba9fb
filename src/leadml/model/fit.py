"""Fit: tuning, the LightGBM model, calibration and the two baselines, on the train and
validation windows only. The test window is not touched here (see `model.assess`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.config import TrainConfig
from leadml.features.spec import FeatureSpec, encode
from leadml.model.baselines import LogisticBaseline, PointsScore
from leadml.model.calibration import Calibrator, fit_calibrator
from leadml.model.train import BoosterFit, TimeSplit, fit_booster, lgb_params, tune

StepFn = Callable[[str], None]
BASELINE_ROWS = 100_000
"""The logistic baseline fits on at most this many train rows (a seeded sample)."""


@dataclass(frozen=True)
class Fitted:
    """The models of one training run, fitted before the test window is scored."""

    booster: lgb.Booster
    calibrator: Calibrator
    calibration_choice: dict[str, Any]
    p_valid: np.ndarray
    """Calibrated validation probabilities: the grades', scores' and drift reference's base."""
    points: PointsScore
    logistic: LogisticBaseline
    params: dict[str, Any]
    """The LightGBM parameters used (tuned when `tune_trials` > 0)."""


def fit_models(
    raw: pd.DataFrame,
    y_all: pd.Series,
    split: TimeSplit,
    spec: FeatureSpec,
    tc: TrainConfig,
    *,
    X_train: pd.DataFrame | None = None,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
    weight: np.ndarray | None = None,
    fit: BoosterFit = fit_booster,
) -> Fitted:
    """Tune (optionally), fit the booster with early stopping on validation, calibrate it on
    validation, and fit the points and logistic baselines. `X_train`: already encoded.
    `fit`: how the booster is fitted (the Dask engine's fits the whole train window on the
    cluster, `X_train` being its sample)."""
    y_train = y_all.loc[split.train].to_numpy()
    y_valid = y_all.loc[split.valid].to_numpy()
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
    booster = fit(
        X_train,
        y_train,
        X_valid,
        y_valid,
        spec,
        tc,
        params=params,
        progress=on_round,
        weight=weight,
    )

    step("calibration")
    raw_valid = np.asarray(booster.predict(X_valid, raw_score=True))
    calibrator, calibration_choice = fit_calibrator(raw_valid, y_valid, seed=tc.seed)
    p_valid = calibrator.apply(raw_valid)

    step("baselines")
    points = PointsScore().fit(raw.loc[split.valid], y_valid)
    sample = _sample(split.train, BASELINE_ROWS, tc.seed)  # a linear model needs no more
    logistic = LogisticBaseline(random_state=tc.seed).fit(
        raw.loc[sample], y_all.loc[sample].to_numpy()
    )
    return Fitted(
        booster=booster,
        calibrator=calibrator,
        calibration_choice=calibration_choice,
        p_valid=p_valid,
        points=points,
        logistic=logistic,
        params=params,
    )


def _sample(ids: pd.Index, limit: int, seed: int) -> pd.Index:
    """At most `limit` of `ids`, a seeded random sample in their original order."""
    if len(ids) <= limit:
        return ids
    chosen = np.random.default_rng(seed).choice(len(ids), size=limit, replace=False)
    return ids[np.sort(chosen)]
