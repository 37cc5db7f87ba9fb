"""A long-lived reader's view of the store that notices a SQLite file replaced or removed.

An open SQLite connection keeps reading the file it opened, even after that file is
deleted or another file is moved over its name. The API holds connections for hours, so
`WatchedStore.engine()` compares the file's identity (st_dev, st_ino) on each call: a
removed file raises `StoreMissing` (the API answers 503) until a file is back, and a
different file drops the pooled connections so that the next query reads the new one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import Engine

from leadml.store.tables import StoreError

Identity = tuple[int, int]


class StoreMissing(StoreError):
    """The store's SQLite file is not there (removed or moved away)."""


class WatchedStore:
    """An engine on the store, checked against its SQLite file's identity on every use.

    Other backends (PostgreSQL, in-memory SQLite) have no file to watch: `engine()`
    returns the engine as it is.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.path = sqlite_file(engine)
        self._identity = _identity(self.path) if self.path else None
        self._lock = threading.Lock()
        self.replaced = 0
        """How many times a different file was found at the path (for logs and tests)."""

    def engine(self) -> Engine:
        """The engine, after checking the file: StoreMissing when it is gone; pooled
        connections dropped when it is another file than the one they opened."""
        if self.path is None:
            return self._engine
        found = _identity(self.path)
        if found is not None and found == self._identity:
            return self._engine
        with self._lock:
            if found != self._identity:
                # Connections on the old file must not serve it (nor, for SQLite's WAL
                # files, outlive it next to the new one): close them before any new one.
                self._engine.dispose()
                if found is not None and self._identity is not None:
                    self.replaced += 1
                self._identity = found
        if found is None:
            raise StoreMissing(f"the scores store file {self.path} is missing")
        return self._engine

    @property
    def url(self) -> str:
        """The store's URL, password hidden (for logs)."""
        return self._engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self._engine.dispose()


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite database file an engine opens (None: another backend, or in memory)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database or ""
    if database.startswith("file:"):  # a URI filename: file:path?mode=ro
        database = database[len("file:") :].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().absolute()


def _identity(path: Path) -> Identity | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
