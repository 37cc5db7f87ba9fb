"""The core `leadml` Typer app: the root options (--debug, --version) and the stage commands.

Each command parses its options, calls one core function, and renders the result.
Errors are printed as one line without a traceback unless `--debug` is given
(`common.RootGroup`). `serve` and `keys` are attached by the console script's composition
root (`leadml_serve.cli`), so the core never imports the server.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from leadml.cli import data, model, monitoring, scoring, store
from leadml.cli.common import RootGroup, console, state

HELP = (
    "Predict which marketing leads convert, explain why, and rank them for sales.\n\n"
    "Typical first run:  leadml demo-data --out data/generated/demo  then  "
    "leadml validate data/generated/demo"
)


def version_line() -> str:
    """The version line, e.g. `leadml 0.1.0`, from the installed package's metadata."""
    from importlib.metadata import version

    return f"leadml {version('leadml')}"


def _print_version(value: bool) -> None:
    if value:
        console.print(version_line(), markup=False, highlight=False)
        raise typer.Exit()


def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of short error messages.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state["debug"] = debug


def build_app() -> typer.Typer:
    """A fresh app holding every core command, grouped by stage."""
    app = typer.Typer(
        name="leadml",
        cls=RootGroup,
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for stage in (data, model, scoring, monitoring, store):
        stage.register(app)
    return app


def run(app: typer.Typer) -> None:
    """Run `app` as a console script (its root command prints errors as one line)."""
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning
    # threads made LightGBM's first fit 3-30x slower. Must be set before lightgbm loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app()  # standalone mode: errors and --help exit through SystemExit


app = build_app()


def main() -> None:
    """Run the core app (without `serve` and `keys`); the console script is leadml_serve.cli."""
    run(app)
