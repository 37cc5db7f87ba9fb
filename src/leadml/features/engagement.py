"""Content engagement as of each lead's cutoff: counts, recency, decay, velocity, stage.

Only events strictly before a lead's cutoff count; unknown and post-conversion event
types are ignored entirely. The work is a few numpy scatter passes over chunks of events
(no pandas groupby, no Python object per event), so it handles tens of millions of events
and stays cheap for one lead with a handful of events.

Definitions (ages in days, measured back from the cutoff):
- `count_<type>_<w>d`: events of that type with age in (0, w]; `count_<type>_all`: all.
- `days_since_last_<type>`, `days_since_last_event`: age of the newest such event, in
  whole seconds (NaN if none).
- `engagement_score_<stage>` (iql, mql, sql, pql): sum of 0.5 ** (age / half_life) over
  the stage's events: recent activity of that kind, fading with the half-life.
- `engagement_score`: the stage scores weighted by STAGE_WEIGHT, so hand-raisers weigh
  more than page views; `unsubscribe` has no stage and weighs 0 (it has its own count).
- `engagement_velocity`: (events in the last 7 days + 1) / (events in the 21 days before
  / 3 + 1). Above 1 the lead is speeding up; 1 is steady (or silent).
- `email_click_through_rate`: email_click / email_open counts (NaN without an open).
- `stage_reached`: highest funnel stage as 0..4 (none, IQL, MQL, SQL, PQL).
- `days_since_created`: the lead's age at the cutoff.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.config import FeatureConfig
from leadml.features.ids import Lookup, combined

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
_DECODERS: Final = 2
"""Helper threads decoding chunks ahead of the scatters."""

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


def score_column(stage: str) -> str:
    """Column name of a stage's decayed score: `engagement_score_sql`."""
    return f"engagement_score_{stage.lower()}"


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
        **{score_column(stage): f"{stage} stage events" for stage in schema.STAGES},
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
    lookup = Lookup(index, events[schema.LEAD_ID]) if len(events) and len(index) else None
    if not (lookup.table_unique if lookup else index.is_unique):
        raise ValueError("leads have duplicate lead_id values")
    cut = _lead_cutoffs(index, cutoff, unit)
    created = _as_int(leads[schema.CREATED_AT], unit)
    blocks = _Blocks(len(index), config)
    acc = _Accumulator(blocks, config, unit, wide=False)
    if lookup is not None:
        acc = _accumulate(acc, lookup, events, cut, unit, config)
    return _assemble(acc, blocks, index, cut, created, unit, config)


# --- scatter passes ----------------------------------------------------------------


class _Chunk(NamedTuple):
    """One chunk of counted events, ready to scatter."""

    pos: np.ndarray  # lead position
    cell: np.ndarray  # type * n_leads + lead
    increment: np.ndarray  # packed window-bucket increment (or the bucket when wide)
    seconds: np.ndarray  # age in whole seconds, uint32
    stage_cell: np.ndarray  # stage * n_leads + lead (no stage: the spare last row)
    weight: np.ndarray  # decayed contribution to the stage score
    recent: np.ndarray  # lead positions of events in the last 7 days
    earlier: np.ndarray  # lead positions of events in the 21 days before


class _Blocks:
    """The output: an int32 block (counts, then totals) and a float64 block (recencies, then
    scalars), each row one column of the frame. While events are scattered, the same
    memory hosts the accumulators, so a call allocates little beyond its output."""

    def __init__(self, n_leads: int, config: FeatureConfig) -> None:
        self.n = n_leads
        self.per_type = len(_windows(config)) + 1
        self.n_counts = len(EVENT_TYPES) * self.per_type
        self.ints = np.empty((self.n_counts + 3, n_leads), dtype=np.int32)
        self.floats = np.empty((len(EVENT_TYPES) + 5 + len(schema.STAGES), n_leads))


