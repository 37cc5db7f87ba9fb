"""The numba kernels of exact TreeSHAP (see `explain.treeshap` for the method).

They read the flattened forest (`explain.flatten.Forest`) as plain arrays, whose packed
columns and split flags are laid out here. Compiled once and cached on disk
(`cache=True`, in `__pycache__`); `nogil`, so threads run them side by side.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit

BLOCK: Final = 256
"""Rows the batch kernel processes together (one row goes through `_one_row`)."""
ZERO_THRESHOLD: Final = float(np.float32(1e-35))
"""LightGBM's kZeroThreshold: smaller magnitudes are treated as exactly zero."""

# Split flags: where NaN goes, where zero (|x| <= ZERO_THRESHOLD) goes, categorical split.
NAN_LEFT: Final = 1
ZERO_LEFT: Final = 2
CATEGORICAL: Final = 4

# Columns of the packed int64 arrays in Forest.
T_NODES, T_NODES_END, T_LEAVES, T_LEAVES_END, T_CLASS = range(5)
N_FEATURE, N_FLAGS, N_CAT_START, N_CAT_WORDS, N_PARENT, N_IS_LEFT, N_SLOT = range(7)
L_PARENT, L_IS_LEFT, L_SLOT, L_SLOTS, L_DEPTH, L_TABLE = range(6)
S_Z, S_ONE_MINUS_Z, S_RATIO = range(3)


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
        t0 = leaves[leaf, L_TABLE]
        if t0 < 0:
            continue
        s0 = leaves[leaf, L_SLOTS]
        d = leaves[leaf, L_DEPTH]
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
            z = slot_float[s0 + k, S_Z]
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
                    scale *= slot_float[s0 + k, S_Z]
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
            first = trees[t, T_NODES]
            for i in range(first, trees[t, T_NODES_END]):
                here = i - first + 1
                f = nodes[i, N_FEATURE]
                fl = nodes[i, N_FLAGS]
                p = nodes[i, N_PARENT]
                side = nodes[i, N_IS_LEFT]
                slot = nodes[i, N_SLOT]
                if fl & CATEGORICAL:
                    start_word = nodes[i, N_CAT_START]
                    words = nodes[i, N_CAT_WORDS]
                    for b in range(rows):
                        go = _goes_left(xs[f, b], fl, 0.0, start_word, words, bitsets)
                        failed[here, b] = failed[p, b] | ((left[p, b] ^ side) << slot)
                        left[here, b] = np.int64(go)
                else:
                    cut = threshold[i]
                    zero_left = np.int64((fl & ZERO_LEFT) != 0)
                    nan_left = np.int64((fl & NAN_LEFT) != 0)
                    for b in range(rows):
                        x = xs[f, b]
                        goes = np.int64(x <= cut)
                        goes = zero_left if x == 0.0 else goes
                        goes = nan_left if x != x else goes
                        failed[here, b] = failed[p, b] | ((left[p, b] ^ side) << slot)
                        left[here, b] = goes
            base = trees[t, T_CLASS] * width
            for leaf in range(trees[t, T_LEAVES], trees[t, T_LEAVES_END]):
                d = leaves[leaf, L_DEPTH]
                if d == 0:
                    continue
                s0 = leaves[leaf, L_SLOTS]
                p = leaves[leaf, L_PARENT]
                side = leaves[leaf, L_IS_LEFT]
                slot = leaves[leaf, L_SLOT]
                full = (one << d) - 1
                for b in range(rows):
                    mask = failed[p, b] | ((left[p, b] ^ side) << slot)
                    masks[b] = mask
                    follows[b] = full & ~mask
                t0 = leaves[leaf, L_TABLE]
                if t0 >= 0:
                    for b in range(rows):
                        losses[b] = table[t0 + follows[b]]  # unused if the row fails nothing
                    for k in range(d):
                        column = base + slot_feature[s0 + k]
                        ratio = slot_float[s0 + k, S_RATIO]
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
        first = trees[t, T_NODES]
        for i in range(first, trees[t, T_NODES_END]):
            value = x[nodes[i, N_FEATURE]]
            value = 0.0 if value >= -ZERO_THRESHOLD and value <= ZERO_THRESHOLD else value
            go = _goes_left(
                value, nodes[i, N_FLAGS], threshold[i],
                nodes[i, N_CAT_START], nodes[i, N_CAT_WORDS], bitsets,
            )  # fmt: skip
            p = nodes[i, N_PARENT]
            here = i - first + 1
            failed[here] = failed[p] | ((left[p] ^ nodes[i, N_IS_LEFT]) << nodes[i, N_SLOT])
            left[here] = np.int64(go)
        base = trees[t, T_CLASS] * width
        for leaf in range(trees[t, T_LEAVES], trees[t, T_LEAVES_END]):
            d = leaves[leaf, L_DEPTH]
            if d == 0:
                continue
            s0 = leaves[leaf, L_SLOTS]
            p = leaves[leaf, L_PARENT]
            mask = failed[p] | ((left[p] ^ leaves[leaf, L_IS_LEFT]) << leaves[leaf, L_SLOT])
            t0 = leaves[leaf, L_TABLE]
            if t0 < 0:
                _long_path(
                    mask, d, s0, leaf_value[leaf], base, 0, phi,
                    slot_feature, slot_float, weights, poly, unwound, kept,
                )  # fmt: skip
                continue
            follows = ((one << d) - 1) & ~mask
            loss = table[t0 + follows]  # unused when the row fails no split
            for k in range(d):
                gain = table[t0 + (follows ^ (one << k))] * slot_float[s0 + k, S_RATIO]
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
    if fl & CATEGORICAL:
        # NaN, negative and out-of-int-range values go right (the C++ cast gives INT_MIN).
        if not (x > -1.0 and x < 2147483648.0):
            return False
        category = np.int64(x)
        word = category >> 5
        if word >= cat_words:
            return False
        return ((np.int64(bitsets[cat_start + word]) >> (category & 31)) & 1) == 1
    go = x <= cut
    go = ((fl & ZERO_LEFT) != 0) if x == 0.0 else go
    return ((fl & NAN_LEFT) != 0) if x != x else go


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
            scale *= slot_float[s0 + k, S_Z]
        else:
            kept[a] = k
            a += 1
    poly[0] = 1.0
    for m in range(1, a + 1):
        poly[m] = 0.0
    for q in range(a):
        z = slot_float[s0 + kept[q], S_Z]
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
        z = slot_float[s0 + k, S_Z]
        # e(z over A without k): divide the polynomial by (1 + z t)
        unwound[0] = 1.0
        for m in range(1, a):
            unwound[m] = poly[m] - z * unwound[m - 1]
        g = 0.0
        for j in range(a):
            g += weights[d, j] * unwound[a - 1 - j]
        phi[base + slot_feature[s0 + k], b] += scale * slot_float[s0 + k, S_ONE_MINUS_Z] * g
