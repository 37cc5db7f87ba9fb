"""The real thing: `leadml serve` under uvicorn in a subprocess, called over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from serve.security import digest

KEY = "lml_subprocess-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_leadml_serve_answers_over_http(
    bundle_dir: Path, tmp_path: Path, test_leads: list[dict[str, Any]]
) -> None:
    port = _free_port()
    env = os.environ | {"LEADML_API_KEYS": f"tester:{digest(KEY)}", "OMP_WAIT_POLICY": "PASSIVE"}
    command = [
        sys.executable, "-m", "leadml.cli", "serve",
        "--model", str(bundle_dir), "--port", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready within 60 s"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {KEY}"}
        one = httpx.post(f"{base}/v1/predict", json=test_leads[0], headers=headers, timeout=10)
        assert one.status_code == 200, one.text
        assert one.json()["model_version"] == "7"
        assert httpx.post(f"{base}/v1/predict", json=test_leads[0], timeout=10).status_code == 401
        assert "leadml_request_duration_seconds" in httpx.get(f"{base}/metrics").text
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    lines = [line for line in output.splitlines() if '"logger": "leadml.access"' in line]
    assert lines, output
    assert test_leads[0]["lead_id"] in output  # lead ids are logged ...
    assert test_leads[0].get("email", "@@") not in output  # ... contact details never
    assert test_leads[0].get("company", "@@") not in output
