"""Feature inputs and outputs as plain arrays: the one representation the families use.

Both entry points convert their inputs here and then call the same family functions:
`build_features` (DataFrames, training and batch scoring) and `feature_columns`
(a mapping of arrays, the serving path). So there is one implementation of every feature.

- Text: a `Text` (per row a code into the column's distinct values, None = missing).
  Features of text are computed once per distinct value, which is cheap for one lead
  and for a million alike.
- Timestamps: int64 microseconds since the epoch (UTC); NaT is int64 min. Inputs in
  nanoseconds are floored to microseconds, so both entry points see the same instants.
- Numbers: float64, NaN for missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.errors import InputError
from leadml.features.ids import combined

NAT: Final = np.iinfo(np.int64).min
"""A missing timestamp, as int64 microseconds."""
MICROS_PER_SECOND: Final = 10**6
MICROS_PER_DAY: Final = 86_400 * MICROS_PER_SECOND
_FEW: Final = 256
"""Up to this many values, plain Python beats arrow's and pandas' fixed costs."""
_PANDAS: Final = (pd.Series, pd.Index)
_ONE_ROW: Final = np.zeros(1, dtype=np.intp)
_ONE_ROW.flags.writeable = False


class Text:
    """A text column as codes into its distinct values (None = missing). Treat as frozen."""

    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: tuple[str | None, ...]) -> None:
        self.codes = codes
        """intp, one per row: a position in `values`."""
        self.values = values

    @classmethod
    def of(cls, values: Any, n: int) -> Text:
        """Text from strings (None/NaN missing; other values become their str()).

        `values` may be a pandas Series or Index, an array or a sequence; None means the
        column is absent: every row missing.
        """
        if values is None:
            return cls(np.zeros(n, dtype=np.intp), (None,))
        if len(values) != n:
            raise ValueError(f"{len(values)} values for {n} rows")
        if n == 1 and not isinstance(values, _PANDAS):  # one lead: the API's case
            return cls(_ONE_ROW, (_text_value(values[0]),))
        if n <= _FEW and not isinstance(values, _PANDAS):
            seen: dict[str | None, int] = {}
            codes = [seen.setdefault(_text_value(v), len(seen)) for v in values]
            return cls(np.array(codes, dtype=np.intp), tuple(seen))
        encoded = pc.dictionary_encode(_arrow_text(values))
        distinct = encoded.dictionary.to_pylist()
        indices = pc.fill_null(encoded.indices, len(distinct))
        codes_array = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)
        return cls(codes_array, (*distinct, None))

    def map(self, fn: Callable[[str | None], str | None]) -> Text:
        """Another text column: `fn` of each distinct value."""
        return Text(self.codes, tuple(map(fn, self.values)))

    def numbers(self, fn: Callable[[str | None], float]) -> np.ndarray:
        """A float64 column: `fn` of each distinct value."""
        per_value = list(map(fn, self.values))
        if len(self.codes) <= _FEW:
            return np.array([per_value[c] for c in self.codes.tolist()], dtype=np.float64)
        return np.array(per_value, dtype=np.float64)[self.codes]

    def objects(self) -> np.ndarray:
        """One str or None per row (object array)."""
        if self.codes is _ONE_ROW:
            return np.array(self.values, dtype=object)
        if len(self.codes) <= _FEW:
            values = self.values
            return np.array([values[c] for c in self.codes.tolist()], dtype=object)
        distinct = np.empty(len(self.values), dtype=object)
        distinct[:] = self.values
        return distinct[self.codes]

    def strings(self) -> pd.api.extensions.ExtensionArray:
        """pandas' `str` array (NaN for missing), as `build_features` returns text."""
        distinct = pa.array(self.values, type=pa.string())
        return pd.array(distinct.take(pa.array(self.codes)), dtype="str")


