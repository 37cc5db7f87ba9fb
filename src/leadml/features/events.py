"""Events resolved against the leads: per event its lead's position, type code and instant.

A few events (one lead in an API call) go through plain dicts. Many events (tens of
millions in training) go through the lead-id `Lookup` and arrow, chunk by chunk, so
the engagement loop can start on one chunk while the next is resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.errors import InputError
from leadml.features.columns import array_micros, frame_micros
from leadml.features.ids import Lookup, combined

EVENT_TYPES: Final = schema.EVENT_TYPES
_TYPE_CODE: Final = {t: i for i, t in enumerate(EVENT_TYPES)}
_FEW: Final = 2048
"""Up to this many leads plus events, dicts beat the lookup table's fixed costs."""

Slicer = Callable[[int, int], np.ndarray]


class EventTable:
    """Events resolved against the leads; `positions` and `codes` work chunk by chunk."""

    def __init__(
        self, occurred: np.ndarray, positions: Slicer, codes: Slicer, *, leads_unique: bool
    ) -> None:
        self.occurred = occurred
        """int64 UTC microseconds per event (NaT = int64 min)."""
        self.positions = positions
        """positions(start, stop): each event's lead position (int32, -1 if unknown)."""
        self.codes = codes
        """codes(start, stop): position in EVENT_TYPES (int8, -1 if unknown or post-conversion)."""
        self.leads_unique = leads_unique

    def __len__(self) -> int:
        return len(self.occurred)

    @classmethod
    def resolve(
        cls, lead_ids: Any, events: Mapping[str, Any] | pd.DataFrame, *, frame: bool
    ) -> EventTable:
        """Resolve `events` (lead_id, event_type, occurred_at) against `lead_ids`.

        `frame`: the columns are pandas (tz-aware timestamps); otherwise arrays
        (datetime64, naive values are UTC).
        """
        for name in schema.EVENT_REQUIRED:
            if name not in events:
                raise InputError("events need this column", column=name)
        event_ids, types = events[schema.LEAD_ID], events[schema.EVENT_TYPE]
        stamps = events[schema.OCCURRED_AT]
        if not len(stamps):  # no events: nothing to check about their dtype
            occurred = np.empty(0, dtype=np.int64)
        elif frame:
            occurred = frame_micros(stamps)
        else:
            occurred = array_micros(stamps, schema.OCCURRED_AT)
        n = len(occurred)
        if len(event_ids) != n or len(types) != n:
            raise InputError(
                "events columns differ in length",
                expected=f"{n} values in lead_id, event_type and occurred_at",
            )
        if n + len(lead_ids) <= _FEW:
            ids = _as_list(lead_ids)
            where = dict(zip(ids, range(len(ids)), strict=True))
            pos = np.array(list(map(where.get, _as_list(event_ids), repeat(-1))), dtype=np.int32)
            code = np.array(list(map(_TYPE_CODE.get, _as_list(types), repeat(-1))), dtype=np.int8)
            return cls(occurred, _slicer(pos), _slicer(code), leads_unique=len(where) == len(ids))
        table = pd.Index(lead_ids)
        if not n or not len(table):
            unknown = _slicer(np.full(n, -1, dtype=np.int32)), _slicer(np.full(n, -1, np.int8))
            return cls(occurred, *unknown, leads_unique=table.is_unique)
        query = event_ids if isinstance(event_ids, pd.Series) else pd.Series(event_ids)
        lookup = Lookup(table, query)
        types = types if isinstance(types, pd.Series) else pd.Series(types)
        return cls(occurred, lookup.positions, type_codes(types), leads_unique=lookup.table_unique)


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _slicer(values: np.ndarray) -> Slicer:
    return lambda start, stop: values[start:stop]


def type_codes(types: pd.Series) -> Slicer:
    """Event type -> position in EVENT_TYPES (int8, -1 for unknown or post-conversion)."""
    if isinstance(types.dtype, pd.CategoricalDtype):
        lookup = pd.Index(EVENT_TYPES).get_indexer(types.cat.categories.astype(object))
        table = np.append(lookup, -1).astype(np.int8)  # code -1 (missing) maps to the last
        codes = types.cat.codes.to_numpy()
        return lambda start, stop: table[codes[start:stop]]
    values = combined(pa.array(types.array, from_pandas=True))
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = combined(pa.array(types.astype("str").array, from_pandas=True))
    value_set = pa.array(EVENT_TYPES, type=values.type)

    def codes_of(start: int, stop: int) -> np.ndarray:
        found = pc.index_in(values.slice(start, stop - start), value_set=value_set)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int8)

    return codes_of
