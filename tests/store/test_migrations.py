"""Scores-store migrations, on SQLite and on a real PostgreSQL server (tests/store_server.py).

A "store made before migrations" is what the code before Alembic left: the four tables
from `metadata.create_all`, no version table. It is built here by writing real batches
through `write_batch` into a new store (created by that same `create_all`, then stamped)
and dropping the version table.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from setuptools import find_packages
from sqlalchemy import Engine, func, inspect, select, text
from typer.testing import CliRunner

from leadml.store import StoreError, batch_summary, open_store, ranked, write_batch
from leadml.store.schema_version import (
    MIGRATIONS,
    alembic_config,
    current,
    head,
    read_state,
    require_writable,
    upgrade,
)
from leadml.store.tables import (
    SCHEMA_REVISION,
    VERSION_TABLE,
    batches,
    facets,
    history,
    latest,
    metadata,
    schema_lock,
)
from leadml_serve.cli import app as leadml_app
from tests.machine import run_leadml
from tests.store.test_store import make_batch
from tests.store_server import fresh_database, postgres_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
STORE_TABLES = (batches, latest, history, facets)
runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes the URL of a new, empty database on the back-end (one per call)."""
    made: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'scores{len(made)}.db'}"
        else:
            url = fresh_database(request.getfixturevalue("postgres_url"))
        made.append(url)
        return url

    return make


@pytest.fixture
def engines() -> Iterator[Callable[..., Engine]]:
    """`open_store`, with every engine disposed of at the end of the test."""
    opened: list[Engine] = []

    def opener(url: str, **kwargs: Any) -> Engine:
        engine = open_store(url, **kwargs)
        opened.append(engine)
        return engine

    yield opener
    for engine in opened:
        engine.dispose()


def schema(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys and indexes, as the database itself reports them."""
    found = inspect(engine)
    out: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        out[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("comment"))
                for c in found.get_columns(name)
            ],
            "primary_key": found.get_pk_constraint(name),
            "foreign_keys": sorted(
                (fk["name"] or "", tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in found.get_unique_constraints(name)
            ),
        }
    return out


def contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table, in primary-key (or full-row) order."""
    out = {}
    with engine.connect() as conn:
        for table in STORE_TABLES:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


def made_before_migrations(engine: Engine) -> None:
    """Turn a stamped store into one the code before migrations made: no version table."""
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))


def two_batches(engine: Engine) -> None:
    """Two real batches: 60 leads, then 50 of them again plus 10 new (trends, history)."""
    write_batch(engine, make_batch(60, seed=1, version="1"))
    ids = [f"L{i:05d}" for i in range(10, 70)]
    write_batch(engine, make_batch(60, seed=2, version="2", ids=ids))


def test_the_migrations_head_is_the_revision_the_tables_are() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_REVISION] == [head()]
    baseline = script.get_revision("0001")
    assert baseline is not None and baseline.down_revision is None
    assert MIGRATIONS.joinpath("script.py.mako").exists()


