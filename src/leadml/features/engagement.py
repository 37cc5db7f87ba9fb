"""Content engagement as of each lead's cutoff: counts, recency, decay, velocity, stage.

Only events strictly before a lead's cutoff count; unknown and post-conversion event
types are ignored entirely. The work is a few numpy scatter passes over chunks of events
(no pandas groupby, no Python object per event), so it handles tens of millions of events
and stays cheap for one lead with a handful of events.

Definitions (ages in days, measured back from the cutoff):
- `count_<type>_<w>d`: events of that type with age in (0, w]; `count_<type>_all`: all.
- `days_since_last_<type>`, `days_since_last_event`: age of the newest such event, in
  whole seconds (NaN if none).
- `engagement_score`: sum over events of STAGE_WEIGHT[stage] * 0.5 ** (age / half_life):
  hand-raisers weigh more than page views; `unsubscribe` weighs 0 (it has its own count).
- `engagement_velocity`: (events in the last 7 days + 1) / (events in the 21 days before
  / 3 + 1). Above 1 the lead is speeding up; 1 is steady (or silent).
- `email_click_through_rate`: email_click / email_open counts (NaN without an open).
- `stage_reached`: highest funnel stage as 0..4 (none, IQL, MQL, SQL, PQL).
- `days_since_created`: the lead's age at the cutoff.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.config import FeatureConfig

FAMILY: Final = "engagement"
EVENT_TYPES: Final = schema.EVENT_TYPES
ALL_TIME: Final = "all"
STAGE_ORDINAL: Final[dict[str, int]] = {
    schema.NO_STAGE: 0,
    **{stage: i + 1 for i, stage in enumerate(schema.STAGES)},
}
STAGE_WEIGHT: Final[dict[str, float]] = {"IQL": 1.0, "MQL": 2.0, "SQL": 4.0, "PQL": 4.0}
"""Decay-score weight per funnel stage; event types without a stage weigh 0."""
VELOCITY_RECENT_DAYS: Final = 7
VELOCITY_BASELINE_DAYS: Final = 21

_CHUNK: Final = 1 << 20

_TABLE_MIN_QUERIES: Final = 1 << 16
"""Below this many ids arrow's own lookup is cheaper than building the numpy table."""
_DAY_SECONDS: Final = 86_400
_NEVER: Final = np.iinfo(np.uint32).max
"""Recency sentinel: no event of the type (ages are kept in whole seconds, as uint32)."""
_NAT: Final = np.iinfo(np.int64).min
_NO_CUTOFF: Final = _NAT // 2
"""Stand-in for a missing cutoff: every event age comes out negative, so nothing counts."""
_PER_SECOND: Final[dict[str, int]] = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def count_column(event_type: str, window_days: int | None) -> str:
    """Column name of a count: `count_demo_request_30d`, or `count_demo_request_all`."""
    return f"count_{event_type}_{ALL_TIME if window_days is None else f'{window_days}d'}"


def recency_column(event_type: str) -> str:
    """Column name of a recency: `days_since_last_demo_request`."""
    return f"days_since_last_{event_type}"


def engagement_columns(config: FeatureConfig) -> dict[str, str]:
    """The output columns in order, each with the business field it comes from."""
    out = {
        count_column(t, w): f"{t} events" for t in EVENT_TYPES for w in (*_windows(config), None)
    }
    out |= {
        "total_events": "engagement events",
        "distinct_event_types": "engagement events",
        "stage_reached": "funnel stage",
    }
    out |= {recency_column(t): f"{t} events" for t in EVENT_TYPES}
    return out | {
        "days_since_last_event": "engagement events",
        "engagement_score": "engagement events",
        "engagement_velocity": "engagement events",
        "email_click_through_rate": "email_open and email_click events",
        "days_since_created": schema.CREATED_AT,
    }


