"""Training on the Dask engine: a model fitted with lightgbm.dask on the cluster ranks and
scores the same test rows as the local engine's, within the issue's bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from leadml.bundle import load_bundle
from leadml.config import ComputeConfig, Config
from leadml.data.io import MANIFEST, MANIFEST_FORMAT, part_name
from leadml.data.load import Dataset
from leadml.engine.partition import from_frames, split_frames
from leadml.engine.record import champion_rescorer
from leadml.engine.train import _require_sample_classes, fit_and_evaluate_dask
from leadml.errors import InputError
from leadml.jobs.retrain import RetrainStatus, retrain
from leadml.jobs.train import TrainOutcome, train_and_track
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.model.snapshots import (
    TRAIN_SAMPLE_DRAW,
    Snapshots,
    kept_rows,
    snapshot_rows,
    snapshot_split,
)
from leadml.model.train import TimeSplit
from leadml.promotion import champion_probabilities
from leadml.tracking.registry import client_for
from tests.conftest import ONE_CUTOFF, fast_config

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client


@pytest.fixture(scope="module")
def frames(small_data: Dataset) -> tuple[dd.DataFrame, dd.DataFrame]:
    """The session's small funnel cut into two co-partitioned pairs."""
    return from_frames(small_data.leads, small_data.events, 2)


@pytest.fixture(scope="module")
def steps() -> list[str]:
    return []


