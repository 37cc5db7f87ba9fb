"""The real thing: `leadml serve` (gunicorn forking uvicorn workers) in a subprocess, over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from leadml.config import load_config
from leadml.errors import ModelNotFoundError
from leadml.jobs.train import Promotion, train_and_track
from leadml_serve.resolve import main as resolve_main
from leadml_serve.resolve import resolve, wait_for
from leadml_serve.security import digest
from tests.conftest import fast_config
from tests.machine import free_port

KEY = "lml_subprocess-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@contextmanager
def running(
    project: Path, *flags: str, api_keys: str = f"tester:{digest(KEY)}"
) -> Iterator[tuple[str, list[str]]]:
    """`leadml serve FLAGS` in `project`, with `api_keys` (a LEADML_API_KEYS value); yields
    its base URL and, afterwards, its log. The log goes to a file, never to a pipe: a pipe
    nobody reads fills after ~64 KB of log lines and the server blocks writing to it."""
    port = free_port()
    env = os.environ | {"LEADML_API_KEYS": api_keys, "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, "-m", "leadml_serve.cli", "serve", "--port", str(port), *flags]
    log_path = project / f"server-{port}.log"
    base = f"http://127.0.0.1:{port}"
    log: list[str] = []
    with log_path.open("wb") as sink:
        server = subprocess.Popen(
            command, cwd=project, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert server.poll() is None, log_path.read_text(errors="replace")
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server not ready within 90 s"
                time.sleep(0.2)
            yield base, log
        finally:
            server.terminate()
            server.wait(timeout=30)
            log += log_path.read_text(errors="replace").splitlines()


@pytest.mark.slow
def test_leadml_serve_answers_over_http(
    bundle_dir: Path, tmp_path: Path, test_leads: list[dict[str, Any]]
) -> None:
    model = shutil.copytree(bundle_dir, tmp_path / "models" / "7")  # the default model_roots
    with running(tmp_path, "--model", str(model)) as (base, log):
        one = httpx.post(f"{base}/v1/predict", json=test_leads[0], headers=HEADERS, timeout=10)
        assert one.status_code == 200, one.text
        assert one.json()["model_version"] == "7"
        assert httpx.post(f"{base}/v1/predict", json=test_leads[0], timeout=10).status_code == 401
        assert "leadml_request_duration_seconds" in httpx.get(f"{base}/metrics").text
    output = "\n".join(log)
    assert any('"logger": "leadml.access"' in line for line in log), output
    assert test_leads[0]["lead_id"] in output  # lead ids are logged ...
    assert test_leads[0].get("email", "@@") not in output  # ... contact details never
    assert test_leads[0].get("company", "@@") not in output


@pytest.fixture(scope="module")
def registered(small_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose MLflow registry has a champion."""
    project = tmp_path_factory.mktemp("registered")
    train_and_track(small_data_dir, fast_config(project), promotion=Promotion.FORCE)
    return project


@pytest.mark.slow
def test_the_registry_lookup_runs_beside_start_up_and_two_workers_serve_the_champion(
    registered: Path, test_leads: list[dict[str, Any]]
) -> None:
    found = resolve("models:/lead-conversion@champion", load_config(project_dir=registered))
    assert found["version"] == "1" and (Path(found["path"]) / "model.txt").exists()
    with running(registered, "--workers", "2") as (base, _):
        model = httpx.get(f"{base}/v1/model", headers=HEADERS).json()
        assert (model["version"], model["alias"]) == ("1", "champion")
        answers = {
            httpx.post(f"{base}/v1/predict", json=test_leads[i], headers=HEADERS).status_code
            for i in range(10)
        }
        assert answers == {200}
        reloaded = httpx.post(f"{base}/v1/model/reload", headers=HEADERS)
        assert reloaded.status_code == 403  # the test key is not an admin key


@pytest.mark.slow
def test_a_worker_that_exits_is_replaced_and_the_replacement_serves(
    registered: Path, test_leads: list[dict[str, Any]], tmp_path: Path
) -> None:
    """gunicorn forks a new worker when one exits, and the replacement loads the model
    from the server's own files (the registry lookup's answer) and serves."""
    port = free_port()
    env = os.environ | {"LEADML_API_KEYS": f"tester:{digest(KEY)}", "OMP_WAIT_POLICY": "PASSIVE"}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leadml_serve.cli",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            cwd=registered,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: log.read_text().count('"model loaded"') == 2, "two workers")
        workers = _workers(server.pid)
        assert len(workers) == 2, workers
        for n, worker in enumerate(workers, start=3):  # replace both: only new ones answer
            os.kill(worker, signal.SIGTERM)
            _wait_for(lambda n=n: log.read_text().count('"model loaded"') == n, f"worker {n}")
        assert not set(workers) & set(_workers(server.pid))
        for i in range(10):
            answer = httpx.post(f"{base}/v1/predict", json=test_leads[i], headers=HEADERS)
            assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "model not loaded" not in log.read_text()


def _workers(pid: int) -> list[int]:
    """The server's live worker processes (forks of it, unlike the registry lookup, which
    may also linger as a zombie until gunicorn reaps it)."""
    found = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [p for p in found if _is_worker(p)]


def _is_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # gone since it was listed
        return False
    return state != "Z" and b"leadml_serve.resolve" not in command


def _wait_for(ready: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s"
        time.sleep(0.1)


def test_a_failed_registry_lookup_reaches_the_server_as_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolver process writes the error; the server's first load raises it as a
    ModelNotFoundError (so /readyz answers 503 with the reason)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "resolved.json"
    args = {"config": None, "overrides": {"serve": {"model": "models:/nothing-here@champion"}}}
    monkeypatch.setattr(sys, "argv", ["resolve", str(out), json.dumps(args)])
    resolve_main()
    with pytest.raises(ModelNotFoundError, match="nothing-here"):
        wait_for(out, timeout=1)
    folder = {"config": None, "overrides": {"serve": {"model": str(tmp_path / "a-bundle")}}}
    monkeypatch.setattr(sys, "argv", ["resolve", str(tmp_path / "folder.json"), json.dumps(folder)])
    resolve_main()
    assert not (tmp_path / "folder.json").exists()  # a folder needs no lookup
    with pytest.raises(ModelNotFoundError, match="did not finish"):
        wait_for(tmp_path / "never-written.json", timeout=0.05)


def test_the_server_imports_lightgbm_without_scikit_learn_and_scikit_learn_still_imports(
    bundle_dir: Path,
) -> None:
    """A fresh interpreter, as `leadml serve` starts: the Booster works without the ~1 s of
    scikit-learn LightGBM would import, and scikit-learn can still be imported later."""
    code = f"""
import sys
from leadml_serve.server import _import_lightgbm_without_sklearn
_import_lightgbm_without_sklearn()
assert "sklearn" not in sys.modules, "scikit-learn was imported"
import lightgbm
booster = lightgbm.Booster(model_file={str(bundle_dir / "model.txt")!r})
assert booster.num_trees() > 0
import sklearn.isotonic
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