def engagement_features(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series, config: FeatureConfig
) -> pd.DataFrame:
    """Engagement per lead (index lead_id, lead order) from its events before its cutoff.

    `cutoff` is indexed by lead_id and must cover every lead; extra entries are ignored.
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    unit = _unit(events[schema.OCCURRED_AT]) if len(events) else "us"
    lookup = _Lookup(index, events[schema.LEAD_ID]) if len(events) and len(index) else None
    if not (lookup.table_unique if lookup else index.is_unique):
        raise ValueError("leads have duplicate lead_id values")
    cut = _lead_cutoffs(index, cutoff, unit)
    created = _as_int(leads[schema.CREATED_AT], unit)
    acc = _Accumulator(len(index), config, unit, wide=False)
    if lookup is not None:
        acc = _accumulate(acc, lookup, events, cut, unit, config)
    return _assemble(acc, index, cut, created, unit, config)


# --- scatter passes ----------------------------------------------------------------


class _Chunk(NamedTuple):
    """One chunk of counted events, ready to scatter."""

    pos: np.ndarray  # lead position
    cell: np.ndarray  # type * n_leads + lead
    increment: np.ndarray  # packed window-bucket increment (or the bucket when wide)
    seconds: np.ndarray  # age in whole seconds, uint32
    weight: np.ndarray  # decayed, stage-weighted contribution to the score
    speed: np.ndarray  # velocity increment


class _Accumulator:
    """Per (event type, lead) cells and per lead sums, filled chunk by chunk.

    Cells are type-major (cell = type * n_leads + lead), so each event type's values for
    all leads are one contiguous row: the layout of the output block, with no transpose.
    """

    def __init__(self, n_leads: int, config: FeatureConfig, unit: str, *, wide: bool) -> None:
        self.per_second = _PER_SECOND[unit]
        self.per_day = self.per_second * _DAY_SECONDS
        cells = n_leads * len(EVENT_TYPES)
        self.n_leads = n_leads
        self.windows = _windows(config)
        n_buckets = len(self.windows) + 1
        # Bucket b holds ages in (w[b-1], w[b]]; the last bucket is older than every window.
        self.edges = np.array([w * self.per_day for w in self.windows], dtype=np.int64)
        # Packed counters: bucket b counts in bits [b * bits, (b + 1) * bits) of one uint64,
        # so one scatter fills every window. `wide` (an int64 array per bucket) is the
        # fallback when some lead has more events than a packed field can hold.
        self.bits = 16 if n_buckets <= 4 else 8
        self.wide = wide or n_buckets > 64 // self.bits
        self.increment = np.uint64(1) << (np.arange(n_buckets, dtype=np.uint64) * self.bits)
        self.packed = np.zeros(0 if self.wide else cells, dtype=np.uint64)
        self.counters = [np.zeros(cells, np.int64) for _ in range(n_buckets)] if self.wide else []
        self.newest = np.full(cells, _NEVER, dtype=np.uint32)  # age of the newest, seconds
        self.per_lead = np.zeros(n_leads, dtype=np.int64)
        self.score = np.zeros(n_leads, dtype=np.float64)
        # Velocity: the low 32 bits count the last 7 days, the high 32 bits the 21 before.
        recent, baseline = VELOCITY_RECENT_DAYS, VELOCITY_RECENT_DAYS + VELOCITY_BASELINE_DAYS
        self.velocity = np.zeros(n_leads, dtype=np.uint64)
        self.velocity_edges = np.array([recent, baseline], dtype=np.int64) * self.per_day
        self.velocity_increment = np.array([1, 1 << 32, 0], dtype=np.uint64)
        weights = [STAGE_WEIGHT.get(schema.EVENT_STAGE.get(t, ""), 0.0) for t in EVENT_TYPES]
        self.type_weight = np.array(weights, dtype=np.float32)
        self.decay = np.float32(-1.0 / (config.half_life_days * self.per_day))

    def prepare(self, pos: np.ndarray, code: np.ndarray, age: np.ndarray) -> _Chunk:
        """Per-event arithmetic for counted events (age > 0); pure, so it can run ahead."""
        cell = code.astype(np.int64) * self.n_leads + pos
        bucket = np.searchsorted(self.edges, age)
        weight = age.astype(np.float32)
        weight *= self.decay  # -> -age / half_life, then 0.5 ** (age / half_life)
        np.exp2(weight, out=weight)
        weight *= self.type_weight[code]
        speed = self.velocity_increment[np.searchsorted(self.velocity_edges, age)]
        increment = bucket if self.wide else self.increment[bucket]
        seconds = np.minimum(age // self.per_second, _NEVER - 1).astype(np.uint32)
        return _Chunk(pos, cell, increment, seconds, weight.astype(np.float64), speed)

    def add(self, chunk: _Chunk) -> None:
        """Scatter one prepared chunk into the accumulators."""
        if self.wide:
            for b, counts in enumerate(self.counters):
                counts += np.bincount(chunk.cell[chunk.increment == b], minlength=counts.size)
        else:
            np.add.at(self.packed, chunk.cell, chunk.increment)
        np.minimum.at(self.newest, chunk.cell, chunk.seconds)
        np.add.at(self.score, chunk.pos, chunk.weight)
        np.add.at(self.velocity, chunk.pos, chunk.speed)
        self.per_lead += np.bincount(chunk.pos, minlength=self.n_leads)

    def overflowed(self) -> bool:
        """True when a packed counter field may have carried into the next one."""
        return not self.wide and int(self.per_lead.max(initial=0)) >= 1 << self.bits

    def counts(self, event_type: int) -> Iterator[np.ndarray]:
        """One event type's counts per lead for each window bucket, newest bucket first."""
        cells = slice(event_type * self.n_leads, (event_type + 1) * self.n_leads)
        if self.wide:
            for counts in self.counters:
                yield counts[cells]
            return
        per_word = 64 // self.bits
        fields = self.packed[cells].view(f"u{self.bits // 8}").reshape(-1, per_word)
        for b in range(len(self.windows) + 1):
            yield fields[:, b if sys.byteorder == "little" else per_word - 1 - b]


