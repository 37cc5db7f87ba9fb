"""GET /v1/leads/ranked (JSON and CSV), /v1/leads/ranked/summary and /v1/leads/{lead_id}.

The store is filled by real batch scoring: the small funnel scored twice (two weeks
apart) with the session's trained model, so leads have a history and a trend.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from leadml import vocabulary
from leadml.batch import RankedBatch, parse_as_of, score_open_leads
from leadml.config import Config
from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml.ranked import RANKED_COLUMNS, TRENDS
from leadml.scoring import Scorer
from leadml.store import open_store, ranked, ranked_table, write_batch
from leadml_serve.app import create_app
from leadml_serve.routes import leads as leads_routes
from leadml_serve.routes.leads import csv_filename
from leadml_serve.schemas import LeadDetail, RankedPage, RankedSummary
from tests.serve.conftest import USER, serve_config
from tests.store_server import fresh_database, postgres_url  # noqa: F401  (fixture)

PASS_THROUGH = ("contact_name", "email", "phone")
SCORED_AT = ("2026-11-09T07:00:00Z", "2026-11-23T07:00:00Z")


def fill_store(url: str, data: Dataset, trained: TrainedModel) -> None:
    """Two scoring batches of the small funnel, two weeks apart, as `leadml score` does."""
    scorer = Scorer(trained.bundle.with_registry("lead-conversion", "7"))
    latest = parse_as_of("latest", data.leads, data.events)
    engine = open_store(url)
    try:
        for as_of, scored_at in zip(
            (latest - pd.Timedelta(days=14), latest), SCORED_AT, strict=True
        ):
            batch = score_open_leads(
                data.leads,
                data.events,
                scorer,
                as_of=as_of,
                pass_through=PASS_THROUGH,
                scored_at=pd.Timestamp(scored_at),
            )
            write_batch(engine, batch)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def scored_store(
    small_data: Dataset, trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The URL of a SQLite store holding two batches of the small funnel."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'scores.db'}"
    fill_store(url, small_data, trained)
    return url


def app_config(project: Path, model: Path | str, store_url: str) -> Config:
    config = serve_config(project, model)
    return config.model_copy(update={"store": config.store.model_copy(update={"url": store_url})})


@pytest.fixture(scope="module")
def api(
    bundle_dir: Path, scored_store: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    app = create_app(app_config(tmp_path_factory.mktemp("project"), bundle_dir, scored_store))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def store(scored_store: str) -> Iterator[object]:
    engine = open_store(scored_store)
    yield engine
    engine.dispose()


def test_ranked_page_is_the_stores_order(api: TestClient, store: object) -> None:
    body = api.get("/v1/leads/ranked", headers=USER).json()
    expected, total = ranked(store, limit=100)  # type: ignore[arg-type]
    assert body["total"] == total == body["batch"]["n_leads"] > 100
    assert body["limit"] == 100 and body["offset"] == 0 and body["count"] == 100
    assert [r["lead_id"] for r in body["results"]] == [r["lead_id"] for r in expected]
    rows = body["results"]
    assert [r["rank"] for r in rows] == list(range(1, 101))
    keys = [(-r["score"], -r["probability"], r["lead_id"]) for r in rows]
    assert keys == sorted(keys)  # score descending, ties by probability then lead_id
    first = rows[0]
    assert first["model_version"] == "7" and first["scored_at"] == SCORED_AT[1]
    assert first["reasons"]["positive"] and first["top_reason"]
    assert set(PASS_THROUGH) <= set(first)
    assert body["batch"]["model_version"] == "7"


def test_paging_is_stable(api: TestClient) -> None:
    whole = api.get("/v1/leads/ranked?limit=150", headers=USER).json()["results"]
    page = api.get("/v1/leads/ranked?limit=50&offset=100", headers=USER).json()
    assert [r["lead_id"] for r in page["results"]] == [r["lead_id"] for r in whole[100:]]
    again = api.get("/v1/leads/ranked?limit=50&offset=100", headers=USER).json()
    assert again["results"] == page["results"]


def test_filters_combine(api: TestClient, store: object) -> None:
    summary = api.get("/v1/leads/ranked/summary", headers=USER).json()
    grade_a = api.get("/v1/leads/ranked?grade=A&limit=1000", headers=USER).json()
    assert grade_a["total"] == summary["grade_counts"]["A"] > 0
    assert {r["grade"] for r in grade_a["results"]} == {"A"}
    both = api.get("/v1/leads/ranked?grade=a&grade=B&limit=0", headers=USER).json()
    comma = api.get("/v1/leads/ranked?grade=A,B&limit=0", headers=USER).json()
    assert (
        both["total"]
        == comma["total"]
        == summary["grade_counts"]["A"] + summary["grade_counts"]["B"]
    )
    source = next(iter(summary["sources"]))
    stage = next(iter(summary["stages"]))
    found = api.get(
        f"/v1/leads/ranked?source={source}&stage={stage}&min_score=40&limit=1000", headers=USER
    ).json()
    expected, total = ranked(store, limit=1000, source=source, stage=stage, min_score=40)  # type: ignore[arg-type]
    assert found["total"] == total
    assert [r["lead_id"] for r in found["results"]] == [r["lead_id"] for r in expected]
    assert all(
        r["lead_source"] == source and r["stage"] == stage and r["score"] >= 40
        for r in found["results"]
    )
    company = next(r["company"] for r in grade_a["results"] if r["company"])
    needle = company.split()[0][1:5].upper()
    searched = api.get("/v1/leads/ranked", params={"q": needle}, headers=USER).json()
    assert searched["total"] >= 1
    assert all(needle.lower() in (r["company"] or "").lower() for r in searched["results"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("grade=E", "query.grade[0]"),  # the first grade parameter
        ("stage=won", "query.stage[0]"),
        ("min_score=0", "query.min_score"),
        ("limit=5000", "query.limit"),
        ("offset=-1", "query.offset"),
        ("format=xml", "query.format"),
    ],
)
def test_bad_filters_name_the_field(api: TestClient, query: str, field: str) -> None:
    answer = api.get(f"/v1/leads/ranked?{query}", headers=USER)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/v1/leads/ranked",
        "/v1/leads/ranked?format=csv",
        "/v1/leads/ranked/summary",
        "/v1/leads/L000001",
    ],
)
def test_lead_routes_need_a_key(api: TestClient, path: str) -> None:
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"X-API-Key": "lml_wrong"}).status_code == 401


def test_csv_is_the_filtered_list_as_leadml_score_writes_it(api: TestClient, store: object) -> None:
    answer = api.get("/v1/leads/ranked?grade=A&format=csv", headers=USER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="ranked-leads-2026-11-23-grade-A.csv"'
    )
    rows, total = ranked(store, limit=None, grade="A")  # type: ignore[arg-type]
    assert answer.text == ranked_table(rows, PASS_THROUGH).to_csv(index=False)
    table = pd.read_csv(io.StringIO(answer.text))
    assert list(table.columns) == [*RANKED_COLUMNS, *PASS_THROUGH]
    assert len(table) == total == int(answer.headers["x-total-count"])
    assert set(table["grade"]) == {"A"}


def test_the_csv_download_takes_the_names_and_cells_leadml_score_writes(
    bundle_dir: Path, scored_store: str, store: object, tmp_path: Path
) -> None:
    """[score.columns] and [score] csv_formula_guard reach the download as they reach
    `leadml score`'s file (`ranked.csv_cells`), so a CRM loader reads either."""
    renames = {"score": "Lead_Score__c", "grade": "Lead_Grade__c"}
    config = app_config(tmp_path, bundle_dir, scored_store)
    listed = config.score.model_copy(update={"columns": renames, "csv_formula_guard": False})
    with TestClient(create_app(config.model_copy(update={"score": listed}))) as client:
        answer = client.get("/v1/leads/ranked?format=csv", headers=USER)
    assert answer.status_code == 200
    rows, _ = ranked(store, limit=None)  # type: ignore[arg-type]
    assert answer.text == ranked_table(rows, PASS_THROUGH, renames, formula_guard=False).to_csv(
        index=False
    )
    header = answer.text.splitlines()[0].split(",")
    assert "Lead_Score__c" in header and "Lead_Grade__c" in header and "score" not in header


