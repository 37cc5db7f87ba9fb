"""The plain reference: LightGBM as a data scientist would first try it on the same rows.

LightGBM's default parameters (what `LGBMClassifier()` uses: 31 leaves, learning rate 0.1,
20 rows per leaf), categoricals as pandas categories,
early stopping on the validation rows leadml uses for its own early stopping, no
calibration. `leadml evaluate` trains it on the same splits as leadml, so the
difference between the two is what leadml's defaults buy over the generic default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.model.train import available_cores

MAX_ROUNDS = 2000
STOPPING_ROUNDS = 50


def as_lightgbm_frame(
    raw: pd.DataFrame, levels: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    """Raw flat features as LightGBM's pandas input: numbers as float64, text as a
    categorical with the given levels (learnt on the train rows when `levels` is None).
    The plain reference and the guard's uplift check both read frames this way."""
    out: dict[str, Any] = {}
    for name in raw.columns:
        values = raw[name]
        if pd.api.types.is_numeric_dtype(values):
            out[name] = values.astype(np.float64)
        else:
            text = values.astype(object).where(values.notna(), None)
            known = None if levels is None else levels.get(str(name))
            out[name] = pd.Categorical(text, categories=known)
    return pd.DataFrame(out, index=raw.index)


@dataclass(frozen=True)
class PlainReference:
    """A fitted default LightGBM and the category levels it was fitted with."""

    booster: lgb.Booster
    levels: dict[str, list[str]]

    def predict_proba(self, raw: pd.DataFrame) -> np.ndarray:
        """P(converted) per row of `raw` (raw flat features, like the fit's)."""
        X = as_lightgbm_frame(raw, self.levels)
        return np.asarray(self.booster.predict(X), dtype=np.float64)


def fit_plain_reference(
    raw_train: pd.DataFrame,
    y_train: np.ndarray,
    raw_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    seed: int,
    threads: int = 0,
) -> PlainReference:
    """Default LightGBM, early-stopped on the validation rows (seeded)."""
    X_train = as_lightgbm_frame(raw_train)
    levels = {
        str(c): list(X_train[c].cat.categories)
        for c in X_train.columns
        if isinstance(X_train[c].dtype, pd.CategoricalDtype)
    }
    X_valid = as_lightgbm_frame(raw_valid, levels)
    params = {
        "objective": "binary",
        "seed": seed,
        "num_threads": threads or available_cores(),
        "verbosity": -1,
    }
    train = lgb.Dataset(X_train, label=y_train)
    valid = lgb.Dataset(X_valid, label=y_valid, reference=train)
    booster = lgb.train(
        params,
        train,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(STOPPING_ROUNDS, verbose=False)],
    )
    return PlainReference(booster, levels)
