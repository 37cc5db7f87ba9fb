"""Batch scoring on the Dask engine against the local engine, on the same data and bundle:
scores and reasons to 1e-9, the same global ranks, --top N, the partitioned Parquet list,
the store's rows, and a worker killed mid-scoring."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from leadml.batch import RankedBatch, parse_as_of, score_open_leads
from leadml.bundle import save_bundle
from leadml.config import ComputeConfig, Config, StoreConfig
from leadml.data.load import Dataset
from leadml.engine.partition import bounds_of, from_frames
from leadml.engine.score import DaskBatch, range_edges, score_partitions, scoring_moment
from leadml.errors import InputError
from leadml.jobs.output import BatchOutcome, list_table, write_batch_file, write_dask_batch
from leadml.jobs.score import run_batch
from leadml.model.pipeline import TrainedModel
from leadml.ranked import REASONS_JSON, decode_reasons
from leadml.scoring import Scorer
from leadml.store import open_store
from tests.conftest import fast_config

if TYPE_CHECKING:
    from distributed import Client

PII = ("email", "phone")
SCORED_AT = pd.Timestamp("2026-01-05T06:00Z")
NUMBERS = ["probability", "raw_score"]


FEW = 1500
"""Leads the tests score: a sample of the session's small funnel (the suite's budget)."""


@pytest.fixture(scope="module")
def as_of(small_data: Dataset) -> pd.Timestamp:
    return parse_as_of("latest", small_data.leads, small_data.events)


@pytest.fixture(scope="module")
def few(small_data: Dataset) -> Dataset:
    leads = small_data.leads.sample(FEW, random_state=7).reset_index(drop=True)
    events = small_data.events[small_data.events["lead_id"].isin(leads["lead_id"])]
    return Dataset(leads, events.reset_index(drop=True), small_data.report)


@pytest.fixture(scope="module")
def local_model(few: Dataset, trained: TrainedModel, as_of: pd.Timestamp) -> RankedBatch:
    return _local(few, trained, as_of, "model")


def _local(data: Dataset, trained: TrainedModel, as_of: pd.Timestamp, mode: str) -> RankedBatch:
    return score_open_leads(
        data.leads,
        data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        grade_mode=mode,  # type: ignore[arg-type]
        pass_through=PII,
        max_open_days=400,
        scored_at=SCORED_AT,
        chunk_size=500,
    )


def _dask(
    client: Client,
    data: Dataset,
    trained: TrainedModel,
    as_of: pd.Timestamp,
    mode: str,
    partitions: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> DaskBatch:
    leads, events = from_frames(data.leads, data.events, partitions)
    return score_partitions(
        client,
        leads,
        events,
        trained.bundle,
        as_of=as_of,
        grade_mode=mode,  # type: ignore[arg-type]
        grade_shares={"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4},
        pass_through=PII,
        max_open_days=400,
        scored_at=SCORED_AT,
        chunk_size=500,
        on_progress=on_progress,
    )


def _assert_same_list(dask_frame: pd.DataFrame, local: pd.DataFrame) -> None:
    """Same leads in the same order with the same values; numbers and reasons to 1e-9."""
    assert list(dask_frame.columns) == list(local.columns)
    assert dask_frame["lead_id"].tolist() == local["lead_id"].tolist()
    assert dask_frame["rank"].tolist() == list(range(1, len(local) + 1))
    for name in NUMBERS:
        np.testing.assert_allclose(dask_frame[name], local[name], rtol=0, atol=1e-9)
    exact = [c for c in local.columns if c not in (*NUMBERS, REASONS_JSON)]
    pd.testing.assert_frame_equal(dask_frame[exact], local[exact], check_dtype=False)
    for ours, theirs in zip(dask_frame[REASONS_JSON], local[REASONS_JSON], strict=True):
        a, b = decode_reasons(ours), decode_reasons(theirs)
        for side in ("positive", "negative"):
            assert [r["text"] for r in a[side]] == [r["text"] for r in b[side]]
            np.testing.assert_allclose(
                [r["contribution"] for r in a[side]],
                [r["contribution"] for r in b[side]],
                rtol=0,
                atol=1e-9,
            )


def test_scores_reasons_ranks_and_batch_grades_equal_the_local_engine(
    client: Client, few: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    local = _local(few, trained, as_of, "batch")
    seen: list[tuple[int, int]] = []
    scored = _dask(client, few, trained, as_of, "batch", 3, lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert scored.leads == len(local.frame) > 300
    # Batch grades hold the shares of the whole batch, not of each partition.
    parts = list(scored.parts())
    assert len(parts) == 3 and all(len(p) for p in parts)
    assert parts[0]["rank"].iloc[0] == 1  # part 0 holds the best leads
    _assert_same_list(pd.concat(parts, ignore_index=True), local.frame)
    record = scored.batch
    assert record.summary() == local.summary()
    assert (record.excluded_converted, record.excluded_not_created, record.excluded_stale) == (
        local.excluded_converted,
        local.excluded_not_created,
        local.excluded_stale,
    )
    assert local.excluded_stale > 0  # the stale count is summed over partitions
    assert record.warnings == local.warnings
    assert record.frame["lead_id"].tolist() == local.frame["lead_id"].head(10).tolist()


def test_warnings_merge_over_partitions_exactly_as_over_chunks(
    client: Client, few: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    # 9 industries the model never saw, each in several chunks and partitions.
    leads = few.leads.head(400).copy()
    leads["industry"] = [f"Unheard {i % 9}" for i in range(len(leads))]
    events = few.events[few.events["lead_id"].isin(leads["lead_id"])]
    data = Dataset(leads, events.reset_index(drop=True), few.report)
    local = score_open_leads(
        data.leads,
        data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        pass_through=PII,
        max_open_days=400,
        scored_at=SCORED_AT,
        chunk_size=60,
    )
    record = _dask(client, data, trained, as_of, "model", 2).batch
    assert record.warnings == local.warnings
    industry = [w for w in local.warnings if "industry" in w]
    assert len(industry) == 6 and industry[-1].startswith("4 more industry values")
    by_id = leads.set_index("lead_id")["industry"]
    open_by_value = by_id.reindex(local.frame["lead_id"]).value_counts()
    top = open_by_value.sort_index().sort_values(ascending=False, kind="mergesort")
    assert industry[0] == (
        f"industry {top.index[0]!r} is not in the data the model was trained on "
        f"({top.iloc[0]} leads): scored as unknown, like a missing value"
    )


def test_latest_is_found_across_partitions(client: Client, few: Dataset) -> None:
    leads, events = from_frames(few.leads, few.events, 3)
    found = scoring_moment("latest", bounds_of(leads, events))
    assert found == parse_as_of("latest", few.leads, few.events)


@pytest.mark.parametrize(("n", "parts"), [(0, 3), (2, 3), (10, 3), (11, 4)])
def test_output_partitions_cover_every_rank_once(n: int, parts: int) -> None:
    edges = range_edges(n, parts)
    assert edges[0] == 1 and edges[-1] == n + 1
    sizes = np.diff(edges)
    assert (sizes >= 1).all() or n == 0
    assert sizes.sum() == n and sizes.max() - sizes.min() <= 1


def _config(tmp_path: Path, name: str) -> Config:
    config = fast_config(tmp_path)
    url = f"sqlite:///{tmp_path / name}"
    return config.model_copy(update={"store": StoreConfig(url=url)})


def _stored(config: Config) -> pd.DataFrame:
    engine = open_store(config.store_url)
    try:
        with engine.connect() as conn:
            rows = pd.read_sql("SELECT * FROM lead_scores ORDER BY lead_id", conn)
            batches = pd.read_sql("SELECT n_leads, summary FROM score_batches", conn)
    finally:
        engine.dispose()
    return rows.drop(columns=["batch_id"]).assign(_batch=batches.to_json())


def test_store_and_partitioned_parquet_list_match_the_local_engine(
    client: Client,
    few: Dataset,
    trained: TrainedModel,
    as_of: pd.Timestamp,
    local_model: RankedBatch,
    tmp_path: Path,
) -> None:
    local = local_model
    local_config = _config(tmp_path, "local.db")
    dask_config = _config(tmp_path, "dask.db")
    quiet: Callable[[str], None] = lambda _m: None  # noqa: E731
    for _ in range(2):  # the second batch has a trend against the first
        done = write_batch_file(local, local_config, tmp_path / "local.parquet", None, True, quiet)
        scored = _dask(client, few, trained, as_of, "model", 3)
        out = tmp_path / "ranked.parquet"
        got = write_dask_batch(scored, dask_config, out=out, top=None, store=True)
    assert isinstance(got, BatchOutcome) and got.batch_id == done.batch_id == 2
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:05d}.parquet" for i in range(3)]
    first = pd.read_parquet(out / "part-00000.parquet")
    assert first["rank"].iloc[0] == 1
    whole = pd.concat([pd.read_parquet(p) for p in sorted(out.iterdir())], ignore_index=True)
    expected = pd.read_parquet(tmp_path / "local.parquet")
    assert (whole["trend"] == "steady").all()  # set by the store's previous batch
    pd.testing.assert_frame_equal(whole, expected, check_exact=False, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(
        _stored(dask_config), _stored(local_config), check_exact=False, atol=1e-9, rtol=0
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_top_n_gathers_only_the_first_rows_into_one_file(
    client: Client,
    few: Dataset,
    trained: TrainedModel,
    as_of: pd.Timestamp,
    local_model: RankedBatch,
    tmp_path: Path,
) -> None:
    local = local_model
    config = _config(tmp_path, "none.db")
    scored = _dask(client, few, trained, as_of, "model", 3)
    whole = tmp_path / "all.xlsx"
    with pytest.raises(InputError, match=r"has [0-9,]+ leads, more than a CSV or Excel file"):
        write_dask_batch(scored, config, out=whole, top=None, store=True, gather_rows=100)
    assert not whole.exists() and not (tmp_path / "none.db").exists()
    out = tmp_path / "top.csv"
    got = write_dask_batch(scored, config, out=out, top=25, store=False)
    assert got.out_path == out and got.store_url is None
    written = pd.read_csv(out, keep_default_na=False, dtype=str)
    expected = list_table(local, config, out, 25).astype(str)
    assert len(written) == 25
    assert written["lead_id"].tolist() == expected["lead_id"].tolist()
    assert written.columns.tolist() == expected.columns.tolist()
    # Only the first output partition was fetched; the others are still on the cluster.
    assert len(scored.outputs) == 2


def test_a_worker_killed_mid_scoring_is_retried_and_the_list_is_complete(
    few: Dataset, trained: TrainedModel, as_of: pd.Timestamp, local_model: RankedBatch
) -> None:
    from distributed import Client, LocalCluster

    local = local_model
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
            env={"OMP_WAIT_POLICY": "PASSIVE"},
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        victim = next(iter(pids.values()))
        killed: list[int] = []

        def kill_one(done: int, total: int) -> None:
            if done == 1 and not killed:  # others are still running or queued
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        scored = _dask(client, few, trained, as_of, "model", 4, kill_one)
        whole = pd.concat(list(scored.parts()), ignore_index=True)
        assert killed
        assert victim not in client.run(os.getpid).values()  # the nanny started a new one
    assert whole["lead_id"].is_unique
    _assert_same_list(whole, local.frame)


def test_the_dask_engine_refuses_what_it_cannot_do_before_any_work(
    small_data_dir: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, "scores.db").model_copy(
        update={"compute": ComputeConfig(engine="dask")}
    )
    flat = tmp_path / "export.csv"
    flat.write_text("lead_id,company\nL1,Acme\n")
    with pytest.raises(InputError, match="not a flat export") as found:
        run_batch(flat, config, out=tmp_path / "ranked.parquet")
    assert "--engine local" in str(found.value) and "\n" not in str(found.value)
    hooked = config.model_copy(
        update={"score": config.score.model_copy(update={"webhook": "https://crm.example/in"})}
    )
    with pytest.raises(InputError, match=r"webhook .* not available on the Dask engine"):
        run_batch(small_data_dir, hooked, out=tmp_path / "ranked.parquet")
    with pytest.raises(InputError, match="unsupported output file type"):
        run_batch(small_data_dir, config, out=tmp_path / "ranked.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_an_empty_batch_writes_an_empty_list_and_an_empty_stored_batch(
    client: Client, few: Dataset, trained: TrainedModel, tmp_path: Path
) -> None:
    before = few.leads["created_at"].min() - pd.Timedelta(days=1)
    scored = _dask(client, few, trained, before, "batch", 2)
    assert scored.leads == 0 and scored.batch.excluded_not_created == FEW
    config = _config(tmp_path, "scores.db")
    got = write_dask_batch(scored, config, out=tmp_path / "ranked", top=None, store=True)
    assert got.batch_id == 1 and got.batch.summary().leads_scored == 0
    [part] = list((tmp_path / "ranked").iterdir())
    empty = pd.read_parquet(part)
    assert empty.empty and list(empty.columns) == got.batch.columns
    assert _stored(config).empty


def test_leadml_score_on_the_dask_engine_writes_what_the_local_engine_writes(
    client: Client, few: Dataset, trained: TrainedModel, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    few.leads.to_parquet(data / "leads.parquet", index=False)
    few.events.to_parquet(data / "events.parquet", index=False)
    bundle = str(save_bundle(trained.bundle, tmp_path / "bundle"))
    local_config = _config(tmp_path, "local.db")
    on_dask = ComputeConfig(engine="dask", scheduler=client.scheduler.address, partitions=3)
    dask_config = _config(tmp_path, "dask.db").model_copy(update={"compute": on_dask})
    steps: list[str] = []
    local = run_batch(data, local_config, model=bundle, as_of="latest", out=tmp_path / "l.parquet")
    got = run_batch(
        data, dask_config, model=bundle, as_of="latest", out=tmp_path / "d", on_step=steps.append
    )
    assert any(s.startswith("Dask dashboard: ") for s in steps)
    assert got.batch.summary() == local.batch.summary()
    parts = sorted((tmp_path / "d").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(3)]
    whole = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    expected = pd.read_parquet(tmp_path / "l.parquet")
    same = [c for c in expected.columns if c != "scored_at"]  # each run's own moment
    pd.testing.assert_frame_equal(whole[same], expected[same], check_exact=False, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(
        _stored(dask_config), _stored(local_config), check_exact=False, atol=1e-9, rtol=0
    )
