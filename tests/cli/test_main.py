"""`python -m leadml.cli`: the core cannot run the full app, so it says what to run instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.machine import run_leadml


def test_python_m_leadml_cli_points_to_the_real_command_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadml.cli", "score", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "`leadml`" in lines[0] and "python -m leadml_serve.cli" in lines[0]


def test_the_command_it_points_to_runs(tmp_path: Path) -> None:
    done = run_leadml("score", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Example" in done.stdout
