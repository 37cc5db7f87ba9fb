"""The guard's uplift check: does one suspect column lift a quick model far beyond what its
own AUC suggests?

A small seeded LightGBM is fitted on a stratified part of the training window with the
unsuspected columns (the base), then with the base plus one suspect at a time, and both
are scored on the rest of the window. Only suspects are checked, so the cost is one small
fit per suspect plus one for the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadml.model.reference import as_lightgbm_frame

MAX_ROWS: Final = 20_000
VALID_SHARE: Final = 0.3
_PARAMS: Final = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
_ROUNDS: Final = 60


@dataclass(frozen=True)
class Uplift:
    """Validation AUC of the quick model without and with one column."""

    without: float
    with_column: float

    @property
    def gain(self) -> float:
        return self.with_column - self.without


def _stratified_valid(y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded validation mask taking VALID_SHARE of each class."""
    rng = np.random.default_rng(seed)
    valid = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        rows = np.flatnonzero(y == cls)
        take = rng.permutation(rows)[: int(round(VALID_SHARE * len(rows)))]
        valid[take] = True
    return valid


def _auc(X: pd.DataFrame, y: np.ndarray, valid: np.ndarray, seed: int) -> float:
    if X.shape[1] == 0:
        return 0.5
    train = lgb.Dataset(X[~valid], label=y[~valid], free_raw_data=True)
    booster = lgb.train(_PARAMS | {"seed": seed}, train, num_boost_round=_ROUNDS)
    return float(roc_auc_score(y[valid], booster.predict(X[valid])))


def uplift(
    frame: pd.DataFrame,
    y: np.ndarray,
    base: Sequence[str],
    suspects: Sequence[str],
    *,
    seed: int = 0,
) -> dict[str, Uplift]:
    """Each suspect's validation AUC on top of the `base` columns against the base alone."""
    yv = np.asarray(y, dtype=np.int64)
    if not suspects or len(np.unique(yv)) < 2 or min(np.bincount(yv)) < 10:
        return {}
    rows = np.arange(len(yv))
    if len(rows) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_ROWS, replace=False))
    X = as_lightgbm_frame(frame.iloc[rows][[*base, *(s for s in suspects if s not in base)]])
    yv = yv[rows]
    valid = _stratified_valid(yv, seed)
    without = _auc(X[list(base)], yv, valid, seed)
    return {name: Uplift(without, _auc(X[[*base, name]], yv, valid, seed)) for name in suspects}
