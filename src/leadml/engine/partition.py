"""Leads and their events co-partitioned by lead_id: partition i of the events holds
exactly the events of partition i's leads, so the pure per-lead code (labels, features,
scoring) runs on each pair of partitions alone, with no lead split across two.

The partition of a lead is a hash of its id (`lead_partition`), the same for every
frame and every dtype the id arrives in (str, object, pyarrow strings). Within a
partition, leads are in lead_id order and events in (lead_id, occurred_at, event_type)
order, so a job's results do not depend on the order the shuffle delivered rows in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import LabelConfig
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.model.snapshots import first_created

if TYPE_CHECKING:
    import dask.dataframe as dd

LEAD_ID = schema.LEAD_ID
KEY = "_lead_hash"
"""The shuffle key column: a 64-bit hash of the lead id (dropped after the shuffle)."""


def lead_hash(ids: pd.Series | np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each lead id, taken on its text (so dtype never matters)."""
    text = pd.Series(ids).astype(object).map(lambda v: None if v is None else str(v))
    return pd.util.hash_array(text.to_numpy(dtype=object), categorize=False)


def lead_partition(ids: pd.Series | np.ndarray, npartitions: int) -> np.ndarray:
    """The partition (0 .. npartitions-1) each lead id belongs to."""
    return (lead_hash(ids) % np.uint64(npartitions)).astype(np.int64)


def sort_leads(part: pd.DataFrame) -> pd.DataFrame:
    """One partition's leads in lead_id order (a fresh RangeIndex)."""
    return part.sort_values(LEAD_ID, kind="mergesort").reset_index(drop=True)


def sort_events(part: pd.DataFrame) -> pd.DataFrame:
    """One partition's events in (lead_id, occurred_at, event_type) order."""
    keys = [c for c in (LEAD_ID, schema.OCCURRED_AT, schema.EVENT_TYPE) if c in part.columns]
    return part.sort_values(keys, kind="mergesort").reset_index(drop=True)


def co_partition(
    leads: dd.DataFrame, events: dd.DataFrame, npartitions: int
) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Hash-partition both frames by lead_id into `npartitions` (Dask's P2P shuffle), then
    order each partition. Partition i of the result pair holds whole leads and only
    their events."""
    out = []
    for frame, order in ((leads, sort_leads), (events, sort_events)):
        moved = by_lead_hash(frame, npartitions)
        out.append(moved.map_partitions(order, meta=moved._meta))
    return out[0], out[1]


def by_lead_hash(frame: dd.DataFrame, npartitions: int, column: str = LEAD_ID) -> dd.DataFrame:
    """`frame`'s rows moved to `npartitions` partitions by a hash of their lead id
    (`column`), with Dask's P2P shuffle: each partition a random share of the leads, of
    every period, whatever order the files were in."""
    keyed = frame.assign(**{KEY: frame[column].map_partitions(lead_hash_series, meta=(KEY, "u8"))})
    moved = keyed.shuffle(on=KEY, npartitions=npartitions, method="p2p")
    return moved.drop(columns=[KEY])


def lead_hash_series(ids: pd.Series) -> pd.Series:
    """`lead_hash` as a Series aligned with `ids` (for `map_partitions`)."""
    return pd.Series(lead_hash(ids), index=ids.index, name=KEY, dtype="u8")


def split_frames(
    leads: pd.DataFrame, events: pd.DataFrame, npartitions: int
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """pandas leads and events cut into `npartitions` co-partitioned, ordered pairs, by
    `lead_partition` (Dask's shuffle assigns leads to partitions by its own hash of the
    same key: both are co-partitioned, not necessarily alike)."""
    lead_part = lead_partition(leads[LEAD_ID], npartitions)
    event_part = lead_partition(events[LEAD_ID], npartitions)
    return [
        (
            sort_leads(leads[lead_part == i]),
            sort_events(events[event_part == i]),
        )
        for i in range(npartitions)
    ]


def from_frames(
    leads: pd.DataFrame, events: pd.DataFrame, npartitions: int
) -> tuple[dd.DataFrame, dd.DataFrame]:
    """pandas leads and events as co-partitioned Dask frames (tests, notebooks, and data
    already in memory)."""
    import dask.dataframe as dd

    pairs = split_frames(leads, events, npartitions)
    lead_parts = [lp for lp, _ in pairs]
    event_parts = [ep for _, ep in pairs]
    return (
        dd.from_map(_identity, lead_parts, meta=leads.iloc[:0].reset_index(drop=True)),
        dd.from_map(_identity, event_parts, meta=events.iloc[:0].reset_index(drop=True)),
    )


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass(frozen=True)
class DataBounds:
    """The whole data's end (`model.labels.data_end`: its latest timestamp anywhere) and
    its earliest created_at (UTC, where the snapshot calendar starts; `first_created`)."""

    end: pd.Timestamp
    first_created: pd.Timestamp


def part_bounds(leads: pd.DataFrame, events: pd.DataFrame) -> DataBounds | None:
    """One co-partitioned pair's bounds; None for a partition without leads (events
    without a lead are the validator's errors, never a timestamp of the data)."""
    if leads.empty:
        return None
    # the label window does not move the earliest created_at: any valid one will do
    first = first_created(leads, LabelConfig().window_days)
    return DataBounds(data_end(leads, events), first)


def whole_bounds(parts: Iterable[DataBounds | None]) -> DataBounds:
    """The data's bounds from its partitions' (`part_bounds`): the latest end, the
    earliest created_at. Raises `InputError` when no partition holds a lead."""
    found = [b for b in parts if b is not None]
    if not found:
        raise InputError("the leads table is empty", expected="at least one lead")
    return DataBounds(max(b.end for b in found), min(b.first_created for b in found))


def bounds_of(leads: dd.DataFrame, events: dd.DataFrame) -> DataBounds:
    """The bounds of co-partitioned frames, in one pass. `engine.read.read_tables` returns
    them with its tables (`Tables.bounds`, from its validation pass): use those when the
    frames came from it."""
    import dask

    if leads.npartitions != events.npartitions:
        raise ValueError(
            f"leads and events are not co-partitioned: {leads.npartitions} partitions "
            f"vs {events.npartitions}"
        )
    pairs = zip(leads.to_delayed(), events.to_delayed(), strict=True)
    return whole_bounds(dask.compute(*[dask.delayed(part_bounds)(lp, ep) for lp, ep in pairs]))
