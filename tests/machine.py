"""What tests need from the machine: a free loopback port, a way to say that a program
they rely on (a browser, a database server) is missing, and the `leadml` command run as
a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
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


def run_leadml(
    *args: str, cwd: Path, columns: int = 200, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The `leadml` console app (`leadml_serve.cli`, the composition root) in a subprocess,
    `columns` wide so that Rich does not wrap what tests read."""
    return subprocess.run(
        [sys.executable, "-m", "leadml_serve.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": str(columns)},
    )


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "64k", *, read_only: bool = False) -> Iterator[bool]:
    """Mount a tiny tmpfs (read-only when asked) at `folder` for the block, when the
    machine lets this process mount (root with CAP_SYS_ADMIN); yields whether it did.
    Tests that get False fall back to a monkeypatched write and say so."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "leadml-test", str(folder)],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)
