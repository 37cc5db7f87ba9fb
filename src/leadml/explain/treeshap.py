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

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import lightgbm as lgb
import numpy as np
import pandas as pd
from numba import njit

MAX_PATH_FEATURES: Final = 62
"""Distinct features on one root-to-leaf path; the kernel tracks them as int64 bitmasks."""
TABLE_MAX_FEATURES: Final = 12
"""Leaves with at most this many distinct path features get a 2^d table of H."""
TABLE_BUDGET: Final = 1 << 22
"""Total table entries (8 bytes each) per model; longer paths beyond it use the O(d^2) DP."""
BLOCK: Final = 256
"""Rows the batch kernel processes together (one row goes through `_one_row`)."""
MIN_ROWS_PER_THREAD: Final = 128
"""Below this many rows per thread, extra threads cost more than they save."""
ZERO_THRESHOLD: Final = float(np.float32(1e-35))
"""LightGBM's kZeroThreshold: smaller magnitudes are treated as exactly zero."""

_MISSING_ZERO: Final = 1
_MISSING_NAN: Final = 2
_MISSING_TYPES: Final = {"None": 0, "Zero": _MISSING_ZERO, "NaN": _MISSING_NAN}
# Split flags: where NaN goes, where zero (|x| <= ZERO_THRESHOLD) goes, categorical split.
_NAN_LEFT: Final = 1
_ZERO_LEFT: Final = 2
_CATEGORICAL: Final = 4


class UnsupportedModelError(ValueError):
    """The booster uses something TreeShap does not implement (linear trees, averaged
    random-forest output, paths through more than MAX_PATH_FEATURES features)."""


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
    forest: _Forest
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
        builder = _Builder(n_features)
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
        if isinstance(X, pd.DataFrame):
            X = frame_matrix(X, self.pandas_categorical)
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


def frame_matrix(
    frame: pd.DataFrame, pandas_categorical: Sequence[Sequence[Any]] | None
) -> np.ndarray:
    """A frame as LightGBM's `predict` converts it: categoricals become codes of the
    training categories (unseen or missing -> NaN), then one common dtype (float32 when
    nothing needs float64, exactly like LightGBM), returned as float64."""
    dtypes = list(frame.dtypes)
    categorical = [j for j, dtype in enumerate(dtypes) if isinstance(dtype, pd.CategoricalDtype)]
    stored = list(pandas_categorical or [])
    if len(categorical) != len(stored):
        raise ValueError(
            f"frame has {len(categorical)} categorical columns, the model was trained "
            f"with {len(stored)}"
        )
    codes: dict[int, np.ndarray] = {}
    for j, categories in zip(categorical, stored, strict=True):
        values = frame.iloc[:, j]
        if not values.cat.categories.equals(pd.Index(categories)):
            values = values.cat.set_categories(list(categories))
        found = values.cat.codes.to_numpy()
        codes[j] = np.where(found < 0, np.nan, found) if (found < 0).any() else found
        dtypes[j] = codes[j].dtype
    # LightGBM's common dtype; non-numpy (extension) dtypes count as float64.
    kinds = [d if isinstance(d, np.dtype) else np.dtype(np.float64) for d in dtypes]
    target = np.result_type(*kinds, np.float32)
    out = np.empty(frame.shape, dtype=np.float64)
    numeric = [j for j in range(frame.shape[1]) if j not in codes]
    try:
        out[:, numeric] = frame.iloc[:, numeric].to_numpy(dtype=target, na_value=np.nan)
    except (TypeError, ValueError):
        for j in numeric:  # name the offending column
            try:
                out[:, j] = frame.iloc[:, j].to_numpy(dtype=target, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"column {frame.columns[j]!r} is not numeric or categorical "
                    f"({frame.dtypes.iloc[j]})"
                ) from exc
        raise
    for j, found in codes.items():
        out[:, j] = found.astype(target)
    return out


