"""Help text keeps its words: Rich must not read "[dataset]" or "[serve]" as markup."""

from __future__ import annotations

import re

import pytest
from typer._click import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from leadml_serve.cli import app
from tests.cli.walk import root, walk

SECTION = re.compile(r"\[[a-z_]+(?:\.[a-z_]+)*\]")
"""A config section as help text names it: [dataset], [serve], [score.columns]."""

COMMANDS = list(walk(root()))


def sections(command: Command) -> set[str]:
    """The bracketed config sections in the help `command --help` shows, read from the
    source text: its own help, its parameters' help, and its subcommands' first lines."""
    texts = [command.help or ""]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    if isinstance(command, TyperGroup):
        texts += [(sub.help or "").split("\n", 1)[0] for sub in command.commands.values()]
    return {found for text in texts for found in SECTION.findall(text)}


def test_the_source_help_names_config_sections() -> None:
    named = set().union(*(sections(command) for _, command in COMMANDS))
    assert {"[dataset]", "[serve]"} <= named, named  # so the test below checks something


@pytest.mark.parametrize(
    ("words", "command"), COMMANDS, ids=[" ".join(words) or "leadml" for words, _ in COMMANDS]
)
def test_help_shows_every_config_section_verbatim(words: tuple[str, ...], command: Command) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for section in sections(command):
        assert section in result.stdout, f"{section} missing from `{' '.join(words)} --help`"
    assert "\\[" not in result.stdout  # the escape itself never shows