def _text_value(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value if type(value) is str else str(value)


def _arrow_text(values: Any) -> pa.Array:
    """Values as one arrow string array, text the way pandas' astype('str') makes it."""
    if isinstance(values, _PANDAS):
        if not isinstance(values.dtype, pd.StringDtype):
            values = values.astype("str")
        return combined(pa.array(values.array, from_pandas=True))
    try:
        arr = combined(pa.array(values, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return _arrow_text(pd.Series(np.asarray(values, dtype=object)))
    return arr


def numbers(values: Any, n: int) -> np.ndarray:
    """float64 with NaN for missing or unparseable values; all NaN when absent (None)."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        out = values.astype(np.float64, copy=False)
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
        parsed = pd.to_numeric(series, errors="coerce")
        out = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(out) != n:
        raise ValueError(f"{len(out)} values for {n} rows")
    return out


def frame_micros(stamps: pd.Series | pd.Index) -> np.ndarray:
    """tz-aware pandas timestamps as int64 UTC microseconds (no copy when already us)."""
    dtype = stamps.dtype
    if not isinstance(dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{stamps.name} must hold tz-aware UTC timestamps, got {dtype}")
    return _micros(stamps.to_numpy(dtype=f"datetime64[{dtype.unit}]"))


def array_micros(values: Any, field: str) -> np.ndarray:
    """datetime64 values (naive = UTC; NaT allowed) as int64 UTC microseconds."""
    if type(values) is np.ndarray and values.dtype.kind == "M":
        return _micros(values)
    if isinstance(values, _PANDAS) and isinstance(values.dtype, pd.DatetimeTZDtype):
        return frame_micros(values)
    try:
        return _micros(np.asarray(values, dtype="datetime64[ns]"))
    except (TypeError, ValueError) as exc:
        raise InputError(
            "not a timestamp", column=field, expected="datetime64 values (UTC) or NaT"
        ) from exc


def _micros(stamps: np.ndarray) -> np.ndarray:
    """datetime64 in any unit as int64 microseconds: floored, NaT kept, no copy if us."""
    return stamps.astype("datetime64[us]", copy=False).view(np.int64)


class LeadTable:
    """The lead columns the families read, from a DataFrame or a mapping of arrays."""

    def __init__(self, columns: Mapping[str, Any] | pd.DataFrame, n: int, *, frame: bool) -> None:
        self._columns = columns
        self.n = n
        self._frame = frame

    @classmethod
    def from_frame(cls, leads: pd.DataFrame) -> LeadTable:
        return cls(leads, len(leads), frame=True)

    @classmethod
    def from_mapping(cls, leads: Mapping[str, Any]) -> LeadTable:
        if schema.LEAD_ID not in leads:
            raise InputError("leads need a lead_id", column=schema.LEAD_ID)
        return cls(leads, len(leads[schema.LEAD_ID]), frame=False)

    def get(self, name: str) -> Any:
        """The raw column, or None when absent."""
        return self._columns.get(name)

    def text(self, name: str) -> Text:
        try:
            return Text.of(self.get(name), self.n)
        except ValueError as exc:
            raise InputError(str(exc), column=name, expected=f"{self.n} values") from exc

    def number(self, name: str) -> np.ndarray:
        try:
            return numbers(self.get(name), self.n)
        except (TypeError, ValueError) as exc:
            raise InputError(str(exc), column=name, expected=f"{self.n} numbers") from exc

    def micros(self, name: str) -> np.ndarray:
        values = self.get(name)
        if values is None:
            raise InputError("leads need this column", column=name)
        out = frame_micros(values) if self._frame else array_micros(values, name)
        if len(out) != self.n:
            raise InputError(f"{len(out)} values for {self.n} leads", column=name)
        return out


Values: TypeAlias = dict[str, np.ndarray | Text]
"""Feature name -> values, in catalogue order (text as `Text`, numbers as arrays)."""


def to_arrays(values: Mapping[str, np.ndarray | Text]) -> dict[str, np.ndarray]:
    """Text as object arrays of str/None; numbers unchanged."""
    return {k: v.objects() if isinstance(v, Text) else v for k, v in values.items()}


def to_frame(values: Mapping[str, np.ndarray | Text], index: pd.Index) -> pd.DataFrame:
    """A DataFrame (text as pandas' `str`, NaN missing), sharing the numeric arrays."""
    data: dict[str, Any] = {k: v.strings() if type(v) is Text else v for k, v in values.items()}
    return pd.DataFrame(data, index=index, columns=list(values), copy=False)
