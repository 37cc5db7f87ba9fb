"""Flattening a LightGBM model's dump into the arrays the TreeSHAP kernels read.

Per tree: split nodes in preorder, then leaves, each leaf with its distinct path features
("slots") and their z (the share of training rows that follow the path), and, for short
paths, its precomputed table of H (see `explain.treeshap` for the method).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import numpy as np

from leadml.explain.kernels import CATEGORICAL, L_DEPTH, L_TABLE, NAN_LEFT, ZERO_LEFT, _fill_tables

MAX_PATH_FEATURES: Final = 62
"""Distinct features on one root-to-leaf path; the kernel tracks them as int64 bitmasks."""
TABLE_MAX_FEATURES: Final = 12
"""Leaves with at most this many distinct path features get a 2^d table of H."""
TABLE_BUDGET: Final = 1 << 22
"""Total table entries (8 bytes each) per model; longer paths beyond it use the O(d^2) DP."""

_MISSING_ZERO: Final = 1
_MISSING_NAN: Final = 2
_MISSING_TYPES: Final = {"None": 0, "Zero": _MISSING_ZERO, "NaN": _MISSING_NAN}


class UnsupportedModelError(ValueError):
    """The booster uses something TreeShap does not implement (linear trees, averaged
    random-forest output, paths through more than MAX_PATH_FEATURES features)."""


class Forest(NamedTuple):
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
        return self.leaves[:, L_DEPTH]

    @property
    def table_start(self) -> np.ndarray:
        """Each leaf's table offset (-1: computed per row)."""
        return self.leaves[:, L_TABLE]


class ForestBuilder:
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
            flags = (NAN_LEFT if nan_left else 0) | (ZERO_LEFT if zero_left else 0)
        elif decision == "==":
            categories = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
            words = [0] * (max(categories, default=-1) // 32 + 1)
            for c in categories:
                if c >= 0:
                    words[c // 32] |= 1 << (c % 32)
            flags = CATEGORICAL
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

    def forest(self, table_budget: int) -> Forest:
        """The read-only arrays the kernels take."""
        slot_start = np.asarray(self.slot_start, dtype=np.int64)
        depth = np.diff(slot_start)
        slot_z = np.asarray(self.slot_z, dtype=np.float64)
        table_start, used = _table_layout(depth, slot_z, table_budget)
        max_depth = int(depth.max(initial=0))
        weights = shapley_weights(max_depth)
        leaf_value = np.asarray(self.leaf_value, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(slot_z > 0.0, (1.0 - slot_z) / slot_z, 0.0)
        slot_float = np.column_stack([slot_z, 1.0 - slot_z, ratio]).reshape(-1, 3)
        leaves = _packed(
            [
                self.leaf_parent,
                self.leaf_is_left,
                self.leaf_parent_slot,
                slot_start[:-1],
                depth,
                table_start,
            ]
        )
        table = np.zeros(used, dtype=np.float64)
        _fill_tables(table, leaves, slot_float, leaf_value, weights)
        node_start = np.asarray(self.node_start, dtype=np.int64)
        leaf_start = np.asarray(self.leaf_start, dtype=np.int64)
        trees = _packed(
            [node_start[:-1], node_start[1:], leaf_start[:-1], leaf_start[1:], self.tree_class]
        )
        nodes = _packed(
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
        max_nodes = int(np.diff(node_start).max(initial=0))
        forest = Forest(
            trees=trees,
            nodes=nodes,
            threshold=np.asarray(self.threshold, dtype=np.float64),
            bitsets=np.asarray(self.bitsets, dtype=np.uint32),
            leaves=leaves,
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


def _table_layout(
    depth: np.ndarray, slot_z: np.ndarray, table_budget: int
) -> tuple[np.ndarray, int]:
    """Each leaf's offset in the table of H (-1: computed per row) and the table's size.

    Shortest paths first, while the budget lasts. A zero z (a child without training
    rows) cannot be divided out, so such a leaf gets no table."""
    leaf_of_slot = np.repeat(np.arange(len(depth)), depth)
    zero_z = np.bincount(leaf_of_slot[slot_z == 0.0], minlength=len(depth)) > 0
    table_start = np.full(len(depth), -1, dtype=np.int64)
    used = 0
    for leaf in np.argsort(depth, kind="stable"):
        size = 1 << int(depth[leaf])
        short = 0 < depth[leaf] <= TABLE_MAX_FEATURES
        if not short or zero_z[leaf] or used + size > table_budget:
            continue
        table_start[leaf] = used
        used += size
    return table_start, used


def _packed(columns: list[Any]) -> np.ndarray:
    """Columns as one C-ordered int64 (rows, len(columns)) array (also when empty)."""
    packed = np.column_stack(columns).astype(np.int64).reshape(-1, len(columns))
    return np.ascontiguousarray(packed)


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
