"""Writing one scoring batch into the store, as a single transaction.

Inside the transaction each lead's latest stored score is read first and the batch's
trend, previous score and previous grade are set against it (`leadml.ranked.with_trend`,
the one trend rule, so the list file the job stages from that frame agrees with the
store). The batch is then bulk-loaded into a temporary table (PostgreSQL COPY, or
executemany elsewhere; `LOAD_ROWS` at a time, part by part for the Dask engine) and
merged by three set-based statements: history rows, the upsert of each lead's latest
score, and the facet counts. Readers see the previous batch until
the commit, and the new one after it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy import text as sql
from sqlalchemy.exc import SQLAlchemyError

from leadml.bundle import GRADES
from leadml.ranked import REASONS_JSON, TREND_POINTS, BatchRecord, RankedList, with_trend
from leadml.store.schema_version import read_state, require_current
from leadml.store.tables import (
    IMMEDIATE,
    SOURCE_MATCH,
    StoreError,
    batches,
    latest,
    open_store,
    store_fix,
)

log = logging.getLogger(__name__)

STAGE_TABLE = "stage_scores"
LOAD_ROWS = 50_000
"""Rows loaded into the temporary table per statement (one COPY or executemany): the
batch's Python rows are built this many at a time."""

_stage_metadata = MetaData()
_stage = Table(
    STAGE_TABLE,
    _stage_metadata,
    Column("lead_id", String, primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("company", Text),
    Column("lead_source", String, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("previous_score", Integer),
    Column("trend", String(16), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("extra", Text, nullable=False),
    prefixes=["TEMPORARY"],
)

STAGE_COLUMNS = tuple(column.name for column in _stage.columns)
"""Columns of the temporary table one batch is loaded into before it is merged."""
_COLUMNS = ", ".join(STAGE_COLUMNS)
_HISTORY = f"""
INSERT INTO score_history (lead_id, batch_id, probability, score, grade)
SELECT lead_id, :batch_id, probability, score, grade FROM {STAGE_TABLE}
"""
_UPSERT = f"""
INSERT INTO lead_scores ({_COLUMNS}, batch_id)
SELECT {_COLUMNS}, :batch_id FROM {STAGE_TABLE} WHERE true
ON CONFLICT (lead_id) DO UPDATE SET
  {", ".join(f"{c} = excluded.{c}" for c in STAGE_COLUMNS if c != "lead_id")},
  batch_id = excluded.batch_id
"""
_FACETS = f"""
INSERT INTO score_facets (batch_id, grade, lead_source, stage, score, n)
SELECT :batch_id, grade, lead_source, stage, score, COUNT(*) FROM {STAGE_TABLE}
GROUP BY grade, lead_source, stage, score
"""


def write_batch(
    engine: Engine,
    batch: RankedList,
    *,
    trend_points: int = TREND_POINTS,
    on_trend: Callable[[pd.DataFrame], None] | None = None,
    on_commit: Callable[[int], None] | None = None,
) -> int:
    """Store a ranked batch in one transaction; returns its batch_id.

    `on_trend(frame)` gets the batch's frame with trend, previous_score and previous_grade
    set against the store, inside the transaction before anything is written (`leadml
    score` stages its list file from it; if that raises, nothing is stored).
    `on_commit(batch_id)` runs right after the commit, before the statistics refresh
    (`leadml score` puts its staged list file in place there). A failed write raises a
    one-line StoreError naming the store, the cause and the fix; nothing is changed.

    Each lead's row in `lead_scores` is replaced by its new score, its previous score is
    kept in `previous_score`, and its trend is improving / declining when the score moved
    by at least `trend_points`, steady otherwise, and new on a lead's first score
    (`leadml.ranked.trend_of`).
    """
    return write_batch_parts(
        engine,
        batch,
        [batch.frame],
        trend_points=trend_points,
        on_part=on_trend,
        on_commit=on_commit,
    )


def write_batch_parts(
    engine: Engine,
    batch: BatchRecord,
    parts: Iterable[pd.DataFrame],
    *,
    trend_points: int = TREND_POINTS,
    on_part: Callable[[pd.DataFrame], None] | None = None,
    on_commit: Callable[[int], None] | None = None,
) -> int:
    """`write_batch` for a batch whose ranked rows come in parts (the Dask engine's
    partitions, one at a time, so the whole list is never in memory): one transaction,
    each part's trend set by the one rule, `on_part(frame)` called with each trended part
    before it is loaded, rows loaded in chunks of `LOAD_ROWS`. The parts together are
    the batch: every lead once."""
    if trend_points < 1:
        raise ValueError("trend_points must be at least 1")
    try:
        # SQLite: take the write lock at BEGIN (waiting out another writer with the busy
        # timeout); a read that upgrades to a write later can fail at once as "locked".
        with engine.connect() as conn, conn.execution_options(**{IMMEDIATE: True}).begin():
            require_current(conn)  # a stale or newer schema: refused, one line
            previous = previous_scores(conn)
            _stage.create(conn)
            tally = _Tally()
            for part in parts:
                frame = with_trend(part, previous, trend_points)
                if on_part is not None:
                    on_part(frame)
                for start in range(0, len(frame), LOAD_ROWS):
                    _load(conn, _rows(frame.iloc[start : start + LOAD_ROWS], batch.pass_through))
                tally.add(frame)
            batch_id = int(
                conn.execute(
                    batches.insert()
                    .values(
                        scored_at=_naive_utc(batch.scored_at),
                        as_of=_naive_utc(batch.as_of),
                        model_version=batch.model_version,
                        grade_mode=batch.grade_mode,
                        n_leads=tally.leads,
                        pass_through=json.dumps(list(batch.pass_through)),
                        source=batch.source,
                        summary=json.dumps(
                            tally.summary()
                            | {"excluded": _excluded(batch), SOURCE_MATCH: _source_match(batch)}
                        ),
                    )
                    .returning(batches.c.batch_id)
                ).scalar_one()
            )
            params = {"batch_id": batch_id}
            conn.execute(sql(_HISTORY), params)
            conn.execute(sql(_UPSERT), params)
            conn.execute(sql(_FACETS), params)
            _stage.drop(conn)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        raise _failed(
            engine,
            exc,
            "writing the batch to the scores store {} failed, nothing was changed in the store",
        ) from exc
    if on_commit is not None:
        on_commit(batch_id)
    try:
        _analyze(engine)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        # Statistics only help the planner; the batch is committed and stays.
        log.warning("refreshing the store's statistics failed (the batch is stored): %s", exc)
    return batch_id


def previous_scores(conn: Connection) -> pd.DataFrame:
    """Each lead's latest stored score and grade (index lead_id), what a new batch's trend
    is measured against."""
    found = conn.execute(select(latest.c.lead_id, latest.c.score, latest.c.grade)).all()
    frame = pd.DataFrame(found, columns=["lead_id", "score", "grade"])
    return frame.set_index("lead_id")


def stored_previous_scores(url: str) -> pd.DataFrame | None:
    """`previous_scores` of the store at `url` without writing to it (`leadml score
    --no-store`); None when there is no store or it has no tables yet."""
    if not read_state(url).has_tables:
        return None
    engine = open_store(url, create=False)
    try:
        with engine.connect() as conn:
            return previous_scores(conn)
    except SQLAlchemyError as exc:
        raise _failed(
            engine, exc, "cannot read the previous scores from the scores store {}"
        ) from exc
    finally:
        engine.dispose()


def _failed(engine: Engine, exc: BaseException, what: str) -> StoreError:
    """One line: `what` (its {} the store's URL, password hidden), the driver's first
    line of error, and how to fix it."""
    url = engine.url.render_as_string(hide_password=True)
    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    fix = store_fix(detail, engine.dialect.name)
    return StoreError(f"{what.format(url)}: {type(exc).__name__}: {detail}; {fix}")


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts the page shows for a batch: grades, the score histogram, sources, stages."""
    tally = _Tally()
    tally.add(frame)
    return tally.summary()


class _Tally:
    """`summarise`'s counts, added up part by part: the same numbers (and the same order
    of equal counts: first seen first) as for the whole frame at once."""

    def __init__(self) -> None:
        self.leads = 0
        self.histogram = np.zeros(100, dtype=np.int64)
        self.counts: dict[str, dict[str, int]] = {"grade": {}, "lead_source": {}, "stage": {}}

    def add(self, frame: pd.DataFrame) -> None:
        self.leads += len(frame)
        scores = frame["score"].to_numpy(dtype=np.int64)
        self.histogram += np.bincount(scores, minlength=100)[:100]
        for column, counts in self.counts.items():
            for key, n in frame[column].value_counts(sort=False).items():
                counts[str(key)] = counts.get(str(key), 0) + int(n)

    def summary(self) -> dict[str, Any]:
        def ordered(column: str) -> dict[str, int]:
            items = self.counts[column].items()
            return dict(sorted(items, key=lambda item: -item[1]))  # stable: first seen first

        grades = self.counts["grade"]
        return {
            "grade_counts": {g: grades.get(g, 0) for g in GRADES},
            "score_histogram": [int(n) for n in self.histogram[1:100]],
            "sources": ordered("lead_source"),
            "stages": ordered("stage"),
        }


def _excluded(batch: BatchRecord) -> dict[str, int]:
    """Leads left out of the batch: converted, created after the scoring moment, stale."""
    return {
        "converted": batch.excluded_converted,
        "not_created": batch.excluded_not_created,
        "stale": batch.excluded_stale,
    }


def _source_match(batch: BatchRecord) -> str:
    """How the ranked list's source filter compares: canonical tokens, or a flat file's text."""
    return "exact" if batch.flat else "canonical"


def _analyze(engine: Engine) -> None:
    """Refresh planner statistics after a bulk change, so pages keep using the indexes."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
        elif conn.dialect.name == "postgresql":
            for table in ("lead_scores", "score_history", "score_facets", "score_batches"):
                conn.exec_driver_sql(f"ANALYZE {table}")


def _naive_utc(stamp: pd.Timestamp) -> Any:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _rows(frame: pd.DataFrame, pass_through: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """A batch's frame as tuples in STAGE_COLUMNS order (plain Python values)."""
    n = len(frame)
    if pass_through:
        values = np.array(frame[list(pass_through)].to_numpy(dtype=object), dtype=object)
        values[pd.isna(values)] = None
        extra = [
            orjson.dumps(dict(zip(pass_through, row, strict=True)), default=str).decode()
            for row in values.tolist()
        ]
    else:
        extra = ["{}"] * n
    company = np.array(frame["company"].to_numpy(dtype=object), dtype=object)
    company[pd.isna(company)] = None
    columns: list[list[Any]] = [
        frame["lead_id"].astype(str).tolist(),
        frame["rank"].to_numpy(dtype=np.int64).tolist(),
        company.tolist(),
        frame["lead_source"].astype(str).tolist(),
        frame["stage"].astype(str).tolist(),
        frame["probability"].to_numpy(dtype=np.float64).tolist(),
        frame["score"].to_numpy(dtype=np.int64).tolist(),
        frame["grade"].astype(str).tolist(),
        [None if pd.isna(v) else int(v) for v in frame["previous_score"].tolist()],
        frame["trend"].astype(str).tolist(),
        frame[REASONS_JSON].tolist(),
        extra,
    ]
    return list(zip(*columns, strict=True))


def _load(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-load rows into the temporary table, the fastest way the driver offers."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {STAGE_TABLE} ({_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in STAGE_COLUMNS)
        conn.exec_driver_sql(f"INSERT INTO {STAGE_TABLE} ({_COLUMNS}) VALUES ({marks})", rows)
        return
    conn.execute(_stage.insert(), [dict(zip(STAGE_COLUMNS, row, strict=True)) for row in rows])
