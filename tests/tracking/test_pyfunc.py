"""The registered MLflow model gives leadml's numbers: a pyfunc logged from code (no pickle)
whose predict equals the Scorer's, while leadml's own loading still finds the bundle.

One version is registered per module (logging a model costs about a second) and shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import yaml

from leadml import schema
from leadml.bundle import save_bundle
from leadml.config import Config
from leadml.data.load import Dataset
from leadml.errors import InputError, ModelNotFoundError
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer
from leadml.tracking.log import log_bundle, register_model, run_name, start_run
from leadml.tracking.pyfunc import flat_rows, model_input, score_rows
from leadml.tracking.registry import (
    CLASSIC_ML,
    EXPERIMENT_KIND_TAG,
    bundle_dir,
    client_for,
    load_model,
    promote,
    resolve_version,
)
from tests.conftest import fast_config

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


@dataclass
class Registered:
    config: Config
    version: str
    run_id: str
    uri: str
    loaded: list[PyFuncModel] = field(default_factory=list)

    def pyfunc(self) -> PyFuncModel:
        """`mlflow.pyfunc.load_model` of the version, once per module."""
        import mlflow

        if not self.loaded:
            self.loaded.append(mlflow.pyfunc.load_model(self.uri))
        return self.loaded[0]


@pytest.fixture(scope="module")
def registered(
    trained: TrainedModel, small_data: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Registered:
    """`trained` registered as `leadml train` registers it: the pyfunc, then the bundle."""
    config = fast_config(tmp_path_factory.mktemp("pyfunc"))
    name = config.mlflow.model_name
    client_for(config)
    with start_run(run_name("train", len(small_data.leads), "leads", AS_OF)) as run:
        version = register_model(trained, name, small_data.leads, small_data.events)
        bundle = trained.bundle.with_registry(name, version)
        log_bundle(save_bundle(bundle, bundle_dir(config, name, version)))
    return Registered(config, version, run.info.run_id, f"models:/{name}/{version}")


def _leads(data: Dataset, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first `n` leads created by AS_OF, and their events."""
    leads = data.leads[data.leads[schema.CREATED_AT] <= AS_OF].head(n)
    events = data.events[data.events[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    return leads, events


@pytest.mark.parametrize("as_of", [AS_OF, None], ids=["as_of", "bundle_cutoff"])
def test_pyfunc_predict_equals_the_scorer(
    registered: Registered, trained: TrainedModel, small_data: Dataset, as_of: pd.Timestamp | None
) -> None:
    leads, events = _leads(small_data, 200)
    got = registered.pyfunc().predict(model_input(leads, events, as_of))
    want = Scorer(trained.bundle).score(leads, events, as_of=as_of, explain=False).frame
    assert list(got.columns) == [schema.LEAD_ID, "probability", "score", "grade"]
    assert got[schema.LEAD_ID].tolist() == leads[schema.LEAD_ID].tolist() == want.index.tolist()
    assert np.max(np.abs(got["probability"].to_numpy() - want["probability"].to_numpy())) <= 1e-9
    assert got["score"].tolist() == want["score"].tolist()
    assert got["grade"].tolist() == want["grade"].tolist()
    # Calibrated, not LightGBM's raw score: the probabilities are not the booster's sigmoid.
    raw = 1 / (1 + np.exp(-want["raw_score"].to_numpy(dtype=float)))
    assert np.max(np.abs(got["probability"].to_numpy() - raw)) > 1e-3


def test_the_logged_model_is_code_and_a_bundle_not_a_pickle(registered: Registered) -> None:
    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(registered.uri))
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"].endswith("pyfunc_model.py")
    assert {"artifacts/bundle/model.txt", "artifacts/bundle/bundle.json"} <= set(files)
    assert "serving_input_example.json" in files
    example = (folder / "serving_input_example.json").read_text()
    assert "events" in example and "@" not in example  # the example carries no emails


def test_leadml_still_loads_the_registered_bundle(registered: Registered) -> None:
    """`leadml score`, the server and `load_version` read the run's `bundle/` folder, with
    its version and its model file's digest, from a clean models/ folder."""
    config = registered.config
    bundle = load_model(registered.uri, config)
    assert bundle.version == registered.version and bundle.name == config.mlflow.model_name
    assert (bundle_dir(config, bundle.name, registered.version) / "model.txt").exists()


def test_a_missing_version_is_one_line_listing_the_versions(registered: Registered) -> None:
    config = registered.config
    name = config.mlflow.model_name
    client = client_for(config)
    for fail in (
        lambda: resolve_version(client, f"models:/{name}/99", name),
        lambda: load_model(f"models:/{name}/99", config),
        lambda: promote(client, name, "99"),
    ):
        with pytest.raises(ModelNotFoundError) as info:
            fail()
        message = str(info.value)
        assert "\n" not in message
        assert f"models:/{name}/99: no such version" in message
        assert f"({registered.version})" in message and f"models:/{name}@champion" in message


def test_the_experiment_opens_in_the_classic_ml_view(registered: Registered) -> None:
    client = client_for(registered.config)
    experiment = client.get_experiment_by_name(registered.config.mlflow.experiment)
    assert experiment is not None and experiment.tags[EXPERIMENT_KIND_TAG] == CLASSIC_ML


def test_an_experiment_made_before_the_tag_gets_it(registered: Registered) -> None:
    from mlflow import MlflowClient

    config = registered.config  # the same store: a new one costs seconds to create
    mlflow_config = config.mlflow.model_copy(update={"experiment": "made-by-an-older-leadml"})
    older = config.model_copy(update={"mlflow": mlflow_config})
    client = MlflowClient(tracking_uri=config.tracking_uri)
    experiment_id = client.create_experiment(mlflow_config.experiment)
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags
    client_for(older)
    assert client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == CLASSIC_ML


def test_the_run_is_named_for_what_ran(registered: Registered, small_data: Dataset) -> None:
    client = client_for(registered.config)
    name = client.get_run(registered.run_id).info.run_name
    assert name == f"train · {len(small_data.leads):,} leads · as of 2025-06-01"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("train", 50_000, "leads", pd.Timestamp("2025-12-31 23:00", tz="UTC")), None),
        (("retrain", 1_234, "rows"), "retrain · 1,234 rows"),
        (("drift", 7, "leads", pd.NaT, "lead-conversion version 3"), None),
    ],
)
def test_run_names(args: tuple, expected: str | None) -> None:
    expected = (
        expected
        or {
            "train": "train · 50,000 leads · as of 2025-12-31",
            "drift": "drift · lead-conversion version 3 · 7 leads",
        }[args[0]]
    )
    assert run_name(*args) == expected


