"""Content engagement as of each lead's cutoff: counts, recency, decay, velocity, stage.

Only events strictly before a lead's cutoff count; unknown and post-conversion event
types are ignored entirely. The work is one compiled loop over chunks of events
(`features.kernels`; no pandas groupby, no Python object per event), so the same code
handles tens of millions of events in training and one lead's handful in the API.

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

import functools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import FeatureConfig
from leadml.features import kernels
from leadml.features.columns import MICROS_PER_DAY, frame_micros, to_frame
from leadml.features.events import EventTable
from leadml.features.ids import Lookup

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

LAYOUT: Final = kernels.Layout.of(len(EVENT_TYPES), len(schema.STAGES))
"""Rows of the float block (engagement_columns' float columns, in order)."""

_CHUNK: Final = 1 << 20
_DECODERS: Final = 2
"""Helper threads resolving chunks ahead of the scatter."""


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


def engagement_values(
    events: EventTable, cutoff: np.ndarray, created: np.ndarray, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """Engagement per lead (engagement_columns order) from its events before its cutoff.

    `cutoff` and `created` are per lead, int64 UTC microseconds (NaT = int64 min): a lead
    without a cutoff counts no events. Counts are int32, everything else float64.
    """
    acc = _Accumulators(len(cutoff), _setup(config))
    if len(events) and len(cutoff):
        _accumulate(acc, events, cutoff)
    return acc.assemble(cutoff, created)


def engagement_features(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series, config: FeatureConfig
) -> pd.DataFrame:
    """Engagement per lead (index lead_id, lead order) from its events before its cutoff.

    `cutoff` is indexed by lead_id and must cover every lead; extra entries are ignored.
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    table = EventTable.resolve(index, events, frame=True)
    if not table.leads_unique:
        raise ValueError("leads have duplicate lead_id values")
    values = engagement_values(
        table, lead_cutoffs(index, cutoff), frame_micros(leads[schema.CREATED_AT]), config
    )
    return to_frame(values, index)


def lead_cutoffs(index: pd.Index, cutoff: pd.Series) -> np.ndarray:
    """Each lead's cutoff (int64 UTC microseconds, NaT kept), in lead order; every lead
    needs an entry in `cutoff` (index lead_id)."""
    stamps = frame_micros(cutoff)
    if cutoff.index.equals(index):
        return stamps
    lookup = Lookup(cutoff.index, index)
    if not lookup.table_unique:
        raise ValueError("cutoff has duplicate lead_id values")
    where = lookup.positions(0, len(index))
    if (where < 0).any():
        missing = index[where < 0][:3].tolist()
        raise ValueError(f"no cutoff for {int((where < 0).sum())} leads, e.g. {missing}")
    return stamps[where]


class _Chunk(NamedTuple):
    """The counted events of one chunk, ready to scatter."""

    pos: np.ndarray  # lead position, int32
    code: np.ndarray  # event type, int8
    age: np.ndarray  # microseconds before the cutoff, int64 > 0
    weight: np.ndarray  # decayed contribution to the stage score, float32


class _Setup(NamedTuple):
    """What the loops need to know about a FeatureConfig (built once per config)."""

    names: tuple[str, ...]  # engagement_columns order
    edges: np.ndarray  # window ends in microseconds, sorted (int64)
    stage_of: np.ndarray  # per event type: stage row, or the spare row (int64)
    velocity_edges: np.ndarray  # 7 and 28 days in microseconds (int64)
    decay: np.float32  # 0.5 ** (age / half_life) = exp2(age * decay), float32 as trained
    levels: np.ndarray  # per event type: STAGE_ORDINAL (int64)
    stage_weight: np.ndarray  # per stage: STAGE_WEIGHT (float64)
    opens_clicks: np.ndarray  # the email_open and email_click type codes (int64)
    rows: np.ndarray  # kernels.Layout of the float block (int64)


@functools.lru_cache(maxsize=16)
def _setup(config: FeatureConfig) -> _Setup:
    stages = [schema.EVENT_STAGE.get(t) for t in EVENT_TYPES]
    recent, baseline = VELOCITY_RECENT_DAYS, VELOCITY_RECENT_DAYS + VELOCITY_BASELINE_DAYS
    arrays = (
        np.array([w * MICROS_PER_DAY for w in _windows(config)], dtype=np.int64),
        np.array([schema.STAGES.index(s) if s else len(schema.STAGES) for s in stages], np.int64),
        np.array([recent, baseline], dtype=np.int64) * MICROS_PER_DAY,
        np.float32(-1.0 / (config.half_life_days * MICROS_PER_DAY)),
        np.array([STAGE_ORDINAL[s or schema.NO_STAGE] for s in stages], dtype=np.int64),
        np.array([STAGE_WEIGHT[s] for s in schema.STAGES]),
        np.array([EVENT_TYPES.index(t) for t in ("email_open", "email_click")], np.int64),
        np.array(LAYOUT, dtype=np.int64),
    )
    for arr in arrays:
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False  # shared between calls and threads
    return _Setup(tuple(engagement_columns(config)), *arrays)


class _Accumulators:
    """The output blocks, which hold the accumulators while chunks are scattered.

    `ints`: one row per count column, then total, distinct types and stage reached.
    `floats`: one row per float column (engagement_columns order); see kernels.Layout
    for the rows that accumulate before `assemble` finishes them.
    """

    def __init__(self, n_leads: int, setup: _Setup) -> None:
        n_types, n_buckets = len(EVENT_TYPES), len(setup.edges) + 1
        self.setup = setup
        self.ints = np.zeros((n_types * n_buckets + 3, n_leads), dtype=np.int32)
        self.counts = self.ints[:-3].reshape(n_types, n_buckets, n_leads)
        self.floats = np.empty((LAYOUT.lead_age + 1, n_leads))
        self.floats[:n_types] = kernels.NEVER
        self.floats[LAYOUT.stages :] = 0.0

    def prepare(
        self, pos: np.ndarray, code: np.ndarray, occurred: np.ndarray, cutoff: np.ndarray
    ) -> _Chunk:
        """The chunk's counted events and their decay weights (pure: may run ahead)."""
        pos, code, age = kernels.counted(pos, code, occurred, cutoff)
        weight = age.astype(np.float32)
        weight *= self.setup.decay
        np.exp2(weight, out=weight)
        return _Chunk(pos, code, age, weight)

    def add(self, chunk: _Chunk) -> None:
        """Scatter one prepared chunk into the accumulators (chunks in event order)."""
        setup = self.setup
        kernels.scatter(
            *chunk, setup.edges, setup.stage_of, setup.velocity_edges, setup.rows,
            self.counts, self.floats,
        )  # fmt: skip

    def assemble(self, cutoff: np.ndarray, created: np.ndarray) -> dict[str, np.ndarray]:
        """The output columns, in engagement_columns order."""
        setup = self.setup
        kernels.finish(
            self.counts, self.ints[-3:], self.floats, setup.rows, setup.levels,
            setup.stage_weight, VELOCITY_BASELINE_DAYS / VELOCITY_RECENT_DAYS,
            setup.opens_clicks, cutoff, created,
        )  # fmt: skip
        return dict(zip(setup.names, [*self.ints, *self.floats], strict=True))


def _accumulate(acc: _Accumulators, events: EventTable, cutoff: np.ndarray) -> None:
    """Resolve and scatter the events chunk by chunk."""

    def decode(start: int) -> _Chunk:
        stop = min(start + _CHUNK, len(events))
        occurred = events.occurred[start:stop]
        return acc.prepare(
            events.positions(start, stop), events.codes(start, stop), occurred, cutoff
        )

    starts = range(0, len(events), _CHUNK)
    if len(starts) == 1:
        acc.add(decode(0))
        return
    # Resolving (hash probes, arrow lookups, the counted pass) mostly releases the GIL:
    # helper threads run it a few chunks ahead while this thread scatters, in chunk order
    # (the result never depends on the threads).
    with ThreadPoolExecutor(max_workers=_DECODERS) as pool:
        ahead = deque(pool.submit(decode, s) for s in starts[:_DECODERS])
        for following in starts[_DECODERS:]:
            chunk = ahead.popleft().result()
            ahead.append(pool.submit(decode, following))
            acc.add(chunk)
        while ahead:
            acc.add(ahead.popleft().result())


def _windows(config: FeatureConfig) -> tuple[int, ...]:
    return tuple(sorted(set(config.windows_days)))
