"""Reading lead and event tables (CSV or Parquet), raw.

Reading is deliberately raw: CSV columns come back as strings exactly as written, so
the validator can quote a bad value back to the user. `leadml.data.load.load_dataset`
is the one call that returns validated, clean frames.
"""

from __future__ import annotations

import codecs
import gzip
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leadml.data.read_issues import ReadIssue, first_non_utf8, open_bytes
from leadml.errors import InputError

TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
"""File names tried for a table, e.g. leads.parquet, leads.csv, leads.csv.gz."""

NA_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "#N/A", "<NA>")
"""CSV cells read as missing. 'None' is not one: it is a lead-source label ('direct')."""

DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "pipes"}
"""Delimiters recognised in a header that is not comma-separated."""

FileFormat = Literal["csv", "parquet"]

MANIFEST = "_leadml.json"
"""A partitioned data folder's manifest: {"co_partitioned_by": "lead_id", "partitions": N,
"format": 1} when leads file i and events file i hold the same leads (leadml wrote it)."""
MANIFEST_FORMAT = 1


def part_name(index: int) -> str:
    """The file name of part `index` of a partitioned table: part-00000.parquet, ..."""
    return f"part-{index:05d}.parquet"


_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields?, saw (\d+)")


@dataclass
class TableReadError(InputError):
    """A table file that cannot be read at all; `code` is a validation problem code."""

    code: str = "unreadable"


@dataclass(frozen=True)
class Origin:
    """Where each row of a table gathered from several files came from: file and row."""

    files: tuple[str, ...]
    """The files, as named in problems."""
    file_index: np.ndarray
    """Per row: index into `files`."""
    row: np.ndarray
    """Per row: its row in that file, as an editor shows it (1-based for Parquet)."""