# Columns of the packed int64 arrays in _Forest.
_T_NODES, _T_NODES_END, _T_LEAVES, _T_LEAVES_END, _T_CLASS = range(5)
_N_FEATURE, _N_FLAGS, _N_CAT_START, _N_CAT_WORDS, _N_PARENT, _N_IS_LEFT, _N_SLOT = range(7)
_L_PARENT, _L_IS_LEFT, _L_SLOT, _L_SLOTS, _L_DEPTH, _L_TABLE = range(6)
_S_Z, _S_ONE_MINUS_Z, _S_RATIO = range(3)


class _Forest(NamedTuple):
    """The trees as a few flat arrays (few, because each kernel argument costs dispatch
    time). Per tree (a row of `trees`): its split nodes in preorder and its leaves, as
    ranges of `nodes` and `leaves` rows. A parent is named by its position in its tree
    + 1 (0: the root's no-parent). A leaf's distinct path features ("slots") are rows
    [slots, slots + depth) of `slot_feature` and `slot_float` (z, 1 - z, (1 - z) / z)."""

    trees: np.ndarray
    """int64 (n_trees, 5): first node, end node, first leaf, end leaf, class."""
    nodes: np.ndarray
    """int64 (n_nodes, 7): feature, flags, bitset start, bitset words, parent, is left
    child, slot of the parent's feature on the path."""
    threshold: np.ndarray
    bitsets: np.ndarray
    """uint32 category bitsets of categorical splits."""
    leaves: np.ndarray
    """int64 (n_leaves, 6): parent, is left child, slot of the parent's feature, first
    slot, number of slots d, table offset (-1: computed per row)."""
    leaf_value: np.ndarray
    slot_feature: np.ndarray
    slot_float: np.ndarray
    table: np.ndarray
    """H(B) for every subset B of each tabulated leaf's slots (bit k = slot k)."""
    weights: np.ndarray
    """Shapley weights W[d, k] (see `shapley_weights`)."""
    sizes: np.ndarray
    """[split nodes in the largest tree + 1, most slots on a path]"""

    @property
    def depth(self) -> np.ndarray:
        """Slots per leaf."""
        return self.leaves[:, _L_DEPTH]

    @property
    def table_start(self) -> np.ndarray:
        """Each leaf's table offset (-1: computed per row)."""
        return self.leaves[:, _L_TABLE]


