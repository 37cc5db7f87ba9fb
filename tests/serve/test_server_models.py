"""The real server (`leadml serve`, gunicorn forking uvicorn workers) when a model is corrupt
or its worker is replaced: a bad model file never kills a worker, and a reload always
asks the registry."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from leadml.bundle import BUNDLE_FILE, MODEL_FILE
from leadml.model.pipeline import TrainedModel
from leadml.model_file import DIGEST_KEY
from leadml.tracking.registry import client_for, promote
from leadml_serve.security import digest
from tests.conftest import fast_config
from tests.machine import free_port
from tests.registered import register_version
from tests.serve.test_server import _wait_for, _workers

ADMIN_KEY = "lml_subprocess-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextmanager
def serving(project: Path, log: Path, *flags: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`leadml serve FLAGS` in `project`, logging to `log`; yields once it answers HTTP at
    all (ready or not) with its base URL and process."""
    port = free_port()
    env = os.environ | {
        "LEADML_API_KEYS": f"ops:{digest(ADMIN_KEY)}:admin",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    command = [sys.executable, "-m", "leadml_serve.cli", "serve", "--port", str(port), *flags]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=project, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: server.poll() is None and _readyz(base) is not None, "an answer", 90)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _readyz(base: str) -> int | None:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code
    except httpx.TransportError:
        return None


def _corrupt_older_bundle(source: Path, target: Path) -> Path:
    """A copy of `source` as an older leadml saved it (no model-file digest), with a garbled
    model.txt of the kind that makes LightGBM's parser abort the process."""
    shutil.copytree(source, target)
    data = json.loads((target / BUNDLE_FILE).read_text())
    del data[DIGEST_KEY]
    (target / BUNDLE_FILE).write_text(json.dumps(data))
    model = target / MODEL_FILE
    model.write_text(model.read_text().replace("leaf_value=", "leaf_value=abc ", 1))
    return target


@pytest.mark.slow
def test_a_corrupt_model_never_kills_a_worker_at_start_up_or_on_reload(
    bundle_dir: Path, tmp_path: Path, test_leads: list[dict[str, Any]]
) -> None:
    """Started on a corrupt model: /readyz 503, the worker stays up and retries until the
    operator fixes the bundle. Then a reload to a corrupt model: 409 without server paths
    (the reason goes to the log), and the same worker keeps serving the good model."""
    model = _corrupt_older_bundle(bundle_dir, tmp_path / "bundle")
    corrupt = _corrupt_older_bundle(bundle_dir, tmp_path / "corrupt")
    log = tmp_path / "server.log"
    with serving(tmp_path, log, "--model", str(model)) as (base, server):
        not_ready = httpx.get(f"{base}/readyz")
        assert not_ready.status_code == 503 and not_ready.headers["retry-after"] == "5"
        workers = _workers(server.pid)
        _wait_for(lambda: log.read_text().count("model not loaded") >= 2, "a retry")
        assert server.poll() is None and _workers(server.pid) == workers
        assert _readyz(base) == 503
        for name in (BUNDLE_FILE, MODEL_FILE):  # the operator puts a good bundle there
            shutil.copyfile(bundle_dir / name, model / name)
        _wait_for(lambda: _readyz(base) == 200, "the retry to load the fixed model")

        answer = httpx.post(
            f"{base}/v1/model/reload", json={"model": str(corrupt)}, headers=ADMIN, timeout=60
        )
        assert answer.status_code == 409, answer.text
        detail = answer.json()["detail"]
        assert detail.startswith("could not load the model") and "still serving version 7" in detail
        assert str(tmp_path) not in answer.text and MODEL_FILE not in answer.text
        assert _workers(server.pid) == workers  # the same worker, alive
        scored = httpx.post(f"{base}/v1/predict", json=test_leads[0], headers=ADMIN, timeout=10)
        assert scored.status_code == 200 and scored.json()["model_version"] == "7"
    written = log.read_text()
    assert written.count("LightGBM cannot parse the model file") >= 3  # 2 starts + the reload
    assert str(corrupt / MODEL_FILE) in written  # the reload's reason, in the log


@pytest.mark.slow
def test_a_replaced_worker_s_first_champion_reload_asks_the_registry(
    trained: TrainedModel, tmp_path: Path
) -> None:
    """A worker gunicorn starts to replace one that died starts on the model the last reload
    announced; its first `@champion` reload must still find the champion promoted since."""
    config = fast_config(tmp_path)
    client = client_for(config)
    name = config.mlflow.model_name
    first, second = register_version(trained, config), register_version(trained, config)
    promote(client, name, first)
    log = tmp_path / "server.log"
    with serving(tmp_path, log, "--workers", "1") as (base, server):
        _wait_for(lambda: _readyz(base) == 200, "the champion")
        reloaded = httpx.post(f"{base}/v1/model/reload", headers=ADMIN, timeout=60)
        assert reloaded.status_code == 200 and reloaded.json()["model_version"] == first
        (worker,) = _workers(server.pid)
        os.kill(worker, signal.SIGKILL)
        _wait_for(lambda: _workers(server.pid) not in ([], [worker]), "a new worker")
        _wait_for(lambda: log.read_text().count('"model loaded"') == 2, "its model")
        promote(client, name, second)
        reloaded = httpx.post(f"{base}/v1/model/reload", headers=ADMIN, timeout=60)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["model_version"] == second
        model = httpx.get(f"{base}/v1/model", headers=ADMIN).json()
        assert (model["version"], model["alias"]) == (second, "champion")
