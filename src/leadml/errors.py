"""Project exceptions. Each carries the facts a user needs to fix the problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LeadmlError(Exception):
    """Base class: a problem the user can fix. The CLI prints it without a traceback."""

    exit_code: int = 1


@dataclass
class InputError(LeadmlError):
    """Bad input: names the file, row, field, bad value and what was expected."""

    message: str
    file: Path | str | None = None
    row: int | None = None
    column: str | None = None
    value: object = None
    expected: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file is not None else "",
                f"row {self.row}" if self.row is not None else "",
                f"column {self.column!r}" if self.column is not None else "",
            )
            if part
        )
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text


class LeakageError(LeadmlError):
    """A column that leaks the label was offered as a feature."""


class ModelNotFoundError(LeadmlError):
    """A model reference (registry alias, version or bundle path) resolves to nothing."""
