"""Snapshot features on the Dask engine equal the local engine's, row for row, and one
spec learned from summed partition counts encodes every partition alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import Config
from leadml.data.load import Dataset
from leadml.engine.features import learn_spec_distributed, snapshot_frames
from leadml.engine.partition import from_frames, sort_events, sort_leads
from leadml.features.spec import encode, learn_spec
from leadml.model.labels import data_end
from leadml.model.snapshots import labelled_moments, snapshot_counts, snapshot_rows
from tests.conftest import fast_config

if TYPE_CHECKING:
    from pathlib import Path

    from distributed import Client

LEADS = 1200


@pytest.fixture(scope="module")
def data(small_data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first LEADS leads of the small funnel and their events."""
    leads = small_data.leads.iloc[:LEADS]
    events = small_data.events[small_data.events[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    return leads, events


def _config(tmp_path: Path, max_rows: int | None) -> Config:
    return fast_config(tmp_path, labels={"snapshot_max_rows": max_rows})


def _local(leads: pd.DataFrame, events: pd.DataFrame, config: Config) -> pd.DataFrame:
    snaps = snapshot_rows(
        leads,
        events,
        config.labels,
        config.features,
        end=data_end(leads, events),
        max_rows=config.labels.snapshot_max_rows,
        seed=config.train.seed,
    )
    return snaps.rows.join(snaps.raw).sort_index()


def test_snapshot_features_equal_the_local_engines_with_sampling(
    client: Client, data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    leads, events = data
    plain = _config(tmp_path, None)
    counted = labelled_moments(leads, plain.labels, data_end(leads, events), None)[1]
    full = int(snapshot_counts(counted)["rows"].sum())
    config = _config(tmp_path, full // 3)  # keep about a third: sampling is exercised
    local = _local(leads, events, config)
    assert full // 4 < len(local) < full // 2

    leads_dd, events_dd = from_frames(leads, events, 3)
    frames = snapshot_frames(leads_dd, events_dd, config)
    dask = frames.frame.compute().sort_index()

    assert list(dask.columns) == list(local.columns)
    assert dask.index.equals(local.index)
    pd.testing.assert_frame_equal(dask, local, check_dtype=False, check_index_type=False)
    assert int(frames.per_snapshot["sampled"].sum()) == len(local)
    assert frames.per_snapshot["rows"].sum() == full


def test_one_spec_from_partition_counts_encodes_a_partition_lacking_a_level_alike(
    client: Client, data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    import dask.dataframe as dd

    leads, events = data
    config = _config(tmp_path, None)
    # Partition 0 holds only webinar leads, partition 1 every other source: each lacks
    # levels the other has.
    webinar = leads[schema.LEAD_SOURCE] == "webinar"
    pairs = [
        (sort_leads(part), sort_events(events[events[schema.LEAD_ID].isin(part[schema.LEAD_ID])]))
        for part in (leads[webinar], leads[~webinar])
    ]
    leads_dd = dd.from_map(_same, [lp for lp, _ in pairs], meta=leads.iloc[:0])
    events_dd = dd.from_map(_same, [ep for _, ep in pairs], meta=events.iloc[:0])
    frames = snapshot_frames(leads_dd, events_dd, config)
    first_rows = frames.frame.map_partitions(lambda p: p.drop_duplicates("lead_id"))
    spec = learn_spec_distributed(frames.frame, first_rows, config.features)

    local = _local(leads, events, config)
    raw = local[frames.raw_columns]
    expected = learn_spec(
        raw.loc[local.drop_duplicates("lead_id").index], config.features, vocabulary=raw
    )
    assert spec == expected
    whole, _ = encode(raw, spec)
    categorical = [c.name for c in spec.columns if c.kind == "categorical"]
    parts = [p.compute() for p in frames.frame.to_delayed()]
    assert set(parts[0][schema.LEAD_SOURCE]) == {"webinar"}
    assert "webinar" not in set(parts[1][schema.LEAD_SOURCE])
    for part in parts:
        mine, _ = encode(part[frames.raw_columns], spec)
        for name in categorical:
            assert mine[name].cat.categories.equals(whole[name].cat.categories)
            np.testing.assert_array_equal(
                mine[name].cat.codes.to_numpy(), whole.loc[part.index, name].cat.codes.to_numpy()
            )


def _same(frame: pd.DataFrame) -> pd.DataFrame:
    return frame
