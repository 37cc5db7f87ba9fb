"""A corrupt model file at every command-line entry point: one line, exit 1, no crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadml.bundle import BUNDLE_FILE, MODEL_FILE, save_bundle
from leadml.errors import InputError
from leadml.model.pipeline import TrainedModel
from leadml.model_file import DIGEST_KEY
from leadml.tracking.registry import bundle_dir, load_model
from tests.conftest import fast_config
from tests.machine import run_leadml
from tests.registered import register_version


def _older(bundle: Path) -> Path:
    """As leadml saved bundles before model-file digests (LightGBM's parse is the check)."""
    data = json.loads((bundle / BUNDLE_FILE).read_text())
    del data[DIGEST_KEY]
    (bundle / BUNDLE_FILE).write_text(json.dumps(data))
    return bundle


def _garble(model: Path) -> None:
    """An edit of the kind that makes LightGBM's own parser abort the process."""
    model.write_text(model.read_text().replace("leaf_value=", "leaf_value=abc ", 1))


def _truncate(model: Path) -> None:
    text = model.read_text()
    model.write_text(text[: len(text) // 2])


@pytest.mark.slow
def test_score_and_drift_refuse_a_corrupt_model_in_one_line_with_exit_1(
    trained: TrainedModel, small_data_dir: Path, tmp_path: Path
) -> None:
    older = _older(save_bundle(trained.bundle, tmp_path / "older"))
    _garble(older / MODEL_FILE)
    truncated = save_bundle(trained.bundle, tmp_path / "truncated")
    _truncate(truncated / MODEL_FILE)
    runs = {
        "score older": run_leadml(
            "score",
            "--data",
            str(small_data_dir),
            "--model",
            str(older),
            "--as-of",
            "latest",
            "--out",
            str(tmp_path / "ranked.csv"),
            "--no-store",
            cwd=tmp_path,
        ),  # fmt: skip
        "drift truncated": run_leadml(
            "drift",
            "--current",
            str(small_data_dir),
            "--reference",
            str(truncated),
            "--no-log",
            "--out",
            str(tmp_path / "drift"),
            cwd=tmp_path,
        ),  # fmt: skip
    }
    for what, done in runs.items():
        assert done.returncode == 1, (what, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (what, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (what, done.stderr)  # the progress lines aside, one line
        assert MODEL_FILE in errors[0] and "retrain" in errors[0], (what, errors[0])
    assert "LightGBM cannot parse the model file" in runs["score older"].stderr
    assert "does not match the digest" in runs["drift truncated"].stderr
    assert not (tmp_path / "ranked.csv").exists()


@pytest.mark.slow
def test_the_registry_loader_refuses_a_corrupt_download(
    trained: TrainedModel, tmp_path: Path
) -> None:
    """`load_model` (notebooks, retrain's gate, the server) on a registered version whose
    local copy was damaged: an InputError that says how to get a good copy."""
    config = fast_config(tmp_path)
    version = register_version(trained, config)
    local = bundle_dir(config, config.mlflow.model_name, version)
    assert load_model(f"models:/{config.mlflow.model_name}/{version}", config).version == version
    _garble(_older(local) / MODEL_FILE)
    with pytest.raises(InputError, match="LightGBM cannot parse the model file") as refused:
        load_model(f"models:/{config.mlflow.model_name}/{version}", config)
    assert "\n" not in str(refused.value) and "delete its folder under models/" in str(
        refused.value
    )
