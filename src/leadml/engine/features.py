"""Labels and snapshot features on the Dask engine: the same pure functions, per partition.

Each pair of co-partitioned leads and events (`engine.partition`) holds whole leads, so
`model.snapshots.snapshot_part` (labels, sampling and `build_features`) runs on it
alone. What a partition cannot know is computed first, over all of them, and passed in:
the end of the data and the calendar's first date (`Tables.bounds`, or `data_bounds`), and
the share of rows kept under `[labels] snapshot_max_rows` (a count of every snapshot's
eligible leads).
Rows are kept by a hash of their key (`model.snapshots.kept_rows`), so the local engine
and this one keep the same rows. Category levels come from summed per-partition counts
(`learn_spec_distributed`), so every partition encodes with one spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from leadml.config import Config, FeatureConfig, LabelConfig
from leadml.engine.partition import DataBounds, bounds_of
from leadml.errors import InputError
from leadml.features.build import feature_catalogue
from leadml.features.spec import FeatureSpec, categorical_names, category_counts, spec_from_counts
from leadml.model.labels import CUTOFF, LABEL
from leadml.model.snapshots import (
    AGE,
    LEAD,
    SNAPSHOT,
    keep_share,
    labelled_moments,
    snapshot_counts,
    snapshot_part,
)

if TYPE_CHECKING:
    import dask.dataframe as dd

ROW_COLUMNS = (LEAD, CUTOFF, SNAPSHOT, AGE, LABEL)
"""The snapshot row columns (`model.snapshots.Snapshots.rows`) in front of the raw features."""


@dataclass(frozen=True)
class SnapshotFrames:
    """Snapshot rows and their raw features as one Dask frame (index: row key), and the
    global quantities and counts they were built with."""

    frame: dd.DataFrame
    """Index `row`; ROW_COLUMNS, then the raw feature columns."""
    per_snapshot: pd.DataFrame
    """As `Snapshots.per_snapshot`: counts summed over partitions, `sampled` included."""
    end: pd.Timestamp
    first: pd.Timestamp
    keep: float

    @property
    def raw_columns(self) -> list[str]:
        """The raw feature columns (after ROW_COLUMNS)."""
        return [c for c in self.frame.columns if c not in ROW_COLUMNS]


def data_bounds(
    leads: dd.DataFrame, events: dd.DataFrame, window_days: int
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The end of the data (`model.labels.data_end` over every partition) and the
    earliest created_at, in one pass (`engine.partition.bounds_of`; `window_days` does not
    move either). Frames from `read_tables` have them already: `Tables.bounds`."""
    bounds = bounds_of(leads, events)
    return bounds.end, bounds.first_created


def snapshot_frames(
    leads: dd.DataFrame,
    events: dd.DataFrame,
    config: Config,
    *,
    bounds: DataBounds | None = None,
) -> SnapshotFrames:
    """Every open lead at every snapshot, labelled, sampled and featurised per partition,
    persisted on the cluster. Raises as `snapshot_rows` does when no row is left.
    `bounds`: the data's (`Tables.bounds`), found by a pass over the frames when None."""
    import dask
    import dask.dataframe as dd

    labels, features = config.labels, config.features
    known = bounds_of(leads, events) if bounds is None else bounds
    end, first = known.end, known.first_created
    pairs = list(zip(leads.to_delayed(), events.to_delayed(), strict=True))
    counted = dask.compute([dask.delayed(_counts)(lp, labels, end, first) for lp, _ in pairs])[0]
    per_part = [snapshot_counts(c) for c in counted]
    per_snapshot = sum(per_part[1:], per_part[0])
    keep = keep_share(int(per_snapshot["rows"].sum()), labels.snapshot_max_rows)
    parts = [
        dask.delayed(snapshot_part)(
            lp,
            ep,
            labels,
            features,
            end=end,
            first=first,
            keep=keep,
            seed=config.train.seed,
        )
        for lp, ep in pairs
    ]
    parts = list(dask.persist(*parts))
    sizes = dask.compute([dask.delayed(_snapshot_sizes)(p) for p in parts])[0]
    sampled = pd.concat(sizes).groupby(level=0).sum()
    if sampled.empty:
        raise InputError(
            "no lead has a snapshot whose window closed",
            value=f"{len(per_snapshot)} snapshots",
            expected=f"leads created at least {labels.window_days} days (the label window) "
            "before the end of the data",
        )
    per_snapshot["sampled"] = sampled.reindex(per_snapshot.index, fill_value=0).astype("int64")
    filled = next(i for i, size in enumerate(sizes) if not size.empty)
    meta = dask.compute(dask.delayed(_empty)(parts[filled]))[0]
    frame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    return SnapshotFrames(frame=frame, per_snapshot=per_snapshot, end=end, first=first, keep=keep)


def learn_spec_distributed(
    frame: dd.DataFrame, spec_rows: dd.DataFrame, config: FeatureConfig
) -> FeatureSpec:
    """`features.spec.learn_spec` over a Dask frame: category values counted per
    partition and summed. `spec_rows`: the training rows the levels are learned from
    (one per lead, as the local engine learns them); `frame`: every row (their values
    are levels too, the vocabulary)."""
    import dask

    names = categorical_names(feature_catalogue(config))
    train_parts = [dask.delayed(category_counts)(p, names) for p in spec_rows.to_delayed()]
    all_parts = [dask.delayed(category_counts)(p, names) for p in frame.to_delayed()]
    train_counts, all_counts = dask.compute(train_parts, all_parts)
    return spec_from_counts(_summed(train_counts), config, vocabulary=_summed(all_counts))


def _summed(parts: list[dict[str, pd.Series]]) -> dict[str, pd.Series]:
    """Per column, the counts of every part added up per value."""
    names = {name for part in parts for name in part}
    return {
        name: pd.concat([part[name] for part in parts if name in part]).groupby(level=0).sum()
        for name in names
    }


def _counts(
    leads: pd.DataFrame, labels: LabelConfig, end: pd.Timestamp, first: pd.Timestamp
) -> list[dict[str, object]]:
    return labelled_moments(leads, labels, end, first)[1]


def _snapshot_sizes(part: pd.DataFrame) -> pd.Series:
    if part.empty:
        return pd.Series(dtype="int64")
    return part.groupby("snapshot").size()


def _empty(part: pd.DataFrame) -> pd.DataFrame:
    return part.iloc[:0]
