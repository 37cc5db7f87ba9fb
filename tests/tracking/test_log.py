"""MLflow logging of a training run: the leakage guard's table is an artifact of every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadml.data.load import Dataset
from leadml.errors import WriteError
from leadml.model.pipeline import TrainedModel
from leadml.tracking.log import log_bundle, log_run, start_run
from leadml.tracking.registry import client_for
from tests.conftest import fast_config
from tests.machine import did_not_run, small_disk


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


def test_a_full_artifact_disk_is_one_line(tmp_path: Path) -> None:
    """The run's artifacts go to `mlartifacts/` in the project: on a full disk, logging
    the bundle is a one-line WriteError naming the artifact location."""
    config = fast_config(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.txt").write_bytes(b"tree\n" * 40_000)  # 200 KB, the disk holds 64
    with small_disk(config.artifact_root, "64k") as mounted:
        if not mounted:
            did_not_run(
                "the full-disk MLflow test",
                "cannot mount a tmpfs here (needs root): no full disk to log to",
                missing="tmpfs mount",
            )
        client_for(config)
        with start_run(), pytest.raises(WriteError) as info:
            log_bundle(bundle)
    message = str(info.value)
    assert message.startswith("cannot write the bundle artifact file://")
    assert "/bundle: the disk is full;" in message and "\n" not in message
