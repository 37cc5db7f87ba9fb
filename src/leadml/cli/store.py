"""The scores-store commands: `leadml store upgrade` and `leadml store current`."""

from __future__ import annotations

from typing import Annotated

import typer

from leadml.cli.common import ConfigOpt, console

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", help="Scores store URL (default: [store] url, or sqlite:///scores.db)."
    ),
]


def check_store_option(store: str | None) -> None:
    """Refuse a --store URL that cannot be read, naming the option the user typed (not the
    setting store.url it overrides)."""
    if store is None:
        return
    import dataclasses

    from leadml.errors import InputError
    from leadml.store import store_url

    try:
        store_url(store)
    except InputError as exc:
        raise dataclasses.replace(exc, column=None, option="--store") from exc


def _store_url(store: str | None, config: ConfigOpt) -> str:
    from leadml.config import load_config

    check_store_option(store)
    return load_config(config, overrides={"store": {"url": store}}).store_url


def upgrade(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Bring the scores store's tables to this leadml's schema revision, keeping every row.

    A store made before migrations is recognised and stamped as the baseline; an empty one
    is created. It runs in one transaction: if it fails, the store is left as it was.
    Writers (`leadml score`) refuse a store that is not up to date until this has run.

    Example:  leadml store upgrade --store postgresql://leadml@db/leadml
    """
    from leadml.store import open_store
    from leadml.store.schema_version import upgrade as run_upgrade

    engine = open_store(_store_url(store, config), create=False)
    try:
        done = run_upgrade(engine)
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if done.before.revision == done.after:
        console.print(
            f"Scores store {where}: already at schema revision {done.after}.",
            markup=False,
            highlight=False,
        )
    else:
        console.print(
            f"Scores store {where}: upgraded to schema revision {done.after} "
            f"(it {done.before.describe()}).",
            markup=False,
            highlight=False,
        )


def current(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Show the scores store's schema revision and what, if anything, to do about it.

    Exits 0 when `leadml score` can write the store: it is at this leadml's revision, or
    there is no store yet (score creates it; nothing is created here). Exits 3 when it
    needs `leadml store upgrade`, or was written by a newer leadml (upgrade leadml).

    Example:  leadml store current
    """
    from leadml.store import store_url
    from leadml.store.schema_version import read_state

    url = _store_url(store, config)
    state = read_state(url)
    where = store_url(url).render_as_string(hide_password=True)
    console.print(f"Scores store {where} {state.describe()}.", markup=False, highlight=False)
    if state.status == "current":
        return
    hint = state.hint()
    advice = (
        f"To bring it up to date, {hint}."
        if state.status in ("unversioned", "older")
        else f"{hint[:1].upper()}{hint[1:]}."
    )
    console.print(advice, markup=False, highlight=False)
    if not state.writable:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Attach the `store` command group to `app`."""
    group = typer.Typer(
        help="The scores store's schema: show its revision, upgrade it.", no_args_is_help=True
    )
    group.command()(upgrade)
    group.command()(current)
    app.add_typer(group, name="store")
