"""Small vectorised random helpers shared by the generator's stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from leadml.data.synth.timeline import FloatArray, IntArray


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function, elementwise."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def choice(rng: np.random.Generator, probs: npt.ArrayLike, n: int) -> IntArray:
    """Draw n indices with the given (unnormalised) probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def choice_by_group(
    rng: np.random.Generator, group: IntArray, table: Sequence[Sequence[float]]
) -> IntArray:
    """For each item draw an index from the probability row `table[group]` (rows unnormalised)."""
    cum = np.cumsum(np.asarray(table, dtype=np.float64), axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(group))
    out = np.empty(len(group), dtype=np.int64)
    for g in range(cum.shape[0]):  # loop over a handful of groups, never over items
        mask = group == g
        out[mask] = np.searchsorted(cum[g], u[mask], side="right")
    return np.minimum(out, cum.shape[1] - 1)


def mix_table(mixes: Sequence[Mapping[Any, float]], levels: Sequence[object]) -> list[list[float]]:
    """Turn per-group {level: weight} mixes into a dense probability table over `levels`."""
    return [[float(mix.get(level, 0.0)) for level in levels] for mix in mixes]


def expand(counts: IntArray) -> IntArray:
    """Owner index for a flat list of items: expand([2, 0, 1]) == [0, 0, 2]."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)