def test_csv_streams_in_chunks_without_changing_a_byte(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = api.get("/v1/leads/ranked?format=csv", headers=USER).text
    window = api.get("/v1/leads/ranked?format=csv&limit=40&offset=5", headers=USER).text
    monkeypatch.setattr(leads_routes, "CSV_CHUNK", 7)
    assert api.get("/v1/leads/ranked?format=csv", headers=USER).text == whole
    assert api.get("/v1/leads/ranked?format=csv&limit=40&offset=5", headers=USER).text == window
    lines = whole.splitlines()
    assert window.splitlines() == [lines[0], *lines[6:46]]


def test_csv_filename_names_the_filters() -> None:
    name = csv_filename(
        "2026-11-23T07:00:00Z",
        {"grade": ["A", "B"], "source": ["paid_search"], "min_score": 60, "q": "Acme / Co"},
    )
    assert (
        name
        == "ranked-leads-2026-11-23-grade-A+B-source-paid_search-min-score-60-company-Acme_Co.csv"
    )
    assert csv_filename(None, {}) == "ranked-leads-empty.csv"


def test_lead_detail_has_reasons_trend_and_history(api: TestClient) -> None:
    top = api.get("/v1/leads/ranked?limit=200", headers=USER).json()["results"]
    twice = next(
        r
        for r in top
        if (d := api.get(f"/v1/leads/{r['lead_id']}", headers=USER).json())
        and len(d["history"]) == 2
    )
    detail = api.get(f"/v1/leads/{twice['lead_id']}", headers=USER).json()
    assert detail["score"] == twice["score"] and detail["grade"] == twice["grade"]
    assert detail["current"] is True and detail["model_version"] == "7"
    assert detail["trend"] in {"improving", "steady", "declining"}
    assert [h["scored_at"] for h in detail["history"]] == list(SCORED_AT)
    assert detail["history"][-1]["score"] == detail["score"]
    assert detail["previous_score"] == detail["history"][0]["score"]
    assert detail["reasons"]["positive"][0]["text"] == twice["top_reason"]
    # each history row names the date its data ran to, not only when the job ran
    as_of = [pd.Timestamp(h["as_of"]) for h in detail["history"]]
    assert as_of[1] - as_of[0] == pd.Timedelta(days=14)
    assert detail["history"][-1]["as_of"] == detail["as_of"] != detail["scored_at"]
    LeadDetail.model_validate(detail)


def test_ranked_rows_carry_trend_and_previous_score_as_documented(
    api: TestClient, store: object
) -> None:
    body = api.get("/v1/leads/ranked?limit=1000", headers=USER).json()
    RankedPage.model_validate(body)  # the documented schema holds every row
    stored, _ = ranked(store, limit=1000)  # type: ignore[arg-type]
    rows = body["results"]
    assert [(r["trend"], r["previous_score"]) for r in rows] == [
        (r["trend"], r["previous_score"]) for r in stored
    ]
    trends = {r["trend"] for r in rows}
    assert {"improving", "declining"} <= trends <= {"improving", "declining", "steady", "new"}
    for r in rows:
        assert (r["previous_score"] is None) == (r["trend"] == "new"), r["lead_id"]
        if r["trend"] == "improving":
            assert r["score"] > r["previous_score"], r["lead_id"]
        if r["trend"] == "declining":
            assert r["score"] < r["previous_score"], r["lead_id"]
    document = api.get("/openapi.json").json()
    answer = document["paths"]["/v1/leads/ranked"]["get"]["responses"]["200"]["content"]
    assert set(answer) == {"application/json", "text/csv"}
    assert answer["application/json"]["schema"]["$ref"].endswith("/RankedPage")
    row = document["components"]["schemas"]["RankedLead"]["properties"]
    assert set(row["trend"]["enum"]) == {"improving", "declining", "steady", "new"}
    # The contract, the page's words and marks all follow the trend rule's one list.
    assert set(row["trend"]["enum"]) == set(TRENDS)
    assert set(vocabulary.TREND_LABELS) == set(vocabulary.TREND_MARKS) == set(TRENDS)
    assert {"previous_score", "trend", "lead_source", "stage"} <= set(row)


def test_reasons_carry_their_strength_as_arrows(api: TestClient) -> None:
    rows = api.get("/v1/leads/ranked?limit=300", headers=USER).json()["results"]
    seen = set()
    for row in rows:
        for key, arrow in (("positive", "▲"), ("negative", "▼")):
            reasons = row["reasons"][key]
            sizes = [abs(r["contribution"]) for r in reasons]
            strengths = [r["strength"] for r in reasons]
            assert [r["arrows"] for r in reasons] == [arrow * n for n in strengths]
            # a larger contribution never has fewer arrows
            for (a, sa), (b, sb) in zip(
                sorted(zip(sizes, strengths, strict=True)),
                sorted(zip(sizes, strengths, strict=True))[1:],
                strict=False,
            ):
                assert a <= b and sa <= sb
            seen.update(strengths)
    assert seen == {1, 2, 3}  # the scale is used, not one level for everything
    lead = api.get(f"/v1/leads/{rows[0]['lead_id']}", headers=USER).json()
    assert lead["reasons"] == rows[0]["reasons"]


def test_summary_gives_the_words_for_its_sources_and_stages(api: TestClient) -> None:
    body = api.get("/v1/leads/ranked/summary", headers=USER).json()
    RankedSummary.model_validate(body)
    labels = body["labels"]
    assert set(labels["lead_source"]) == set(body["sources"])
    assert set(labels["stage"]) == set(body["stages"])
    for kind in ("lead_source", "stage"):
        for token, words in labels[kind].items():
            assert words == vocabulary.label(kind, token)
            assert "_" not in words, token
    assert any(token != words for token, words in labels["lead_source"].items())


def test_unknown_lead_is_a_404_problem(api: TestClient) -> None:
    answer = api.get("/v1/leads/no-such-lead", headers=USER)
    assert answer.status_code == 404
    body = answer.json()
    assert body["title"] == "Lead not found" and body["errors"][0]["value"] == "no-such-lead"


def test_summary_describes_the_latest_batch(api: TestClient) -> None:
    body = api.get("/v1/leads/ranked/summary", headers=USER).json()
    assert body["batch"]["scored_at"] == SCORED_AT[1]
    assert body["batch"]["model_version"] == "7"
    assert len(body["score_histogram"]) == 99
    assert sum(body["score_histogram"]) == body["batch"]["n_leads"]
    assert sum(body["grade_counts"].values()) == body["batch"]["n_leads"]


def test_an_empty_store_answers_with_an_empty_list(bundle_dir: Path, tmp_path: Path) -> None:
    config = app_config(tmp_path, bundle_dir, f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(config)) as empty:
        body = empty.get("/v1/leads/ranked", headers=USER).json()
        assert body["total"] == 0 and body["results"] == [] and body["batch"] is None
        assert empty.get("/v1/leads/ranked/summary", headers=USER).json()["batch"] is None
        csv = empty.get("/v1/leads/ranked?format=csv", headers=USER)
        assert csv.text.strip() == ",".join([*RANKED_COLUMNS])
        assert empty.get("/v1/leads/anyone", headers=USER).status_code == 404


def test_an_unreachable_store_is_a_503_and_the_api_keeps_serving(
    bundle_dir: Path, tmp_path: Path
) -> None:
    url = f"postgresql://nobody@/leadml?host={tmp_path / 'no-server'}&connect_timeout=2"
    with TestClient(create_app(app_config(tmp_path, bundle_dir, url))) as broken:
        answer = broken.get("/v1/leads/ranked", headers=USER)
        assert answer.status_code == 503
        assert answer.json()["title"] == "Scores store unavailable"
        assert broken.get("/v1/leads/x", headers=USER).status_code == 503
        assert broken.get("/readyz").status_code == 200


@pytest.fixture(scope="module")
def one_batch(small_data: Dataset, trained: TrainedModel) -> RankedBatch:
    """One real scoring batch of the small funnel, for stores the tests change."""
    return score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle.with_registry("lead-conversion", "7")),
        as_of=parse_as_of("latest", small_data.leads, small_data.events),
        pass_through=PASS_THROUGH,
        scored_at=pd.Timestamp(SCORED_AT[0]),
    )


