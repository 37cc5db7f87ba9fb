"""The core `leadml` Typer app: the root options, the stage commands and error handling.

Each command parses its options, calls one core function, and renders the result.
Errors the user can fix (`LeadmlError`) are printed without a traceback unless
`--debug` is given. `serve` and `keys` are attached by the console script's composition
root (`leadml_serve.cli`), so the core never imports the server.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from leadml.cli import data, model, monitoring, scoring, store
from leadml.cli.common import err_console, state
from leadml.errors import LeadmlError

HELP = (
    "Predict which marketing leads convert, explain why, and rank them for sales.\n\n"
    "Typical first run:  leadml demo-data --out data/generated/demo  then  "
    "leadml validate data/generated/demo"
)


def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of short error messages.")
    ] = False,
) -> None:
    state["debug"] = debug


def build_app() -> typer.Typer:
    """A fresh app holding every core command, grouped by stage."""
    app = typer.Typer(
        name="leadml",
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
    """Run `app` as a console script, turning user errors into short messages."""
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning
    # threads made LightGBM's first fit 3-30x slower. Must be set before lightgbm loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()  # standalone mode: usage errors and --help exit through SystemExit
    except LeadmlError as exc:
        if state["debug"]:
            raise
        from rich.markup import escape

        # One line however wide the terminal ("[train]" is text, not markup).
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None


app = build_app()


def main() -> None:
    """Run the core app (without `serve` and `keys`); the console script is leadml_serve.cli."""
    run(app)
