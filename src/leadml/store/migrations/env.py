"""Alembic's environment for the scores store. Alembic runs this file; nothing imports it.

`leadml.store.schema_version.upgrade` hands over one connection inside a locked
transaction, so every revision of a run commits (or rolls back) together. Without one
(writing a new revision with autogenerate), the store at `sqlalchemy.url` is opened.
SQLite alters tables in batch mode (copy and rename), since it has no ALTER COLUMN.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from leadml.store.tables import VERSION_TABLE, metadata, open_store


def migrate(connection: Connection) -> None:
    """Run the pending revisions on `connection`, in its transaction."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Migrate the connection leadml handed over, or open the configured URL."""
    if context.is_offline_mode():
        raise RuntimeError("the scores store's migrations run online only (no --sql)")
    given = context.config.attributes.get("connection")
    if given is not None:
        migrate(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use alembic_config(url=...)")
    engine = open_store(url, create=False)
    try:
        with engine.begin() as connection:
            migrate(connection)
    finally:
        engine.dispose()


run()
