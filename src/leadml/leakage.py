"""A guard against label leakage: refuse columns that predict the outcome too well.

A feature computed as of the cutoff should never, on its own, separate converters
from the rest almost perfectly. When one does, it almost always carries information
recorded after the outcome (a status, a close date, a post-sale event). Training
refuses such columns loudly unless they are explicitly allowed in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadml.errors import LeakageError

AUC_HIGH = 0.90
AUC_LOW = 0.10


@dataclass(frozen=True)
class LeakFlag:
    """One suspicious column and the evidence against it."""

    column: str
    rule: str
    evidence: str


def single_column_auc(values: pd.Series, y: np.ndarray) -> float:
    """ROC AUC of one column used alone as a score (categoricals via their level rate)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        keys = values.astype("object").where(values.notna(), "__missing__").astype(str)
        rate = pd.Series(y, index=values.index).groupby(keys.to_numpy()).transform("mean")
        score = rate.to_numpy(dtype=np.float64)
    else:
        score = values.to_numpy(dtype=np.float64)
        score = np.where(
            np.isnan(score), np.nanmedian(score) if np.isfinite(score).any() else 0, score
        )
    if len(np.unique(y)) < 2 or np.all(score == score[0]):
        return 0.5
    return float(roc_auc_score(y, score))


def screen(X: pd.DataFrame, y: np.ndarray) -> list[LeakFlag]:
    """Flag every column whose single-column AUC is >= 0.90 or <= 0.10."""
    flags = []
    for column in X.columns:
        auc = single_column_auc(X[column], y)
        if auc >= AUC_HIGH or auc <= AUC_LOW:
            flags.append(
                LeakFlag(
                    str(column),
                    "single-column AUC",
                    f"alone it reaches ROC AUC {auc:.3f} (limits: >= {AUC_HIGH} or <= {AUC_LOW})",
                )
            )
    return flags


def refuse_leaks(X: pd.DataFrame, y: np.ndarray, allowed: tuple[str, ...] = ()) -> list[LeakFlag]:
    """Raise LeakageError for flagged columns not in `allowed`; return the allowed flags."""
    flags = screen(X, y)
    blocked = [f for f in flags if f.column not in allowed]
    if blocked:
        lines = "\n".join(f"  - {f.column}: {f.evidence}" for f in blocked)
        raise LeakageError(
            "refusing to train: these columns look like they leak the label\n"
            f"{lines}\n"
            "Drop them from the data, or, if you are sure they are known at the cutoff, "
            'allow them in leadml.toml: [train] allow_leaky = ["column"]'
        )
    return [f for f in flags if f.column in allowed]
