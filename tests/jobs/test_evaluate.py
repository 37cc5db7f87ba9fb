"""`leadml evaluate`: the repeated-split comparison from the command line, on a file."""

from __future__ import annotations

import json
from pathlib import Path

from leadml.data.mapping.config import DatasetConfig
from leadml.data.synth.flat_suite import FlatCase, flat_case
from tests.machine import run_leadml


def _project(folder: Path) -> None:
    frame, dataset = flat_case(FlatCase("cli", rows=1_500, seed=31))
    frame.to_csv(folder / "export.csv", index=False)
    (folder / "leadml.toml").write_text(_toml(dataset), encoding="utf-8")


def _toml(dataset: DatasetConfig) -> str:
    lines = [
        "[dataset]",
        'file = "export.csv"',
        f'id_column = "{dataset.id_column}"',
        f'label = "{dataset.label}"',
        'positive = ["1"]',
        f'created_at = "{dataset.created_at}"',
        "",
        "[train]",
        "max_rounds = 200",
        "num_threads = 1",
        "",
        "[dataset.columns]",
    ]
    for name, column in dataset.columns.items():
        kind = f', type = "{column.type}"' if column.type else ""
        lines.append(f'{name} = {{ role = "{column.role}"{kind} }}')
    return "\n".join(lines) + "\n"


def test_evaluate_prints_both_scorers_and_writes_the_same_table(tmp_path: Path) -> None:
    _project(tmp_path)
    result = run_leadml(
        "evaluate", "--config", "leadml.toml", "--repeats", "2", "--out", "t.json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "plain LightGBM" in result.stdout and "difference" in result.stdout
    table = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert [row["split"] for row in table["splits"]] == [1, 1, 2, 2]
    assert set(table["summary"]) == {"leadml", "plain LightGBM", "difference"}
    shown = table["summary"]["difference"]["roc_auc"].split(" ±")[0]
    assert shown in result.stdout
    assert not list(tmp_path.glob("mlruns*")) and not (tmp_path / "mlflow.db").exists()


def test_evaluate_without_a_mapping_says_what_is_missing(tmp_path: Path) -> None:
    result = run_leadml("evaluate", "--repeats", "1", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "[dataset]" in lines[0] and "init-config" in lines[0]
