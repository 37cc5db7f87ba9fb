r"""Exact path-dependent TreeSHAP for LightGBM boosters, compiled with numba.

The values equal LightGBM's `pred_contrib` (same layout: one column per feature, then the
bias; per class for multiclass models) but cost O(sum of path lengths) per row instead of
O(leaves x depth^2), because each leaf's Shapley weights are precomputed once.

How. Take one leaf with value v and the distinct features F on its path (d = |F|). For
feature j, z_j is the product of child/parent training counts over every split on j
along the path (the share of rows that would follow the path if j were unknown), and
o_j(x) = 1 when row x follows every split on j along the path. The leaf's share of the
path-dependent value function is g(S) = v * prod_{j in S} o_j * prod_{j in F \ S} z_j, a
game on the d players F. With A = {j : o_j(x) = 1}, w(k, d) = k! (d - k - 1)! / d! and
G(B) = sum_{S subset of B} w(|S|, d) prod_{j in B \ S} z_j, its Shapley values are

    phi_i = -v * prod_{j in F \ A} z_j * G(A)                    for i not in A
    phi_i =  v * prod_{j in F \ A} z_j * (1 - z_i) * G(A \ {i})  for i in A

and the bias is the sum over leaves of v * prod_{j in F} z_j (the tree's expected value).
Writing H(B) = v * prod_{j in F \ B} z_j * G(B), these are -H(A) and
H(A \ {i}) * (1 - z_i) / z_i: one table lookup per path feature. H is tabulated for all
2^d subsets on paths with up to TABLE_MAX_FEATURES features (within TABLE_BUDGET); longer
paths compute G per row from the elementary symmetric polynomials of the z's, in O(d^2).

Row decisions follow LightGBM's predictor exactly: magnitudes <= 1e-35 read as 0; NaN
reads as 0 unless the split's missing type is NaN; missing-type Zero and NaN splits send
missing values to their default side; categorical splits send NaN, negative and unlisted
categories right.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.explain.flatten import TABLE_BUDGET, Forest, ForestBuilder, UnsupportedModelError
from leadml.explain.kernels import _one_row, _rows
from leadml.features.matrix import frame_matrix

MIN_ROWS_PER_THREAD: Final = 128
"""Below this many rows per thread, extra threads cost more than they save."""


@dataclass(frozen=True, eq=False)
class TreeShap:
    """A LightGBM model flattened for TreeSHAP. Immutable, so one object serves any number
    of threads at once; build it with `from_booster`."""

    n_features: int
    n_classes: int
    feature_names: tuple[str, ...]
    pandas_categorical: tuple[tuple[Any, ...], ...] | None
    bias: np.ndarray
    """(n_classes,) expected value per class, as LightGBM sums it."""
    forest: Forest
    """The flattened trees, read-only, in the order `_rows` takes them."""

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        num_iteration: int | None = None,
        *,
        table_budget: int = TABLE_BUDGET,
    ) -> TreeShap:
        """Parse `booster.dump_model(num_iteration)`; None means the booster's best
        iteration, the same trees `booster.predict` uses by default."""
        model = booster.dump_model(num_iteration=num_iteration)
        return cls.from_dump(model, table_budget=table_budget)

    @classmethod
    def from_dump(cls, model: dict[str, Any], *, table_budget: int = TABLE_BUDGET) -> TreeShap:
        """Build from a `Booster.dump_model()` dict. `table_budget` caps the precomputed
        table entries (8 bytes each); paths beyond it are computed per row instead."""
        if model.get("average_output"):
            raise UnsupportedModelError(
                "TreeShap: averaged (random forest) models are not supported"
            )
        n_classes = int(model.get("num_tree_per_iteration", 1))
        n_features = int(model["max_feature_idx"]) + 1
        builder = ForestBuilder(n_features)
        bias = np.zeros(n_classes)
        for index, tree in enumerate(model["tree_info"]):
            klass = index % n_classes
            bias[klass] += builder.add_tree(tree["tree_structure"], klass, index)
        categorical = model.get("pandas_categorical")
        return cls(
            n_features=n_features,
            n_classes=n_classes,
            feature_names=tuple(str(n) for n in model.get("feature_names", ())),
            pandas_categorical=(
                None if categorical is None else tuple(tuple(c) for c in categorical)
            ),
            bias=bias,
            forest=builder.forest(table_budget),
        )

    @property
    def max_path_features(self) -> int:
        """The most distinct features on one root-to-leaf path."""
        return int(self.forest.sizes[1])

    @property
    def tabulated_leaves(self) -> float:
        """Share of leaves (with at least one split) whose weights are precomputed."""
        table_start, depth = self.forest.table_start, self.forest.depth
        return float(np.mean(table_start[depth > 0] >= 0)) if np.any(depth > 0) else 1.0

    @property
    def n_outputs(self) -> int:
        """Columns of `contributions`: (n_features + 1) per class."""
        return self.n_classes * (self.n_features + 1)

    def contributions(self, X: np.ndarray | pd.DataFrame, num_threads: int = 1) -> np.ndarray:
        """SHAP values in `pred_contrib`'s layout: (n, n_features + 1) per class, bias last.

        `X` is the model matrix (categoricals as their codes) or a frame LightGBM would
        accept (pandas categoricals are mapped to the booster's training categories).
        Rows are split over `num_threads` threads for large inputs.
        """
        if num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        matrix = self.matrix(X)
        n = matrix.shape[0]
        out = np.zeros((n, self.n_outputs))
        if n == 0:
            return out
        if n == 1:
            _one_row(matrix[0], out[0], self.bias, *self.forest)
            return out
        threads = max(1, min(num_threads, n // MIN_ROWS_PER_THREAD))
        if threads == 1:
            _rows(matrix, 0, n, out, self.bias, *self.forest)
            return out
        step = -(-n // (4 * threads))  # a few chunks per thread even out uneven progress
        with ThreadPoolExecutor(max_workers=threads) as pool:
            jobs = [
                pool.submit(_rows, matrix, a, min(a + step, n), out, self.bias, *self.forest)
                for a in range(0, n, step)
            ]
            for job in jobs:
                job.result()
        return out

    def matrix(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The float64, C-ordered (n, n_features) matrix LightGBM would predict on."""
        if isinstance(X, pd.DataFrame):  # no stored categories: the frame may have none
            X = frame_matrix(X, self.pandas_categorical or ())
        X = np.asarray(X)
        if X.ndim == 1 and X.shape[0] == self.n_features:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"TreeShap: expected a matrix with {self.n_features} feature columns, "
                f"got shape {X.shape}"
            )
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float32)  # what LightGBM does with any other numpy dtype
        return np.ascontiguousarray(X, dtype=np.float64)


__all__ = ["MIN_ROWS_PER_THREAD", "TreeShap", "UnsupportedModelError"]
