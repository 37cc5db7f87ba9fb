"""Every error the command line prints is one line that says what to fix, with no
traceback (unless --debug), and a non-zero exit."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from leadml.cli.common import INTERNAL_ERROR
from leadml.errors import InputError, ModelNotFoundError
from leadml_serve.cli import app
from tests.cli.walk import BOGUS, Case, cases, choices, root, walk

runner = CliRunner()
CASES = list(cases())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder (no models, no store, no leadml.toml) as the working folder."""
    (tmp_path / "file").write_text("not a folder\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "100"})


def the_error_line(result: Result, *, steps: bool = False) -> str:
    """The one line a failed command printed, after checking there is exactly one.

    With `steps`, the progress lines of work done before the error ("- loading model
    ...") may come first; without, nothing else was printed (no work was started)."""
    text = result.stdout + result.stderr
    lines = [line for line in text.splitlines() if line.strip()]
    if steps:
        lines = [line for line in lines if not line.startswith("- ")]
    assert result.exit_code != 0, text
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert len(lines) == 1 and text.rstrip().endswith(lines[0]), text
    assert lines[0].startswith("error: ") and INTERNAL_ERROR not in lines[0], text
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[f"{' '.join(c.words[:2])}:{c.wrong}" for c in CASES])
def test_every_command_refuses_a_wrong_argument_in_one_line(case: Case, project: Path) -> None:
    result = invoke(*case.args(project))
    line = the_error_line(result)
    assert case.must_name.lower() in line.lower(), line
    assert result.exit_code == 1  # never a code a command gives a meaning (drift's 2)


def test_the_walk_finds_every_command_and_a_case_for_each_kind_of_parameter() -> None:
    found = {" ".join(path) for path, _ in walk(root())}
    expected = {"train", "score", "promote", "rollback", "serve", "keys new", "store upgrade"}
    assert expected <= found, found
    assert len(found) >= 15, found
    wrong = {case.wrong for case in CASES}
    # ints, floats, choices, input paths, output files and folders, positionals, groups
    assert {"--tune", "--alert-psi", "--grades", "--data", "--metrics-out", "path"} <= wrong
    assert {"positional", BOGUS} <= wrong


def test_grades_names_the_option_and_its_choices(project: Path) -> None:
    from leadml.batch import GRADE_MODES
    from leadml.cli.scoring import GradesChoice

    assert choices(GradesChoice) == GRADE_MODES  # the option offers what scoring takes
    line = the_error_line(invoke("score", "--grades", "top"))
    assert "--grades" in line and "'top'" in line
    assert all(f"'{mode}'" in line for mode in GRADE_MODES), line
    assert "score.grade_mode" not in line


@pytest.mark.parametrize("command", [["score"], ["store", "current"], ["store", "upgrade"]])
def test_a_store_url_that_cannot_be_read_names_the_option(
    command: list[str], project: Path
) -> None:
    line = the_error_line(invoke(*command, "--store", "no store"))
    assert line.startswith("error: option --store: ") and "'no store'" in line, line
    assert "store.url" not in line and not (project / "scores.db").exists()


def test_demo_data_format_offers_the_formats_a_data_folder_may_hold() -> None:
    from leadml import schema
    from leadml.cli.data import TableFormat

    assert set(choices(TableFormat)) == set(schema.TABLE_FORMATS)


def test_as_of_names_the_option_not_a_column() -> None:
    from leadml.batch import parse_as_of

    leads = pd.DataFrame({"created_at": pd.to_datetime(["2025-01-01"], utc=True)})
    with pytest.raises(InputError) as caught:
        parse_as_of("yesterday", leads, leads.iloc[:0])
    text = str(caught.value)
    assert text.startswith("option --as-of: ") and "column" not in text, text
    assert "'yesterday'" in text and "2025-06-30" in text  # the bad value and an example


