"""read_tables: partitioned Parquet read and validated per partition on the workers gives
what load_dataset gives, and every error is one line naming file, partition, row and
column (through the CLI too, with exit code 1)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml import schema
from leadml.cli.app import app
from leadml.config import ComputeConfig
from leadml.data.load import Dataset, load_dataset
from leadml.data.synth import generate_funnel, write_funnel
from leadml.data.synth.chunked import write_partitioned
from leadml.engine.read import read_tables
from leadml.errors import InputError
from leadml.model.labels import data_end

if TYPE_CHECKING:
    from distributed import Client

LEADS = 2_000
SEED = 21
COMPUTE = ComputeConfig(engine="dask", partitions=3)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same funnel three ways: leadml's partitioned folder (manifest), single files,
    and a user's own split (files cut by rows, events not with their leads, no manifest)."""
    root = tmp_path_factory.mktemp("read")
    write_partitioned(LEADS, root / "parts", seed=SEED, partitions=3)
    funnel = generate_funnel(LEADS, seed=SEED)
    write_funnel(funnel, root / "single")
    own = root / "own"
    for table, frame, cuts in (
        (schema.LEADS, funnel.leads, 2),
        (schema.EVENTS, funnel.events, 3),
    ):
        (own / table).mkdir(parents=True)
        step = -(-len(frame) // cuts)
        for k in range(cuts):
            piece = frame.iloc[k * step : (k + 1) * step]
            piece.to_parquet(own / table / f"export-{k}.parquet", index=False)
    return {"parts": root / "parts", "single": root / "single", "own": own}


@pytest.fixture(scope="module")
def reference(folders: dict[str, Path]) -> Dataset:
    return load_dataset(folders["single"])


def ordered(leads: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = [schema.LEAD_ID, schema.OCCURRED_AT, schema.EVENT_TYPE]
    return (
        leads.sort_values(schema.LEAD_ID, kind="mergesort").reset_index(drop=True),
        events.sort_values(keys, kind="mergesort").reset_index(drop=True),
    )


@pytest.mark.parametrize("layout", ["parts", "parts-url", "own"])
def test_read_tables_gives_load_datasets_frames_co_partitioned(
    client: Client, folders: dict[str, Path], reference: Dataset, layout: str
) -> None:
    folder = folders[layout.removesuffix("-url")]
    location: Path | str = f"file://{folder}" if layout.endswith("url") else folder
    tables = read_tables(location, COMPUTE)
    assert tables.npartitions == 3
    assert tables.co_partitioned_files == (layout != "own")
    pairs = list(zip(tables.leads.to_delayed(), tables.events.to_delayed(), strict=True))
    (computed,) = dask.compute(pairs)  # one graph: each partition read and checked once
    got = ordered(*(pd.concat(frames, ignore_index=True) for frames in zip(*computed, strict=True)))
    want = ordered(reference.leads, reference.events)
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    # partition i of events holds only the events of partition i's leads
    for lead_part, event_part in computed:
        assert len(lead_part) > 0
        assert event_part[schema.LEAD_ID].isin(lead_part[schema.LEAD_ID]).all()
    codes = {p.code for p in tables.warnings}
    assert "normalised_category" in codes  # the funnel's messy spellings, kept and reported
    # the validation pass found the data's end and earliest created_at on the way
    assert tables.bounds.end == data_end(reference.leads, reference.events)
    assert tables.bounds.first_created == reference.leads[schema.CREATED_AT].min()


def planted(src: Path, dst: Path, table: str, part: str, edit) -> Path:
    """A copy of folder `src` with one file rewritten by `edit`."""
    shutil.copytree(src, dst)
    path = dst / table / part
    edit(pd.read_parquet(path)).to_parquet(path, index=False)
    return dst


def bad_created_at(row: int):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        text = frame[schema.CREATED_AT].astype(str).astype(object)
        text.iloc[row - 1] = "31/02/2025 25:61"
        return frame.assign(**{schema.CREATED_AT: text})

    return edit


def test_a_bad_value_in_one_partition_is_one_line_naming_file_partition_row_column(
    client: Client, folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = planted(
        folders["parts"], tmp_path / "bad", schema.LEADS, "part-00002.parquet", bad_created_at(17)
    )
    with pytest.raises(InputError) as caught:
        read_tables(folder, COMPUTE)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(
        f"file {folder}/leads/part-00002.parquet (partition 2), row 17, column 'created_at': "
        "unparseable_timestamp"
    )
    assert "'31/02/2025 25:61'" in text and "expected a date-time" in text

    address = client.scheduler.address
    result = CliRunner().invoke(app, ["validate", str(folder), "--scheduler", address])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "leads/part-00002.parquet (partition 2), row 17" in lines[0]


def test_without_a_manifest_an_error_names_the_rows_own_file_and_row(
    client: Client, folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = planted(
        folders["own"], tmp_path / "bad", schema.LEADS, "export-1.parquet", bad_created_at(5)
    )
    with pytest.raises(InputError) as caught:
        read_tables(folder, COMPUTE)
    pattern = (
        rf"file {re.escape(str(folder))}/leads/export-1\.parquet \(partition \d\), row 5, "
        r"column 'created_at': unparseable_timestamp"
    )
    assert re.match(pattern, str(caught.value)), str(caught.value)


def test_a_lead_id_in_two_manifest_partitions_is_a_duplicate(
    client: Client, folders: dict[str, Path], tmp_path: Path
) -> None:
    first = pd.read_parquet(folders["parts"] / schema.LEADS / "part-00000.parquet")
    copy = first.iloc[[2]]

    def append(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([frame, copy], ignore_index=True)

    folder = planted(folders["parts"], tmp_path / "dup", schema.LEADS, "part-00002.parquet", append)
    rows = len(pd.read_parquet(folder / schema.LEADS / "part-00002.parquet"))
    with pytest.raises(InputError) as caught:
        read_tables(folder, COMPUTE)
    text = str(caught.value)
    assert text.startswith(
        f"file {folder}/leads/part-00002.parquet (partition 2), row {rows}, column 'lead_id': "
        "duplicate_lead_id"
    )
    assert f"already used at {folder}/leads/part-00000.parquet (partition 0) row 3" in text


def test_events_of_a_lead_not_in_the_data_are_unknown_leads_as_in_a_folder(
    client: Client, folders: dict[str, Path], tmp_path: Path
) -> None:
    def stray(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame.iloc[[0]].assign(**{schema.LEAD_ID: "L9999999"})
        return pd.concat([frame, extra], ignore_index=True)

    folder = planted(
        folders["parts"], tmp_path / "stray", schema.EVENTS, "part-00001.parquet", stray
    )
    rows = len(pd.read_parquet(folder / schema.EVENTS / "part-00001.parquet"))
    with pytest.raises(InputError, match="unknown_lead") as caught:
        read_tables(folder, COMPUTE)
    assert str(caught.value).startswith(
        f"file {folder}/events/part-00001.parquet (partition 1), row {rows}, column 'lead_id'"
    )
