"""What every command shares: the consoles, the --debug state, the common options, and
the root command that turns every error into one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer._click import Command
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from leadml.errors import InputError, LeadmlError

console = Console()
err_console = Console(stderr=True)
state = {"debug": False}

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="leadml.toml to read (default: ./leadml.toml if present).",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: sqlite:///mlflow.db in the project directory).",
    ),
]


class Engine(StrEnum):
    """`--engine`: where the heavy work runs (`[compute] engine`)."""

    local = "local"
    dask = "dask"


EngineOpt = Annotated[
    Engine | None,
    typer.Option(
        "--engine",
        help="Where the work runs: local (this process; the default) or dask (a Dask cluster, "
        "set up by [compute] in leadml.toml; see the README's \"When one machine is not "
        'enough").',
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies --engine "
        "dask; without it, dask starts a LocalCluster on this machine).",
    ),
]


def compute_overrides(engine: Engine | None, scheduler: str | None) -> dict[str, object]:
    """The `[compute]` settings `--engine` and `--scheduler` override."""
    if scheduler and engine == Engine.local:
        raise InputError(
            "a scheduler runs the Dask engine, not the local one",
            option="--scheduler",
            value=scheduler,
            expected="--engine dask (or no --engine) with --scheduler, or --engine local alone",
        )
    chosen = Engine.dask if scheduler else engine
    return {"engine": None if chosen is None else chosen.value, "scheduler": scheduler}


def data_location(
    value: str | None, option: str = "--data", *, folder: bool = False
) -> Path | str | None:
    """A `--data` value: a URL such as s3://bucket/leads stays text (fsspec reads it, on the
    Dask engine); anything else is a local path that must exist (and be a folder, with
    `folder`)."""
    if value is None:
        return None
    if "://" in value:
        return value
    path = Path(value)
    what = "folder" if folder else "file or folder"
    if not path.exists():
        raise InputError(
            f"no such {what}",
            option=option,
            value=value,
            expected=f"an existing {what}, or a URL such as s3://bucket/data (with --engine dask)",
        )
    if folder and not path.is_dir():
        raise InputError(
            "a file, not a folder",
            option=option,
            value=value,
            expected="the folder holding the leads and events tables, or a URL such as "
            "s3://bucket/data (with --engine dask)",
        )
    return path


def engine_location(location: Path | str | None, engine: str, option: str = "--data") -> None:
    """Refuse a URL on the local engine (only the Dask engine reads through fsspec)."""
    if isinstance(location, str) and engine != "dask":
        raise InputError(
            "a URL is read by the Dask engine only",
            option=option,
            value=location,
            expected='--engine dask (or [compute] engine = "dask"), or a local path',
        )


INTERNAL_ERROR = "internal error"
"""Starts the one line printed for an error leadml did not foresee (a bug to report)."""


def print_error(message: str) -> None:
    """Print `message` as one `error:` line, however wide the terminal; "[train]" is text."""
    err_console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(text.split())


def usage_message(exc: UsageError) -> str:
    """A usage error (bad option value, missing argument, unknown command) in one line,
    ending with where the command's help is."""
    # Typer checks values with pydantic, whose "Value error, " prefix says nothing to a user.
    text = one_line(exc.format_message()).replace("Value error, ", "")
    if exc.ctx is not None:
        text += f" (see `{exc.ctx.command_path} --help`)"
    return text


def escape_help(command: Command) -> None:
    """Escape the help text of `command`, its parameters and its subcommands once, so Rich
    prints "[dataset]" and "[serve]" as written instead of reading them as markup.

    The one place help text is escaped: write help strings and docstrings plainly."""
    if getattr(command, "_leadml_escaped", False):
        return
    if command.help:
        command.help = escape(command.help)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            param.help = escape(text)  # type: ignore[attr-defined]
    command._leadml_escaped = True  # type: ignore[attr-defined]
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            escape_help(sub)


class RootGroup(TyperGroup):
    """The `leadml` command: help text shown as written, and every error in one line.

    Errors the user can fix (`LeadmlError`, bad options) print one `error:` line on stderr
    and exit non-zero; with `--debug`, a LeadmlError or an unforeseen error raises with
    its traceback. Handling lives here rather than around `app()` so that the console
    script and in-process runs (CliRunner) behave the same.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        state["debug"] = False
        escape_help(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:  # the help was printed as the error was made
            sys.exit(exc.exit_code)
        except UsageError as exc:
            print_error(usage_message(exc))
            # 1, not click's 2: commands give other codes meanings (2: drift alert; retrain's
            # 3 and 4), and 1 is "error" in all of them.
            sys.exit(1)
        except ClickException as exc:
            print_error(one_line(exc.format_message()))
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        except LeadmlError as exc:
            if state["debug"]:
                raise
            print_error(str(exc))
            sys.exit(exc.exit_code)
        except Exception as exc:
            if state["debug"]:
                raise
            if type(exc).__module__.startswith("mlflow."):  # its store refused: say which
                print_error(
                    f"MLflow: {one_line(str(exc))} (check --tracking-uri, or [mlflow] "
                    "tracking_uri in leadml.toml)"
                )
                sys.exit(1)
            print_error(
                f"{INTERNAL_ERROR} {type(exc).__name__}: {one_line(str(exc))} (run the command "
                "again with --debug to see the traceback, and report it as a leadml bug)"
            )
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
