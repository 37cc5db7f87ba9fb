"""The leakage guard's figures for one column: what a user can check by counting.

Each figure compares converted leads with the rest on the training window:

- single-column ROC AUC (categoricals scored by their level rate, out of fold);
- fill: how many rows of each class hold a value, and the ratio of the two fill rates
  (presence lift) and of the two missing rates (missingness asymmetry). Ratios, not
  gaps, so a column filled for 8% of converters and nobody else counts as much as one
  filled for 80%; rates are smoothed by half a row so an empty class is not infinite;
- pure levels: categorical values held (almost) only by one class, with enough rows
  that chance cannot explain them, even allowing for the column's many levels.

Pure: `leakage` turns the figures into verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.metrics import roc_auc_score

OOF_FOLDS: Final = 5
"""Categorical level rates are computed out of fold, so a many-level noise column cannot
score its own rows (in-sample, 3,000 levels on 3,000 rows reach AUC ~0.96)."""
PURE_SHARE: Final = 0.99
"""A level is pure when at least this share of its rows belong to one class."""
PURE_MIN_ROWS: Final = 10
PURE_CHANCE: Final = 1e-3
"""...and when the chance of that many rows of one class (binomial, at the base rate),
times the number of levels tried, is below this: many small levels cannot look pure by
luck, which makes the check safe against many-level noise without refitting out of fold."""
_SHOWN_LEVELS: Final = 3


@dataclass(frozen=True)
class PureLevels:
    """Levels held (almost) only by one class, and how much of that class they cover."""

    levels: tuple[tuple[str, int, int], ...]
    """(level, rows, rows of the class), biggest first."""
    rows: int
    share: float
    """Share of the class's rows that sit in these levels."""

    def text(self, label: str) -> str:
        shown = ", ".join(f"{v!r} {k:,} of {n:,}" for v, n, k in self.levels[:_SHOWN_LEVELS])
        more = len(self.levels) - _SHOWN_LEVELS
        return (
            f"levels held only by {label}: {shown}" + (f" (+{more} more)" if more > 0 else "")
        ) + f"; they cover {self.share:.1%} of {label} ({self.rows:,} rows)"


@dataclass(frozen=True)
class ColumnFigures:
    """One column's evidence figures on the training window."""

    auc: float
    converted: int
    other: int
    filled_converted: int
    filled_other: int
    pure_converted: PureLevels | None = None
    pure_other: PureLevels | None = None

    @property
    def fill_converted(self) -> float:
        return self.filled_converted / self.converted if self.converted else 0.0

    @property
    def fill_other(self) -> float:
        return self.filled_other / self.other if self.other else 0.0

    @property
    def presence_lift(self) -> float:
        """How many times more often converted leads hold a value than the rest (< 1: less)."""
        return _ratio(self.filled_converted, self.converted, self.filled_other, self.other)

    @property
    def missing_lift(self) -> float:
        """How many times more often the rest miss a value than converted leads (< 1: less)."""
        return _ratio(
            self.other - self.filled_other,
            self.other,
            self.converted - self.filled_converted,
            self.converted,
        )

    def fill_text(self) -> str:
        return (
            f"filled for {self.fill_converted:.1%} of converted leads "
            f"({self.filled_converted:,} of {self.converted:,}) vs {self.fill_other:.1%} of "
            f"the rest ({self.filled_other:,} of {self.other:,})"
        )

    def missing_text(self) -> str:
        mc, mo = self.converted - self.filled_converted, self.other - self.filled_other
        return (
            f"missing for {1 - self.fill_converted:.1%} of converted leads "
            f"({mc:,} of {self.converted:,}) vs {1 - self.fill_other:.1%} of the rest "
            f"({mo:,} of {self.other:,})"
        )

    def as_row(self) -> dict[str, float | int | str]:
        """The figures as plain values, for the guard's table."""
        return {
            "auc": round(self.auc, 4),
            "fill_converted": round(self.fill_converted, 4),
            "fill_other": round(self.fill_other, 4),
            "missing_converted": round(1 - self.fill_converted, 4),
            "missing_other": round(1 - self.fill_other, 4),
            "presence_lift": round(self.presence_lift, 2),
            "missing_lift": round(self.missing_lift, 2),
            "pure_levels_converted": 0.0 if self.pure_converted is None
            else round(self.pure_converted.share, 4),
            "pure_levels_other": 0.0 if self.pure_other is None
            else round(self.pure_other.share, 4),
        }  # fmt: skip


