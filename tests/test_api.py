"""The README's Python quickstart, run as written, and the `leadml.api` entry points."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.api import load_champion, rank, read_leads
from leadml.config import load_config
from leadml.data.load import Dataset
from leadml.jobs.score import run_batch
from leadml.model.pipeline import TrainedModel
from leadml.tracking.registry import client_for, promote
from tests.conftest import fast_config
from tests.registered import register_version

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    """The first python block under the README's "Python quickstart" heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python quickstart", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README's Python quickstart has no python block"
    return found.group(1)


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def project(
    trained: TrainedModel, small_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A project folder as `make demo` leaves it: a champion in ./mlflow.db and the data
    at data/generated/demo (here the session's small funnel)."""
    tmp_path = tmp_path_factory.mktemp("project")
    config = fast_config(tmp_path)
    version = register_version(trained, config)
    promote(client_for(config), config.mlflow.model_name, version)
    (tmp_path / "data" / "generated").mkdir(parents=True)
    (tmp_path / "data" / "generated" / "demo").symlink_to(small_data_dir)
    return tmp_path


def test_the_readme_quickstart_runs_as_written_and_prints_the_ranked_list(
    project: Path, small_data: Dataset
) -> None:
    code = quickstart()
    assert len([line for line in code.splitlines() if line.strip()]) <= 5
    printed = io.StringIO()
    with inside(project), contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})  # noqa: S102 - the README's own code
    out = printed.getvalue()
    # The best lead of the list the CLI would write is the first row printed.
    ranked = rank(small_data, load_champion(project), as_of="latest", project=project)
    assert ranked["company"].iloc[0] in out.splitlines()[1]
    header = out.splitlines()[0].split()
    assert header == ["company", "score", "grade", "reasons"]


def test_rank_equals_the_list_leadml_score_writes(
    project: Path, small_data: Dataset, small_data_dir: Path
) -> None:
    scorer = load_champion(project)
    ranked = rank(small_data, scorer, as_of="2025-06-30", project=project)
    config = load_config(project_dir=project)
    written = project / "ranked.csv"
    run_batch(small_data_dir, config, as_of="2025-06-30", out=written, store=False)
    listed = pd.read_csv(written, dtype={"lead_id": str})
    assert len(ranked) == len(listed) > 0
    assert list(ranked["lead_id"]) == list(listed["lead_id"])
    np.testing.assert_allclose(ranked["probability"], listed["probability"], rtol=1e-12)
    assert list(ranked["grade"]) == list(listed["grade"])
    assert list(ranked["reasons"]) == list(listed["reasons"])


def test_read_leads_refuses_a_folder_without_data(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="leads"):
        read_leads(tmp_path)
