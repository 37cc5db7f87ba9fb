"""The command line: every command teaches with --help; the real CLI runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.testing import CliRunner

from leadml_serve.cli import app
from tests.cli.walk import root, walk
from tests.machine import run_leadml

COMMANDS = ["demo-data", "validate", "summary", "train", "promote", "rollback"]
LEAVES = [words for words, command in walk(root()) if not isinstance(command, TyperGroup)]
runner = CliRunner()


@pytest.mark.parametrize("words", LEAVES, ids=[" ".join(words) for words in LEAVES])
def test_every_command_has_help_with_an_example(words: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_root_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_demo_data_then_validate_in_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "data"
    made = run_leadml(
        "demo-data", "--leads", "2000", "--seed", "1", "--out", str(out), cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    checked = run_leadml("validate", str(out), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout


def test_validate_exits_1_with_a_short_error_on_bad_data(tmp_path: Path) -> None:
    out = tmp_path / "bad"
    made = run_leadml(
        "demo-data",
        "--leads",
        "500",
        "--seed",
        "1",
        "--with-defects",
        "--format",
        "csv",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    checked = run_leadml("validate", str(out), cwd=tmp_path)
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr
    assert "duplicate_lead_id" in checked.stdout or "duplicate" in checked.stdout


@pytest.mark.slow
def test_train_end_to_end_in_a_subprocess(small_data_dir: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    done = run_leadml(
        "train", "--data", str(small_data_dir), "--metrics-out", str(metrics), cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "champion" in done.stdout
    result = json.loads(metrics.read_text())
    keys = {"roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10"}
    assert keys <= set(result["model"])
    assert keys <= set(result["baselines"]["points"]) and keys <= set(
        result["baselines"]["logistic"]
    )
    assert result["oracle"] is None or {"roc_auc", "lift_at_10"} <= set(result["oracle"])
    assert {"run_id", "model_name", "model_version", "promoted"} <= set(result["mlflow"])
    assert result["mlflow"]["promoted"] is True
    assert (tmp_path / result["bundle_path"] / "bundle.json").exists()
    assert (tmp_path / "mlflow.db").exists()


def test_keys_new_prints_a_key_whose_config_lines_work_as_printed() -> None:
    import re
    import tomllib

    from leadml.config import ApiKeyConfig
    from leadml_serve.security import KeyRing, parse_env_keys

    result = runner.invoke(app, ["keys", "new", "crm", "--admin"], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    key = re.search(r"^  (lml_\S+)$", result.output, flags=re.MULTILINE)
    toml = re.search(r"^  \[\[serve\.api_keys\]\]\n(?:  .*\n){3}", result.output, re.MULTILINE)
    env = re.search(r"^  export LEADML_API_KEYS=(\S+)$", result.output, flags=re.MULTILINE)
    assert key and toml and env, result.output  # whole lines, never wrapped
    from_toml = ApiKeyConfig(
        **tomllib.loads(toml.group(0).replace("\n  ", "\n"))["serve"]["api_keys"][0]
    )
    for keys in ((from_toml,), parse_env_keys(env.group(1))):
        caller = KeyRing(keys).check(key.group(1))
        assert caller is not None and (caller.name, caller.admin) == ("crm", True)
