"""Training on the Dask engine: a model fitted with lightgbm.dask on the cluster ranks and
scores the same test rows as the local engine's, within the issue's bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from leadml.bundle import load_bundle
from leadml.config import ComputeConfig
from leadml.data.load import Dataset
from leadml.engine.partition import from_frames
from leadml.engine.record import champion_rescorer
from leadml.engine.train import fit_and_evaluate_dask
from leadml.errors import InputError
from leadml.jobs.train import TrainOutcome, train_and_track
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.promotion import champion_probabilities
from leadml.tracking.registry import client_for
from tests.conftest import ONE_CUTOFF, fast_config

if TYPE_CHECKING:
    from pathlib import Path

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
    read by `read_tables` into two partitions, with the config of the session's snapshot
    model (`snapshot_trained`), logged and registered in a fresh project."""
    project = tmp_path_factory.mktemp("project")
    data = project / "data"
    data.mkdir()
    small_data.leads.to_parquet(data / "leads.parquet", index=False)
    small_data.events.to_parquet(data / "events.parquet", index=False)
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


def test_one_cutoff_training_on_dask_is_refused_with_the_setting_to_change(
    client: Client, small_data: Dataset, tmp_path: Path
) -> None:
    config = fast_config(tmp_path, labels=ONE_CUTOFF)
    leads, events = from_frames(small_data.leads.iloc[:50], small_data.events.iloc[:0], 2)
    with pytest.raises(InputError, match="snapshot rows only") as caught:
        fit_and_evaluate_dask(leads, events, config, client)
    assert "snapshot_every_days" in str(caught.value)
