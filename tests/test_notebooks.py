"""The notebooks: committed clean, thin over public `leadml` functions, and runnable top
to bottom on small data (executed here with nbclient, as `make test` and CI do)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from leadml.config import load_config
from leadml.data.synth import generate_funnel, write_funnel
from leadml.jobs.train import train_and_track
from leadml.tracking.registry import CHAMPION, aliases, client_for

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_retrain.ipynb", "02_lead_insights.ipynb")
LINT = NOTEBOOKS / "lint.py"
SMALL_LEADS = 3000


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LINT), *args], capture_output=True, text=True, timeout=60
    )


def test_both_notebooks_exist_and_are_committed_clean() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
    done = _lint()
    assert done.returncode == 0, done.stderr


def test_lint_rejects_outputs_and_fix_strips_them(tmp_path: Path) -> None:
    notebook = json.loads((NOTEBOOKS / NAMES[0]).read_text(encoding="utf-8"))
    code = [i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    notebook["cells"][code[0]]["execution_count"] = 3
    notebook["cells"][code[1]]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["hello\n"]}
    ]
    dirty = tmp_path / "dirty.ipynb"
    dirty.write_text(json.dumps(notebook), encoding="utf-8")
    found = _lint(str(dirty))
    assert found.returncode == 1
    assert f"cell {code[0]}: execution count 3" in found.stderr
    assert f"cell {code[1]}: 1 output(s)" in found.stderr
    assert _lint("--fix", str(dirty)).returncode == 0
    assert _lint(str(dirty)).returncode == 0
    nbformat.validate(nbformat.read(dirty, as_version=4))


def _code_cells(name: str) -> list[Any]:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [c for c in notebook.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_first_cell_holds_the_parameters(name: str) -> None:
    first = nbformat.read(NOTEBOOKS / name, as_version=4).cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    for parameter in ("DATA_DIR", "N_LEADS", "PROJECT_DIR"):
        assert f"{parameter} = " in first.source


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_use_only_public_leadml_functions(name: str) -> None:
    for cell in _code_cells(name):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("leadml"):
                module_parts = (node.module or "").split(".")
                assert not any(p.startswith("_") for p in module_parts), node.module
                assert not any(a.name.startswith("_") for a in node.names), ast.unparse(node)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("leadml") for a in node.names), (
                    "import names from leadml explicitly"
                )
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                assert node.attr.startswith("__"), ast.unparse(node)
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef), (
                f"{name} defines {getattr(node, 'name', '?')}: helpers belong in the package"
            )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with small data, fast training settings and a champion to beat."""
    root = tmp_path_factory.mktemp("nb_project")
    (root / "leadml.toml").write_text(
        "[train]\nbootstrap_rounds = 20\nshap_sample = 300\nmax_rounds = 300\nnum_threads = 1\n",
        encoding="utf-8",
    )
    write_funnel(generate_funnel(SMALL_LEADS, seed=3), root / "data")
    train_and_track(root / "data", load_config(project_dir=root))
    return root


def _execute(name: str, parameters: dict[str, object], cwd: Path) -> nbformat.NotebookNode:
    """Run a notebook like papermill does: parameters injected after the tagged cell."""
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(at + 1, injected)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
            parts.append(str(output.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


@pytest.mark.slow
def test_retrain_notebook_runs_top_to_bottom(project: Path) -> None:
    config = load_config(project_dir=project)
    name = config.mlflow.model_name
    assert aliases(client_for(config), name)[CHAMPION] == "1"
    done = _execute(
        NAMES[0],
        {"DATA_DIR": "data", "N_LEADS": SMALL_LEADS, "SEED": 3, "PROJECT_DIR": str(project)},
        project,
    )
    text = _text(done)
    assert "version 2 registered as challenger" in text
    assert "ROC AUC per lead source" in text  # compared with champion version 1
    assert "highest-scoring test lead" in text and "log-odds" in text
    assert "Gate passed" in text or "Gate failed" in text
    current = aliases(client_for(config), name)
    assert current["challenger"] == "2" and current[CHAMPION] in ("1", "2")
    plots = project / "reports" / "notebooks" / "01_retrain"
    for png in ("calibration.png", "gains_lift.png", "shap_beeswarm.png", "waterfall_lowest.png"):
        assert (plots / png).stat().st_size > 0


@pytest.mark.slow
def test_insights_notebook_runs_top_to_bottom(project: Path) -> None:
    done = _execute(
        NAMES[1],
        {
            "DATA_DIR": "data",
            "N_LEADS": SMALL_LEADS,
            "SEED": 3,
            "PROJECT_DIR": str(project),
            "SHAP_LEADS": 300,
        },
        project,
    )
    text = _text(done)
    assert "expected_conversions" in text and "open_pipeline" in text
    assert "cost_per_conversion" in text
    assert "demo_request" in text  # an engagement action
    assert "from_previous_stage" in text
    plots = project / "reports" / "notebooks" / "02_lead_insights"
    names = {p.name for p in plots.glob("*.png")}
    assert {"by_source.png", "by_campaign.png", "costs.png", "engagement_impact.png"} <= names
    assert "funnel.png" in names


def test_a_failing_cell_fails_the_run(tmp_path: Path) -> None:
    """nbclient raises on an error, so a broken notebook fails the build."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("raise ValueError('broken notebook')")]
    client = NotebookClient(notebook, timeout=60, kernel_name="python3")
    with pytest.raises(CellExecutionError, match="broken notebook"):
        client.execute()