def test_bad_rows_are_one_line_errors(trained: TrainedModel, small_data: Dataset) -> None:
    """The rows are checked by the data contract's validator: a bad value names its field."""
    scorer = Scorer(trained.bundle)
    leads, events = _leads(small_data, 3)
    rows = model_input(leads, events, AS_OF)
    broken = rows.assign(created_at=["not a date", *rows["created_at"][1:]])
    with pytest.raises(InputError, match="created_at") as info:
        score_rows(scorer, broken)
    assert "\n" not in str(info.value)
    early = rows.assign(as_of="2000-01-01T00:00:00Z")
    with pytest.raises(InputError, match="created after its as_of") as info:
        score_rows(scorer, early)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="as_of is not a timestamp"):
        score_rows(scorer, rows.assign(as_of="soon"))


def test_flat_rows_read_numbers_as_the_export_shows_them_and_refuse_repeated_ids() -> None:
    from leadml.data.mapping.config import DatasetConfig

    dataset = DatasetConfig.from_dict(
        {
            "id_column": "ID",
            "label": "Won",
            "positive": ["1"],
            "missing": ["", "NA"],
            "columns": {"Visits": {"role": "engagement"}, "Tier": {"role": "firmographic"}},
        }
    )
    rows = pd.DataFrame({"ID": [7, 8], "Visits": [3.0, None], "Tier": [" gold ", "NA"]})
    read = flat_rows(rows, dataset)
    assert read.index.tolist() == ["7", "8"]
    assert read["Visits"].tolist() == ["3", None] and read["Tier"].tolist() == ["gold", None]
    with pytest.raises(InputError, match="duplicate lead id") as info:
        flat_rows(rows.assign(ID=[7, 7]), dataset)
    assert "row 2" in str(info.value) and "column 'ID'" in str(info.value)