def _accumulate(
    acc: _Accumulator,
    lookup: _Lookup,
    events: pd.DataFrame,
    cut: np.ndarray,
    unit: str,
    config: FeatureConfig,
) -> _Accumulator:
    """Run the scatter passes; redo them with wide counters if a packed one could overflow."""
    types = _type_codes(events[schema.EVENT_TYPE])
    occurred = _as_int(events[schema.OCCURRED_AT], unit)
    has_nat = bool((occurred == _NAT).any())

    def decode(start: int) -> _Chunk:
        """The counted events of one chunk: known lead and type, strictly before the cutoff."""
        stop = min(start + _CHUNK, len(occurred))
        pos = lookup.positions(start, stop)
        code = types(start, stop)
        occ = occurred[start:stop]
        age = cut[pos] - occ
        counted = (pos >= 0) & (code >= 0) & (age > 0)
        if has_nat:  # a missing occurred_at never counts
            counted &= occ != _NAT
        return acc.prepare(pos[counted], code[counted], age[counted])

    starts = range(0, len(occurred), _CHUNK)
    while True:
        if len(starts) == 1:
            for start in starts:
                acc.add(decode(start))
        else:
            # Decoding (hash probes, gathers, arithmetic) mostly releases the GIL: run it one
            # chunk ahead in a helper thread while this thread does the scatters.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(decode, starts[0])
                for following in (*starts[1:], None):
                    chunk = pending.result()
                    if following is not None:
                        pending = pool.submit(decode, following)
                    acc.add(chunk)
        if not acc.overflowed():
            return acc
        acc = _Accumulator(acc.n_leads, config, unit, wide=True)


def _type_codes(types: pd.Series) -> Callable[[int, int], np.ndarray]:
    """Event type -> position in EVENT_TYPES (int8, -1 for unknown or post-conversion)."""
    if isinstance(types.dtype, pd.CategoricalDtype):
        lookup = pd.Index(EVENT_TYPES).get_indexer(types.cat.categories.astype(object))
        table = np.append(lookup, -1).astype(np.int8)  # code -1 (missing) maps to the last
        codes = types.cat.codes.to_numpy()
        return lambda start, stop: table[codes[start:stop]]
    values = _combined(pa.array(types.array, from_pandas=True))
    value_set = pa.array(EVENT_TYPES, type=values.type)

    def codes_of(start: int, stop: int) -> np.ndarray:
        found = pc.index_in(values.slice(start, stop - start), value_set=value_set)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int8)

    return codes_of


def _assemble(
    acc: _Accumulator,
    index: pd.Index,
    cut: np.ndarray,
    created: np.ndarray,
    unit: str,
    config: FeatureConfig,
) -> pd.DataFrame:
    """Turn the accumulators into the frame: one int32 block, then one float64 block.

    Row by row (one event type at a time), so temporaries stay the size of one column.
    """
    n, n_types = len(index), len(EVENT_TYPES)
    per_type = len(acc.windows) + 1
    n_counts = n_types * per_type
    ints = np.empty((n_counts + 3, n), dtype=np.int32)
    total, distinct, stage = ints[n_counts], ints[n_counts + 1], ints[n_counts + 2]
    total[:], distinct[:], stage[:] = 0, 0, 0
    floats = np.empty((n_types + 5, n), dtype=np.float64)
    latest = np.full(n, _NEVER, dtype=np.uint32)
    for t, event_type in enumerate(EVENT_TYPES):
        rows = ints[t * per_type : (t + 1) * per_type]
        for b, counts in enumerate(acc.counts(t)):
            # Windows are nested: a window's count is the previous one plus its bucket.
            if b:
                np.add(rows[b - 1], counts, out=rows[b], casting="unsafe")
            else:
                rows[0] = counts
        seen = rows[-1] > 0
        total += rows[-1]
        distinct += seen
        level = STAGE_ORDINAL[schema.EVENT_STAGE.get(event_type, schema.NO_STAGE)]
        np.maximum(stage, seen * np.int32(level), out=stage)
        newest = acc.newest[t * n : (t + 1) * n]
        np.minimum(latest, newest, out=latest)
        _days(newest, out=floats[t])
    _days(latest, out=floats[n_types])

    floats[n_types + 1] = acc.score
    recent = (acc.velocity & np.uint64(0xFFFFFFFF)).astype(np.float64)
    before = (acc.velocity >> np.uint64(32)).astype(np.float64)
    weeks = VELOCITY_BASELINE_DAYS / VELOCITY_RECENT_DAYS
    floats[n_types + 2] = (recent + 1.0) / (before / weeks + 1.0)
    opens = ints[EVENT_TYPES.index("email_open") * per_type + per_type - 1].astype(np.float64)
    clicks = ints[EVENT_TYPES.index("email_click") * per_type + per_type - 1]
    floats[n_types + 3] = np.divide(clicks, opens, out=np.full(n, np.nan), where=opens > 0)
    known = (cut != _NO_CUTOFF) & (created != _NAT)
    lead_age = (cut - np.where(known, created, cut)) / (_PER_SECOND[unit] * _DAY_SECONDS)
    floats[n_types + 4] = np.where(known, lead_age, np.nan)

    names = list(engagement_columns(config))
    int_frame = pd.DataFrame(ints.T, index=index, columns=names[: len(ints)], copy=False)
    float_frame = pd.DataFrame(floats.T, index=index, columns=names[len(ints) :], copy=False)
    return pd.concat([int_frame, float_frame], axis=1)


