"""MLflow logging of a training run: the leakage guard's table is an artifact of every run."""

from __future__ import annotations

import json
from pathlib import Path

from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml.tracking.log import log_run, start_run
from leadml.tracking.registry import client_for
from tests.conftest import fast_config


def test_an_event_run_logs_the_guard_table_with_every_feature(
    trained: TrainedModel, small_data: Dataset, small_data_dir: Path, tmp_path: Path
) -> None:
    """leadml's own features are refused by AUC only, but every figure is on record."""
    config = fast_config(tmp_path)
    client = client_for(config)
    with start_run() as run:
        log_run(trained, config, small_data_dir, small_data.leads, small_data.events)
    path = client.download_artifacts(run.info.run_id, "model_spec/leakage_guard.json")
    logged = json.loads(Path(path).read_text(encoding="utf-8"))
    assert logged["rules"] == "event" and logged["blocked"] == []
    columns = [row["column"] for row in logged["table"]]
    assert columns == trained.bundle.spec.names
    assert all(0.0 <= row["auc"] <= 1.0 and row["verdict"] for row in logged["table"])
    listed = {a.path for a in client.list_artifacts(run.info.run_id, "model_spec")}
    assert "model_spec/leakage_guard_table.json" in listed
