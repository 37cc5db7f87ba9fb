"""What tests need from the machine: a free loopback port, a way to say that a program
they rely on (a browser, a database server) is missing, and the `leadml` command run as
a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def did_not_run(tests: str, reason: str, *, missing: str) -> NoReturn:
    """Fail under CI (where a missing `missing` is an error), skip with the reason elsewhere."""
    message = f"{tests} did not run: {reason}"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (CI=true: a missing {missing} is an error)", pytrace=False)
    pytest.skip(message)


def run_leadml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The `leadml` console app (`leadml_serve.cli`, the composition root) in a subprocess,
    wide enough that Rich does not wrap what tests read."""
    return subprocess.run(
        [sys.executable, "-m", "leadml_serve.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
