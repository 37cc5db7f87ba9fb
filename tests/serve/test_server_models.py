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
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
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
    model = _corrupt_older_bundle(bundle_dir, tmp_path / "models" / "bundle")
    corrupt = _corrupt_older_bundle(bundle_dir, tmp_path / "models" / "corrupt")
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


@dataclass(frozen=True)
class Answer:
    """One predict call as a client saw it: when it was sent and answered, by whom, what."""

    sent: float
    answered: float
    status: int
    worker: int
    version: str


def _keep_predicting(
    base: str, lead: dict[str, Any], stop: threading.Event, answers: list[Answer]
) -> None:
    """POST /v1/predict one after another until `stop`, adding each answer to `answers`;
    a new connection every few calls, so both workers keep getting traffic."""
    while not stop.is_set():
        with httpx.Client(base_url=base, headers=ADMIN, timeout=30) as session:
            for _ in range(5):
                sent = time.monotonic()
                response = session.post("/v1/predict", json=lead)
                body = response.json() if response.status_code == 200 else {}
                answers.append(
                    Answer(
                        sent,
                        time.monotonic(),
                        response.status_code,
                        int(response.headers["x-worker-pid"]),
                        str(body.get("model_version")),
                    )
                )


def _went_backwards(answers: list[Answer], order: list[str]) -> list[tuple[Answer, Answer]]:
    """Pairs (earlier, later) from one worker where `later` was sent after `earlier` was
    answered yet names a model that `order` (the reloads, oldest first) puts before it.

    Only such pairs are compared: two calls that overlapped in time may be served in
    either order, so neither is "later"."""
    rank = {version: n for n, version in enumerate(order)}
    found = []
    for worker in {a.worker for a in answers}:
        mine = sorted((a for a in answers if a.worker == worker), key=lambda a: a.answered)
        newest: Answer | None = None  # the highest-ranked answer received so far
        pending = sorted(mine, key=lambda a: a.sent)
        done = iter(mine)
        upcoming = next(done, None)
        for later in pending:
            while upcoming is not None and upcoming.answered < later.sent:
                if newest is None or rank[upcoming.version] > rank[newest.version]:
                    newest = upcoming
                upcoming = next(done, None)
            if newest is not None and rank[later.version] < rank[newest.version]:
                found.append((newest, later))
    return found


@pytest.mark.slow
def test_reloads_under_load_fail_no_request_and_never_go_back(
    trained: TrainedModel,
    bundle_dir: Path,
    second_bundle_dir: Path,
    tmp_path: Path,
    test_leads: list[dict[str, Any]],
) -> None:
    """Two workers, eight clients scoring without pause, while an admin reloads another
    bundle folder (200), a truncated one (409) and, after a promotion, @champion (200):
    every predict answers 200, no worker ever goes back to an older model, and both
    workers are the same processes at the end."""
    config = fast_config(tmp_path)
    client = client_for(config)
    champion = register_version(trained, config)
    models = tmp_path / "models"
    start = shutil.copytree(bundle_dir, models / "start")  # version 7
    good = shutil.copytree(second_bundle_dir, models / "good")  # version 8
    corrupt = shutil.copytree(bundle_dir, models / "corrupt")
    model_text = (corrupt / MODEL_FILE).read_bytes()
    (corrupt / MODEL_FILE).write_bytes(model_text[: len(model_text) // 2])
    order = ["7", "8", champion]
    log = tmp_path / "server.log"
    with serving(tmp_path, log, "--model", str(start), "--workers", "2") as (base, server):
        _wait_for(lambda: log.read_text().count('"model loaded"') == 2, "both workers' model")
        workers = _workers(server.pid)
        assert len(workers) == 2, workers
        stop = threading.Event()
        answers: list[Answer] = []  # list.append is atomic: the clients share it

        def reload(model: str) -> httpx.Response:
            body = {"model": model}
            return httpx.post(f"{base}/v1/model/reload", json=body, headers=ADMIN, timeout=60)

        def both_serve(version: str) -> None:
            """Until each worker has answered a client with `version` (the one that did
            not take the reload follows it within about a second)."""
            _wait_for(
                lambda: {a.worker for a in list(answers) if a.version == version} == set(workers),
                f"both workers serving {version}",
                30,
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            clients = [
                pool.submit(_keep_predicting, base, test_leads[n], stop, answers) for n in range(8)
            ]
            try:
                both_serve("7")
                to_good = reload(model=str(good))
                both_serve("8")
                to_corrupt = reload(model=str(corrupt))
                promote(client, config.mlflow.model_name, champion)
                to_champion = reload(model="models:/lead-conversion@champion")
                both_serve(champion)
            finally:
                stop.set()
                for future in clients:
                    future.result()
        assert _workers(server.pid) == workers  # nothing died and was replaced
    assert to_good.status_code == 200 and to_good.json()["model_version"] == "8"
    assert to_corrupt.status_code == 409, to_corrupt.text
    assert to_champion.status_code == 200, to_champion.text
    assert to_champion.json()["model_version"] == champion
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]
    assert {a.worker for a in answers} == set(workers)
    assert {a.version for a in answers} == set(order)
    assert not _went_backwards(answers, order)
