"""Writing files all or nothing: a complete temp file beside the target, then a rename.

A folder of part files (the Dask engine's Parquet ranked list) is written the same way:
a temp folder beside the target, filled, then swapped in (`stage_folder`).

Temp files are owner-only (0600: a ranked list holds e-mails and phones) and named
`.<target>.<12 hex>.tmp`; a failed write removes its own, and the next write of a file
sweeps those a killed writer left (older than an hour). A full disk, a read-only folder
or a permission problem is a one-line `WriteError`.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

import pandas as pd

from leadml.errors import InputError, write_error

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
"""The table files leadml writes: CSV (plain or gzip), Parquet and Excel."""


def atomic_write_table(df: pd.DataFrame, path: Path, what: str = "the table") -> Path:
    """Write `df` as CSV (.csv, .csv.gz), Parquet (.parquet) or Excel (.xlsx), all or nothing."""
    return stage_table(df, path, what).commit()


def stage_table(df: pd.DataFrame, path: Path, what: str = "the table") -> StagedFile:
    """Write `df` completely into a temporary file beside `path`; `commit` puts it there.

    Lets a job finish its other outputs (the scores store) before the file replaces the
    previous one, so the two never disagree. An unsupported name is an InputError; a
    full, read-only or forbidden folder a one-line WriteError, with no temp file left.
    """
    path = Path(path)
    if path.name.endswith(".parquet"):
        return _stage(path, lambda fh: df.to_parquet(fh, index=False), what)
    if path.name.endswith((".csv", ".csv.gz")):
        gz: Literal["gzip"] | None = "gzip" if path.name.endswith(".gz") else None
        return _stage(path, lambda fh: df.to_csv(fh, index=False, compression=gz), what)
    if path.name.endswith(".xlsx"):
        return _stage(path, lambda fh: write_xlsx(df, fh), what)
    raise InputError(
        "unsupported table file type",
        file=path,
        expected="a file name ending in .parquet, .csv, .csv.gz or .xlsx",
    )


def write_xlsx(df: pd.DataFrame, fh: BinaryIO, sheet: str = "ranked list") -> None:
    """Write `df` as one Excel sheet of typed cells: numbers as numbers, timestamps as dates
    (UTC, without a zone: Excel has none), empty values as empty cells, text as text.

    Text is always a string cell, even when it starts with "=": a typed cell cannot run as
    a formula, so no quote is added. Control characters Excel cannot hold are dropped."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)

    def text(value: str) -> object:
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if not value.startswith("="):
            return value
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"  # openpyxl reads a leading "=" as a formula otherwise
        return cell

    ws.append([text(str(name)) for name in df.columns])
    columns = [_excel_values(df[name]) for name in df.columns]
    for row in zip(*columns, strict=True):
        ws.append([text(v) if isinstance(v, str) else v for v in row])
    book.save(fh)


def _excel_values(column: pd.Series) -> list[object]:
    """A column as plain Python values Excel takes: None for missing, naive UTC datetimes."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    values = column.astype(object).where(column.notna(), None).tolist()
    return [_naive_utc(v) if isinstance(v, datetime) else v for v in values]


def _naive_utc(value: datetime) -> datetime:
    """A datetime as Excel takes it: naive, in UTC (Excel has no time zones). A
    pass-through column of timestamps reaches here as objects, not as a datetime dtype."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def atomic_write_text(text: str, path: Path, what: str = "the file") -> Path:
    """Write UTF-8 text to `path`, all or nothing."""
    data = text.encode("utf-8")
    return _stage(Path(path), lambda fh: fh.write(data), what).commit()


STALE_TEMP_SECONDS = 3600.0
"""A leadml temp file this old is left over from a killed writer; the next write removes it."""
_TEMP = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")
"""leadml's temp-file names: `.ranked.csv.0123456789ab.tmp` beside `ranked.csv`."""


def temp_path(path: Path) -> Path:
    """A new temporary name beside `path` (hidden, random, matching `_TEMP`)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def sweep_stale_temps(path: Path, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove leadml's temp files for `path` older than `max_age` seconds (a writer killed
    with kill -9 leaves one: a partial list of e-mails and phones). Only names in leadml's
    own pattern for this very file are touched; what cannot be removed is left."""
    import time

    removed: list[Path] = []
    cutoff = time.time() - max_age
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for candidate in candidates:
        match = _TEMP.fullmatch(candidate.name)
        if match is None or match["name"] != path.name:
            continue
        try:
            if candidate.lstat().st_mtime >= cutoff or candidate.is_symlink():
                continue
            if candidate.is_file():
                candidate.unlink()
                removed.append(candidate)
            elif candidate.is_dir():  # a staged folder of part files
                shutil.rmtree(candidate)
                removed.append(candidate)
        except OSError:
            continue
    return removed


