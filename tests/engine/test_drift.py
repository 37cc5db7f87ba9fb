"""Drift on the Dask engine: PSI from histograms summed over partitions equals the local
engine's, and so do the level changes, unseen sources, counts and calibration."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from leadml.bundle import save_bundle
from leadml.cli import common, main
from leadml.data.load import Dataset
from leadml.data.synth.vocab import NEW_SOURCE, NEW_SOURCE_DAYS
from leadml.engine.drift import drift_tally
from leadml.engine.partition import split_frames
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.monitor.drift import DriftReport, compare
from leadml.monitor.drift.population import current_population, reference_of
from tests.engine.processes import dask_pair, free_port

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


def write_partitioned(data: Dataset, folder: Path, npartitions: int) -> Path:
    """`data` as the Dask engine reads it: leads/ and events/ Parquet datasets whose file i
    holds the same whole leads, and the manifest that says so."""
    pairs = split_frames(data.leads, data.events, npartitions)
    for name, frames in (("leads", [lp for lp, _ in pairs]), ("events", [ep for _, ep in pairs])):
        (folder / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            frame.to_parquet(folder / name / f"part-{i:05d}.parquet", index=False)
    manifest = {"co_partitioned_by": "lead_id", "partitions": npartitions, "format": 1}
    (folder / "_leadml.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def bundle_dir(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bundle(trained.bundle, tmp_path_factory.mktemp("model") / "bundle")


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the real entry point in-process: user errors become one line and an exit code."""
    monkeypatch.setattr(sys, "argv", ["leadml", *args])
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.err_console, "width", 200)
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return 0 if code is None else int(code)


@pytest.mark.slow
def test_drift_cli_on_a_dask_scheduler_and_worker_started_by_hand(
    trained: TrainedModel,
    small_data: Dataset,
    bundle_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`leadml drift --engine dask --scheduler ADDR` against a `dask scheduler` and a
    `dask worker` process: the PSI table is the local engine's."""
    data = write_partitioned(small_data, tmp_path / "current", 2)
    bundle = trained.bundle
    local = compare(
        reference_of(bundle),
        current_population(bundle, small_data.leads, small_data.events),
        bundle.spec,
    )
    monkeypatch.chdir(tmp_path)
    with dask_pair(tmp_path / "cluster", workers=1, memory_limit="1GiB") as address:
        args = ["drift", "--reference", str(bundle_dir), "--current", str(data)]
        args += ["--engine", "dask", "--scheduler", address, "--no-log", "--out", "out"]
        code = run_cli(args, monkeypatch)
    out = capsys.readouterr().out
    assert code == (2 if local.alert else 0), out
    assert "Dask dashboard: http://127.0.0.1:" in out and f"on {address}" in out
    table = pd.read_csv(tmp_path / "out" / "psi.csv", index_col=0)
    pd.testing.assert_index_equal(table.index, local.psi.index, exact=False)
    np.testing.assert_allclose(table["psi"], local.psi["psi"], rtol=0, atol=1e-12)
    assert table["status"].tolist() == local.psi["status"].tolist()
    assert table["largest_change"].tolist() == local.psi["largest_change"].tolist()
    saved = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert saved["counts"] == local.counts


def test_an_unreachable_scheduler_is_one_line_and_exit_1(
    bundle_dir: Path,
    small_data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a short [compute] connect_timeout_seconds (10 s by default) keeps the suite fast and
    # reaches the same error; the line names the setting with the value in force
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leadml.toml").write_text("[compute]\nconnect_timeout_seconds = 0.5\n")
    nowhere = f"tcp://127.0.0.1:{free_port()}"
    args = ["drift", "--reference", str(bundle_dir), "--current", str(small_data_dir)]
    code = run_cli([*args, "--scheduler", nowhere, "--no-log"], monkeypatch)
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: setting [compute] scheduler: cannot reach the Dask")
    assert nowhere in lines[0] and "tcp://host:8786" in lines[0]
    assert "connect_timeout_seconds (0.5 s)" in lines[0]
    assert not (tmp_path / "reports").exists()
