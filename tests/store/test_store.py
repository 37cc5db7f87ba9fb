"""The scores store, on SQLite and on a real PostgreSQL server (see tests/store_server.py).

Batches are built in code: small ranked lists with known scores, grades and reasons.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from leadml.batch import RankedBatch
from leadml.errors import InputError
from leadml.ranked import (
    PREVIOUS_GRADE,
    RANKED_COLUMNS,
    REASON_COLUMNS,
    REASONS_JSON,
    TOP_REASON,
    encode_reasons,
    rank_order,
    reason_columns,
    reasons_text,
    top_reason,
)
from leadml.store import (
    StoreError,
    batch_summary,
    current_batch,
    lead_detail,
    open_store,
    ranked,
    ranked_table,
    write_batch,
)
from leadml.store.query import labels
from leadml.store.tables import batches, history, latest
from tests.store_server import fresh_database, postgres_url  # noqa: F401  (fixture)

SOURCES = ("referral", "paid_search", "webinar", "organic_search")
STAGES = ("none", "IQL", "MQL", "SQL", "PQL")
COMPANIES = ("Acme 100% Corp", "Beta_Works", "Zürich Data AG", "O'Hara & Sons", None)
AS_OF = pd.Timestamp("2025-06-30", tz="UTC")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty store on each back-end."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'scores.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"))
    store = open_store(url)
    yield store
    store.dispose()


def _reasons(i: int) -> dict[str, list[dict[str, Any]]]:
    def one(field: str, sign: float, k: int) -> dict[str, Any]:
        return {
            "field": field,
            "feature": f"{field}_feature",
            "value": float(i) + 0.123456789 if k % 2 else f"level {i}",
            "contribution": sign * (0.5 / (k + 1)),
            "probability_delta": sign * (0.1 / (k + 1)),
            "text": f"{field} reason {k} for lead {i}",
        }

    positive = [one(f"pos{k}", 1.0, k) for k in range(i % 4)]
    negative = [one(f"neg{k}", -1.0, k) for k in range((i + 1) % 3)]
    return {"positive": positive, "negative": negative}


def make_batch(
    n: int,
    *,
    seed: int = 0,
    version: str = "1",
    ids: list[str] | None = None,
    scores: np.ndarray | None = None,
    as_of: pd.Timestamp = AS_OF,
    sources: Sequence[str] = SOURCES,
    companies: Sequence[str | None] = COMPANIES,
    flat: bool = False,
) -> RankedBatch:
    """A ranked batch of `n` leads with varied grades, sources, stages and companies."""
    rng = np.random.default_rng(seed)
    ids = ids or [f"L{i:05d}" for i in range(n)]
    score = rng.integers(1, 100, n) if scores is None else np.asarray(scores)
    probability = score / 100.0 + rng.random(n) / 1000.0
    grade = np.select([score >= 90, score >= 70, score >= 40], ["A", "B", "C"], "D")
    reasons = [_reasons(i) for i in range(n)]
    frame = pd.DataFrame(
        {
            "lead_id": ids,
            "company": [companies[i % len(companies)] for i in range(n)],
            "lead_source": [sources[i % len(sources)] for i in range(n)],
            "stage": [STAGES[(i // 2) % len(STAGES)] for i in range(n)],
            "probability": probability,
            "raw_score": np.log(probability / (1.0 - probability)),
            "score": score.astype(np.int64),
            "grade": grade,
            "trend": "new",
            "previous_score": pd.array([None] * n, dtype="Int64"),
            PREVIOUS_GRADE: None,
            "reasons": [reasons_text(r) for r in reasons],
            **{c: [reason_columns(r)[k] for r in reasons] for k, c in enumerate(REASON_COLUMNS)},
            "model_version": version,
            "scored_at": "2025-06-30T07:00:00Z",
            "email": [f"person{i}@example.com" if i % 3 else None for i in range(n)],
            REASONS_JSON: [encode_reasons(r) for r in reasons],
            TOP_REASON: [top_reason(r) for r in reasons],
        }
    )
    order = rank_order(frame["score"], frame["probability"], frame["raw_score"], frame["lead_id"])
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n + 1))
    return RankedBatch(
        frame=frame,
        as_of=as_of,
        scored_at=as_of + pd.Timedelta(hours=7),
        model_version=version,
        grade_mode="model",
        pass_through=("email",),
        source="tests",
        flat=flat,
    )


def test_an_empty_store_answers_politely(engine: Engine) -> None:
    assert ranked(engine) == ([], 0)
    assert lead_detail(engine, "L00001") is None
    assert batch_summary(engine) is None
    assert current_batch(engine) is None


def test_ranked_pages_follow_rank_and_carry_every_field(engine: Engine) -> None:
    batch = make_batch(200)
    write_batch(engine, batch)
    rows, total = ranked(engine, limit=50, offset=20)
    assert total == 200
    assert [r["rank"] for r in rows] == list(range(21, 71))
    expected = batch.frame.iloc[20:70]
    assert [r["lead_id"] for r in rows] == expected["lead_id"].tolist()
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    first, want = rows[0], expected.iloc[0]
    assert first["company"] == want["company"]
    assert first["probability"] == pytest.approx(want["probability"], abs=1e-12)
    assert first["reasons_text"] == want["reasons"]
    assert first["top_reason"] == want[TOP_REASON]
    assert first["email"] == want["email"]
    assert first["model_version"] == "1"
    assert first["scored_at"] == "2025-06-30T07:00:00Z"
    assert first["trend"] == "new" and first["previous_score"] is None
    assert set(first["reasons"]) == {"positive", "negative"}


def test_reasons_round_trip_through_the_store(engine: Engine) -> None:
    batch = make_batch(12)
    write_batch(engine, batch)
    for i in range(12):
        detail = lead_detail(engine, f"L{i:05d}")
        assert detail is not None
        want = _reasons(i)
        got = detail["reasons"]
        assert [r["text"] for r in got["positive"]] == [r["text"] for r in want["positive"]]
        for got_r, want_r in zip(got["negative"], want["negative"], strict=True):
            assert got_r["field"] == want_r["field"]
            assert got_r["contribution"] == want_r["contribution"]
            assert got_r["value"] == (
                pytest.approx(want_r["value"], abs=1e-6)
                if isinstance(want_r["value"], float)
                else want_r["value"]
            )


@pytest.mark.parametrize(
    "filters",
    [
        {"grade": "A"},
        {"grade": ["a", "d"]},
        {"source": "referral"},
        {"source": ["webinar", "Paid_Search"]},
        {"stage": "sql"},
        {"stage": ["none", "PQL"]},
        {"min_score": 50},
        {"grade": "B", "source": "webinar", "stage": "MQL"},
        {"q": "acme"},
        {"q": "100%"},
        {"q": "_works"},
        {"q": "zürich", "grade": "D"},
        {"q": "o'hara", "min_score": 30},
    ],
)
def test_filters_match_the_batch_and_totals_match_the_rows(
    engine: Engine, filters: dict[str, Any]
) -> None:
    batch = make_batch(300, seed=4)
    write_batch(engine, batch)
    rows, total = ranked(engine, limit=None, **filters)
    frame = batch.frame
    keep = np.ones(len(frame), dtype=bool)
    if "grade" in filters:
        wanted = [filters["grade"]] if isinstance(filters["grade"], str) else filters["grade"]
        keep &= frame["grade"].isin([g.upper() for g in wanted]).to_numpy()
    if "source" in filters:
        wanted = [filters["source"]] if isinstance(filters["source"], str) else filters["source"]
        keep &= frame["lead_source"].isin([s.lower() for s in wanted]).to_numpy()
    if "stage" in filters:
        wanted = [filters["stage"]] if isinstance(filters["stage"], str) else filters["stage"]
        norm = [s.lower() if s.lower() == "none" else s.upper() for s in wanted]
        keep &= frame["stage"].isin(norm).to_numpy()
    if "min_score" in filters:
        keep &= (frame["score"] >= filters["min_score"]).to_numpy()
    if "q" in filters:
        needle = filters["q"].lower()
        keep &= (
            frame["company"].map(lambda c: isinstance(c, str) and needle in c.lower()).to_numpy()
        )
    expected = frame.loc[keep, "lead_id"].tolist()
    assert [r["lead_id"] for r in rows] == expected
    assert total == len(expected) > 0
    page, page_total = ranked(engine, limit=5, offset=1, **filters)
    assert page_total == total
    assert [r["lead_id"] for r in page] == expected[1:6]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"grade": "E"}, "grade"),
        ({"stage": "customer"}, "stage"),
        ({"min_score": 0}, "min_score"),
        ({"min_score": 100}, "min_score"),
        ({"limit": -1}, "limit"),
        ({"offset": -5}, "offset"),
    ],
)
def test_bad_filters_are_named_errors(engine: Engine, filters: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        ranked(engine, **filters)
    assert caught.value.column == field


def test_trend_history_and_the_ranked_list_follow_batches(engine: Engine) -> None:
    ids = ["L1", "L2", "L3", "L4"]
    first = make_batch(4, ids=ids, scores=np.array([50, 50, 50, 50]), version="1")
    write_batch(engine, first, trend_points=5)
    second = make_batch(
        4, ids=["L1", "L2", "L3", "L5"], scores=np.array([60, 45, 54, 70]), version="2"
    )
    second_id = write_batch(engine, second, trend_points=5)

    rows, total = ranked(engine, limit=None)
    assert total == 4
    by_id = {r["lead_id"]: r for r in rows}
    assert set(by_id) == {"L1", "L2", "L3", "L5"}, "L4 left the list (e.g. it converted)"
    assert by_id["L1"]["trend"] == "improving" and by_id["L1"]["previous_score"] == 50
    assert by_id["L2"]["trend"] == "declining"
    assert by_id["L3"]["trend"] == "steady"
    assert by_id["L5"]["trend"] == "new"
    assert {r["model_version"] for r in rows} == {"2"}

    detail = lead_detail(engine, "L1")
    assert detail is not None
    assert detail["current"] is True and detail["batch_id"] == second_id
    assert [h["score"] for h in detail["history"]] == [50, 60]
    assert [h["model_version"] for h in detail["history"]] == ["1", "2"]
    gone = lead_detail(engine, "L4")
    assert gone is not None and gone["current"] is False
    assert gone["score"] == 50 and len(gone["history"]) == 1


def test_summary_counts_come_from_the_latest_batch(engine: Engine) -> None:
    write_batch(engine, make_batch(50, seed=1, version="1"))
    batch = make_batch(120, seed=2, version="2")
    write_batch(engine, batch)
    summary = batch_summary(engine)
    assert summary is not None
    assert summary["batch"]["model_version"] == "2"
    assert summary["batch"]["n_leads"] == 120
    assert summary["batch"]["as_of"] == "2025-06-30T00:00:00Z"
    assert (
        summary["grade_counts"]
        == batch.frame["grade"].value_counts().reindex(["A", "B", "C", "D"], fill_value=0).to_dict()
    )
    assert sum(summary["score_histogram"]) == 120
    assert len(summary["score_histogram"]) == 99
    assert summary["score_histogram"][batch.frame["score"].max() - 1] > 0
    assert sum(summary["sources"].values()) == 120
    assert set(summary["stages"]) <= set(STAGES)


def test_a_failed_batch_changes_nothing(engine: Engine) -> None:
    good = make_batch(30, version="1")
    write_batch(engine, good)
    bad = make_batch(30, version="2")
    bad.frame.loc[5, "lead_id"] = bad.frame.loc[4, "lead_id"]  # duplicate lead in one batch
    with pytest.raises(StoreError, match="nothing was changed"):
        write_batch(engine, bad)
    rows, total = ranked(engine, limit=None)
    assert total == 30 and {r["model_version"] for r in rows} == {"1"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(batches)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(history)).scalar_one() == 30
    write_batch(engine, make_batch(30, version="3"))  # the store still works afterwards
    assert ranked(engine, limit=1)[0][0]["model_version"] == "3"


def test_readers_see_the_old_batch_or_the_new_one_never_a_mix(engine: Engine) -> None:
    n = 3000
    write_batch(engine, make_batch(n, seed=1, version="old"))
    seen: list[tuple[set[str], int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()
    ready = threading.Barrier(3)

    def look() -> None:
        rows, total = ranked(engine, limit=None, grade=["A", "B", "C", "D"])
        seen.append(({r["model_version"] for r in rows}, total, len(rows)))

    def read() -> None:
        try:
            look()  # before any new batch
            ready.wait(timeout=60)
            while not done.is_set():
                look()  # while batches are being written
            look()  # after the last commit
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    ready.wait(timeout=60)
    for version in ("new-1", "new-2"):
        write_batch(engine, make_batch(n + 500, seed=2, version=version))
    done.set()
    for thread in readers:
        thread.join(timeout=120)
    assert not errors, errors
    for versions, total, count in seen:
        assert len(versions) == 1, f"a reader saw a mix of batches: {versions}"
        assert total == count == (n if versions == {"old"} else n + 500)
    observed = {next(iter(v)) for v, _, _ in seen}
    assert {"old", "new-2"} <= observed


def test_ranked_table_has_the_same_columns_as_leadml_score(engine: Engine) -> None:
    batch = make_batch(40)
    write_batch(engine, batch)
    rows, _ = ranked(engine, limit=None)
    table = ranked_table(rows, ("email",))
    expected = batch.table()
    assert list(table.columns) == [*RANKED_COLUMNS, "email"] == list(expected.columns)
    pd.testing.assert_frame_equal(
        table.drop(columns=["probability"]),
        expected.drop(columns=["probability"]),
        check_dtype=False,
    )
    np.testing.assert_allclose(table["probability"], expected["probability"], atol=1e-12)


def test_the_latest_table_keeps_one_row_per_lead(engine: Engine) -> None:
    for version in ("1", "2", "3"):
        write_batch(engine, make_batch(25, version=version))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(latest)).scalar_one() == 25
        assert conn.execute(select(func.count()).select_from(history)).scalar_one() == 75


def test_open_store_rejects_a_bad_url_with_the_field_named() -> None:
    with pytest.raises(InputError) as caught:
        open_store("not a url")
    assert caught.value.column == "store.url"


def test_an_unreachable_server_is_a_store_error_naming_the_url(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret@/nodb?host={tmp_path}&port=1&connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert "nodb" in str(caught.value) and "secret" not in str(caught.value)


def test_a_sqlite_store_is_created_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "scores.db"
    engine = open_store(f"sqlite:///{path}")
    try:
        assert path.exists()
        assert ranked(engine) == ([], 0)
    finally:
        engine.dispose()


def test_event_sources_filter_the_way_people_write_them(engine: Engine) -> None:
    """An event batch stores canonical tokens: a filter is cleaned the same way."""
    write_batch(engine, make_batch(80, seed=3))
    token, total = ranked(engine, limit=None, source="paid_search")
    assert total == len(token) == 20
    for written in ("Paid Search", " PAID-search ", "Google Ads", "ppc"):
        rows, count = ranked(engine, limit=None, source=written)
        assert count == total and [r["lead_id"] for r in rows] == [r["lead_id"] for r in token]
    summary = batch_summary(engine)
    assert summary is not None and "source_match" not in summary
    assert "source_match" not in summary["batch"]


def test_flat_sources_match_the_exports_own_text(engine: Engine) -> None:
    """A flat batch stores the file's text ("Google"), which is not a canonical token."""
    sources = ("Google", "Paid Search", "Word of mouth", "organic_search")
    write_batch(engine, make_batch(80, seed=3, sources=sources, flat=True))
    summary = batch_summary(engine)
    assert summary is not None and set(summary["sources"]) == set(sources)
    for name, n in summary["sources"].items():  # what the page passes back
        rows, total = ranked(engine, limit=None, source=name)
        assert total == n == len(rows) == 20
        assert {r["lead_source"] for r in rows} == {name}
    assert ranked(engine, source="google") == ([], 0)  # exact: no alias, no case folding
    assert ranked(engine, source="organic_search")[1] == 20  # not Google's canonical form
    # A flat batch stored before the summary said so is still recognised by its sources.
    with engine.begin() as conn:
        stored = json.loads(conn.execute(select(batches.c.summary)).scalar_one())
        stored.pop("source_match")
        conn.execute(batches.update().values(summary=json.dumps(stored)))
    assert ranked(engine, limit=None, source="Google")[1] == 20


