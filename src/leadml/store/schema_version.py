"""The scores store's schema revision: reading it, refusing a stale store, upgrading it.

Writers call `require_current` inside their transaction: a store whose revision is not
the one this code writes (`SCHEMA_REVISION`) is refused with a one-line message that says
to run `leadml store upgrade`, and nothing is written. Reading the revision needs no
Alembic; `upgrade` runs the Alembic migrations in `migrations/` on one locked transaction,
so a failed upgrade leaves the store as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from leadml.store.tables import (
    SCHEMA_REVISION,
    VERSION_TABLE,
    StoreError,
    metadata,
    schema_lock,
    version,
)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""Alembic's script folder (env.py, script.py.mako, versions/), shipped in the package."""
UPGRADE_HINT = "run `leadml store upgrade` (with the same --store or --config)"

Status = Literal["empty", "unversioned", "current", "other"]


@dataclass(frozen=True)
class SchemaState:
    """What a store holds: its recorded revision, and whether any store table exists."""

    revision: str | None
    """The stamped revision; None when the store has no version table (or an empty one)."""
    has_tables: bool

    @property
    def status(self) -> Status:
        """empty (nothing yet), unversioned (made before migrations), current or other."""
        if self.revision is None:
            return "unversioned" if self.has_tables else "empty"
        return "current" if self.revision == SCHEMA_REVISION else "other"

    def describe(self) -> str:
        """The state in words, e.g. 'is at schema revision 0001 (current)'."""
        return {
            "empty": "has no tables yet",
            "unversioned": "has no schema version (made before store migrations)",
            "current": f"is at schema revision {self.revision} (current)",
            "other": f"is at schema revision {self.revision}, not {SCHEMA_REVISION}",
        }[self.status]


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: the state before, and the revision after."""

    before: SchemaState
    after: str


def schema_state(conn: Connection) -> SchemaState:
    """The store's revision and whether it has tables (two catalog reads, no Alembic)."""
    found = set(inspect(conn).get_table_names())
    revisions: list[str] = []
    if VERSION_TABLE in found:
        revisions = list(conn.execute(select(version.c.version_num)).scalars())
    revision = ",".join(sorted(revisions)) or None  # several heads: shown as they are
    return SchemaState(revision, bool(found & set(metadata.tables)))


def require_current(conn: Connection) -> None:
    """Refuse (StoreError, one line) to write a store not at this code's revision."""
    state = schema_state(conn)
    if state.status != "current":
        url = conn.engine.url.render_as_string(hide_password=True)
        raise StoreError(
            f"the scores store {url} {state.describe()}; this leadml writes revision "
            f"{SCHEMA_REVISION}: {UPGRADE_HINT}. Nothing was written."
        )


def current(engine: Engine) -> SchemaState:
    """The store's schema state, read in one transaction."""
    with engine.connect() as conn:
        return schema_state(conn)


def upgrade(engine: Engine) -> Upgrade:
    """Bring the store to the newest revision in one transaction, keeping every row.

    An empty store gets the tables; a store made before migrations (tables, no version)
    is recognised by the baseline revision, which checks its tables, adds anything
    missing and stamps it; a stamped store runs the revisions after its own. A revision
    this code does not know (a newer leadml wrote it) is refused.
    """
    from alembic import command
    from alembic.util.exc import CommandError

    url = engine.url.render_as_string(hide_password=True)
    try:
        with schema_lock(engine) as conn:
            before = schema_state(conn)
            config = alembic_config(conn)
            _require_known(config, before, url)
            try:
                command.upgrade(config, "head")
            except StoreError as exc:  # the baseline refused tables it does not recognise
                raise StoreError(f"the scores store {url} was not upgraded: {exc}") from exc
            after = schema_state(conn).revision
    except (SQLAlchemyError, CommandError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(
            f"upgrading the scores store {url} failed, nothing was changed: "
            f"{type(exc).__name__}: {detail}"
        ) from exc
    return Upgrade(before, after or "")


def head() -> str:
    """The newest revision in the shipped migrations (reads the script folder)."""
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if found is None:
        raise StoreError(f"no store migrations found in {MIGRATIONS}")
    return found


def alembic_config(
    connection: Connection | None = None, *, url: str | None = None
) -> AlembicConfig:
    """Alembic's configuration, built in code (no alembic.ini).

    `env.py` runs on `connection` when given, else opens `url` (for writing a new
    revision with autogenerate against a store at head; see docs/architecture.md).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # New revision files are named v<rev>_<slug>.py: a module name mypy and ruff accept.
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _require_known(config: AlembicConfig, state: SchemaState, url: str) -> None:
    """Refuse a store stamped with a revision that is not in this code's migrations."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    if state.revision is None:
        return
    script = ScriptDirectory.from_config(config)
    for revision in state.revision.split(","):
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise StoreError(
                f"the scores store {url} is at schema revision {revision}, which this "
                "leadml does not know (a newer leadml wrote it): upgrade leadml instead"
            )
