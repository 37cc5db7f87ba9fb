"""The `leadml` console script's composition root: the core CLI plus `serve` and `keys`.

The core (`leadml.cli`) never imports this package; the server commands are attached
here, where both halves are known.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from leadml.cli import build_app, run
from leadml.cli.common import ConfigOpt, TrackingOpt


def serve(
    config: ConfigOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Registry reference (models:/lead-conversion@champion, the default) or a "
            "bundle folder.",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default 8000; 0: any free one).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default 1; use the core count).")
    ] = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run the scoring API (FastAPI under uvicorn with uvloop and httptools; gunicorn forks
    the workers after importing the stack once).

    API keys come from [serve] api_keys in leadml.toml and from the LEADML_API_KEYS
    environment variable (comma-separated name:sha256hex or name:sha256hex:admin).
    Create one with `leadml keys new NAME`.

    Examples:
      leadml serve
      leadml serve --model models/lead-conversion/3 --port 8080 --workers 2
      curl -H "Authorization: Bearer $KEY" localhost:8000/v1/model
    """
    from leadml_serve.server import run_server

    run_server(
        config,
        overrides={
            "mlflow": {"tracking_uri": tracking_uri},
            "serve": {"model": model, "host": host, "port": port, "workers": workers},
        },
        env=os.environ,
    )


keys_app = typer.Typer(help="Manage API keys for `leadml serve`.", no_args_is_help=True)


def keys_new(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. crm or sales-page.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="Allow admin routes (POST /v1/model/reload).")
    ] = False,
) -> None:
    """Print a fresh random API key once, with the config lines that enable it.

    The server stores only the key's SHA-256 digest, so keep the key itself safe now:
    it cannot be shown again.

    Example:  leadml keys new crm
    """
    from leadml.config import ApiKeyConfig
    from leadml_serve.security import digest, new_key

    key = new_key()
    entry = ApiKeyConfig(name=name, sha256=digest(key), admin=admin)
    suffix = ":admin" if admin else ""
    # Plain echo, never wrapped: these lines are meant to be copied.
    typer.echo(f"API key for {name!r} (shown once, store it safely):\n\n  {key}\n")
    typer.echo("Enable it in leadml.toml:\n")
    typer.echo(
        f'  [[serve.api_keys]]\n  name = "{entry.name}"\n  sha256 = "{entry.sha256}"\n'
        f"  admin = {str(admin).lower()}\n"
    )
    typer.echo("or in the environment (comma-separate several):\n")
    typer.echo(f"  export LEADML_API_KEYS={entry.name}:{entry.sha256}{suffix}\n")


def attach(app: typer.Typer) -> None:
    """Attach `serve` and `keys` to the core app."""
    keys_app.command("new")(keys_new)
    app.command()(serve)
    app.add_typer(keys_app, name="keys")


app = build_app()
attach(app)


def main() -> None:
    """Console-script entry point (`leadml`)."""
    run(app)


if __name__ == "__main__":
    main()