def test_the_source_filter_takes_a_source_as_people_write_it(api: TestClient) -> None:
    sources = api.get("/v1/leads/ranked/summary", headers=USER).json()["sources"]
    token = next(s for s in sources if "_" in s)  # e.g. paid_search
    for written in (token, token.replace("_", " ").title(), f" {token.upper()} "):
        body = api.get("/v1/leads/ranked", params={"source": written}, headers=USER).json()
        assert body["total"] == sources[token] > 0, written
        assert {r["lead_source"] for r in body["results"]} == {token}


def test_a_batch_stored_during_a_csv_download_stays_out_of_it(
    bundle_dir: Path, one_batch: RankedBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    engine = open_store(url)
    write_batch(engine, one_batch)
    newer = dataclasses.replace(one_batch, model_version="8", scored_at=pd.Timestamp(SCORED_AT[1]))
    real_table = leads_routes.ranked_table
    chunks: list[int] = []

    def table_then_store_a_batch(rows: list[dict[str, Any]], *args: Any, **kw: Any) -> pd.DataFrame:
        chunks.append(len(rows))
        if len(chunks) == 2:  # `leadml score` commits while the download is under way
            write_batch(engine, newer)
        return real_table(rows, *args, **kw)

    try:
        with TestClient(create_app(app_config(tmp_path, bundle_dir, url))) as client:
            before = client.get("/v1/leads/ranked?format=csv", headers=USER)
            monkeypatch.setattr(leads_routes, "CSV_CHUNK", 7)
            monkeypatch.setattr(leads_routes, "ranked_table", table_then_store_a_batch)
            during = client.get("/v1/leads/ranked?format=csv", headers=USER)
            assert during.status_code == 200
            assert len(chunks) > 3
            assert during.text == before.text
            assert during.headers["content-disposition"] == before.headers["content-disposition"]
            monkeypatch.undo()
            after = pd.read_csv(
                io.StringIO(client.get("/v1/leads/ranked?format=csv", headers=USER).text)
            )
            assert set(after["model_version"].astype(str)) == {"8"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_nul_byte_is_a_422_on_every_back_end(
    backend: str,
    request: pytest.FixtureRequest,
    bundle_dir: Path,
    one_batch: RankedBatch,
    tmp_path: Path,
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'scores.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"))
    engine = open_store(url)
    try:
        write_batch(engine, one_batch)
    finally:
        engine.dispose()
    with TestClient(create_app(app_config(tmp_path, bundle_dir, url))) as client:
        for path, field in (
            ("/v1/leads/ranked?q=ac%00me", "query.q"),
            ("/v1/leads/ranked?q=ac%00me&format=csv", "query.q"),
            ("/v1/leads/ranked?source=referral%00", "query.source[0]"),
            (f"/v1/leads/{one_batch.frame['lead_id'].iloc[0]}%00", "path.lead_id"),
        ):
            answer = client.get(path, headers=USER)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["errors"][0]["field"] == field
        assert client.get("/v1/leads/ranked?q=a", headers=USER).status_code == 200


def test_a_replaced_or_removed_sqlite_store_is_noticed_while_the_server_runs(
    bundle_dir: Path, one_batch: RankedBatch, tmp_path: Path
) -> None:
    """An open SQLite connection keeps reading the file it opened: the server checks the
    file's identity, answers 503 while it is gone, and reads a file moved over it."""
    first, second = tmp_path / "first" / "scores.db", tmp_path / "second" / "scores.db"
    for path, version in ((first, "7"), (second, "8")):
        engine = open_store(f"sqlite:///{path}")
        try:
            write_batch(engine, dataclasses.replace(one_batch, model_version=version))
        finally:
            engine.dispose()
    served = tmp_path / "served" / "scores.db"
    served.parent.mkdir()
    shutil.copyfile(first, served)
    url = f"sqlite:///{served}"

    def version(client: TestClient) -> str:
        answer = client.get("/v1/leads/ranked/summary", headers=USER)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["batch"]["model_version"])

    with TestClient(create_app(app_config(tmp_path, bundle_dir, url))) as client:
        assert version(client) == "7"
        os.replace(second, served)  # e.g. a restored backup moved into place
        assert version(client) == "8"
        served.unlink()
        for path in ("/v1/leads/ranked/summary", "/v1/leads/ranked", "/v1/leads/L1"):
            gone = client.get(path, headers=USER)
            assert gone.status_code == 503, (path, gone.text)
            assert gone.headers["content-type"] == "application/problem+json"
            assert gone.headers["retry-after"] == "5"
            assert "removed or moved away" in gone.json()["detail"]
            assert "Put it back" in gone.json()["detail"]
        assert not served.exists()  # the server did not create an empty file meanwhile
        shutil.copyfile(first, served)
        assert version(client) == "7"
        rows = client.get("/v1/leads/ranked?limit=3", headers=USER).json()["results"]
        assert len(rows) == 3