class _Accumulator:
    """Per (event type, lead) cells and per lead sums, filled chunk by chunk.

    Cells are type-major (cell = type * n_leads + lead), so each event type's values for
    all leads are contiguous, like the output rows. The packed counters borrow the front
    of the int block, the newest ages the front of the float block, the stage scores
    their own output rows (plus the velocity row as the spare row for events without a
    stage); `_assemble` then fills the output rows in an order that reads every borrowed
    value before it is overwritten.
    """

    def __init__(self, blocks: _Blocks, config: FeatureConfig, unit: str, *, wide: bool) -> None:
        self.blocks = blocks
        self.per_second = _PER_SECOND[unit]
        self.per_day = self.per_second * _DAY_SECONDS
        n_leads = blocks.n
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
        self.wide = wide or n_buckets < 2 or n_buckets > 64 // self.bits
        self.increment = np.uint64(1) << (np.arange(n_buckets, dtype=np.uint64) * self.bits)
        ints, floats = blocks.ints.reshape(-1), blocks.floats.reshape(-1)
        self.packed = ints[: 0 if self.wide else 2 * cells].view(np.uint64)
        self.packed[:] = 0
        self.counters = [np.zeros(cells, np.int64) for _ in range(n_buckets)] if self.wide else []
        self.newest = floats[: (cells + 1) // 2].view(np.uint32)[:cells]  # age, whole seconds
        self.newest[:] = _NEVER
        self.per_lead = np.zeros(n_leads, dtype=np.int64)
        # Decayed score per (stage, lead): the stage score rows and the spare row after them.
        first = (len(EVENT_TYPES) + 2) * n_leads
        self.stage_scores = floats[first : first + (len(schema.STAGES) + 1) * n_leads]
        self.stage_scores[:] = 0.0
        stages = [schema.EVENT_STAGE.get(t) for t in EVENT_TYPES]
        self.stage_of = np.array(
            [schema.STAGES.index(s) if s else len(schema.STAGES) for s in stages], np.int64
        )
        # Velocity: events per lead in the last 7 days, and in the 21 days before those.
        recent, baseline = VELOCITY_RECENT_DAYS, VELOCITY_RECENT_DAYS + VELOCITY_BASELINE_DAYS
        self.recent = np.zeros(n_leads, dtype=np.int64)
        self.earlier = np.zeros(n_leads, dtype=np.int64)
        self.velocity_edges = (recent * self.per_day, baseline * self.per_day)
        self.decay = np.float32(-1.0 / (config.half_life_days * self.per_day))

    def prepare(self, pos: np.ndarray, code: np.ndarray, age: np.ndarray) -> _Chunk:
        """Per-event arithmetic for counted events (age > 0); pure, so it can run ahead."""
        cell = code.astype(np.int64) * self.n_leads + pos
        bucket = np.zeros(len(age), dtype=np.intp)
        for edge in self.edges:  # sorted, so this counts the windows the age is beyond
            bucket += age > edge
        weight = age.astype(np.float32)
        weight *= self.decay  # -> -age / half_life, then 0.5 ** (age / half_life)
        np.exp2(weight, out=weight)
        stage_cell = self.stage_of[code] * self.n_leads + pos
        in_recent = age <= self.velocity_edges[0]
        earlier = pos[~in_recent & (age <= self.velocity_edges[1])]
        increment = bucket if self.wide else self.increment[bucket]
        seconds = np.minimum(age // self.per_second, _NEVER - 1).astype(np.uint32)
        weight64 = weight.astype(np.float64)
        return _Chunk(pos, cell, increment, seconds, stage_cell, weight64, pos[in_recent], earlier)

    def add(self, chunk: _Chunk) -> None:
        """Scatter one prepared chunk into the accumulators."""
        if self.wide:
            for b, counts in enumerate(self.counters):
                np.add.at(counts, chunk.cell[chunk.increment == b], 1)
        else:
            np.add.at(self.packed, chunk.cell, chunk.increment)
        np.minimum.at(self.newest, chunk.cell, chunk.seconds)
        np.add.at(self.stage_scores, chunk.stage_cell, chunk.weight)
        self.recent += np.bincount(chunk.recent, minlength=self.n_leads)
        self.earlier += np.bincount(chunk.earlier, minlength=self.n_leads)
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
        packed = self.packed[cells].copy()  # its memory is about to become output rows
        fields = packed.view(f"u{self.bits // 8}").reshape(-1, per_word)
        for b in range(len(self.windows) + 1):
            yield fields[:, b if sys.byteorder == "little" else per_word - 1 - b]


def _accumulate(
    acc: _Accumulator,
    lookup: Lookup,
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
            acc.add(decode(starts[0]))
        else:
            # Decoding (hash probes, gathers, arithmetic) mostly releases the GIL: helper
            # threads run it a few chunks ahead while this thread does the scatters, in
            # chunk order (the result never depends on the threads).
            with ThreadPoolExecutor(max_workers=_DECODERS) as pool:
                ahead = deque(pool.submit(decode, s) for s in starts[:_DECODERS])
                for following in starts[_DECODERS:]:
                    chunk = ahead.popleft().result()
                    ahead.append(pool.submit(decode, following))
                    acc.add(chunk)
                while ahead:
                    acc.add(ahead.popleft().result())
        if not acc.overflowed():
            return acc
        acc = _Accumulator(acc.blocks, config, unit, wide=True)


def _type_codes(types: pd.Series) -> Callable[[int, int], np.ndarray]:
    """Event type -> position in EVENT_TYPES (int8, -1 for unknown or post-conversion)."""
    if isinstance(types.dtype, pd.CategoricalDtype):
        lookup = pd.Index(EVENT_TYPES).get_indexer(types.cat.categories.astype(object))
        table = np.append(lookup, -1).astype(np.int8)  # code -1 (missing) maps to the last
        codes = types.cat.codes.to_numpy()
        return lambda start, stop: table[codes[start:stop]]
    values = combined(pa.array(types.array, from_pandas=True))
    value_set = pa.array(EVENT_TYPES, type=values.type)

    def codes_of(start: int, stop: int) -> np.ndarray:
        found = pc.index_in(values.slice(start, stop - start), value_set=value_set)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int8)

    return codes_of


def _assemble(
    acc: _Accumulator,
    blocks: _Blocks,
    index: pd.Index,
    cut: np.ndarray,
    created: np.ndarray,
    unit: str,
    config: FeatureConfig,
) -> pd.DataFrame:
    """Turn the accumulators into the frame, one event type at a time, last type first.

    Type t's output rows only overlap borrowed accumulator memory of types >= t (each
    type has at least two count rows, and a float row holds two uint32 ages), and type
    t's own values are copied out first: so nothing is overwritten before it is read.
    """
    n, n_types, per_type, n_counts = blocks.n, len(EVENT_TYPES), blocks.per_type, blocks.n_counts
    ints, floats = blocks.ints, blocks.floats
    total, distinct, stage = ints[n_counts], ints[n_counts + 1], ints[n_counts + 2]
    total[:], distinct[:], stage[:] = 0, 0, 0
    latest = np.full(n, _NEVER, dtype=np.uint32)
    for t in reversed(range(n_types)):
        newest = acc.newest[t * n : (t + 1) * n].copy()
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
        level = STAGE_ORDINAL[schema.EVENT_STAGE.get(EVENT_TYPES[t], schema.NO_STAGE)]
        np.maximum(stage, seen * np.int32(level), out=stage)
        np.minimum(latest, newest, out=latest)
        _days(newest, out=floats[t])
    _days(latest, out=floats[n_types])

    # Scalars after the recencies, in engagement_columns order. The stage scores are
    # already in place; the velocity row held the spare stage row and is overwritten.
    score = floats[n_types + 1]
    score[:] = 0.0
    for s, stage_name in enumerate(schema.STAGES):
        score += STAGE_WEIGHT[stage_name] * floats[n_types + 2 + s]
    after = n_types + 2 + len(schema.STAGES)
    recent, before = acc.recent.astype(np.float64), acc.earlier.astype(np.float64)
    weeks = VELOCITY_BASELINE_DAYS / VELOCITY_RECENT_DAYS
    floats[after] = (recent + 1.0) / (before / weeks + 1.0)
    opens = ints[EVENT_TYPES.index("email_open") * per_type + per_type - 1].astype(np.float64)
    clicks = ints[EVENT_TYPES.index("email_click") * per_type + per_type - 1]
    floats[after + 1] = np.nan
    np.divide(clicks, opens, out=floats[after + 1], where=opens > 0)
    known = (cut != _NO_CUTOFF) & (created != _NAT)
    lead_age = (cut - np.where(known, created, cut)) / (_PER_SECOND[unit] * _DAY_SECONDS)
    floats[after + 2] = np.where(known, lead_age, np.nan)

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
        lookup = Lookup(cutoff.index, index)
        if not lookup.table_unique:
            raise ValueError("cutoff has duplicate lead_id values")
        where = lookup.positions(0, len(index))
        if (where < 0).any():
            missing = index[where < 0][:3].tolist()
            raise ValueError(f"no cutoff for {int((where < 0).sum())} leads, e.g. {missing}")
        stamps = stamps[where]
    return np.where(stamps == _NAT, _NO_CUTOFF, stamps)
