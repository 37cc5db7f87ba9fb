"""Fitting: the time-ordered split, the LightGBM model, early stopping and tuning.

Everything here is core: frames and typed config in, a fitted booster out. The
orchestration (loading, evaluation, MLflow) lives in `pipeline.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.config import TrainConfig
from leadml.errors import InputError
from leadml.features.spec import FeatureSpec

ProgressFn = Callable[[int, int], None]
"""Called with (iteration, max_rounds) while boosting."""


class BoosterFit(Protocol):
    """How the booster is fitted, given the encoded train and validation windows:
    `fit_booster` on one machine; the Dask engine passes its own (`engine.train`)."""

    def __call__(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        spec: FeatureSpec,
        config: TrainConfig,
        *,
        params: dict[str, Any] | None = None,
        progress: ProgressFn | None = None,
        weight: np.ndarray | None = None,
    ) -> lgb.Booster: ...


@dataclass(frozen=True)
class TimeSplit:
    """Lead ids of the train, validation and test windows, in cutoff order."""

    train: pd.Index
    valid: pd.Index
    test: pd.Index
    windows: dict[str, dict[str, str]]
    """First and last cutoff of each window, ISO formatted."""


def time_split(cutoff: pd.Series, *, train_fraction: float, valid_fraction: float) -> TimeSplit:
    """Split leads by cutoff time: the earliest go to train, then validation, then test.

    Never random: a model is always evaluated on leads whose cutoff comes after every
    training lead's cutoff. Ties in cutoff are broken by lead id, so the split is stable.
    """
    if train_fraction + valid_fraction >= 1:
        raise InputError(
            "train_fraction + valid_fraction must leave room for a test window",
            column="train",
            value=train_fraction + valid_fraction,
            expected="a sum below 1, e.g. 0.70 + 0.15",
        )
    frame = pd.DataFrame({"cutoff": cutoff.to_numpy(), "lead_id": cutoff.index.astype(str)})
    order = frame.sort_values(["cutoff", "lead_id"], kind="mergesort").index.to_numpy()
    ids = cutoff.index[order]
    n = len(ids)
    i_train = int(round(n * train_fraction))
    i_valid = int(round(n * (train_fraction + valid_fraction)))
    parts = {"train": ids[:i_train], "valid": ids[i_train:i_valid], "test": ids[i_valid:]}
    for name, part in parts.items():
        if len(part) == 0:
            raise InputError(
                f"the {name} window is empty",
                value=f"{n} eligible leads",
                expected="enough labelled leads for train, validation and test windows",
            )
    windows = {name: window_summary(cutoff, part) for name, part in parts.items()}
    return TimeSplit(parts["train"], parts["valid"], parts["test"], windows)


def window_summary(cutoff: pd.Series, part: pd.Index) -> dict[str, str]:
    """First and last cutoff of a window, ISO formatted, and its row count."""
    return {
        "first_cutoff": cutoff.loc[part].min().isoformat(),
        "last_cutoff": cutoff.loc[part].max().isoformat(),
        "leads": str(len(part)),
    }


def available_cores() -> int:
    """Cores this process may use. LightGBM's own default (num_threads=0) was seen to run
    10-40x slower on a busy 2-core machine than the same count given explicitly."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def lgb_params(config: TrainConfig, spec: FeatureSpec, **overrides: Any) -> dict[str, Any]:
    """LightGBM parameters: seeded, deterministic, monotone where the domain is clear."""
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "lambda_l2": config.lambda_l2,
        "cat_smooth": 10.0,
        "cat_l2": 10.0,
        "max_cat_threshold": 32,
        "monotone_constraints": [c.monotone for c in spec.columns],
        "monotone_constraints_method": "intermediate",  # "advanced": 10-20x slower, no gain
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": config.num_threads or available_cores(),
        "verbosity": -1,
    }
    params.update(overrides)
    return params


def fit_booster(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    spec: FeatureSpec,
    config: TrainConfig,
    *,
    params: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """Fit LightGBM with native categoricals; early stopping watches the validation window.
    `weight`: optional per-row weights of the train window (validation is never weighted)."""
    categorical = [c.name for c in spec.columns if c.kind == "categorical"]
    dtrain = lgb.Dataset(
        X_train, label=y_train, weight=weight, categorical_feature=categorical, free_raw_data=True
    )
    dvalid = lgb.Dataset(X_valid, label=y_valid, reference=dtrain, categorical_feature=categorical)
    callbacks: list[Callable[..., None]] = [
        lgb.early_stopping(config.early_stopping_rounds, verbose=False)
    ]
    if progress is not None:

        def _report(env: lgb.callback.CallbackEnv) -> None:
            progress(env.iteration + 1, env.end_iteration)

        callbacks.append(_report)
    booster = lgb.train(
        params or lgb_params(config, spec),
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=callbacks,
    )
    # Keep only the trees up to the best iteration, so the saved model is what was chosen.
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def tune(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    spec: FeatureSpec,
    config: TrainConfig,
    n_trials: int,
) -> dict[str, Any]:
    """Optuna search on the validation window only; returns the best parameter overrides.

    The test window is never touched here: it is scored once, after the final fit.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        overrides = {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 400, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
        booster = fit_booster(
            X_train,
            y_train,
            X_valid,
            y_valid,
            spec,
            config,
            params=lgb_params(config, spec, **overrides),
        )
        p = np.clip(booster.predict(X_valid), 1e-9, 1 - 1e-9)
        return float(-np.mean(y_valid * np.log(p) + (1 - y_valid) * np.log(1 - p)))

    sampler = optuna.samplers.TPESampler(seed=config.seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return dict(study.best_params)
