"""LightGBM's model matrix: category values as level codes, and an encoded frame as numbers.

The one home of both conversions. `level_codes` maps raw category values to their
position in a column's levels (the codes `spec.encode_columns` writes). `frame_matrix`
turns an encoded frame (pandas categoricals and numbers) into the float64 matrix exactly
as LightGBM's `predict` converts it: TreeSHAP, MLflow's signature example and
`spec.encode_numpy` all go through it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from leadml.warning_lines import unseen_lines

FEW_ROWS: Final = 32
"""Up to this many rows, plain Python per value beats pandas' fixed per-call costs."""


def level_codes(
    values: pd.Series | np.ndarray | Sequence[Any],
    position: dict[str, int],
    index: pd.Index,
    unknown: int,
    fallback: int,
    long_tail: bool,
) -> tuple[list[int] | np.ndarray, list[str]]:
    """Level position per value, and the unseen values that deserve a warning.

    `position` / `index`: the levels (value -> code). Missing values get `unknown`, values
    not among the levels `fallback`; unseen values are listed unless `long_tail` (those
    map to 'other' silently). A few values give a list, more an array.
    """
    if len(values) <= FEW_ROWS:  # a dict per value beats pandas' fixed costs
        few: list[int] = []
        unseen: list[str] = []
        for value in values.tolist() if hasattr(values, "tolist") else list(values):
            if type(value) is not str:
                if _missing(value):
                    few.append(unknown)
                    continue
                value = str(value)
            code = position.get(value)
            if code is None:
                code = fallback
                if not long_tail:
                    unseen.append(value)
            few.append(code)
        return few, unseen
    text = pd.Series(values).astype("str")
    categories = pd.Categorical(text)  # few distinct values: map those, not every row
    found = index.get_indexer(categories.categories.astype(object))
    missing = categories.codes < 0
    codes = np.append(found, -1)[categories.codes]
    unseen_rows = (codes < 0) & ~missing
    codes = np.where(missing, unknown, np.where(unseen_rows, fallback, codes))
    warn = unseen_rows if not long_tail else np.zeros(len(codes), dtype=bool)
    return codes, text[warn].tolist()


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def unseen_warnings(name: str, unseen: list[str]) -> list[str]:
    """One line per value of column `name` that is not among the model's levels (absent
    from the data it was trained from): the commonest few, then a count. The lines are
    tagged (`warning_lines.Unseen`) so the warnings of several chunks merge exactly."""
    return unseen_lines(name, Counter(unseen))


def frame_matrix(
    frame: pd.DataFrame, categories: Sequence[Sequence[Any]] | None = None
) -> np.ndarray:
    """A frame as LightGBM's `predict` converts it, as float64.

    Categoricals become codes (unseen or missing -> NaN) of `categories`: the training
    categories of each categorical column in order (a booster's `pandas_categorical`), or
    None for the frame's own (an `encode` frame, whose categories are the spec's levels).
    Then one common dtype, float32 when nothing needs float64, exactly like LightGBM.
    """
    dtypes = list(frame.dtypes)
    categorical = [j for j, dtype in enumerate(dtypes) if isinstance(dtype, pd.CategoricalDtype)]
    stored: list[Any] = (
        [frame.iloc[:, j].cat.categories for j in categorical]
        if categories is None
        else list(categories)
    )
    if len(categorical) != len(stored):
        raise ValueError(
            f"frame has {len(categorical)} categorical columns, the model was trained "
            f"with {len(stored)}"
        )
    codes: dict[int, np.ndarray] = {}
    for j, levels in zip(categorical, stored, strict=True):
        values = frame.iloc[:, j]
        if not values.cat.categories.equals(pd.Index(levels)):
            values = values.cat.set_categories(list(levels))
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