@pytest.fixture(scope="module")
def outcome(
    client: Client,
    small_data: Dataset,
    steps: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainOutcome:
    """`leadml train --engine dask` on the session's cluster: the small funnel as Parquet,
    read by `read_tables` as two partitions, with the config of the session's snapshot
    model (`snapshot_trained`), logged and registered in a fresh project."""
    project = tmp_path_factory.mktemp("project")
    data = project / "data"
    data.mkdir()
    # Written as `leadml demo-data --partitions 2` writes it (co-partitioned, with the
    # manifest), so the job reads each pair as it is: the shuffle of unpaired files is
    # tested with reading, and would be redone by each of the job's passes here.
    for name in ("leads", "events"):
        (data / name).mkdir()
    for i, pair in enumerate(split_frames(small_data.leads, small_data.events, 2)):
        for name, frame in zip(("leads", "events"), pair, strict=True):
            frame.to_parquet(data / name / part_name(i), index=False)
    manifest = {"co_partitioned_by": "lead_id", "partitions": 2, "format": MANIFEST_FORMAT}
    (data / MANIFEST).write_text(json.dumps(manifest))
    on_dask = ComputeConfig(engine="dask", scheduler=client.scheduler.address, partitions=2)
    config = fast_config(project).model_copy(update={"compute": on_dask})
    return train_and_track(data, config, on_step=steps.append)


@pytest.fixture(scope="module")
def dask_trained(outcome: TrainOutcome) -> TrainedModel:
    return outcome.trained


def test_a_dask_trained_model_matches_the_local_engines_on_the_same_test_rows(
    dask_trained: TrainedModel, snapshot_trained: TrainedModel
) -> None:
    local, dask = snapshot_trained.test_frame, dask_trained.test_frame
    assert sorted(dask.index) == sorted(local.index)
    dask = dask.loc[local.index]
    np.testing.assert_array_equal(dask["label"].to_numpy(), local["label"].to_numpy())
    auc = dask_trained.results["model"]["roc_auc"]
    assert abs(auc - snapshot_trained.results["model"]["roc_auc"]) <= 0.005
    assert float(np.abs(dask["model"] - local["model"]).mean()) <= 0.01
    # The same spec (levels learned from summed partition counts), the same calibration
    # kind of map, and a bundle whose booster is the cluster's, with the rounds the sample chose.
    assert dask_trained.bundle.spec == snapshot_trained.bundle.spec
    assert dask_trained.bundle.booster.feature_name() == snapshot_trained.bundle.spec.names
    assert dask_trained.engine["partitions"] == 2 and dask_trained.engine["workers"] == 2


def test_the_dask_run_reports_what_the_local_run_reports(
    dask_trained: TrainedModel, snapshot_trained: TrainedModel
) -> None:
    assert set(dask_trained.results) == set(snapshot_trained.results)
    assert dask_trained.labels.n_eligible == snapshot_trained.labels.n_eligible
    assert dask_trained.labels.n_positive == snapshot_trained.labels.n_positive
    assert dask_trained.snapshot_counts is not None and snapshot_trained.snapshot_counts is not None
    assert dask_trained.snapshot_counts.equals(snapshot_trained.snapshot_counts)
    assert dask_trained.split.windows == snapshot_trained.split.windows
    assert dask_trained.by_age is not None
    assert list(dask_trained.by_age.index) == list(snapshot_trained.by_age.index)  # type: ignore[union-attr]
    assert (
        dask_trained.bundle.extra["drift_reference"]["window"]["leads"]
        == (snapshot_trained.bundle.extra["drift_reference"]["window"]["leads"])
    )
    assert "sample" in dask_trained.notes[-1]


def test_the_run_is_logged_and_registered_as_a_local_run_is_with_the_engine_params(
    outcome: TrainOutcome, small_data: Dataset, steps: list[str]
) -> None:
    assert steps[0].startswith("Dask dashboard: ")
    assert "model on the cluster" in " ".join(steps)
    config = fast_config(outcome.bundle_path.parents[2])
    client = client_for(config)
    run = client.get_run(outcome.run_id)
    end = data_end(small_data.leads, small_data.events)
    assert run.info.run_name == f"train · {len(small_data.leads):,} leads · as of {end:%Y-%m-%d}"
    params = run.data.params
    assert params["compute.engine"] == "dask" and params["compute.partitions"] == "2"
    assert params["compute.workers"] == "2"
    assert int(params["compute.sample_rows"]) == len(outcome.trained.split.train)
    assert (
        float(run.data.metrics["test.model.roc_auc"]) == outcome.trained.results["model"]["roc_auc"]
    )
    assert outcome.model_version == "1" and outcome.promoted  # no champion yet
    assert load_bundle(outcome.bundle_path).spec == outcome.trained.bundle.spec


def test_the_gate_rescores_a_champion_on_dask_data_as_on_local_data(
    outcome: TrainOutcome,
    snapshot_trained: TrainedModel,
    frames: tuple[dd.DataFrame, dd.DataFrame],
    small_data: Dataset,
) -> None:
    test_frame = outcome.trained.test_frame
    champion = snapshot_trained.bundle
    local = champion_probabilities(champion, test_frame, small_data.leads, small_data.events)
    np.testing.assert_array_equal(champion_rescorer(*frames)(champion, test_frame), local)


@pytest.fixture(scope="module")
def sampled(
    client: Client, small_data: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainedModel, Snapshots, Config]:
    """A Dask fit whose train sample really is a sample (a third of the train rows), on
    every fourth lead of the small funnel; the local engine's snapshot rows of the same
    leads; the config."""
    leads = small_data.leads.iloc[::4]
    events = small_data.events[small_data.events["lead_id"].isin(leads["lead_id"])]
    config = fast_config(tmp_path_factory.mktemp("sampled"), bootstrap_rounds=5)
    local = snapshot_rows(
        leads, events, config.labels, config.features, end=data_end(leads, events)
    )
    n_train = len(_split(local.rows["cutoff"], config).train)
    compute = config.compute.model_copy(update={"sample_rows": max(1_000, n_train // 3)})
    config = config.model_copy(update={"compute": compute})
    trained = fit_and_evaluate_dask(*from_frames(leads, events, 2), config, client)
    return trained, local, config


def test_a_sampled_dask_fit_samples_the_train_window_alone_and_scores_every_test_row(
    sampled: tuple[TrainedModel, Snapshots, Config],
) -> None:
    trained, local, config = sampled
    whole = _split(local.rows["cutoff"], config)
    asked = config.compute.sample_rows
    assert asked < len(whole.train)
    # The train rows whose key the sample's draw keeps, whichever partition holds them:
    # about sample_rows of them, and reported as the sample.
    share = asked / len(whole.train)
    kept = whole.train[kept_rows(whole.train, share, config.train.seed, draw=TRAIN_SAMPLE_DRAW)]
    assert sorted(trained.split.train) == sorted(kept)
    assert 0.7 < len(kept) / asked < 1.3
    assert trained.guard_report["sample_rows"] == len(kept) == trained.engine["sample_rows"]
    assert f"on all {len(whole.train):,} train rows" in trained.notes[-1]
    # Validation is gathered whole; the test window is scored whole on the cluster.
    assert sorted(trained.split.valid) == sorted(whole.valid)
    assert sorted(trained.test_frame.index) == sorted(whole.test)
    labels = local.rows.loc[trained.test_frame.index, "label"].to_numpy()
    np.testing.assert_array_equal(trained.test_frame["label"].to_numpy(), labels)


def test_partitions_cut_by_time_train_on_every_worker_though_one_holds_no_train_row(
    client: Client, small_data: Dataset, tmp_path: Path
) -> None:
    # Files written in time order (as `demo-data --partitions` cuts one chunk, or a
    # monthly export): partition 1 holds only leads created after the train window, so
    # lightgbm.dask would hand its worker no row unless the train window is shuffled.
    import dask.dataframe as dd

    leads = small_data.leads.iloc[::4]
    events = small_data.events[small_data.events["lead_id"].isin(leads["lead_id"])]
    config = fast_config(tmp_path)
    local = snapshot_rows(
        leads, events, config.labels, config.features, end=data_end(leads, events)
    )
    train_end = local.rows.loc[_split(local.rows["cutoff"], config).train, "cutoff"].max()
    late = leads["created_at"] > train_end
    assert late.any() and (~late).any()
    cut = [leads[~late], leads[late]]
    paired = [events[events["lead_id"].isin(part["lead_id"])] for part in cut]
    frames = (
        dd.from_map(lambda f: f, [part.reset_index(drop=True) for part in cut]),
        dd.from_map(lambda f: f, [part.reset_index(drop=True) for part in paired]),
    )
    trained = fit_and_evaluate_dask(*frames, config, client)
    n_train = len(_split(local.rows["cutoff"], config).train)
    assert f"on all {n_train:,} train rows" in trained.notes[-1]
    assert trained.results["model"]["roc_auc"] > 0.7


@pytest.mark.parametrize("labels", [[0] * 40, [1] * 40])
def test_a_train_sample_with_one_class_is_refused_naming_sample_rows(labels: list[int]) -> None:
    # The whole train window holds both classes (checked on the cluster); the sample does
    # not, and what to change is the sample's size, not the data.
    with pytest.raises(InputError, match="train sample") as caught:
        _require_sample_classes(pd.Series(labels), 50_000, 1_000)
    assert "[compute] sample_rows" in str(caught.value) and "50,000" in str(caught.value)
    _require_sample_classes(pd.Series([0, 1] * 20), 50_000, 1_000)


def _split(cutoff: pd.Series, config: Config) -> TimeSplit:
    tc = config.train
    return snapshot_split(
        cutoff,
        train_fraction=tc.train_fraction,
        valid_fraction=tc.valid_fraction,
        window_days=config.labels.window_days,
    )


def test_retrain_on_dask_validates_as_it_reads_and_reports_invalid_data(
    client: Client, small_data: Dataset, tmp_path: Path
) -> None:
    # A folder the local check would refuse whole (partitioned), with one bad value: the
    # Dask read finds it, and retrain reports invalid data (exit 4) having trained nothing.
    data = tmp_path / "data"
    leads, events = small_data.leads.iloc[:200], small_data.events.iloc[:0]
    for name, frame in (("leads", leads), ("events", events)):
        (data / name).mkdir(parents=True)
        frame.to_parquet(data / name / part_name(0), index=False)
    bad = leads.assign(created_at=leads["created_at"].astype(str).astype(object))
    bad.iloc[6, bad.columns.get_loc("created_at")] = "31/02/2025 25:61"
    bad.to_parquet(data / "leads" / part_name(0), index=False)
    on_dask = ComputeConfig(engine="dask", scheduler=client.scheduler.address)
    config = fast_config(tmp_path / "project").model_copy(update={"compute": on_dask})
    result = retrain(data, config)
    assert result.status is RetrainStatus.DATA_INVALID and result.outcome is None
    (error,) = result.report.errors
    assert error.file.startswith(f"{data / 'leads' / part_name(0)} (partition ")
    assert (error.row, error.column, error.value) == (7, "created_at", "31/02/2025 25:61")
    assert not (tmp_path / "project" / "mlflow.db").exists()


def test_one_cutoff_training_on_dask_is_refused_with_the_setting_to_change(
    client: Client, small_data: Dataset, tmp_path: Path
) -> None:
    config = fast_config(tmp_path, labels=ONE_CUTOFF)
    leads, events = from_frames(small_data.leads.iloc[:50], small_data.events.iloc[:0], 2)
    with pytest.raises(InputError, match="snapshot rows only") as caught:
        fit_and_evaluate_dask(leads, events, config, client)
    assert "snapshot_every_days" in str(caught.value)
