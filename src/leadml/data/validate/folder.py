"""Validate a data folder: find and read both tables, run every check, build the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.io import RawTable, TableReadError, find_table, read_raw
from leadml.data.validate.checks import TableCheck
from leadml.data.validate.events import check_events
from leadml.data.validate.leads import check_leads
from leadml.data.validate.report import Problem, ProblemLog, ValidationReport


@dataclass(frozen=True)
class ValidationResult:
    """The report, plus the clean frames (None for a table that could not be read)."""

    report: ValidationReport
    leads: pd.DataFrame | None
    events: pd.DataFrame | None


def validate_folder(path: Path, *, now: pd.Timestamp | None = None) -> ValidationReport:
    """Check the leads and events in folder `path` against the data contract.

    `now` (default: the wall clock) is the moment after which timestamps count as future.
    """
    return check_folder(path, now=now).report


def check_folder(path: Path, *, now: pd.Timestamp | None = None) -> ValidationResult:
    """Validate folder `path` and also return the clean frames (used by `load_dataset`)."""
    path = Path(path)
    moment = utc_now(now)
    log = ProblemLog()
    notes: list[str] = []
    if not path.is_dir():
        hint = (
            ": pass the folder that holds this file, not the file itself" if path.is_file() else ""
        )
        log.add(
            Problem(
                "error",
                "missing_file",
                str(path),
                None,
                None,
                None,
                f"a folder holding the leads and events tables{hint}",
            )
        )
        return ValidationResult(ValidationReport(path, log.problems(), notes), None, None)

    leads_raw = _read(path, schema.LEADS, log)
    events_raw = _read(path, schema.EVENTS, log)
    leads, events = check_tables(leads_raw, events_raw, moment, log, notes)
    report = ValidationReport(path, log.problems(), notes)
    return ValidationResult(report, leads, events)


def check_tables(
    leads_raw: RawTable | None,
    events_raw: RawTable | None,
    now: pd.Timestamp,
    log: ProblemLog,
    notes: list[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Run every check on a leads and an events table (a folder's, or one partition's)
    into `log` and `notes`; return the clean frames (None for a table not checked)."""
    checked = None
    if leads_raw is not None:
        checked = check_leads(TableCheck(leads_raw, log, notes), now)
    events = None
    if events_raw is not None:
        events = check_events(TableCheck(events_raw, log, notes), checked, now)
    return None if checked is None else checked.frame, events


def utc_now(now: pd.Timestamp | None) -> pd.Timestamp:
    """`now` as a UTC timestamp (naive read as UTC); the wall clock when None."""
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    moment = pd.Timestamp(now)
    return moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")


def _read(folder: Path, name: str, log: ProblemLog) -> RawTable | None:
    """Read one table, turning read failures and read issues into problems."""
    try:
        raw = read_raw(find_table(folder, name))
    except TableReadError as exc:
        file = name if exc.code == "missing_file" else str(exc.file)
        expected = exc.expected or exc.message
        if exc.code == "missing_file":
            expected = f"{exc.message}: {expected}"
        log.add(Problem("error", exc.code, file, exc.row, None, exc.value, expected))
        return None
    by_code: dict[str, list] = {}
    for issue in raw.issues:
        by_code.setdefault(issue.code, []).append(issue)
    for code, issues in by_code.items():
        log.rows(
            "error",
            code,
            raw.name,
            None,
            np.array([i.row for i in issues], dtype=np.int64),
            [i.value for i in issues],
            [i.expected for i in issues],
            len(issues),
        )
    return raw