def _ratio(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """(k_a / n_a) / (k_b / n_b), each rate smoothed by half a row (1 when both are 0)."""
    if k_a == 0 and k_b == 0:
        return 1.0
    return ((k_a + 0.5) / (n_a + 1)) / ((k_b + 0.5) / (n_b + 1))


def is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
        values
    )


def out_of_fold_rates(keys: np.ndarray, y: np.ndarray, folds: int = OOF_FOLDS) -> np.ndarray:
    """Each row's level conversion rate learnt on the OTHER folds (fixed seed).

    A level not seen outside the row's fold gets the other folds' overall rate, so a
    column whose levels are (nearly) unique per row scores like a constant."""
    n = len(keys)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    fold = np.random.default_rng(0).permutation(n) % max(1, min(folds, n))
    codes, _ = pd.factorize(keys)
    n_levels = int(codes.max()) + 1
    for k in np.unique(fold):
        inside = fold == k
        outside = ~inside
        if not outside.any():  # one row only: nothing to learn from
            out[inside] = float(y.mean())
            continue
        sums = np.bincount(codes[outside], weights=y[outside], minlength=n_levels)
        counts = np.bincount(codes[outside], minlength=n_levels)
        prior = float(y[outside].mean())
        mine = codes[inside]
        seen = counts[mine] > 0
        out[inside] = np.where(seen, sums[mine] / np.maximum(counts[mine], 1), prior)
    return out


def single_column_auc(values: pd.Series, y: np.ndarray) -> float:
    """ROC AUC of one column used alone as a score (categoricals via their level rate,
    computed out of fold: see `out_of_fold_rates`)."""
    if is_categorical(values):
        keys = values.astype("object").where(values.notna(), "__missing__").astype(str)
        score = out_of_fold_rates(keys.to_numpy(dtype=object), np.asarray(y, dtype=np.float64))
    else:
        score = values.to_numpy(dtype=np.float64)
        finite = np.isfinite(score)  # "inf" in an export parses; it is no usable score
        score = np.where(finite, score, np.median(score[finite]) if finite.any() else 0)
    if len(np.unique(y)) < 2 or np.all(score == score[0]):
        return 0.5
    return float(roc_auc_score(y, score))


def pure_levels(values: pd.Series, y: np.ndarray, cls: int) -> PureLevels | None:
    """Levels of a categorical column whose rows are (almost) all of class `cls`, each with
    enough rows that luck at the base rate is ruled out (Bonferroni over the levels tried)."""
    present = values.notna().to_numpy()
    if not present.any():
        return None
    keys = values[present].astype("object").astype(str).to_numpy()
    mine = (y[present] == cls).astype(np.int64)
    base = float((y == cls).mean())
    if base <= 0 or base >= 1:
        return None
    codes, names = pd.factorize(keys)
    rows = np.bincount(codes, minlength=len(names))
    hits = np.bincount(codes, weights=mine, minlength=len(names)).astype(np.int64)
    tried = max(1, int((rows >= PURE_MIN_ROWS).sum()))
    found = []
    for j in np.flatnonzero(rows >= PURE_MIN_ROWS):
        n, k = int(rows[j]), int(hits[j])
        if k >= PURE_SHARE * n and float(binom.sf(k - 1, n, base)) * tried <= PURE_CHANCE:
            found.append((str(names[j]), n, k))
    if not found:
        return None
    found.sort(key=lambda level: -level[1])
    covered = sum(k for _, _, k in found)
    return PureLevels(tuple(found), covered, covered / max(1, int((y == cls).sum())))


def column_figures(values: pd.Series, y: np.ndarray) -> ColumnFigures:
    """Every figure of one column (rows aligned with the 0/1 labels `y`)."""
    filled = values.notna().to_numpy()
    pos = y == 1
    categorical = is_categorical(values)
    return ColumnFigures(
        auc=single_column_auc(values, y),
        converted=int(pos.sum()),
        other=int((~pos).sum()),
        filled_converted=int(filled[pos].sum()),
        filled_other=int(filled[~pos].sum()),
        pure_converted=pure_levels(values, y, 1) if categorical else None,
        pure_other=pure_levels(values, y, 0) if categorical else None,
    )