def test_the_baseline_builds_exactly_the_tables_create_all_builds(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    by_create_all = engines(new_url(), create=False)
    metadata.create_all(by_create_all)  # what open_store did before migrations
    by_migrations = engines(new_url(), create=False)
    upgrade(by_migrations)
    by_open_store = engines(new_url())  # a new store: create_all, then stamped

    expected = schema(by_create_all)
    assert set(expected) == {t.name for t in STORE_TABLES}
    migrated, opened = schema(by_migrations), schema(by_open_store)
    # Alembic's own version table and the one open_store stamps are the same table.
    assert migrated.pop(VERSION_TABLE) == opened.pop(VERSION_TABLE)
    assert migrated == expected
    assert opened == expected
    assert sum(len(t["indexes"]) for t in expected.values()) >= 5  # the indexes are compared
    for engine in (by_migrations, by_open_store):
        assert current(engine).revision == SCHEMA_REVISION
    # Alembic's autogenerate, too, finds nothing to add: the next revision starts clean.
    with by_migrations.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []


def test_a_store_made_before_migrations_is_upgraded_with_every_row_kept(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    engine = engines(new_url())
    two_batches(engine)
    made_before_migrations(engine)
    before = contents(engine)
    assert [len(before[t.name]) for t in STORE_TABLES] == [2, 70, 120, len(before["score_facets"])]
    assert current(engine).status == "unversioned"

    done = upgrade(engine)

    assert done.before.status == "unversioned" and done.after == SCHEMA_REVISION
    assert current(engine).status == "current"
    after = contents(engine)
    assert {t: len(rows) for t, rows in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before
    # The upgraded store takes the next batch and keeps computing trends from the old rows.
    write_batch(engine, make_batch(70, seed=3, version="3", ids=[f"L{i:05d}" for i in range(70)]))
    rows, total = ranked(engine, limit=None)
    assert total == 70 and {r["model_version"] for r in rows} == {"3"}
    assert sum(r["previous_score"] is not None for r in rows) == 70


def test_a_writer_refuses_a_store_made_before_migrations_in_one_line(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    engine = engines(new_url())
    two_batches(engine)
    made_before_migrations(engine)
    before = contents(engine)
    with pytest.raises(StoreError) as refused:
        write_batch(engine, make_batch(20, seed=9, version="9"))
    message = str(refused.value)
    assert "\n" not in message
    assert "run `leadml store upgrade`" in message and "no schema version" in message
    assert contents(engine) == before  # nothing written
    assert current(engine).status == "unversioned"  # and not stamped behind the user's back


def test_readers_and_the_apis_start_leave_an_old_store_as_it_is(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    two_batches(engines(url))
    made_before_migrations(engines(url))
    reader = engines(url)  # what the API does at start: open_store(url), create=True
    rows, total = ranked(reader, limit=None)
    assert total == 60 and {r["model_version"] for r in rows} == {"2"}
    summary = batch_summary(reader)
    assert summary is not None and summary["batch"]["n_leads"] == 60
    assert current(reader).status == "unversioned"


NEWER = "this store was written by a newer leadml (revision 9999); upgrade leadml"


def said(result: Any) -> str:
    """A command's output with Rich's line wrapping undone (long URLs wrap at 80 columns)."""
    return " ".join(result.output.split())


def written_by_a_newer_leadml(engine: Engine) -> None:
    """Stamp a store with a revision the shipped migrations do not have."""
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))


def test_a_store_at_an_unknown_revision_is_refused_by_writers_and_upgrade(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    engine = engines(url)
    write_batch(engine, make_batch(10))
    written_by_a_newer_leadml(engine)
    assert current(engine).status == "newer" and current(engine).unknown == ("9999",)
    refusals = []
    with pytest.raises(StoreError) as refused:
        write_batch(engine, make_batch(10, seed=2))
    refusals.append(str(refused.value))
    with pytest.raises(StoreError) as refused:
        require_writable(url)  # what `leadml score` checks before it starts
    refusals.append(str(refused.value))
    with pytest.raises(StoreError) as refused:
        upgrade(engine)
    refusals.append(str(refused.value))
    for message in refusals:  # one advice everywhere: never "run leadml store upgrade"
        assert "\n" not in message and NEWER in message, message
        assert "store upgrade" not in message, message
    assert refusals[0].endswith("Nothing was written to the store.")
    assert current(engine).revision == "9999"
    assert len(contents(engine)["lead_scores"]) == 10


def test_store_current_on_a_newer_store_says_to_upgrade_leadml(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    engine = engines(url)
    write_batch(engine, make_batch(5))
    written_by_a_newer_leadml(engine)
    shown = runner.invoke(leadml_app, ["store", "current", "--store", url])
    assert shown.exit_code == 3, shown.output
    assert "newer than this leadml's 0001" in said(shown)
    assert "T" + NEWER[1:] in said(shown) and "store upgrade" not in said(shown)
    assert current(engine).revision == "9999"


def test_an_empty_store_is_fine_for_current_and_for_writers(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    with engines(url, create=False).connect():  # the database exists (SQLite: the file)
        pass
    shown = runner.invoke(leadml_app, ["store", "current", "--store", url])
    assert shown.exit_code == 0, shown.output
    assert "has no tables yet" in said(shown)
    assert "No store yet: `leadml score` creates it." in said(shown)
    assert require_writable(url).status == "empty"
    assert inspect(engines(url, create=False)).get_table_names() == []  # nothing created
    engine = engines(url)  # what `leadml score` does next: created at head, then written
    write_batch(engine, make_batch(5))
    assert read_state(url).status == "current"


def test_store_current_creates_no_sqlite_file(tmp_path: Path) -> None:
    """Only SQLite can be absent: a PostgreSQL store is a database that exists or fails."""
    path = tmp_path / "not-yet" / "scores.db"
    url = f"sqlite:///{path}"
    shown = runner.invoke(leadml_app, ["store", "current", "--store", url])
    assert shown.exit_code == 0, shown.output
    assert "does not exist yet" in said(shown) and "No store yet" in said(shown)
    assert require_writable(url).exists is False
    assert not path.exists() and not path.parent.exists()


def test_a_store_made_before_migrations_is_refused_before_any_work(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    engine = engines(url)
    two_batches(engine)
    made_before_migrations(engine)
    before = contents(engine)
    with pytest.raises(StoreError) as refused:
        require_writable(url)
    message = str(refused.value)
    assert "\n" not in message and "no schema version" in message
    assert "run `leadml store upgrade`" in message and "Nothing was read or scored" in message
    assert contents(engine) == before and current(engine).status == "unversioned"


def test_a_table_that_is_not_the_baseline_is_refused_and_nothing_changes(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    engine = engines(new_url(), create=False)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE score_facets"))  # the one table without dependants
        conn.execute(text("CREATE TABLE score_facets (batch_id INTEGER, colour TEXT)"))
    with pytest.raises(StoreError) as refused:
        upgrade(engine)
    message = str(refused.value)
    assert "score_facets" in message and "missing columns: grade, lead_source, n" in message
    assert "unexpected: colour" in message and "nothing was changed" in message
    assert not inspect(engine).has_table(VERSION_TABLE)
    assert {c["name"] for c in inspect(engine).get_columns("score_facets")} == {
        "batch_id",
        "colour",
    }


def test_the_baseline_adds_what_an_old_store_lacks(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    engine = engines(new_url())
    two_batches(engine)
    made_before_migrations(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_lead_scores_grade"))
    before = contents(engine)
    upgrade(engine)
    names = {i["name"] for i in inspect(engine).get_indexes("lead_scores")}
    assert "ix_lead_scores_grade" in names
    assert contents(engine) == before


def test_a_new_store_is_created_at_head_beside_other_tables(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    setup = engines(url, create=False)
    with setup.begin() as conn:  # e.g. MLflow's tables in a shared PostgreSQL database
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('mlflow-rev')"))
    engine = engines(url)
    assert current(engine).status == "current"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            "mlflow-rev"
        )
    write_batch(engine, make_batch(5))  # a writer accepts it at once


def test_stores_opened_at_the_same_moment_are_created_once(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait()
            engines(url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engines(url, create=False).connect() as conn:
        stamps = conn.execute(text(f"SELECT COUNT(*) FROM {VERSION_TABLE}")).scalar_one()
        assert stamps == 1


def test_the_baseline_downgrades_to_an_empty_database_and_back(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    engine = engines(new_url())
    with schema_lock(engine) as conn:
        command.downgrade(alembic_config(conn), "base")
    assert current(engine).status == "empty"
    assert upgrade(engine).after == SCHEMA_REVISION
    write_batch(engine, make_batch(5))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(latest)).scalar_one() == 5


def test_the_store_commands_show_and_upgrade_the_revision(
    new_url: Callable[[], str], engines: Callable[..., Engine], tmp_path: Path
) -> None:
    url = new_url()
    engine = engines(url)
    two_batches(engine)
    made_before_migrations(engine)
    before = contents(engine)

    shown = runner.invoke(leadml_app, ["store", "current", "--store", url])
    assert shown.exit_code == 3, shown.output
    assert "no schema version" in shown.output and "leadml store upgrade" in shown.output

    # The URL can come from leadml.toml, like every other command's store.
    config = tmp_path / "leadml.toml"
    config.write_text(f"[store]\nurl = {url!r}\n", encoding="utf-8")
    done = runner.invoke(leadml_app, ["store", "upgrade", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert f"upgraded to schema revision {SCHEMA_REVISION}" in done.output
    assert contents(engine) == before

    again = runner.invoke(leadml_app, ["store", "upgrade", "--store", url])
    assert again.exit_code == 0 and "already at schema revision" in again.output
    shown = runner.invoke(leadml_app, ["store", "current", "--store", url])
    assert shown.exit_code == 0, shown.output
    assert f"is at schema revision {SCHEMA_REVISION} (current)" in shown.output


def test_a_refusal_reaches_the_console_script_as_one_line(
    new_url: Callable[[], str], engines: Callable[..., Engine]
) -> None:
    url = new_url()
    engine = engines(url)
    write_batch(engine, make_batch(5))
    written_by_a_newer_leadml(engine)
    # Rich wraps at the terminal's width.
    failed = run_leadml(
        "store", "upgrade", "--store", url, cwd=Path.cwd(), columns=1000, timeout=120
    )
    assert failed.returncode == 1, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the scores store"), failed.stderr
    assert lines[0].endswith(f"was not upgraded: {NEWER}"), lines[0]


def test_the_wheel_ships_the_migrations() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    found = find_packages(where="src", include=setuptools["packages"]["find"]["include"])
    assert {"leadml.store.migrations", "leadml.store.migrations.versions"} <= set(found)
    assert "store/migrations/script.py.mako" in setuptools["package-data"]["leadml"]
    assert "alembic" in " ".join(project["project"]["dependencies"])
    versions = sorted(p.name for p in (MIGRATIONS / "versions").glob("v*.py"))
    assert versions[0] == "v0001_baseline.py"
    assert all(name[:-3].isidentifier() for name in versions)  # module names mypy accepts
