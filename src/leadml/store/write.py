"""Writing one scoring batch into the store, as a single transaction.

The batch is bulk-loaded into a temporary table (PostgreSQL COPY, or one executemany
elsewhere), then merged by three set-based statements: history rows, the upsert of each
lead's latest score (its trend computed against the score it replaces), and the facet
counts. Readers see the previous batch until the commit, and the new one after it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Column, Connection, Engine, Float, Integer, MetaData, String, Table, Text
from sqlalchemy import text as sql
from sqlalchemy.exc import SQLAlchemyError

from leadml.bundle import GRADES
from leadml.ranked import REASONS_JSON, RankedList
from leadml.store.schema_version import require_current
from leadml.store.tables import IMMEDIATE, SOURCE_MATCH, StoreError, batches, store_fix

log = logging.getLogger(__name__)

STAGE_TABLE = "stage_scores"
TREND_POINTS = 5
"""Default: a score change of at least this many points is improving or declining."""

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
INSERT INTO lead_scores ({_COLUMNS}, batch_id, previous_score, trend)
SELECT {_COLUMNS}, :batch_id, NULL, 'new' FROM {STAGE_TABLE} WHERE true
ON CONFLICT (lead_id) DO UPDATE SET
  {", ".join(f"{c} = excluded.{c}" for c in STAGE_COLUMNS if c != "lead_id")},
  batch_id = excluded.batch_id,
  previous_score = lead_scores.score,
  trend = CASE
    WHEN excluded.score - lead_scores.score >= :points THEN 'improving'
    WHEN lead_scores.score - excluded.score >= :points THEN 'declining'
    ELSE 'steady'
  END
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
    on_commit: Callable[[int], None] | None = None,
) -> int:
    """Store a ranked batch in one transaction; returns its batch_id.

    `on_commit(batch_id)` runs right after the commit, before the statistics refresh
    (`leadml score` puts its staged list file in place there). A failed write raises a
    one-line StoreError naming the store, the cause and the fix; nothing is changed.

    Each lead's row in `lead_scores` is replaced by its new score, its previous score is
    kept in `previous_score`, and its trend is improving / declining when the score moved
    by at least `trend_points`, steady otherwise, and new on a lead's first score.
    """
    if trend_points < 1:
        raise ValueError("trend_points must be at least 1")
    rows = _rows(batch)
    try:
        # SQLite: take the write lock at BEGIN (waiting out another writer with the busy
        # timeout); a read that upgrades to a write later can fail at once as "locked".
        with engine.connect() as conn, conn.execution_options(**{IMMEDIATE: True}).begin():
            require_current(conn)  # a stale or newer schema: refused, one line
            batch_id = int(
                conn.execute(
                    batches.insert()
                    .values(
                        scored_at=_naive_utc(batch.scored_at),
                        as_of=_naive_utc(batch.as_of),
                        model_version=batch.model_version,
                        grade_mode=batch.grade_mode,
                        n_leads=len(rows),
                        pass_through=json.dumps(list(batch.pass_through)),
                        source=batch.source,
                        summary=json.dumps(
                            summarise(batch.frame) | {SOURCE_MATCH: _source_match(batch)}
                        ),
                    )
                    .returning(batches.c.batch_id)
                ).scalar_one()
            )
            _stage.create(conn)
            _load(conn, rows)
            params = {"batch_id": batch_id, "points": trend_points}
            conn.execute(sql(_HISTORY), params)
            conn.execute(sql(_UPSERT), params)
            conn.execute(sql(_FACETS), params)
            _stage.drop(conn)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        url = engine.url.render_as_string(hide_password=True)
        detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        raise StoreError(
            f"writing the batch to the scores store {url} failed, nothing was changed in the "
            f"store: {type(exc).__name__}: {detail}; {store_fix(detail, engine.dialect.name)}"
        ) from exc
    if on_commit is not None:
        on_commit(batch_id)
    try:
        _analyze(engine)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        # Statistics only help the planner; the batch is committed and stays.
        log.warning("refreshing the store's statistics failed (the batch is stored): %s", exc)
    return batch_id


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts the page shows for a batch: grades, the score histogram, sources, stages."""
    histogram = np.bincount(frame["score"].to_numpy(dtype=np.int64), minlength=100)[1:100]

    def counts(column: str) -> dict[str, int]:
        found = frame[column].value_counts(sort=False).sort_values(ascending=False, kind="stable")
        return {str(k): int(v) for k, v in found.items()}

    grades = counts("grade")
    return {
        "grade_counts": {g: grades.get(g, 0) for g in GRADES},
        "score_histogram": [int(n) for n in histogram],
        "sources": counts("lead_source"),
        "stages": counts("stage"),
    }


def _source_match(batch: RankedList) -> str:
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


def _rows(batch: RankedList) -> list[tuple[Any, ...]]:
    """The batch as tuples in STAGE_COLUMNS order (plain Python values)."""
    frame = batch.frame
    n = len(frame)
    if batch.pass_through:
        values = np.array(frame[list(batch.pass_through)].to_numpy(dtype=object), dtype=object)
        values[pd.isna(values)] = None
        extra = [
            orjson.dumps(dict(zip(batch.pass_through, row, strict=True)), default=str).decode()
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