def test_promote_and_rollback_say_which_versions_there_are(project: Path) -> None:
    """In a store holding versions 1 and 2 of lead-conversion (no runs, nothing trained)."""
    from leadml.config import load_config
    from leadml.tracking.registry import client_for

    config = load_config(None, project_dir=project)
    client = client_for(config)
    name = config.mlflow.model_name
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source=(project / "mlartifacts").as_uri())

    line = the_error_line(invoke("rollback"))
    assert "no champion yet" in line and "`leadml train`" in line, line
    line = the_error_line(invoke("promote", "42"))
    assert "lead-conversion/42: no such version" in line and "its versions (1, 2)" in line, line
    assert invoke("promote", "1").exit_code == 0
    line = the_error_line(invoke("rollback"))
    assert "nothing to roll back" in line and "`leadml promote VERSION`" in line, line


def test_promote_rollback_and_score_in_a_project_with_no_model(project: Path) -> None:
    for command, start in (
        (["promote", "42"], "cannot promote version 42"),
        (["rollback"], "nothing to roll back"),
    ):
        line = the_error_line(invoke(*command))
        assert start in line and "no model is registered yet" in line, line
        assert "`leadml train`" in line, line
    export = project / "export.csv"
    export.write_text("id,views\nA,3\n", encoding="utf-8")
    missing = "models:/lead-conversion/99"
    score = the_error_line(
        invoke("score", "--data", str(export), "--model", missing, "--no-store"), steps=True
    )
    assert f"cannot load {missing}" in score and "no model is registered yet" in score, score
    assert not (project / "mlflow.db").exists()  # a failed look-up creates no store


def test_debug_shows_the_traceback(project: Path) -> None:
    result = invoke("--debug", "promote", "42")
    assert result.exit_code != 0
    assert isinstance(result.exception, ModelNotFoundError)


def test_serve_on_a_busy_port_says_to_choose_another(project: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = the_error_line(invoke("serve", "--model", "models/none", "--port", str(port)))
    assert f"{port}" in line and "in use" in line, line
    assert "--port" in line and "[serve] port" in line, line


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"leadml {version('leadml')}\n"
    assert re.fullmatch(r"leadml \d+\.\d+\.\d+\S*\n", result.stdout)


def test_a_refusal_by_the_mlflow_store_is_one_line_naming_the_setting(project: Path) -> None:
    line = the_error_line(invoke("promote", "1", "--tracking-uri", "no-such-store"))
    assert line.startswith("error: MLflow: ") and "--tracking-uri" in line, line


def test_an_unforeseen_error_is_one_line_that_asks_for_a_report() -> None:
    import typer

    from leadml.cli.common import RootGroup

    broken = typer.Typer(cls=RootGroup)

    @broken.command()
    def fails() -> None:
        raise RuntimeError("boom\nsecond line")

    @broken.command()
    def other() -> None:  # two commands, so `fails` is a subcommand as in leadml
        """Unused."""

    result = runner.invoke(broken, ["fails"])
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {INTERNAL_ERROR} RuntimeError: boom second line")
    assert "--debug" in lines[0] and "Traceback" not in result.output


def test_drift_current_must_be_a_folder_or_a_url(project: Path) -> None:
    for value, said in (("file", "a file, not a folder"), ("missing", "no such folder")):
        line = the_error_line(invoke("drift", "--current", str(project / value), "--no-log"))
        assert line.startswith("error: option --current: ") and said in line, line
        assert "expected" in line and "s3://" in line, line
    assert not (project / "reports").exists()


def test_an_explicit_local_engine_is_honoured_or_refused_in_one_line(project: Path) -> None:
    # a partitioned folder: leads/ and events/ folders of part files
    for table in ("leads", "events"):
        (project / "big" / table).mkdir(parents=True)
    line = the_error_line(invoke("validate", str(project / "big"), "--engine", "local"))
    assert line.startswith("error: option --engine: a partitioned folder"), line
    assert "--engine dask" in line and "--scheduler" in line, line
    # --scheduler runs the Dask engine: with --engine local it is a contradiction, not dask
    line = the_error_line(
        invoke("drift", "--current", str(project), "--engine", "local", "--scheduler", "tcp://x:1")
    )
    assert line.startswith("error: option --scheduler: a scheduler runs the Dask engine"), line
    assert "'tcp://x:1'" in line and "--engine dask" in line, line