@dataclass(frozen=True)
class RawTable:
    """A table as stored: CSV columns are strings, Parquet columns keep their types."""

    path: Path
    frame: pd.DataFrame
    file_format: FileFormat
    issues: tuple[ReadIssue, ...] = ()
    skipped_lines: tuple[int, ...] = ()
    """CSV lines not in `frame` (unreadable or blank), needed to map rows to line numbers."""
    label: str | None = None
    """How problems name the table (default: the file name), e.g. a partition's full path."""
    origin: Origin | None = None
    """Set when the rows come from several files: problems name each row's own file."""

    @property
    def name(self) -> str:
        """The file name shown in problems, e.g. 'leads.csv'."""
        return self.label or self.path.name

    def row_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Map 0-based frame positions to what an editor shows: CSV line or Parquet row."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.origin is not None:
            return np.asarray(self.origin.row, dtype=np.int64)[positions]
        if self.file_format == "parquet":
            return positions + 1
        skipped = np.asarray(self.skipped_lines, dtype=np.int64)
        # Data rows kept before each skipped line; a row moves down one line per skipped
        # line at or before it.
        kept_before = skipped - 2 - np.arange(len(skipped))
        return positions + 2 + np.searchsorted(kept_before, positions, side="right")

    def files(self, positions: np.ndarray) -> list[str]:
        """The file each of these 0-based frame positions is in, as problems name it."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.origin is None:
            return [self.name] * len(positions)
        names = self.origin.files
        return [names[i] for i in np.asarray(self.origin.file_index)[positions].tolist()]

    def where(self, positions: np.ndarray) -> list[str]:
        """'row 17' for each position, with its file when the rows come from several."""
        rows = self.row_numbers(positions).tolist()
        if self.origin is None:
            return [f"row {r}" for r in rows]
        return [f"{f} row {r}" for f, r in zip(self.files(positions), rows, strict=True)]


def find_table(folder: Path, name: str) -> Path:
    """The single file holding table `name` in `folder` (leads.parquet, leads.csv, ...)."""
    folder = Path(folder)
    candidates = [folder / f"{name}{suffix}" for suffix in TABLE_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    names = [path.name for path in candidates]
    options = f"{', '.join(names[:-1])} or {names[-1]}"
    if not found:
        raise TableReadError(
            f"no {name} table found",
            file=folder,
            expected=f"one file named {options} in {folder}",
            code="missing_file",
        )
    if len(found) > 1:
        raise TableReadError(
            f"several {name} tables found: {', '.join(p.name for p in found)}",
            file=folder,
            expected=f"exactly one of {options}: remove or rename the others",
            code="missing_file",
        )
    return found[0]


def read_raw(path: Path) -> RawTable:
    """Read one CSV or Parquet file as stored, collecting non-fatal read issues.

    Raises `TableReadError` when nothing usable can be read (zero bytes, UTF-16,
    not a Parquet file).
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise TableReadError(
            "the file is empty (0 bytes)",
            file=path.name,
            expected="a header line and at least one data row",
            code="empty_file",
        )
    if path.name.endswith(".parquet"):
        return _read_parquet(path)
    return _read_csv(path)


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Find and read table `name` as stored; any read issue is raised as `TableReadError`."""
    raw = read_raw(find_table(folder, name))
    if raw.issues:
        issue = raw.issues[0]
        raise TableReadError(
            f"cannot read the file cleanly ({issue.code})",
            file=raw.name,
            row=issue.row,
            value=issue.value,
            expected=issue.expected,
            code=issue.code,
        )
    return raw.frame


# --- Parquet ----------------------------------------------------------------


def _read_parquet(path: Path) -> RawTable:
    return read_parquet_source(path, path)


def read_parquet_source(source: object, path: Path, *, label: str | None = None) -> RawTable:
    """One Parquet file from `source` (a path or an open binary file, e.g. from fsspec)
    as stored; `path` is where it lives, `label` how problems name it."""
    try:
        frame = pd.read_parquet(source, engine="pyarrow")  # type: ignore[call-overload]
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise TableReadError(
            "the file is not a readable Parquet file",
            file=label or path.name,
            value=str(exc)[:200],
            expected="a Parquet file written by pandas, pyarrow or Spark; export it again",
            code="bad_encoding",
        ) from exc
    refuse_duplicate_columns([str(c) for c in frame.columns], path)
    return RawTable(
        path=path, frame=frame.reset_index(drop=True), file_format="parquet", label=label
    )


# --- CSV ----------------------------------------------------------------------


def _read_csv(path: Path) -> RawTable:
    try:
        return _parse_csv(path)
    except pd.errors.ParserError as exc:
        raise TableReadError(
            "the file is not well-formed CSV",
            file=path.name,
            value=str(exc).strip()[:200],
            expected='well-formed CSV: close every opening double quote (") in a value',
            code="bad_delimiter",
        ) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TableReadError(
            "the file is not a readable gzip file",
            file=path.name,
            value=str(exc)[:200],
            expected="a complete .csv.gz file (compress it again) or a plain .csv",
            code="bad_encoding",
        ) from exc


def _parse_csv(path: Path) -> RawTable:
    with open_bytes(path) as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise TableReadError(
            "the file has no header line",
            file=path.name,
            expected="a header line and at least one data row",
            code="empty_file",
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableReadError(
            "the file is UTF-16 encoded",
            file=path.name,
            row=1,
            expected="UTF-8 text: re-save the file as 'CSV UTF-8'",
            code="bad_encoding",
        )
    issues: list[ReadIssue] = []
    encoding_issue = first_non_utf8(path)
    if encoding_issue is not None:
        issues.append(encoding_issue)
    header = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0]
    sep, delimiter_issue = _delimiter(header)
    if delimiter_issue is not None:
        issues.append(delimiter_issue)
    refuse_duplicate_columns(header_names(path, sep), path)
    frame, bad_lines = _read_csv_lines(path, sep, issues)
    raw = RawTable(path, frame, "csv", tuple(issues), tuple(sorted(bad_lines)))
    return _drop_blank_rows(raw)


def refuse_duplicate_columns(names: list[str], file: Path) -> None:
    """A header that names one column twice is an error naming both positions: pandas
    would silently rename the second one (`lead_source.1`) and the reader drop it.

    Names are compared as the readers use them, stripped of surrounding spaces."""
    first: dict[str, int] = {}
    for position, raw in enumerate(names, start=1):
        name = str(raw).strip()
        if name in first:
            raise TableReadError(
                f"column {name!r} appears twice in the header, as columns {first[name]} and "
                f"{position}",
                file=file.name,
                row=1,
                column=name,
                value=name,
                expected=f"each column once ({name!r} is column {first[name]} and column "
                f"{position}): rename or delete one of the two",
                code="duplicate_column",
            )
        first[name] = position


def header_names(path: Path, sep: str, encoding: str = "utf-8-sig") -> list[str]:
    """The CSV header's names exactly as written (pandas de-duplicates them when it reads
    the table)."""
    head = pd.read_csv(
        path,
        sep=sep,
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
        encoding=encoding,
        encoding_errors="replace",
        compression="infer",
    )
    return [str(v) for v in head.iloc[0].tolist()] if len(head) else []


def _delimiter(header: str) -> tuple[str, ReadIssue | None]:
    """The header's delimiter: ',' unless it has none and another known one appears
    (then also the issue saying so)."""
    if "," in header:
        return ",", None
    counts = {d: header.count(d) for d in DELIMITER_NAMES}
    best = max(counts, key=lambda d: counts[d])
    if not counts[best]:
        return ",", None
    return best, ReadIssue(
        code="bad_delimiter",
        row=1,
        value=header[:120],
        expected=(
            f"comma-separated columns; this file is separated by "
            f"{DELIMITER_NAMES[best]} ({best!r}): re-export it with ',' as the "
            "delimiter"
        ),
    )


def _read_csv_lines(
    path: Path, sep: str, issues: list[ReadIssue]
) -> tuple[pd.DataFrame, list[int]]:
    """Every column as text; lines with the wrong number of fields are skipped, each one
    appended to `issues`. Returns the frame and the skipped line numbers."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        frame = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=list(NA_TOKENS),
            encoding="utf-8-sig",
            encoding_errors="replace",
            on_bad_lines="warn",
            skip_blank_lines=False,
            compression="infer",
        )
    bad_lines: list[int] = []
    for warning in caught:
        match = _SKIPPED_LINE.search(str(warning.message))
        if match is None:
            continue
        line, wanted, saw = (int(g) for g in match.groups())
        bad_lines.append(line)
        issues.append(
            ReadIssue(
                code="bad_delimiter",
                row=line,
                value=None,
                expected=(
                    f"{wanted} fields separated by {sep!r} like the header, found {saw}: "
                    f"put values that contain {sep!r} in double quotes"
                ),
            )
        )
    return frame, bad_lines


def _drop_blank_rows(raw: RawTable) -> RawTable:
    """Drop rows whose every cell is empty (blank lines), remembering their line numbers."""
    frame = raw.frame
    if frame.shape[1] == 0 or len(frame) == 0:
        return raw
    candidates = np.flatnonzero(frame.iloc[:, 0].isna().to_numpy())
    if len(candidates) == 0:
        return raw
    blank = candidates[frame.iloc[candidates].isna().all(axis=1).to_numpy()]
    if len(blank) == 0:
        return raw
    lines = raw.row_numbers(blank)
    keep = np.ones(len(frame), dtype=bool)
    keep[blank] = False
    skipped = tuple(sorted({*raw.skipped_lines, *lines.tolist()}))
    return RawTable(
        raw.path,
        frame.loc[keep].reset_index(drop=True),
        raw.file_format,
        raw.issues,
        skipped,
    )


__all__ = [
    "NA_TOKENS",
    "TABLE_SUFFIXES",
    "RawTable",
    "TableReadError",
    "find_table",
    "read_raw",
    "read_table",
]
