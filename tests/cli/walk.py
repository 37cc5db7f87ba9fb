"""Every command of the full `leadml` app, found by walking it, and obviously wrong
arguments derived from each parameter's declared type, so a new command or option is
covered without editing a list."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from typer._click import Command, Parameter
from typer.core import TyperArgument, TyperGroup
from typer.main import get_command

from leadml_serve.cli import app

BOGUS = "no-such-argument"


def root() -> Command:
    """The click command the console script runs (`leadml_serve.cli.app`, with serve and keys)."""
    return get_command(app)


def walk(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """(words after `leadml`, command) for the root, every group and every command."""
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def annotation(param: Parameter) -> Any:
    """The parameter's Python type as declared (None removed), read from Typer."""
    return param.type_descriptor.annotation  # type: ignore[attr-defined]


def info(param: Parameter) -> Any:
    """Typer's OptionInfo or ArgumentInfo: `exists`, `file_okay`, `dir_okay`, ..."""
    return param.type_descriptor.parameter_info  # type: ignore[attr-defined]


def choices(kind: Any) -> tuple[str, ...]:
    """The values of a choice type (an Enum or a Literal), or () for any other type."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return tuple(str(member.value) for member in kind)
    if get_origin(kind) is Literal:
        return tuple(str(value) for value in get_args(kind))
    return ()


def wrong_value(param: Parameter, scratch: Path) -> str | None:
    """An obviously wrong value for `param`, from its type, or None when every value of
    its type is acceptable (free text, flags). `scratch` is an existing folder holding
    the file `scratch/file`.

    A path parameter must say what it accepts (exists, file_okay or dir_okay), so that a
    wrong path is refused before any work; one that says nothing fails here."""
    kind = annotation(param)
    if getattr(param, "is_flag", False) or kind is bool:
        return None
    if kind in (int, float):
        return "not-a-number"
    if choices(kind):
        return "no-such-choice"
    if kind is Path:
        details = info(param)
        if details.exists:
            return str(scratch / "missing" / "nothing-here")
        if not details.dir_okay:
            return str(scratch)  # a folder where a file is wanted
        if not details.file_okay:
            return str(scratch / "file")  # a file where a folder is wanted
        raise AssertionError(
            f"{param.name}: declare what this path accepts (exists=True for an input, "
            "dir_okay=False for a file to write, file_okay=False for a folder to write)"
        )
    return None


def good_value(param: Parameter, scratch: Path) -> str:
    """A value `param` accepts at parse time (to fill the required ones around a case)."""
    kind = annotation(param)
    if kind in (int, float):
        return "1"
    if choices(kind):
        return choices(kind)[0]
    if kind is Path:
        return str(scratch / "file") if not info(param).dir_okay else str(scratch)
    return "x"


@dataclass(frozen=True)
class Case:
    """One run of a command with one wrong argument, and the word its error must name."""

    words: tuple[str, ...]
    wrong: str
    """Which argument is wrong: an option such as `--tune`, a positional, or BOGUS."""
    must_name: str

    def args(self, scratch: Path) -> list[str]:
        return [arg.replace("{scratch}", str(scratch)) for arg in self.words]


def cases() -> Iterator[Case]:
    """For each command: every typed parameter given a wrong value, and a bogus positional;
    for each group: a bogus subcommand. Paths use the placeholder {scratch}."""
    scratch = Path("{scratch}")
    for path, command in walk(root()):
        if isinstance(command, TyperGroup):
            yield Case((*path, BOGUS), BOGUS, BOGUS)
            continue
        positionals = [p for p in command.params if isinstance(p, TyperArgument)]
        options = [p for p in command.params if not isinstance(p, TyperArgument)]
        required = [
            arg for p in options if p.required for arg in (p.opts[0], good_value(p, scratch))
        ]
        # One positional more than it takes: the first that cannot hold it names BOGUS.
        yield Case((*path, *required, *[BOGUS] * (len(positionals) + 1)), "positional", BOGUS)
        for param in command.params:
            wrong = wrong_value(param, scratch)
            if wrong is None:
                continue
            filled = [
                arg
                for p in options
                if p.required and p is not param
                for arg in (p.opts[0], good_value(p, scratch))
            ]
            if isinstance(param, TyperArgument):
                words = [wrong if p is param else good_value(p, scratch) for p in positionals]
                yield Case((*path, *words, *filled), str(param.name), str(param.name))
            else:
                given = [good_value(p, scratch) for p in positionals]
                name = param.opts[0]
                yield Case((*path, *given, *filled, name, wrong), name, name)