def _days(seconds: np.ndarray, out: np.ndarray) -> None:
    """Whole seconds as days, NaN where no event was seen."""
    np.divide(seconds, _DAY_SECONDS, out=out)
    out[seconds == _NEVER] = np.nan


def _windows(config: FeatureConfig) -> tuple[int, ...]:
    return tuple(sorted(set(config.windows_days)))


# --- timestamps --------------------------------------------------------------------


def _unit(stamps: pd.Series) -> str:
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{stamps.name} must hold tz-aware UTC timestamps, got {stamps.dtype}")
    return str(stamps.dtype.unit)


def _as_int(stamps: pd.Series, unit: str) -> np.ndarray:
    """UTC timestamps as integers in `unit` (NaT -> int64 min); no copy when units match."""
    if _unit(stamps) != unit:
        stamps = stamps.dt.as_unit(unit)
    return stamps.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)


def _lead_cutoffs(index: pd.Index, cutoff: pd.Series, unit: str) -> np.ndarray:
    """Each lead's cutoff as an integer in `unit`, in lead order; every lead needs one."""
    stamps = _as_int(cutoff, unit)
    if not cutoff.index.equals(index):
        lookup = _Lookup(cutoff.index, index)
        if not lookup.table_unique:
            raise ValueError("cutoff has duplicate lead_id values")
        where = lookup.positions(0, len(index))
        if (where < 0).any():
            missing = index[where < 0][:3].tolist()
            raise ValueError(f"no cutoff for {int((where < 0).sum())} leads, e.g. {missing}")
        stamps = stamps[where]
    return np.where(stamps == _NAT, _NO_CUTOFF, stamps)


# --- lead id -> position -----------------------------------------------------------


class _Lookup:
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
            self._words = _words(table_bytes)
            self._keys = self._key(self._words)
            distinct = _distinct(self._keys)
            if distinct or len(self._words) == 1:
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
        if len(self._words) > 1:  # hashed keys: confirm the candidate byte for byte
            same = found >= 0
            for mine, theirs in zip(words, self._words, strict=True):
                same &= theirs[found] == mine
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
        wrapping around, so a probe always ends at an empty slot.
        """
        keys = self._keys
        self._bits = max(1, (4 * len(keys) - 1).bit_length())
        home = self._slot(keys)
        order = np.argsort(home, kind="stable")
        steps = np.arange(len(keys))
        final = np.maximum.accumulate(home[order] - steps) + steps
        table = np.full(int(final[-1]) + 2, -1, dtype=np.int32)
        table[final] = order
        self._table = table

    def _probe(self, keys: np.ndarray) -> np.ndarray:
        slots = self._slot(keys)
        found = self._table[slots]
        # found == -1 is an empty slot (absent); indexing with it is harmless, then masked.
        miss = np.flatnonzero((found >= 0) & (self._keys[found] != keys))
        while miss.size:
            slots[miss] += 1
            candidate = self._table[slots[miss]]
            found[miss] = candidate
            miss = miss[(candidate >= 0) & (self._keys[candidate] != keys[miss])]
        return found


def _distinct(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return not (ordered[1:] == ordered[:-1]).any()


def _text(ids: pd.Index | pd.Series) -> pa.Array | None:
    """Ids as one arrow string array (zero-copy for pandas' str dtype); None if not text."""
    try:
        arr = _combined(pa.array(ids.array, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def _combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
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
    """Each row of bytes as little-endian uint64 words, zero-padded at the end."""
    n, width = rows.shape
    out = []
    for at in range(0, width, 8):
        part = rows[:, at : at + 8]
        if part.shape[1] < 8 or not part.flags.c_contiguous:
            padded = np.zeros((n, 8), dtype=np.uint8)
            padded[:, : part.shape[1]] = part
            part = padded
        out.append(part.view("<u8").reshape(n))
    return out
