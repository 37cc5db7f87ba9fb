"""What tests need from the machine: a free loopback port, and a way to say that a program
they rely on (a browser, a database server) is missing."""

from __future__ import annotations

import os
import socket
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
