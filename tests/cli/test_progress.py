"""One progress helper: every job's step lines go through `job_progress`, printed literally."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.cli.progress import job_progress
from leadml.data.synth import generate_funnel, write_funnel
from tests.flat_export import MAPPING

FUNNEL_STEPS = [
    "drawing leads",
    "events before the cutoff",
    "ground truth",
    "events after the cutoff",
    "building tables",
    "injecting defects",
]


def test_step_messages_are_printed_literally_not_as_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = "reading the [dataset] file [bold]leads[/bold].csv [/]"
    with job_progress("counting") as progress:
        progress.on_step(message)
        progress.on_progress(1, 2)
    captured = capsys.readouterr()
    assert f"- {message}" in captured.err.splitlines()
    assert captured.out == ""


def test_demo_data_prints_the_funnel_steps_and_writes_the_seeded_data(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo-data", "--leads", "300", "--seed", "4", "--format", "csv", "--with-defects"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("- ")] == [f"- {s}" for s in FUNNEL_STEPS]
    assert result.stdout.startswith("Wrote ")  # the summary stays on stdout
    # The callback only listens: the CLI writes exactly what the seed gives without it.
    expected = write_funnel(
        generate_funnel(300, seed=4, with_defects=True), tmp_path / "direct", fmt="csv"
    )
    for path in expected:
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_retrain_prints_a_bracketed_path_literally(tmp_path: Path) -> None:
    config = tmp_path / "leadml.toml"
    config.write_text(MAPPING)
    export = tmp_path / "[dataset] export.csv"
    export.write_text("", encoding="utf-8")  # empty: retrain stops after the step line
    result = CliRunner().invoke(app, ["retrain", "--config", str(config), "--data", str(export)])
    lines = result.stderr.splitlines()
    assert result.exit_code != 0 and f"- reading the flat export {export}" in lines, lines
    assert lines[-1].startswith("error: ") and str(export) in lines[-1], lines  # literal too