def test_csv_cells_that_look_like_formulas_are_escaped(engine: Engine) -> None:
    companies = (
        '=HYPERLINK("http://evil.example","Click")',
        "@SUM(A1:A9)",
        "+1 555 0100",
        "-2+3",
        "\tTabbed",
        "\rReturn",
        "-5",
        "Plain Co",
    )
    batch = make_batch(16, companies=companies)
    batch.frame.loc[0, "email"] = "=cmd|' /C calc'!A0"
    write_batch(engine, batch)
    rows, _ = ranked(engine, limit=None)
    table = ranked_table(rows, ("email",))
    for row, (_, cell) in zip(rows, table.iterrows(), strict=True):
        raw = row["company"]
        assert raw in companies  # the store and the JSON keep the value as it is
        safe = raw in ("-5", "Plain Co", "+1 555 0100")  # numbers and phone numbers stay
        assert cell["company"] == (raw if safe else "'" + raw)
        assert cell["score"] == row["score"] and cell["probability"] == row["probability"]
    emails = table.set_index("lead_id")["email"]
    assert emails[str(batch.frame["lead_id"].iloc[0])] == "'=cmd|' /C calc'!A0"


def test_a_download_reads_one_batch_while_another_is_written(engine: Engine) -> None:
    """One connection, the batch id and the last rank: later pages stay in the old batch."""
    write_batch(engine, make_batch(60, seed=1, version="old"))
    whole, _ = ranked(engine, limit=None, grade=["A", "B", "C"])
    with engine.connect() as conn:
        first, total = ranked(conn, limit=10, grade=["A", "B", "C"])
        info = current_batch(conn)
        assert info is not None
        write_batch(engine, make_batch(60, seed=2, version="new"))  # commits meanwhile
        pages = list(first)
        while True:
            page, count = ranked(
                conn,
                limit=10,
                grade=["A", "B", "C"],
                batch_id=info.batch_id,
                after_rank=pages[-1]["rank"],
            )
            assert count == total
            if not page:
                break
            pages.extend(page)
    assert [r["lead_id"] for r in pages] == [r["lead_id"] for r in whole]
    assert {r["model_version"] for r in pages} == {"old"}
    assert {r["model_version"] for r in ranked(engine, limit=None)[0]} == {"new"}
    assert ranked(engine, batch_id=10_000) == ([], 0)


