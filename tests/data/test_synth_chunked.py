"""The synthetic funnel drawn chunk by chunk and written as partitioned Parquet: today's
rows up to one chunk, the same bytes for the same seed, co-partitioned parts, one set
of companies across chunks, and nothing half-written on failure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from leadml import schema
from leadml.data.io import MANIFEST
from leadml.data.synth import generate_funnel, write_funnel
from leadml.data.synth.chunked import (
    FunnelPlan,
    PartTask,
    Written,
    plan_tasks,
    write_partitioned,
    write_task,
)
from leadml.data.synth.engagement import EVENT_CODES
from leadml.errors import InputError

TABLES = (schema.LEADS, schema.EVENTS, schema.TRUTH)


def parts(folder: Path, table: str) -> list[pd.DataFrame]:
    return [pd.read_parquet(p) for p in sorted((folder / table).glob("part-*.parquet"))]


def joined(folder: Path, table: str) -> pd.DataFrame:
    return pd.concat(parts(folder, table), ignore_index=True)


def by_time(events: pd.DataFrame) -> pd.DataFrame:
    """Events in the single-file funnel's order: time, then lead, then the generator's
    code of the type."""
    code = events[schema.EVENT_TYPE].map({name: i for i, name in enumerate(EVENT_CODES)})
    order = events.assign(_code=code).sort_values(
        [schema.OCCURRED_AT, schema.LEAD_ID, "_code"], kind="mergesort"
    )
    return order.drop(columns="_code").reset_index(drop=True)


@pytest.mark.parametrize("partitions", [1, 3])
def test_up_to_one_chunk_the_rows_are_todays(tmp_path: Path, partitions: int) -> None:
    write_partitioned(1_500, tmp_path / "p", seed=11, partitions=partitions)
    today = generate_funnel(1_500, seed=11)
    pd.testing.assert_frame_equal(joined(tmp_path / "p", schema.LEADS), today.leads)
    events = joined(tmp_path / "p", schema.EVENTS)
    if partitions == 1:  # one file: today's file order too
        pd.testing.assert_frame_equal(events, today.events)
    pd.testing.assert_frame_equal(by_time(events), today.events)
    pd.testing.assert_frame_equal(joined(tmp_path / "p", schema.TRUTH), today.truth)
    manifest = json.loads((tmp_path / "p" / MANIFEST).read_text())
    assert manifest == {"co_partitioned_by": "lead_id", "partitions": partitions, "format": 1}


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_partitioned(1_200, tmp_path / name, seed=seed, partitions=2, chunk_leads=500)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any(
        (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes() for rel in files
    )


def test_chunks_keep_ids_unique_companies_whole_and_parts_co_partitioned(
    tmp_path: Path,
) -> None:
    # 3 chunks of 400 leads over 2 parts: part 0 appends chunk 0, part 1 chunks 1 and 2
    written = write_partitioned(1_200, tmp_path / "p", seed=3, partitions=2, chunk_leads=400)
    assert (written.chunks, written.leads) == (3, 1_200)
    leads = joined(tmp_path / "p", schema.LEADS)
    assert leads[schema.LEAD_ID].tolist() == [f"L{i:07d}" for i in range(1, 1_201)]
    # chunk 0 is today's draw of its own size
    first = generate_funnel(400, seed=3)
    pd.testing.assert_frame_equal(leads.iloc[:400].reset_index(drop=True), first.leads)
    # a company keeps its size and country in every chunk
    for column in (schema.EMPLOYEES, schema.COUNTRY):
        known = leads.dropna(subset=[schema.COMPANY, column])
        assert known.groupby(schema.COMPANY)[column].nunique().max() == 1
    # part i of leads, events and truth hold the same leads
    for lp, ep, tp in zip(*(parts(tmp_path / "p", t) for t in TABLES), strict=True):
        ids = set(lp[schema.LEAD_ID])
        assert set(ep[schema.LEAD_ID]) <= ids
        assert tp[schema.LEAD_ID].tolist() == lp[schema.LEAD_ID].tolist()
    events = joined(tmp_path / "p", schema.EVENTS)
    assert events[schema.LEAD_ID].isin(leads[schema.LEAD_ID]).all()
    assert written.events == len(events)


def failing_after(done: int) -> Callable[..., Iterator[Written]]:
    """A runner whose worker is lost after `done` tasks (a real exception, not a stub of
    the writing: the tasks before it really write their parts)."""

    def run(fn: Callable[[PartTask], Written], tasks: list[PartTask]) -> Iterator[Written]:
        for task in tasks[:done]:
            yield fn(task)
        raise RuntimeError("worker lost")

    return run


def test_a_failure_mid_write_leaves_nothing_half_written(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="worker lost"):
        write_partitioned(900, tmp_path / "new", seed=1, partitions=3, run=failing_after(2))
    assert list(tmp_path.iterdir()) == []  # no output folder, no staging left beside it

    write_funnel(generate_funnel(300, seed=1), tmp_path / "old")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    with pytest.raises(RuntimeError, match="worker lost"):
        write_partitioned(900, tmp_path / "old", seed=1, partitions=3, run=failing_after(1))
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_a_rename_failing_part_way_puts_the_old_dataset_back(tmp_path: Path) -> None:
    old = tmp_path / "old"
    write_funnel(generate_funnel(300, seed=1), old)
    # a dangling link named truth is no table file, so it stays and is in the way: leads/
    # and events/ move in, then the rename of truth/ onto the link fails (not a directory)
    (old / schema.TRUTH).symlink_to(tmp_path / "gone")
    before = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()}
    with pytest.raises(InputError, match="could not put the new dataset in place") as raised:
        write_partitioned(300, old, seed=1, partitions=2)
    assert str(raised.value).startswith(f"file {old}: ") and "\n" not in str(raised.value)
    assert "the old dataset is as it was" in str(raised.value)
    assert {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in old.iterdir()) == sorted([*before, schema.TRUTH])
    assert (old / schema.TRUTH).is_symlink()
    assert [p.name for p in tmp_path.iterdir()] == ["old"]  # no staging left beside it


def test_parts_written_out_of_sight_never_replace_the_old_dataset(tmp_path: Path) -> None:
    """Dask workers on other machines write to their own disks: the tasks succeed, yet
    this machine sees no part file, so nothing replaces what --out held."""

    def elsewhere(fn: Callable[[PartTask], Written], tasks: list[PartTask]) -> Iterator[Written]:
        for task in tasks:
            yield Written(len(task.chunks), 100, 0)

    old = tmp_path / "old"
    write_partitioned(300, old, seed=1, partitions=3)
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match="the workers could not write to") as raised:
        write_partitioned(300, old, seed=2, partitions=3, run=elsewhere)
    message = str(raised.value)
    assert message.startswith("option --out: ") and "\n" not in message
    assert "3 of 3 leads part files are not there" in message
    assert "a folder every Dask worker and this machine share" in message
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    # a worker that cannot see the folder says so in the same words, writing nothing
    task = plan_tasks(FunnelPlan(300, 1), 1)[0]
    with pytest.raises(InputError, match="the workers could not write to") as raised:
        write_task(task, FunnelPlan(300, 1), str(tmp_path / "elsewhere"))
    assert "are not on this worker" in str(raised.value) and "option --out" in str(raised.value)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_one_dataset_per_folder_whichever_way_it_is_written(tmp_path: Path) -> None:
    out = tmp_path / "data"
    write_funnel(generate_funnel(300, seed=2), out)
    write_partitioned(300, out, seed=2, partitions=2)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "events", "leads", "truth"]
    write_funnel(generate_funnel(300, seed=2), out)
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet",
        "leads.parquet",
        "truth.parquet",
    ]


def test_demo_data_partitions_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leadml.cli.app import app

    runner = CliRunner()
    out = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo-data", "--leads", "400", "--partitions", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / schema.LEADS).iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    for extra, option in (
        (["--partitions", "0", "--engine", "dask"], "--partitions"),
        (["--format", "csv"], "--format"),
        (["--with-defects"], "--with-defects"),
    ):
        result = runner.invoke(
            app,
            [
                "demo-data",
                "--leads",
                "400",
                "--partitions",
                "2",
                "--out",
                str(tmp_path / "x"),
                *extra,
            ],
        )
        assert result.exit_code == 1
        assert f"option {option}" in result.output and "expected" in result.output
        assert not (tmp_path / "x").exists()