class _Builder:
    """Flattens dumped trees into arrays, per tree: split nodes in preorder, then leaves,
    each leaf with its path features ("slots") and, for short paths, its table of G."""

    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.node_start: list[int] = [0]
        self.leaf_start: list[int] = [0]
        self.tree_class: list[int] = []
        # split nodes; parents are the parent's position in its tree + 1 (0: no parent)
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.flags: list[int] = []
        self.cat_start: list[int] = []
        self.cat_words: list[int] = []
        self.bitsets: list[int] = []
        self.parent: list[int] = []
        self.is_left: list[int] = []
        self.parent_slot: list[int] = []
        # leaves
        self.leaf_parent: list[int] = []
        self.leaf_is_left: list[int] = []
        self.leaf_parent_slot: list[int] = []
        self.leaf_value: list[float] = []
        self.slot_start: list[int] = [0]
        self.slot_feature: list[int] = []
        self.slot_z: list[float] = []

    def add_tree(self, root: dict[str, Any], klass: int, index: int) -> float:
        """Append one tree; returns its expected value exactly as LightGBM's
        `Tree::ExpectedValue` computes it (leaf-index order, count / root count)."""
        self.tree_class.append(klass)
        if "split_feature" not in root:  # a single leaf: only the bias
            self.node_start.append(len(self.feature))
            self.leaf_start.append(len(self.leaf_value))
            return float(root["leaf_value"])
        base = len(self.feature)
        leaves: list[tuple[int, float, float]] = []
        # (node, parent position + 1, is left child, slot of the parent's feature,
        #  path features, their z)
        stack: list[tuple[dict[str, Any], int, int, int, list[int], list[float]]] = [
            (root, 0, 0, 0, [], [])
        ]
        pending_leaves: list[tuple[int, int, int, float, list[int], list[float]]] = []
        while stack:
            node, parent, left, slot, path, zs = stack.pop()
            if "split_feature" not in node:
                if "leaf_coeff" in node or "leaf_const" in node:
                    raise UnsupportedModelError(f"tree {index}: linear trees are not supported")
                value = float(node["leaf_value"])
                pending_leaves.append((parent, left, slot, value, path, zs))
                leaves.append((int(node.get("leaf_index", 0)), _count(node), value))
                continue
            position = len(self.feature) - base + 1
            self._split(node, index, parent, left, slot)
            feature = int(node["split_feature"])
            count = float(node["internal_count"])
            children = []
            for child, is_left in ((node["left_child"], 1), (node["right_child"], 0)):
                child_path, child_z = list(path), list(zs)
                ratio = _count(child) / count
                if feature in child_path:
                    child_slot = child_path.index(feature)
                    child_z[child_slot] *= ratio
                else:
                    child_slot = len(child_path)
                    child_path.append(feature)
                    child_z.append(ratio)
                if len(child_path) > MAX_PATH_FEATURES:
                    raise UnsupportedModelError(
                        f"tree {index}: a path splits on more than {MAX_PATH_FEATURES} "
                        "distinct features; TreeShap does not support such deep trees"
                    )
                children.append((child, position, is_left, child_slot, child_path, child_z))
            stack.extend(reversed(children))  # left child first: preorder
        for parent, left, slot, value, path, zs in pending_leaves:
            self.leaf_parent.append(parent)
            self.leaf_is_left.append(left)
            self.leaf_parent_slot.append(slot)
            self.leaf_value.append(value)
            self.slot_feature.extend(path)
            self.slot_z.extend(zs)
            self.slot_start.append(len(self.slot_feature))
        self.node_start.append(len(self.feature))
        self.leaf_start.append(len(self.leaf_value))
        total = float(root["internal_count"])
        expected = 0.0
        for _, count, value in sorted(leaves):
            expected += count / total * value
        return expected

    def _split(self, node: dict[str, Any], index: int, parent: int, left: int, slot: int) -> None:
        feature = int(node["split_feature"])
        if not 0 <= feature < self.n_features:
            raise ValueError(f"tree {index}: split on unknown feature {feature}")
        missing = _MISSING_TYPES.get(str(node.get("missing_type", "None")))
        if missing is None:
            raise UnsupportedModelError(
                f"tree {index}: unknown missing_type {node.get('missing_type')!r}"
            )
        decision = node.get("decision_type")
        words: list[int] = []
        threshold = 0.0
        if decision == "<=":
            threshold = float(node["threshold"])
            default_left = bool(node.get("default_left", False))
            zero_left = default_left if missing == _MISSING_ZERO else threshold >= 0.0
            nan_left = default_left if missing == _MISSING_NAN else zero_left
            flags = (_NAN_LEFT if nan_left else 0) | (_ZERO_LEFT if zero_left else 0)
        elif decision == "==":
            categories = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
            words = [0] * (max(categories, default=-1) // 32 + 1)
            for c in categories:
                if c >= 0:
                    words[c // 32] |= 1 << (c % 32)
            flags = _CATEGORICAL
        else:
            raise UnsupportedModelError(f"tree {index}: unsupported decision_type {decision!r}")
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.flags.append(flags)
        self.cat_start.append(len(self.bitsets))
        self.cat_words.append(len(words))
        self.bitsets.extend(words)
        self.parent.append(parent)
        self.is_left.append(left)
        self.parent_slot.append(slot)

    def forest(self, table_budget: int) -> _Forest:
        """The read-only arrays the kernels take."""
        slot_start = np.asarray(self.slot_start, dtype=np.int64)
        depth = np.diff(slot_start)
        slot_z = np.asarray(self.slot_z, dtype=np.float64)
        # A zero z (a child without training rows) cannot be divided out: no table.
        leaf_of_slot = np.repeat(np.arange(len(depth)), depth)
        zero_z = np.bincount(leaf_of_slot[slot_z == 0.0], minlength=len(depth)) > 0
        table_start = np.full(len(depth), -1, dtype=np.int64)
        used = 0
        for leaf in np.argsort(depth, kind="stable"):  # shortest paths first
            size = 1 << int(depth[leaf])
            short = 0 < depth[leaf] <= TABLE_MAX_FEATURES
            if not short or zero_z[leaf] or used + size > table_budget:
                continue
            table_start[leaf] = used
            used += size
        max_depth = int(depth.max(initial=0))
        weights = shapley_weights(max_depth)
        leaf_value = np.asarray(self.leaf_value, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(slot_z > 0.0, (1.0 - slot_z) / slot_z, 0.0)
        slot_float = np.column_stack([slot_z, 1.0 - slot_z, ratio]).reshape(-1, 3)
        leaves = (
            np.column_stack(
                [
                    self.leaf_parent,
                    self.leaf_is_left,
                    self.leaf_parent_slot,
                    slot_start[:-1],
                    depth,
                    table_start,
                ]
            )
            .astype(np.int64)
            .reshape(-1, 6)
        )
        table = np.zeros(used, dtype=np.float64)
        _fill_tables(table, leaves, slot_float, leaf_value, weights)
        node_start = np.asarray(self.node_start, dtype=np.int64)
        leaf_start = np.asarray(self.leaf_start, dtype=np.int64)
        trees = (
            np.column_stack(
                [node_start[:-1], node_start[1:], leaf_start[:-1], leaf_start[1:], self.tree_class]
            )
            .astype(np.int64)
            .reshape(-1, 5)
        )
        nodes = (
            np.column_stack(
                [
                    self.feature,
                    self.flags,
                    self.cat_start,
                    self.cat_words,
                    self.parent,
                    self.is_left,
                    self.parent_slot,
                ]
            )
            .astype(np.int64)
            .reshape(-1, 7)
        )
        max_nodes = int(np.diff(node_start).max(initial=0))
        forest = _Forest(
            trees=np.ascontiguousarray(trees),
            nodes=np.ascontiguousarray(nodes),
            threshold=np.asarray(self.threshold, dtype=np.float64),
            bitsets=np.asarray(self.bitsets, dtype=np.uint32),
            leaves=np.ascontiguousarray(leaves),
            leaf_value=leaf_value,
            slot_feature=np.asarray(self.slot_feature, dtype=np.int64),
            slot_float=np.ascontiguousarray(slot_float),
            table=table,
            weights=weights,
            sizes=np.array([max_nodes + 1, max_depth], dtype=np.int64),
        )
        for array in forest:
            array.flags.writeable = False
        return forest


def _count(node: dict[str, Any]) -> float:
    return float(node["internal_count"] if "split_feature" in node else node["leaf_count"])


def shapley_weights(max_features: int) -> np.ndarray:
    """W[d, k] = k! (d - k - 1)! / d!: the Shapley weight of a k-subset among d players."""
    weights = np.zeros((max_features + 1, max(max_features, 1)))
    for d in range(1, max_features + 1):
        w = 1.0 / d
        for k in range(d):
            weights[d, k] = w
            if k + 1 < d:
                w = w * (k + 1) / (d - k - 1)
    return weights


@njit(cache=True, nogil=True)
def _fill_tables(
    table: np.ndarray,
    leaves: np.ndarray,
    slot_float: np.ndarray,
    leaf_value: np.ndarray,
    weights: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """H(B) = v * prod_{j in F \\ B} z_j * G(B) for every proper subset B of each tabulated
    leaf's path features F. G comes from the elementary symmetric polynomials e(z_B),
    built one feature at a time. The full set's entry stays 0 (read, never used)."""
    for leaf in range(leaves.shape[0]):
        t0 = leaves[leaf, _L_TABLE]
        if t0 < 0:
            continue
        s0 = leaves[leaf, _L_SLOTS]
        d = leaves[leaf, _L_DEPTH]
        size = 1 << d
        poly = np.zeros((size, d + 1))
        poly[0, 0] = 1.0
        bits = np.zeros(size, dtype=np.int64)
        for subset in range(1, size):
            low = subset & -subset
            k = 0
            while (low >> k) != 1:
                k += 1
            rest = subset ^ low
            b = bits[rest] + 1
            bits[subset] = b
            z = slot_float[s0 + k, _S_Z]
            poly[subset, 0] = 1.0
            for m in range(1, b + 1):
                poly[subset, m] = poly[rest, m] + z * poly[rest, m - 1]
        for subset in range(size - 1):
            b = bits[subset]
            g = 0.0
            for k in range(b + 1):
                g += weights[d, k] * poly[subset, b - k]
            scale = leaf_value[leaf]
            for k in range(d):
                if not (subset >> k) & 1:
                    scale *= slot_float[s0 + k, _S_Z]
            table[t0 + subset] = scale * g


@njit(cache=True, nogil=True)
def _rows(
    X: np.ndarray,
    row0: int,
    row1: int,
    out: np.ndarray,
    bias: np.ndarray,
    trees: np.ndarray,
    nodes: np.ndarray,
    threshold: np.ndarray,
    bitsets: np.ndarray,
    leaves: np.ndarray,
    leaf_value: np.ndarray,
    slot_feature: np.ndarray,
    slot_float: np.ndarray,
    table: np.ndarray,
    weights: np.ndarray,
    sizes: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """SHAP values of rows [row0, row1) of X, added into the same rows of `out`.

    Rows go in blocks of BLOCK: each tree's arrays are read once per block and the
    innermost loops run over the block's rows, independent work the CPU overlaps. Per
    tree, one preorder pass over the splits records where each row goes (`left`) and
    which path slots it has left so far (`failed`, a bitmask); one pass over the leaves
    then adds each leaf's share. Branch-free where the data decides.
    """
    n_features = X.shape[1]
    width = n_features + 1
    n_out = out.shape[1]
    block = max(1, min(BLOCK, row1 - row0))
    # position 0 of left/failed is the root's "no parent": all zero
    left = np.zeros((sizes[0], block), dtype=np.int64)
    failed = np.zeros((sizes[0], block), dtype=np.int64)
    xs = np.empty((n_features, block))
    phi = np.zeros((n_out, block))
    masks = np.zeros(block, dtype=np.int64)
    follows = np.zeros(block, dtype=np.int64)
    losses = np.zeros(block)
    poly = np.zeros(sizes[1] + 2)
    unwound = np.zeros(sizes[1] + 2)
    kept = np.zeros(sizes[1] + 1, dtype=np.int64)
    one = np.int64(1)
    for start in range(row0, row1, block):
        rows = min(block, row1 - start)
        for f in range(n_features):
            for b in range(rows):
                x = X[start + b, f]
                # LightGBM drops near-zero entries from the row: they read as 0.
                xs[f, b] = 0.0 if x >= -ZERO_THRESHOLD and x <= ZERO_THRESHOLD else x
        phi[:, :rows] = 0.0
        for t in range(trees.shape[0]):
            first = trees[t, _T_NODES]
            for i in range(first, trees[t, _T_NODES_END]):
                here = i - first + 1
                f = nodes[i, _N_FEATURE]
                fl = nodes[i, _N_FLAGS]
                p = nodes[i, _N_PARENT]
                side = nodes[i, _N_IS_LEFT]
                slot = nodes[i, _N_SLOT]
                if fl & _CATEGORICAL:
                    start_word = nodes[i, _N_CAT_START]
                    words = nodes[i, _N_CAT_WORDS]
                    for b in range(rows):
                        go = _goes_left(xs[f, b], fl, 0.0, start_word, words, bitsets)
                        failed[here, b] = failed[p, b] | ((left[p, b] ^ side) << slot)
                        left[here, b] = np.int64(go)
                else:
                    cut = threshold[i]
                    zero_left = np.int64((fl & _ZERO_LEFT) != 0)
                    nan_left = np.int64((fl & _NAN_LEFT) != 0)
                    for b in range(rows):
                        x = xs[f, b]
                        goes = np.int64(x <= cut)
                        goes = zero_left if x == 0.0 else goes
                        goes = nan_left if x != x else goes
                        failed[here, b] = failed[p, b] | ((left[p, b] ^ side) << slot)
                        left[here, b] = goes
            base = trees[t, _T_CLASS] * width
            for leaf in range(trees[t, _T_LEAVES], trees[t, _T_LEAVES_END]):
                d = leaves[leaf, _L_DEPTH]
                if d == 0:
                    continue
                s0 = leaves[leaf, _L_SLOTS]
                p = leaves[leaf, _L_PARENT]
                side = leaves[leaf, _L_IS_LEFT]
                slot = leaves[leaf, _L_SLOT]
                full = (one << d) - 1
                for b in range(rows):
                    mask = failed[p, b] | ((left[p, b] ^ side) << slot)
                    masks[b] = mask
                    follows[b] = full & ~mask
                t0 = leaves[leaf, _L_TABLE]
                if t0 >= 0:
                    for b in range(rows):
                        losses[b] = table[t0 + follows[b]]  # unused if the row fails nothing
                    for k in range(d):
                        column = base + slot_feature[s0 + k]
                        ratio = slot_float[s0 + k, _S_RATIO]
                        bit = one << k
                        for b in range(rows):
                            gain = table[t0 + (follows[b] ^ bit)] * ratio
                            phi[column, b] += -losses[b] if masks[b] & bit else gain
                    continue
                for b in range(rows):
                    _long_path(
                        masks[b], d, s0, leaf_value[leaf], base, b, phi,
                        slot_feature, slot_float, weights, poly, unwound, kept,
                    )  # fmt: skip
        for b in range(rows):
            r = start + b
            for c in range(bias.shape[0]):
                out[r, c * width + n_features] += bias[c]
            for column in range(n_out):
                out[r, column] += phi[column, b]


@njit(cache=True, nogil=True)
def _one_row(
    x: np.ndarray,
    out: np.ndarray,
    bias: np.ndarray,
    trees: np.ndarray,
    nodes: np.ndarray,
    threshold: np.ndarray,
    bitsets: np.ndarray,
    leaves: np.ndarray,
    leaf_value: np.ndarray,
    slot_feature: np.ndarray,
    slot_float: np.ndarray,
    table: np.ndarray,
    weights: np.ndarray,
    sizes: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """`_rows` for a single row `x`, added into `out` (its output row): the same passes
    without the block loops, whose set-up would dominate here."""
    width = x.shape[0] + 1
    left = np.zeros(sizes[0], dtype=np.int64)  # position 0: the root's "no parent"
    failed = np.zeros(sizes[0], dtype=np.int64)
    phi = np.zeros((out.shape[0], 1))
    poly = np.zeros(sizes[1] + 2)
    unwound = np.zeros(sizes[1] + 2)
    kept = np.zeros(sizes[1] + 1, dtype=np.int64)
    one = np.int64(1)
    for t in range(trees.shape[0]):
        first = trees[t, _T_NODES]
        for i in range(first, trees[t, _T_NODES_END]):
            value = x[nodes[i, _N_FEATURE]]
            value = 0.0 if value >= -ZERO_THRESHOLD and value <= ZERO_THRESHOLD else value
            go = _goes_left(
                value, nodes[i, _N_FLAGS], threshold[i],
                nodes[i, _N_CAT_START], nodes[i, _N_CAT_WORDS], bitsets,
            )  # fmt: skip
            p = nodes[i, _N_PARENT]
            here = i - first + 1
            failed[here] = failed[p] | ((left[p] ^ nodes[i, _N_IS_LEFT]) << nodes[i, _N_SLOT])
            left[here] = np.int64(go)
        base = trees[t, _T_CLASS] * width
        for leaf in range(trees[t, _T_LEAVES], trees[t, _T_LEAVES_END]):
            d = leaves[leaf, _L_DEPTH]
            if d == 0:
                continue
            s0 = leaves[leaf, _L_SLOTS]
            p = leaves[leaf, _L_PARENT]
            mask = failed[p] | ((left[p] ^ leaves[leaf, _L_IS_LEFT]) << leaves[leaf, _L_SLOT])
            t0 = leaves[leaf, _L_TABLE]
            if t0 < 0:
                _long_path(
                    mask, d, s0, leaf_value[leaf], base, 0, phi,
                    slot_feature, slot_float, weights, poly, unwound, kept,
                )  # fmt: skip
                continue
            follows = ((one << d) - 1) & ~mask
            loss = table[t0 + follows]  # unused when the row fails no split
            for k in range(d):
                gain = table[t0 + (follows ^ (one << k))] * slot_float[s0 + k, _S_RATIO]
                phi[base + slot_feature[s0 + k], 0] += -loss if (mask >> k) & 1 else gain
    for c in range(bias.shape[0]):
        out[c * width + width - 1] += bias[c]
    for column in range(out.shape[0]):
        out[column] += phi[column, 0]


@njit(cache=True, nogil=True, inline="always")
def _goes_left(
    x: float, fl: int, cut: float, cat_start: int, cat_words: int, bitsets: np.ndarray
) -> bool:  # pragma: no cover - compiled
    """LightGBM's `Tree::Decision` for one split and a value already zeroed if tiny."""
    if fl & _CATEGORICAL:
        # NaN, negative and out-of-int-range values go right (the C++ cast gives INT_MIN).
        if not (x > -1.0 and x < 2147483648.0):
            return False
        category = np.int64(x)
        word = category >> 5
        if word >= cat_words:
            return False
        return ((np.int64(bitsets[cat_start + word]) >> (category & 31)) & 1) == 1
    go = x <= cut
    go = ((fl & _ZERO_LEFT) != 0) if x == 0.0 else go
    return ((fl & _NAN_LEFT) != 0) if x != x else go


@njit(cache=True, nogil=True)
def _long_path(
    mask: int,
    d: int,
    s0: int,
    value: float,
    base: int,
    b: int,
    phi: np.ndarray,
    slot_feature: np.ndarray,
    slot_float: np.ndarray,
    weights: np.ndarray,
    poly: np.ndarray,
    unwound: np.ndarray,
    kept: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """One leaf's share for one row without a table: G from the elementary symmetric
    polynomials of z over the followed slots A, in O(d^2)."""
    scale = value
    a = 0
    for k in range(d):
        if (mask >> k) & 1:
            scale *= slot_float[s0 + k, _S_Z]
        else:
            kept[a] = k
            a += 1
    poly[0] = 1.0
    for m in range(1, a + 1):
        poly[m] = 0.0
    for q in range(a):
        z = slot_float[s0 + kept[q], _S_Z]
        for m in range(q + 1, 0, -1):
            poly[m] += z * poly[m - 1]
    if a < d:
        g = 0.0
        for k in range(a + 1):
            g += weights[d, k] * poly[a - k]
        loss = scale * g
        for k in range(d):
            if (mask >> k) & 1:
                phi[base + slot_feature[s0 + k], b] -= loss
    for q in range(a):
        k = kept[q]
        z = slot_float[s0 + k, _S_Z]
        # e(z over A without k): divide the polynomial by (1 + z t)
        unwound[0] = 1.0
        for m in range(1, a):
            unwound[m] = poly[m] - z * unwound[m - 1]
        g = 0.0
        for j in range(a):
            g += weights[d, j] * unwound[a - 1 - j]
        phi[base + slot_feature[s0 + k], b] += scale * slot_float[s0 + k, _S_ONE_MINUS_Z] * g
