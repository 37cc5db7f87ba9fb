"""What every command shares: the consoles, the --debug state and the common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)
state = {"debug": False}

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="leadml.toml to read (default: ./leadml.toml if present)."),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: sqlite:///mlflow.db in the project directory).",
    ),
]
