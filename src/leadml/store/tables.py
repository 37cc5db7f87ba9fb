"""The scores store's tables and how to open it (SQLite by default, PostgreSQL via a URL).

Four tables:

- `score_batches`: one row per `leadml score` run (when, as of when, which model, grade mode).
- `lead_scores`: each lead's latest score, with its rank in its batch, reasons, and its
  trend against the score before it. The ranked list is the rows of the latest batch.
- `score_history`: every score every lead has had (lean: probability, score, grade).
- `score_facets`: per batch, lead counts by grade, source, stage and score. Totals and the
  score distribution for any combination of those filters come from here, so a page of
  the ranked list never counts a million rows.

Plus `leadml_store_version`, Alembic's one-row record of the schema revision. A new store
is created at `SCHEMA_REVISION` and stamped; an existing one changes only through
`leadml store upgrade` (`leadml.store.schema_version`, migrations in `migrations/`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from leadml.errors import InputError, LeadmlError, os_error_reason

metadata = MetaData()

batches = Table(
    "score_batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("scored_at", DateTime, nullable=False, comment="UTC"),
    Column("as_of", DateTime, nullable=False, comment="UTC"),
    Column("model_version", String(64), nullable=False),
    Column("grade_mode", String(16), nullable=False),
    Column("n_leads", Integer, nullable=False),
    Column("pass_through", Text, nullable=False, comment="JSON list of column names"),
    Column("source", Text, nullable=False),
    Column("summary", Text, nullable=False, comment="JSON: counts for the page's header"),
)

latest = Table(
    "lead_scores",
    metadata,
    Column("lead_id", String, primary_key=True),
    Column("batch_id", Integer, ForeignKey("score_batches.batch_id"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("company", Text),
    Column("lead_source", String, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("previous_score", Integer),
    Column("trend", String(16), nullable=False),
    Column("reasons", Text, nullable=False, comment="JSON from leadml.batch.encode_reasons"),
    Column("extra", Text, nullable=False, comment="JSON: pass-through columns"),
    Index("ix_lead_scores_rank", "batch_id", "rank"),
    Index("ix_lead_scores_grade", "batch_id", "grade", "rank"),
    Index("ix_lead_scores_source", "batch_id", "lead_source", "rank"),
    Index("ix_lead_scores_stage", "batch_id", "stage", "rank"),
)

history = Table(
    "score_history",
    metadata,
    Column("lead_id", String, primary_key=True),
    Column("batch_id", Integer, ForeignKey("score_batches.batch_id"), primary_key=True),
    Column("probability", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(1), nullable=False),
)

facets = Table(
    "score_facets",
    metadata,
    Column("batch_id", Integer, ForeignKey("score_batches.batch_id"), nullable=False),
    Column("grade", String(1), nullable=False),
    Column("lead_source", String, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("score", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    Index("ix_score_facets_batch", "batch_id"),
)

SCHEMA_REVISION = "0001"
"""The Alembic revision these tables are: what a new store is stamped with and what the
writers require. Adding a column means a new revision in `migrations/versions/` and this
constant set to it (a test ties the two)."""
VERSION_TABLE = "leadml_store_version"
"""Alembic's version table, named apart from `alembic_version` so that a store sharing a
PostgreSQL database with MLflow (which keeps its own `alembic_version`) stays separate."""

version_metadata = MetaData()
version = Table(
    VERSION_TABLE,
    version_metadata,
    # Exactly the table Alembic creates (alembic.runtime.migration), so both can stamp it.
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)

SCHEMA_LOCK = 0x6C65_6164_6D6C_0001
"""PostgreSQL advisory lock key held while the schema is created or migrated."""
IMMEDIATE = "leadml_sqlite_immediate"
"""Connection option: begin SQLite transactions with BEGIN IMMEDIATE (take the write lock)."""

SOURCE_MATCH = "source_match"
"""Key in a batch's summary JSON: "canonical" (event model: filter values are cleaned like
lead sources in files) or "exact" (flat export: sources are the file's own text)."""


class StoreError(LeadmlError):
    """The scores store cannot be reached or used (the message names the URL)."""


def store_url(url: str) -> URL:
    """Parse a store URL; plain `postgresql://` means the psycopg (v3) driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(
            "cannot read the scores store URL",
            column="store.url",
            value=url,
            expected="a SQLAlchemy URL such as sqlite:///scores.db or "
            "postgresql://user@host/dbname",
        ) from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_store(url: str, *, create: bool = True) -> Engine:
    """An engine on the scores store; an empty store is created (tables, SQLite folder).

    A store without tables is created at `SCHEMA_REVISION` and stamped; a store that has
    tables is left as it is (writers check its revision, `leadml store upgrade` moves it).
    SQLite runs in WAL mode so that readers (the API) keep reading the previous batch
    while a new one is written, and every transaction starts with an explicit BEGIN so
    a whole batch, table creation included, commits or rolls back as one, and a
    reader's queries share one snapshot. Other servers use REPEATABLE READ for the same.
    """
    parsed = store_url(url)
    # Bound values (company searches, lead ids) never reach logs or error messages.
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason, fix = os_error_reason(exc)
                raise StoreError(
                    f"cannot create the scores store's folder {folder}: {reason}; {fix}"
                ) from exc
        kwargs["connect_args"] = {"timeout": 30}
    else:
        # Each reader's queries (current batch, total, page) share one snapshot, so a
        # batch committed between them can never show through as half a page.
        kwargs["isolation_level"] = "REPEATABLE READ"
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot open the scores store {_safe(parsed)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        _sqlite_transactions(engine)
    if create:
        try:
            _create_if_empty(engine)
        except SQLAlchemyError as exc:
            detail = str(exc.orig if hasattr(exc, "orig") else exc).strip()
            detail = (detail.splitlines() or [""])[0]
            raise StoreError(
                f"cannot open the scores store {_safe(parsed)}: {type(exc).__name__}: "
                f"{detail}; {store_fix(detail, parsed.get_backend_name())}"
            ) from exc
    return engine


def store_fix(detail: str, backend: str = "sqlite") -> str:
    """How to fix a store write that failed with the driver's message `detail`."""
    text = detail.lower()
    sqlite = backend == "sqlite"
    if "disk is full" in text or "no space left" in text or "could not extend" in text:
        where = "the store file" if sqlite else "the database server's data"
        return f"free space on the disk holding {where}, then run again"
    if "readonly" in text or "read-only" in text or "permission denied" in text:
        if sqlite:
            return (
                "make the store file and its folder writable (SQLite also writes -wal and "
                "-shm files beside it), or pass another --store"
            )
        return (
            "connect as a database user that may write the store's tables (not a read-only "
            "replica or role), or pass another --store"
        )
    if "unable to open" in text:
        return "check that the store's folder exists and this user may write it"
    if "locked" in text or "lock timeout" in text:
        return "another process holds the store's write lock: wait for it, then run again"
    return "check [store] url and that the store is reachable, then run again"


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the store's schema lock, for creating or migrating tables.

    Two processes creating one new store (API workers starting together) or migrating it
    take turns, and the second sees what the first committed: SQLite begins with BEGIN
    IMMEDIATE; PostgreSQL takes a transaction-level advisory lock under READ COMMITTED
    (each statement then reads the latest commits, not a snapshot from before the wait).
    """
    with engine.connect() as conn:
        backend = conn.dialect.name
        if backend == "sqlite":
            conn.execution_options(**{IMMEDIATE: True})
        elif backend == "postgresql":
            conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            if backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            yield conn


_WAL_TRIES = 50
"""Attempts to switch a new SQLite file to WAL while other connections race (~13 s)."""


def _create_if_empty(engine: Engine) -> None:
    """Create the tables at SCHEMA_REVISION and stamp them, when the store has none.

    A store with a version table is never touched here; one with store tables but no
    version table was made before migrations and waits for `leadml store upgrade`. The
    first look takes no lock, so opening an existing store never waits for a writer.
    """
    if inspect(engine).has_table(VERSION_TABLE):
        return
    with schema_lock(engine) as conn:
        found = set(inspect(conn).get_table_names())
        if VERSION_TABLE in found or found & set(metadata.tables):
            return
        metadata.create_all(conn)
        version_metadata.create_all(conn)
        conn.execute(version.insert().values(version_num=SCHEMA_REVISION))


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL (it stays WAL once set). Connections racing to switch a
    new file get 'database is locked' at once, without SQLite's busy wait: retry briefly."""
    import sqlite3
    import time

    for attempt in range(_WAL_TRIES):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_TRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def _sqlite_transactions(engine: Engine) -> None:
    """WAL, and real transactions: pysqlite's implicit ones skip DDL and reads."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
