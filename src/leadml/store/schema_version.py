"""The scores store's schema revision: reading it, refusing a stale store, upgrading it.

Writers call `require_current` inside their transaction: a store whose revision is not
the one this code writes (`SCHEMA_REVISION`) is refused with a one-line message, and
nothing is written to it. The message says what to do: run `leadml store upgrade` for an
older store, upgrade leadml for a store a newer leadml wrote (a revision the shipped
migrations do not know). `leadml score` also checks with `require_writable` before it
starts, so a refused store costs no work. Reading the revision needs no Alembic unless
the store is at another revision; `upgrade` runs the Alembic migrations in `migrations/`
on one locked transaction, so a failed upgrade leaves the store as it was.
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
    open_store,
    schema_lock,
    store_url,
    version,
)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""Alembic's script folder (env.py, script.py.mako, versions/), shipped in the package."""
UPGRADE_HINT = "run `leadml store upgrade` (with the same --store or --config)"
NEW_STORE_HINT = "no store yet: `leadml score` creates it"

Status = Literal["empty", "unversioned", "current", "older", "newer"]


@dataclass(frozen=True)
class SchemaState:
    """What a store holds: its recorded revision, and whether any store table exists."""

    revision: str | None
    """The stamped revision; None when the store has no version table (or an empty one)."""
    has_tables: bool
    unknown: tuple[str, ...] = ()
    """Stamped revisions the shipped migrations do not know: a newer leadml wrote them."""
    exists: bool = True
    """False for an SQLite file that does not exist (it was not created to look)."""

    @property
    def status(self) -> Status:
        """empty (nothing yet), unversioned (made before migrations), current, older or
        newer (written by a newer leadml)."""
        if self.revision is None:
            return "unversioned" if self.has_tables else "empty"
        if self.revision == SCHEMA_REVISION:
            return "current"
        return "newer" if self.unknown else "older"

    @property
    def writable(self) -> bool:
        """Whether `leadml score` can write it: at this revision, or new (created at it)."""
        return self.status in ("current", "empty")

    def describe(self) -> str:
        """The state in words, e.g. 'is at schema revision 0001 (current)'."""
        return {
            "empty": "has no tables yet" if self.exists else "does not exist yet",
            "unversioned": "has no schema version (made before store migrations)",
            "current": f"is at schema revision {self.revision} (current)",
            "older": f"is at schema revision {self.revision}, not {SCHEMA_REVISION}",
            "newer": f"is at schema revision {self.revision}, newer than this leadml's "
            f"{SCHEMA_REVISION}",
        }[self.status]

    def hint(self) -> str:
        """What to do about it, in a clause ('' when nothing is to be done)."""
        return {
            "empty": NEW_STORE_HINT,
            "unversioned": UPGRADE_HINT,
            "current": "",
            "older": UPGRADE_HINT,
            "newer": f"this store was written by a newer leadml (revision "
            f"{','.join(self.unknown)}); upgrade leadml",
        }[self.status]

    def refusal(self, url: str) -> str:
        """Why a writer refuses this store, and what to do, in one line (no full stop)."""
        if self.status == "newer":
            return f"the scores store {url}: {self.hint()}"
        return (
            f"the scores store {url} {self.describe()}; this leadml writes revision "
            f"{SCHEMA_REVISION}: {UPGRADE_HINT}"
        )


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: the state before, and the revision after."""

    before: SchemaState
    after: str


def schema_state(conn: Connection) -> SchemaState:
    """The store's revision and whether it has tables (two catalog reads; the shipped
    migrations are read only when the revision is not this code's)."""
    found = set(inspect(conn).get_table_names())
    revisions: list[str] = []
    if VERSION_TABLE in found:
        revisions = sorted(conn.execute(select(version.c.version_num)).scalars())
    revision = ",".join(revisions) or None  # several heads: shown as they are
    unknown: tuple[str, ...] = ()
    if revision is not None and revision != SCHEMA_REVISION:
        known = known_revisions()
        unknown = tuple(r for r in revisions if r not in known)
    return SchemaState(revision, bool(found & set(metadata.tables)), unknown)


def require_current(conn: Connection) -> None:
    """Refuse (StoreError, one line) to write a store not at this code's revision."""
    state = schema_state(conn)
    if state.status != "current":
        url = conn.engine.url.render_as_string(hide_password=True)
        raise StoreError(f"{state.refusal(url)}. Nothing was written to the store.")


def current(engine: Engine) -> SchemaState:
    """The store's schema state, read in one transaction."""
    with engine.connect() as conn:
        return schema_state(conn)


def read_state(url: str) -> SchemaState:
    """The schema state of the store at `url`, creating nothing to look.

    An SQLite file that does not exist is reported as an empty store that does not exist
    (neither the file nor its folder is made); any other store is opened without
    creating tables.
    """
    parsed = store_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return SchemaState(None, has_tables=False, exists=False)
        if not database.startswith("file:") and not Path(database).expanduser().exists():
            return SchemaState(None, has_tables=False, exists=False)
    engine = open_store(url, create=False)
    try:
        return current(engine)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(
            f"cannot read the scores store {parsed.render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}: {detail}"
        ) from exc
    finally:
        engine.dispose()


def require_writable(url: str) -> SchemaState:
    """Refuse (StoreError, one line), before any work, a store a writer would refuse.

    A store at this revision passes, and so does a new one (no tables, or no SQLite file
    yet): the writer creates it at `SCHEMA_REVISION`. Nothing is created here.
    """
    state = read_state(url)
    if not state.writable:
        where = store_url(url).render_as_string(hide_password=True)
        raise StoreError(
            f"{state.refusal(where)}. Nothing was read or scored, and nothing was written."
        )
    return state


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
            if before.status == "newer":
                raise StoreError(f"the scores store {url} was not upgraded: {before.hint()}")
            config = alembic_config(conn)
            try:
                command.upgrade(config, "head")
            except StoreError as exc:  # the baseline refused tables it does not recognise
                raise StoreError(f"the scores store {url} was not upgraded: {exc}") from exc
            after = schema_state(conn).revision
    except (SQLAlchemyError, CommandError) as exc:  # StoreError: raised as it is
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


def known_revisions() -> frozenset[str]:
    """Every revision in the shipped migrations (reads the script folder)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(r.revision for r in script.walk_revisions())


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
