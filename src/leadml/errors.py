"""Project exceptions. Each carries the facts a user needs to fix the problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LeadmlError(Exception):
    """Base class: a problem the user can fix. The CLI prints it without a traceback."""

    exit_code: int = 1


@dataclass
class InputError(LeadmlError):
    """Bad input: names the file, row, field (or the command-line option), bad value and
    what was expected."""

    message: str
    file: Path | str | None = None
    row: int | None = None
    column: str | None = None
    value: object = None
    expected: str | None = None
    option: str | None = None
    """The command-line option the value came from, e.g. "--as-of"."""
    setting: str | None = None
    """The leadml.toml setting the value came from, e.g. "[dataset] created_at"."""

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file is not None else "",
                f"row {self.row}" if self.row is not None else "",
                f"column {self.column!r}" if self.column is not None else "",
                f"option {self.option}" if self.option is not None else "",
                f"setting {self.setting}" if self.setting is not None else "",
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


@dataclass
class WriteError(LeadmlError):
    """A file leadml writes (ranked list, bundle, report, artifact) could not be written:
    names what and where, why (disk full, read-only, permission) and how to fix it."""

    what: str
    path: Path | str
    reason: str
    fix: str
    note: str = ""
    """Anything else the user must know, e.g. that an earlier file was left as it was."""

    def __str__(self) -> str:
        text = f"cannot write {self.what} {self.path}: {self.reason}; {self.fix}"
        return f"{text}. {self.note}" if self.note else text


def os_error_reason(exc: OSError) -> tuple[str, str]:
    """Why an OSError stopped a write, and how to fix it, in words (reason, fix)."""
    import errno

    where = f"the folder {Path(exc.filename).parent}" if exc.filename else "the folder"
    known = {
        errno.ENOSPC: ("the disk is full", f"free space on the disk holding {where}"),
        errno.EDQUOT: ("the disk quota is exceeded", f"free space in your quota for {where}"),
        errno.EROFS: ("the file system is read-only", "write to a folder on a writable disk"),
        errno.EACCES: ("permission denied", f"make {where} writable for this user"),
        errno.EPERM: ("operation not permitted", f"make {where} writable for this user"),
        errno.EFBIG: ("the file is too large for the file system", "write to another disk"),
    }
    reason, fix = known.get(
        exc.errno or 0, (exc.strerror or type(exc).__name__, "check the folder and the disk")
    )
    return reason, f"{fix}, or write to another folder, then run again"


def write_error(exc: OSError, what: str, path: Path | str, note: str = "") -> WriteError:
    """The one-line WriteError for an OSError met while writing `what` at `path`."""
    reason, fix = os_error_reason(exc)
    return WriteError(what, path, reason, fix, note)