def test_a_nul_character_is_bad_input_on_every_back_end(engine: Engine) -> None:
    """PostgreSQL cannot hold NUL (a DataError); SQLite would quietly match nothing."""
    write_batch(engine, make_batch(20))
    for call, field in (
        (lambda: ranked(engine, q="ac\x00me"), "q"),
        (lambda: ranked(engine, source=["referral", "paid\x00"]), "source"),
        (lambda: lead_detail(engine, "L00001\x00"), "lead_id"),
    ):
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.column == field and "NUL" in str(caught.value)


def test_bound_parameters_stay_out_of_errors_and_logs(engine: Engine) -> None:
    assert engine.hide_parameters
    with pytest.raises(SQLAlchemyError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "Secret Co L42"})
    assert "no_such_table" in str(caught.value)
    assert "Secret Co L42" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "watched"),
    [
        ("sqlite://", None),
        ("sqlite:///{tmp}/scores.db", "scores.db"),
        ("sqlite:///file:{tmp}/scores.db?mode=ro&uri=true", "scores.db"),
        ("postgresql://user@localhost/leadml", None),
    ],
)
def test_only_a_sqlite_file_is_watched(url: str, watched: str | None, tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from leadml.store import StoreMissing, WatchedStore
    from leadml.store.tables import store_url

    engine = create_engine(store_url(url.format(tmp=tmp_path)))  # nothing is connected
    store = WatchedStore(engine)
    if watched is None:
        assert store.path is None and store.engine() is engine
        return
    assert store.path == tmp_path / watched
    for _ in range(2):  # every use while it is missing, not only the first
        with pytest.raises(StoreMissing, match="is missing"):
            store.engine()
    store.path.write_bytes(b"")
    assert store.engine() is engine and store.replaced == 0


def test_a_read_only_store_is_one_line_naming_the_fix_and_changes_nothing(
    engine: Engine,
) -> None:
    """SQLite opened read-only (a URI filename), PostgreSQL with read-only transactions (a
    replica, a read-only role): the write is refused in one line that says how to fix it."""
    write_batch(engine, make_batch(5))
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        read_only = open_store(f"sqlite:///file:{engine.url.database}?mode=ro&uri=true")
        fix = "make the store file and its folder writable"
    else:
        with engine.connect() as conn:
            name = engine.url.database
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            conn.commit()
        read_only = open_store(url)
        fix = "connect as a database user that may write the store's tables"
    try:
        with pytest.raises(StoreError) as refused:
            write_batch(read_only, make_batch(7, seed=1, version="2"))
    finally:
        read_only.dispose()
    message = str(refused.value)
    assert "\n" not in message and "nothing was changed in the store" in message
    assert f"; {fix}" in message and message.endswith("or pass another --store")
    summary = batch_summary(engine)
    assert summary is not None and summary["batch"]["n_leads"] == 5


def test_summary_labels_keep_a_flat_export_s_own_source_text() -> None:
    summary = {"sources": {"paid_search": 3, "Partner Portal": 1}, "stages": {"SQL": 4}}
    canonical = labels(summary)
    assert canonical["lead_source"]["paid_search"] == "Paid search"
    assert canonical["stage"] == {"SQL": "SQL"}
    exact = labels(summary, exact=True)
    assert exact["lead_source"] == {t: t for t in summary["sources"]}
    assert set(exact["trend_mark"]) == {"new", "improving", "steady", "declining"}
