"""Id-like feature columns: a per-row identifier mapped as a feature by mistake.

A hash, a record number or a free-text note is (nearly) unique per lead. As a feature it
can only memorise the training rows, and as a reason it reads "Prospect id: 7f3a...".
Training sets such columns aside (role "ignore" in the bundle's mapping) with one warning
each; a user who agrees silences it by giving the column role = "ignore" in
[dataset.columns].

The rule, on the feature values `features.flat` read:
- categorical: its distinct values cover more than half of the rows that have a value;
- numeric: every value is a distinct integer, packed like a counter (the range is at
  most `DENSE_SPAN` times the count), as a row or record number is. Genuine measures
  (employees, seconds on site) repeat long before that many rows.
Columns with fewer than `MIN_ROWS` values are never called id-like: too few to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError

ID_LIKE_KEY: Final = "id_like_columns"
"""Bundle `extra` and training-run key: the columns set aside, with their evidence."""
DISTINCT_SHARE: Final = 0.5
"""A categorical whose distinct values exceed this share of its present rows is id-like."""
DENSE_SPAN: Final = 20
"""A numeric column of distinct integers spanning at most this many times its count is
id-like (random integers that sparse would collide: about n/40 repeats expected)."""
MIN_ROWS: Final = 200
"""Fewer present values than this: no verdict."""


def id_like_evidence(values: np.ndarray, kind: str) -> str | None:
    """Why a feature column looks like a per-row id, or None when it does not.

    `values`: the column as `features.flat` reads it (float64 with NaN, or str/None)."""
    if kind == "numeric":
        numbers = np.asarray(values, dtype=np.float64)
        present = numbers[~np.isnan(numbers)]
        if len(present) < MIN_ROWS or not np.all(present == np.round(present)):
            return None
        distinct = len(np.unique(present))
        span = float(present.max() - present.min()) + 1.0
        if distinct == len(present) and span <= DENSE_SPAN * len(present):
            return f"{distinct:,} distinct whole numbers in {len(present):,} rows, like a counter"
        return None
    text = pd.Series(np.asarray(values, dtype=object)).dropna()
    if len(text) < MIN_ROWS:
        return None
    distinct = int(text.nunique())
    if distinct > DISTINCT_SHARE * len(text):
        return f"{distinct:,} distinct values in {len(text):,} rows"
    return None


def set_aside_id_like(
    raw: Mapping[str, np.ndarray] | pd.DataFrame, dataset: DatasetConfig
) -> tuple[DatasetConfig, dict[str, str]]:
    """The mapping with id-like feature columns turned to role "ignore", and the evidence
    per column set aside (mapping order). `dataset` must have its types resolved.

    Raises InputError when every feature column is id-like: nothing would be left to learn.
    """
    found: dict[str, str] = {}
    for name in dataset.feature_names:
        if name not in raw:
            continue
        column = raw[name]
        values = column.to_numpy() if isinstance(column, pd.Series) else np.asarray(column)
        evidence = id_like_evidence(values, dataset.type_of(name))
        if evidence is not None:
            found[name] = evidence
    if not found:
        return dataset, found
    if set(found) == set(dataset.feature_names):
        first = next(iter(found))
        raise InputError(
            "every feature column looks like a per-row id",
            column=first,
            value=found[first],
            expected="at least one feature column whose values repeat across leads",
        )
    columns = {
        name: column.model_copy(update={"role": "ignore"}) if name in found else column
        for name, column in dataset.columns.items()
    }
    return dataset.model_copy(update={"columns": columns}), found


def id_like_warning(name: str, evidence: str) -> str:
    """The one-line training warning for a column set aside as id-like."""
    return (
        f"column {name!r} looks like a per-row id ({evidence}): left out of the model; "
        f'give it role = "ignore" in [dataset.columns] to silence this'
    )
