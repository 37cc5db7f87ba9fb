"""The flat family: features of a one-row-per-lead CRM export, column by column.

A flat export's engagement is already rolled up by the CRM, so each feature is one
export column, read by its mapped type: numbers as float64 (missing tokens -> NaN),
categories as stripped text (missing tokens -> None). The feature is named after the
export column, and its business field is that column too, so reasons speak the CRM's
language. `flat_columns` is the one implementation: training (`flat_features`, a frame)
and serving (one request's fields) both call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError
from leadml.features.build import ColumnInfo, Family, Kind

FAMILY_OF_ROLE: dict[str, Family] = {
    "source": "lead_source",
    "engagement": "engagement",
    "firmographic": "firmographics",
}


def flat_catalogue(dataset: DatasetConfig) -> list[ColumnInfo]:
    """The flat model's columns: one per feature-role export column, in mapping order."""
    out = []
    for name in dataset.feature_names:
        kind: Kind = dataset.type_of(name)
        out.append(ColumnInfo(name, kind, FAMILY_OF_ROLE[dataset.columns[name].role], name))
    return out


def flat_columns(
    rows: Mapping[str, Sequence[Any] | np.ndarray | pd.Series], dataset: DatasetConfig
) -> dict[str, np.ndarray]:
    """Raw features: export column -> 1-D array (float64 or object str/None), catalogue order.

    `rows` maps export column names to values (text, numbers or None); an absent column is
    all missing. Missing tokens of the mapping count as missing. A value that should be a
    number and is not raises InputError naming the column, the row and the value.
    """
    n = _length(rows)
    tokens = {t.strip().lower() for t in dataset.missing}
    out: dict[str, np.ndarray] = {}
    for name in dataset.feature_names:
        values = rows.get(name)
        if values is None:
            kind = dataset.type_of(name)
            out[name] = np.full(n, np.nan) if kind == "numeric" else np.full(n, None, object)
            continue
        text = _text(values, tokens)
        out[name] = _numbers(text, name) if dataset.type_of(name) == "numeric" else text
    return out


def flat_features(frame: pd.DataFrame, dataset: DatasetConfig) -> pd.DataFrame:
    """`flat_columns` of a whole export (index: the lead ids of `frame`)."""
    rows = {name: frame[name].to_numpy(dtype=object) for name in frame.columns}
    if len(frame) == 0:
        rows = {name: np.empty(0, dtype=object) for name in frame.columns}
    return pd.DataFrame(flat_columns(rows, dataset), index=frame.index)


def _length(rows: Mapping[str, Any]) -> int:
    lengths = {len(v) for v in rows.values() if v is not None}
    if len(lengths) > 1:
        raise InputError("columns differ in length", expected="one value per lead in each column")
    return lengths.pop() if lengths else 0


def value_text(value: Any) -> str | None:
    """One raw value as the export's text: None when missing, numbers as a file shows them
    (7.0 -> "7"), text stripped. Missing tokens are NOT applied here (see `flat_columns`)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value).strip()


def _text(values: Sequence[Any] | np.ndarray | pd.Series, tokens: set[str]) -> np.ndarray:
    """Object array: stripped str, or None for missing values and missing tokens."""
    source = values.tolist() if hasattr(values, "tolist") else list(values)
    out = np.empty(len(source), dtype=object)
    for i, value in enumerate(source):
        text = value_text(value)
        out[i] = None if text is None or text.lower() in tokens else text
    return out


def _numbers(text: np.ndarray, name: str) -> np.ndarray:
    out = np.full(len(text), np.nan)
    for i, value in enumerate(text.tolist()):
        if value is None:
            continue
        try:
            out[i] = float(value)
        except ValueError:
            raise InputError(
                "not a number",
                row=i + 1,
                column=name,
                value=value,
                expected="a number or a missing-value token (the column's type is numeric)",
            ) from None
    return out
