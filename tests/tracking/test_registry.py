"""MLflow against a real temporary SQLite store: runs, registry, aliases, rollback (the gate
rule itself is tested in tests/test_promotion.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leadml.data.load import Dataset
from leadml.errors import LeadmlError, ModelNotFoundError
from leadml.jobs.train import Promotion, train_and_track
from leadml.model.labels import data_end
from leadml.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    aliases,
    client_for,
    load_model,
    parse_ref,
    promote,
    rollback,
)
from tests.conftest import fast_config


def test_parse_ref() -> None:
    assert parse_ref("models:/lead-conversion@champion", "x") == (
        "lead-conversion",
        "champion",
        None,
    )
    assert parse_ref("models:/lead-conversion/3", "x") == ("lead-conversion", None, "3")
    with pytest.raises(ModelNotFoundError):
        parse_ref("champion", "x")


@pytest.mark.slow
def test_training_runs_register_gate_promote_and_roll_back(
    small_data_dir: Path, small_data: Dataset, tmp_path: Path
) -> None:
    config = fast_config(tmp_path)
    first = train_and_track(small_data_dir, config)
    client = client_for(config)
    name = config.mlflow.model_name

    run = client.get_run(first.run_id)
    end = data_end(small_data.leads, small_data.events)
    assert run.info.run_name == f"train · {len(small_data.leads):,} leads · as of {end:%Y-%m-%d}"
    assert run.data.metrics["test.model.roc_auc"] > 0.6
    assert "test.points.roc_auc" in run.data.metrics
    assert "test.logistic.roc_auc" in run.data.metrics
    assert run.data.params["calibration.method"] in ("isotonic", "platt")
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"bundle", "report", "data", "model_spec"} <= artifacts
    report = {a.path for a in client.list_artifacts(first.run_id, "report")}
    assert any(p.endswith("report.html") for p in report)
    assert any(p.endswith(".png") for p in report)
    assert (config.project_dir / "mlflow.db").exists()

    # The first version has no champion to beat: it is promoted.
    assert first.model_version == "1" and first.promoted
    assert aliases(client, name) == {CHAMPION: "1", CHALLENGER: "1"}
    assert first.bundle_path == tmp_path / "models" / name / "1"

    # A second run that must not be promoted stays the challenger, after a real gate.
    second = train_and_track(small_data_dir, config, promotion=Promotion.NEVER)
    assert second.model_version == "2" and not second.promoted
    assert second.gate is not None and second.gate.champion_version == "1"
    assert aliases(client, name) == {CHAMPION: "1", CHALLENGER: "2"}

    promote(client, name, "2")
    assert aliases(client, name)[CHAMPION] == "2"
    assert rollback(client, name) == ("2", "1")
    assert aliases(client, name)[CHAMPION] == "1"
    with pytest.raises(LeadmlError, match="nothing to roll back"):
        rollback(client, name)

    # Loading by registry reference downloads the bundle when the local export is gone.
    shutil.rmtree(tmp_path / "models")
    bundle = load_model(f"models:/{name}@{CHAMPION}", config)
    assert bundle.version == "1"
    assert (tmp_path / "models" / name / "1" / "bundle.json").exists()
    with pytest.raises(ModelNotFoundError, match="alias"):
        load_model(f"models:/{name}@nonexistent", config)
