"""The flat family: features of a one-row-per-lead CRM export, column by column.

A flat export's engagement is already rolled up by the CRM, so each feature is one
export column, read by its mapped type: numbers as float64 (missing tokens -> NaN),
categories as stripped text (missing tokens -> None). The feature is named after the
export column, and its business field is that column too, so reasons speak the CRM's
language. `flat_columns` is the one implementation: training (`flat_features`, a frame)
and serving (one request's fields) both call it.

Calendar features (`CALENDAR`) come from `created_at` when training chose them
(`DatasetConfig.calendar_columns`): the weekday and hour the lead was created, and, when
the labels count conversions within a window of creation (`converted_at`), its month and
creation day (days since 1970-01-01: a trend over time). They depend on the row alone,
never on when it is scored, so a file and an API request read them identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError
from leadml.features.build import ColumnInfo, Family, Kind

CALENDAR: Final = ("created_weekday", "created_hour", "created_month", "created_day")
"""Calendar features of `created_at`: created_hour only when the export records times;
created_month and created_day only for windowed labels (`calendar_available`)."""
WINDOWED_ONLY: Final = frozenset({"created_month", "created_day"})
"""With a converted flag and no converted-at date, older leads had longer to convert: the
month and the creation day would measure that exposure, not the lead (an open lead scored
later would look like a fresh one). Windowed labels give every lead the same window."""
_DAY_NS: Final = 86_400 * 10**9

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
    for name in dataset.calendar_columns:
        out.append(ColumnInfo(name, "numeric", "lead_source", name))
    return out


def calendar_available(created: np.ndarray, *, windowed: bool) -> tuple[str, ...]:
    """The calendar features an export's created-at values (datetime64[ns]) support:
    created_hour only when some value carries a time of day; created_month and created_day
    only when the labels are `windowed` (see `WINDOWED_ONLY`)."""
    present = created[~np.isnat(created)]
    if len(present) == 0:
        return ()
    has_time = bool(((present.astype(np.int64) % _DAY_NS) != 0).any())
    return tuple(
        c
        for c in CALENDAR
        if (c != "created_hour" or has_time) and (windowed or c not in WINDOWED_ONLY)
    )


def calendar_columns(created: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The calendar features `names` of created-at values (datetime64[ns] UTC, NaT when
    missing): float64, NaN where created is NaT."""
    stamps = pd.DatetimeIndex(created)
    missing = np.isnat(created)
    values = {
        "created_month": lambda: stamps.month.to_numpy(dtype=np.float64),
        "created_weekday": lambda: stamps.weekday.to_numpy(dtype=np.float64),
        "created_hour": lambda: stamps.hour.to_numpy(dtype=np.float64),
        "created_day": lambda: np.floor(created.astype(np.int64) / _DAY_NS),
    }
    return {name: np.where(missing, np.nan, values[name]()) for name in names}


def flat_dates(
    values: Sequence[Any] | np.ndarray | pd.Series, name: str, *, first_row: int = 1
) -> np.ndarray:
    """Date text (or datetimes) -> datetime64[ns] UTC, NaT for missing values. A value that
    is not a date raises InputError naming the column, the row (the first value's row is
    `first_row`: 2 in a file under its header) and the value."""
    source = pd.Series(np.asarray(values, dtype=object))
    parsed = pd.to_datetime(source, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & source.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            "not a date",
            row=i + first_row,
            column=name,
            value=source.iloc[i],
            expected="an ISO 8601 date or time (e.g. 2025-03-31 or 2025-03-31T14:05:00Z)",
        )
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


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
    if dataset.calendar_columns:
        out.update(_calendar(rows, dataset, n, tokens))
    return out


def _calendar(
    rows: Mapping[str, Any], dataset: DatasetConfig, n: int, tokens: set[str]
) -> dict[str, np.ndarray]:
    assert dataset.created_at is not None  # calendar_columns need it (set by training)
    values = rows.get(dataset.created_at)
    text = np.full(n, None, object) if values is None else _text(values, tokens)
    return calendar_columns(flat_dates(text, dataset.created_at), dataset.calendar_columns)


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