class StagedFile:
    """A complete file written to a temp name beside its target (owner-only, 0600).

    `commit` gives it the target's permissions (an existing file's, else the umask's) and
    renames it over the target in one step; `discard` removes it. Used as a context
    manager, it is discarded when the block raises before `commit`.
    """

    def __init__(self, tmp: Path, path: Path, what: str) -> None:
        self.tmp = tmp
        self.path = path
        self.what = what
        self.done = False

    def commit(self) -> Path:
        """Put the file in place (atomic rename); a failure leaves the target as it was."""
        try:
            os.chmod(self.tmp, _target_mode(self.path))
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise write_error(exc, self.what, self.path, self.discard()) from exc
        self.done = True
        _sync_folder(self.path.parent)
        return self.path

    def discard(self) -> str:
        """Remove the temp file; returns a note for the user if it could not be removed."""
        if self.done:
            return ""
        self.done = True
        return _remove(self.tmp)

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def _stage(path: Path, write: Callable[[BinaryIO], object], what: str) -> StagedFile:
    """Write into a new 0600 temp file beside `path` and fsync it; nothing is left behind
    when that fails. Stale temp files of earlier, killed writers are swept first."""
    sweep_stale_temps(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise write_error(exc, what, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise write_error(exc, what, path, _remove(tmp)) from exc
    except BaseException:
        _remove(tmp)
        raise
    return StagedFile(tmp, path, what)


def _remove(tmp: Path) -> str:
    """Remove a temp file without raising (a second error would hide the first); returns
    a note naming it when it is still there."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError as exc:
        return f"The temporary file {tmp} could not be removed ({exc.strerror}): delete it"
    return ""


def _target_mode(path: Path) -> int:
    """The permissions the finished file gets: the file it replaces keeps its own, a new
    file gets what the umask allows (as a plain open() would have given it)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0o077)
        os.umask(mask)
        return 0o666 & ~mask


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: not every file system lets a folder sync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stage_folder(path: Path, what: str = "the folder") -> StagedFolder:
    """A new, empty, owner-only temp folder beside `path` to write part files into;
    `commit` swaps it in for whatever `path` held (a folder, or a file of an earlier
    run). A full, read-only or forbidden folder is a one-line WriteError."""
    path = Path(path)
    sweep_stale_temps(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        os.mkdir(tmp, 0o700)
    except OSError as exc:
        raise write_error(exc, what, path) from exc
    return StagedFolder(tmp, path, what)


class StagedFolder:
    """A folder of files written under a temp name beside its target (owner-only, 0700).

    `write_table` adds a Parquet file; `commit` swaps the folder in (the previous target
    is moved aside, then removed once the new one is in place); `discard` removes it.
    Used as a context manager, it is discarded when the block raises before `commit`."""

    def __init__(self, tmp: Path, path: Path, what: str) -> None:
        self.tmp = tmp
        self.path = path
        self.what = what
        self.done = False
        self.files: list[str] = []

    def write_table(self, df: pd.DataFrame, name: str) -> None:
        """Write `df` as the Parquet file `name` in the folder (fsynced)."""
        try:
            with open(self.tmp / name, "xb") as fh:
                df.to_parquet(fh, index=False)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise write_error(exc, self.what, self.path, self.discard()) from exc
        self.files.append(name)

    def commit(self) -> Path:
        """Put the folder in place; a failure leaves the target as it was."""
        try:
            _sync_folder(self.tmp)
            os.chmod(self.tmp, _folder_mode(self.path))
            swap_in(self.tmp, self.path)
        except OSError as exc:
            raise write_error(exc, self.what, self.path, self.discard()) from exc
        self.done = True
        _sync_folder(self.path.parent)
        return self.path

    def discard(self) -> str:
        """Remove the temp folder; returns a note for the user if it could not be removed."""
        if self.done:
            return ""
        self.done = True
        try:
            shutil.rmtree(self.tmp)
        except FileNotFoundError:
            pass
        except OSError as exc:
            note = f"The temporary folder {self.tmp} could not be removed ({exc.strerror})"
            return f"{note}: delete it"
        return ""

    def __enter__(self) -> StagedFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def swap_in(tmp: Path, path: Path) -> None:
    """Put the file or folder `tmp` at `path`. Whatever `path` held (file or folder) is
    moved aside first and removed only once the new one is in place; a failure puts it
    back. (`bundle.save_bundle` keeps its own copy for folders: model/ reaches bundle,
    and the architecture test keeps data/ I/O out of model/'s imports.)"""
    if not os.path.lexists(path):
        os.replace(tmp, path)
        return
    aside = temp_path(path)
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        _remove(aside)


def _folder_mode(path: Path) -> int:
    """The permissions a finished folder gets: those of the folder it replaces, else what
    the umask allows."""
    try:
        if path.is_dir():
            return path.stat().st_mode & 0o777
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o777 & ~mask
