"""Lead id -> row position, for joining tens of millions of events to their leads.

Equal-width text ids (the usual CRM case) go through an open-addressing hash table built
with numpy: exact, and several times faster than pandas' per-string hashing on 20M ids,
which is what keeps the engagement family above 5M events per second. Other text ids use
arrow's `index_in`; non-text ids use pandas' `get_indexer`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml.features import kernels

_CHUNK: Final = 1 << 20
"""Ids checked per pass when testing for fixed width."""
_TABLE_MIN_QUERIES: Final = 1 << 16
"""Below this many ids arrow's own lookup is cheaper than building the numpy table."""


class Lookup:
    """Position of each query id among the table ids (-1 if absent), chunk by chunk.

    Equal-width text ids (the usual CRM case) go through an open-addressing hash table
    built with numpy: exact, and several times faster than a hash lookup per string.
    Other text ids use arrow's `index_in`; non-text ids use pandas.
    """

    _MUL: Final = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, table_ids: pd.Index | pd.Series, query_ids: pd.Index | pd.Series):
        self._table_ids = table_ids
        self._all: np.ndarray | None = None
        self._query: np.ndarray | None = None
        self._unique: bool | None = None
        table, query = _text(table_ids), _text(query_ids)
        if table is None or query is None:
            found = pd.Index(table_ids).get_indexer_for(pd.Index(query_ids))
            self._all = found.astype(np.int32)
            return
        table_bytes, query_bytes = _fixed_width(table), _fixed_width(query)
        if (
            len(query) >= _TABLE_MIN_QUERIES
            and table_bytes is not None
            and query_bytes is not None
            and table_bytes.shape[1] == query_bytes.shape[1]
        ):
            words = _words(table_bytes)
            self._keys = np.ascontiguousarray(self._key(words))
            # Long ids: each word of every table id (contiguous), to confirm matches.
            self._table_words = [np.ascontiguousarray(w) for w in words] if len(words) > 1 else []
            distinct = _distinct(self._keys)
            if distinct or not self._table_words:
                # Short ids are their own key: equal keys are duplicate ids. Long ids are
                # hashed: equal keys are duplicates or (rarely) a collision -> arrow path.
                self._unique = distinct
                self._build()
                self._query = query_bytes
                return
        found = pc.fill_null(pc.index_in(query, value_set=table), -1)
        self._all = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int32)

    @property
    def table_unique(self) -> bool:
        """True when no id occurs twice among the table ids."""
        if self._unique is None:
            self._unique = bool(pd.Index(self._table_ids).is_unique)
        return self._unique

    def positions(self, start: int, stop: int) -> np.ndarray:
        """Positions (int32, -1 when absent) of query ids start..stop."""
        if self._all is not None:
            return self._all[start:stop]
        assert self._query is not None
        words = _words(self._query[start:stop])
        found = self._probe(self._key(words))
        if self._table_words:  # hashed keys: confirm the candidate byte for byte
            same = found >= 0
            for mine, theirs in zip(words, self._table_words, strict=True):
                same &= theirs[found] == mine  # found == -1 reads the last id: masked
            found[~same] = -1
        return found

    def _key(self, words: list[np.ndarray]) -> np.ndarray:
        """Ids of up to 8 bytes are their own key; longer ones are hashed word by word."""
        if len(words) == 1:
            return words[0]
        key = words[0] * self._MUL
        for word in words[1:]:
            key ^= word
            key *= self._MUL
            key ^= key >> np.uint64(29)
        return key

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * self._MUL) >> np.uint64(64 - self._bits)).astype(np.intp)

    def _build(self) -> None:
        """Linear probing at load <= 1/4, built by one sort instead of insertion rounds.

        Slots hold int32 positions (-1 = empty); a candidate's key is checked against the
        table ids' own key array. Both are small enough to stay in cache. Items placed in
        home-slot order land at max(home, previous + 1); the table gets a tail instead of
        wrapping around, so a probe always ends at an empty slot. Queries probe it in one
        compiled loop (`kernels.probe`).
        """
        keys = self._keys
        self._bits = max(1, (4 * len(keys) - 1).bit_length())
        home = self._slot(keys)
        order = np.argsort(home, kind="stable")
        steps = np.arange(len(keys))
        final = np.maximum.accumulate(home[order] - steps) + steps
        # Every home slot a query can hash to, then the tail, then one empty slot.
        table = np.full(max(int(final[-1]), (1 << self._bits) - 1) + 2, -1, dtype=np.int32)
        table[final] = order
        self._table = table

    def _probe(self, keys: np.ndarray) -> np.ndarray:
        shift = np.uint64(64 - self._bits)
        return kernels.probe(np.ascontiguousarray(keys), self._table, self._keys, shift, self._MUL)


def _distinct(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return not (ordered[1:] == ordered[:-1]).any()


def _text(ids: pd.Index | pd.Series) -> pa.Array | None:
    """Ids as one arrow string array (zero-copy for pandas' str dtype); None if not text."""
    try:
        arr = combined(pa.array(ids.array, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def _fixed_width(arr: pa.Array) -> np.ndarray | None:
    """An (n, width) byte view of text ids that all have the same byte length, else None."""
    n = len(arr)
    if not n or arr.null_count:
        return None
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[arr.offset : arr.offset + n + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    width, rest = divmod(last - first, n)
    if rest or not width:
        return None
    for start in range(0, n, _CHUNK):
        part = offsets[start : start + _CHUNK + 1]
        expected = first + width * np.arange(start, start + len(part), dtype=np.int64)
        if not np.array_equal(part, expected):
            return None
    return np.frombuffer(data_buffer, dtype=np.uint8)[first:last].reshape(n, width)


def _words(rows: np.ndarray) -> list[np.ndarray]:
    """Each row of bytes as little-endian uint64 words, zero-padded at the end.

    Whole words are strided views into the id bytes (no copy); only a partial last word
    is copied into zero-padded rows."""
    n, width = rows.shape
    out = []
    for at in range(0, width, 8):
        if at + 8 <= width and rows.flags.c_contiguous:
            out.append(np.ndarray((n,), dtype="<u8", buffer=rows, offset=at, strides=(width,)))
            continue
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, : min(8, width - at)] = rows[:, at : at + 8]
        out.append(padded.view("<u8").reshape(n))
    return out
