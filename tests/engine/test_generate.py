"""demo-data on Dask: the workers draw and write the parts, byte for byte what one
process writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from leadml.cli.app import app
from leadml.data.synth.chunked import write_partitioned

if TYPE_CHECKING:
    from distributed import Client


def test_demo_data_on_dask_workers_writes_the_same_bytes_as_one_process(
    client: Client, tmp_path: Path
) -> None:
    args = ["demo-data", "--leads", "900", "--seed", "4", "--partitions", "3"]
    address = client.scheduler.address
    result = CliRunner().invoke(
        app,
        [*args, "--out", str(tmp_path / "dask"), "--scheduler", address],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long paths
    assert "Wrote 900 leads" in said and "in 3 partitions" in said
    write_partitioned(900, tmp_path / "here", seed=4, partitions=3)
    files = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*.*"))
    assert len(files) == 10  # 3 parts of 3 tables, and the manifest
    for rel in files:
        assert (tmp_path / "dask" / rel).read_bytes() == (tmp_path / "here" / rel).read_bytes()
