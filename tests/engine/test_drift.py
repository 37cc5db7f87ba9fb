"""Drift on the Dask engine: PSI from histograms summed over partitions equals the local
engine's, and so do the level changes, unseen sources, counts and calibration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from leadml.data.load import Dataset
from leadml.data.synth.vocab import NEW_SOURCE, NEW_SOURCE_DAYS
from leadml.engine.drift import drift_tally
from leadml.engine.partition import split_frames
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.monitor.drift import DriftReport, compare
from leadml.monitor.drift.population import current_population, reference_of

if TYPE_CHECKING:
    from distributed import Client

LAST_DAY = pd.Timestamp("2025-12-31", tz="UTC")
RECENT = LAST_DAY - pd.Timedelta(days=NEW_SOURCE_DAYS)


def dask_frames(data: Dataset, npartitions: int) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Co-partitioned frames, plus one pair of empty partitions (no lead to compare there)."""
    pairs = split_frames(data.leads, data.events, npartitions)
    pairs.append((data.leads.iloc[:0], data.events.iloc[:0]))
    return (
        dd.from_map(_same, [lp for lp, _ in pairs], meta=data.leads.iloc[:0]),
        dd.from_map(_same, [ep for _, ep in pairs], meta=data.events.iloc[:0]),
    )


def _same(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def reports(
    client: Client, trained: TrainedModel, data: Dataset, since: pd.Timestamp | None
) -> tuple[DriftReport, DriftReport, pd.Timestamp]:
    """The local engine's report, the Dask engine's, and the end of data it found."""
    bundle = trained.bundle
    reference = reference_of(bundle)
    local = current_population(bundle, data.leads, data.events, since=since)
    leads, events = dask_frames(data, 3)
    counted, end = drift_tally(client, bundle, leads, events, since=since)
    return (
        compare(reference, local, bundle.spec),
        compare(reference, counted, bundle.spec),
        end,
    )


def assert_same(local: DriftReport, dask: DriftReport) -> None:
    pd.testing.assert_index_equal(dask.psi.index, local.psi.index)
    np.testing.assert_allclose(dask.psi["psi"], local.psi["psi"], rtol=0, atol=1e-12)
    cols = ["field", "family", "kind", "status", "largest_change"]
    pd.testing.assert_frame_equal(dask.psi[cols], local.psi[cols])
    assert dask.distributions.keys() == local.distributions.keys()
    for name, frame in local.distributions.items():
        pd.testing.assert_frame_equal(dask.distributions[name], frame, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(dask.levels, local.levels)
    assert dask.unseen_sources == local.unseen_sources
    assert dask.unseen_source_share == local.unseen_source_share
    assert dask.counts == local.counts


def test_dask_drift_equals_the_local_engines_with_calibration(
    client: Client, trained: TrainedModel, small_data: Dataset
) -> None:
    local, dask, end = reports(client, trained, small_data, since=None)
    assert_same(local, dask)
    assert end == data_end(small_data.leads, small_data.events)
    # Outcomes are gathered one (label, probability) pair per lead: the same calibration.
    assert local.calibration is not None and dask.calibration is not None
    assert dask.calibration.n == local.calibration.n == local.counts["labelled"] > 500
    for key, value in local.calibration.to_dict().items():
        assert dask.calibration.to_dict()[key] == pytest.approx(value, rel=0, abs=1e-12), key
    pd.testing.assert_frame_equal(dask.calibration.table, local.calibration.table)
    assert local.counts["converted_before_cutoff"] > 0


def test_dask_drift_equals_the_local_engines_on_recent_leads_with_a_new_source(
    client: Client, trained: TrainedModel, small_data: Dataset
) -> None:
    local, dask, _ = reports(client, trained, small_data, since=RECENT)
    assert_same(local, dask)
    assert "lead_source" in dask.alerts and set(dask.unseen_sources) == {NEW_SOURCE}
    assert dask.calibration is None and local.calibration is None


def test_no_lead_to_compare_is_the_local_engines_error(
    client: Client, trained: TrainedModel, small_data: Dataset
) -> None:
    leads, events = dask_frames(small_data, 2)
    with pytest.raises(InputError, match="no lead to compare") as raised:
        drift_tally(client, trained.bundle, leads, events, since=LAST_DAY)
    # The counts summed over the partitions say why: every lead was created before --since.
    counts = raised.value.value
    assert isinstance(counts, dict)
    assert counts["leads"] == counts["before_since"] == len(small_data.leads)
