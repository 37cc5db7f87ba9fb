"""The validation report: problems (file, row, column, value, expected) and notes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leadml.errors import LeadmlError

Severity = Literal["error", "warning"]

ERROR_CODES: dict[str, str] = {
    "missing_file": "no leads or events file in the folder (or several for one table)",
    "empty_file": "a file with zero bytes, or a leads file with a header but no rows",
    "bad_encoding": "bytes that are not UTF-8 (or a damaged Parquet file)",
    "bad_delimiter": "not comma-separated, or a row with more fields than the header",
    "missing_column": "a required column is absent",
    "duplicate_column": "a column named twice in the header",
    "missing_value": "a required value is empty",
    "unparseable_timestamp": "a timestamp in no recognised format",
    "future_timestamp": "a timestamp later than the moment of validation",
    "duplicate_lead_id": "a lead_id already used by an earlier row",
    "unknown_lead": "an event whose lead_id is not in the leads file",
    "negative_value": "a negative count, size or cost",
    "not_a_number": "text where a number was expected (or an infinite number)",
    "converted_before_created": "converted_at earlier than created_at",
}
"""Problems that make the data unusable: `load_dataset` refuses it."""

WARNING_CODES: dict[str, str] = {
    "normalised_category": "messy category values rewritten to the canonical spelling",
    "unknown_category": "a category outside the known vocabulary (kept as is)",
    "unknown_event_type": "an event type outside the vocabulary (kept as is)",
    "post_conversion_event": "an event that only happens after conversion (kept, never a feature)",
    "duplicate_contact": "the same email on several lead_ids",
    "missing_optional_column": "an optional column is absent (filled with missing values)",
    "event_before_created": "an event earlier than its lead's created_at (kept)",
}
"""Problems that are reported but do not stop loading."""

ROW_CAP = 20
"""Per (file, code, column): rows listed one by one before the rest is summarised."""


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, the bad value, and what would fix it."""

    severity: Severity
    code: str
    file: str
    row: int | None
    column: str | None
    value: object | None
    expected: str
    count: int = 1
    """How many rows or values this line stands for (more than 1 for summary lines)."""

    def describe(self) -> str:
        """One human line: 'leads.csv row 5, column created_at: ... (got 'x'); expected ...'."""
        where = " ".join(
            part
            for part in (
                self.file,
                f"row {self.row}" if self.row is not None else "",
                f"column {self.column!r}" if self.column else "",
            )
            if part
        )
        text = f"{where}: {self.code}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.count > 1:
            text += f" x{self.count:,}"
        return f"{text}; expected {self.expected}"


@dataclass
class ValidationReport:
    """Everything found while validating one data folder."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problem lines with severity 'error'."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problem lines with severity 'warning'."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    @property
    def error_count(self) -> int:
        """Erroneous rows and values in total, including those summarised on one line."""
        return sum(p.count for p in self.errors)

    @property
    def warning_count(self) -> int:
        """Warned rows and values in total, including those summarised on one line."""
        return sum(p.count for p in self.warnings)

    def count(self, code: str, column: str | None = None) -> int:
        """Total rows or values with problem `code` (optionally in one column)."""
        return sum(
            p.count
            for p in self.problems
            if p.code == code and (column is None or p.column == column)
        )


class DataValidationError(LeadmlError):
    """The data folder has errors; carries the full `ValidationReport`."""

    def __init__(self, report: ValidationReport, *, shown: int = 5) -> None:
        self.report = report
        self.shown = shown
        super().__init__(str(self))

    def __str__(self) -> str:
        report = self.report
        errors = report.errors
        lines = [
            f"{report.path}: {report.error_count:,} error(s) and "
            f"{report.warning_count:,} warning(s); the data cannot be loaded."
        ]
        lines += [f"  {p.describe()}" for p in errors[: self.shown]]
        if len(errors) > self.shown:
            lines.append(f"  ... and {len(errors) - self.shown:,} more error line(s).")
        lines.append(f"Run `leadml validate {report.path}` for the full list.")
        return "\n".join(lines)


class ProblemLog:
    """Collects problems while checking; lists at most `ROW_CAP` rows per kind."""

    def __init__(self) -> None:
        self._problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        """Record one problem as is."""
        self._problems.append(problem)

    def rows(
        self,
        severity: Severity,
        code: str,
        file: str | Sequence[str],
        column: str | None,
        rows: np.ndarray,
        values: Sequence[object],
        expected: str | Sequence[str],
        total: int,
    ) -> None:
        """Record row-level problems: the first `ROW_CAP` rows, then one summary line.

        `rows`, `values` and per-row `expected` (and `file`, when the rows come from
        several files) need cover only the first `ROW_CAP` rows; `total` is how many rows
        have the problem.
        """
        if total <= 0:
            return
        listed = min(total, ROW_CAP)
        texts = [expected] * listed if isinstance(expected, str) else list(expected)
        files = [file] * listed if isinstance(file, str) else list(file)
        for row, value, text, where in zip(
            rows[:listed], values[:listed], texts[:listed], files[:listed], strict=True
        ):
            self._problems.append(
                Problem(severity, code, where, int(row), column, plain(value), text)
            )
        if total > listed:
            file = files[0] if isinstance(file, str) else _table_of(files)
            generic = expected if isinstance(expected, str) else texts[0]
            self._problems.append(
                Problem(
                    severity,
                    code,
                    file,
                    None,
                    column,
                    None,
                    f"{generic} [{total - listed:,} more rows like the above; {total:,} in total]",
                    count=total - listed,
                )
            )

    def values(
        self,
        severity: Severity,
        code: str,
        file: str | Sequence[str],
        column: str | None,
        items: Sequence[tuple[object, int, int]],
        expected: str,
    ) -> None:
        """Record per-value summaries: (value, count, first row) for each distinct value
        (`file` per item when the items' first rows are in several files)."""
        files = [file] * len(items) if isinstance(file, str) else list(file)
        order = sorted(range(len(items)), key=lambda i: -items[i][1])
        ordered = [items[i] for i in order]
        for (value, count, row), where in zip(
            ordered[:ROW_CAP], [files[i] for i in order[:ROW_CAP]], strict=True
        ):
            self._problems.append(
                Problem(
                    severity,
                    code,
                    where,
                    int(row),
                    column,
                    plain(value),
                    f"{expected} [{count:,} row(s); first at row {row}]",
                    count=int(count),
                )
            )
        rest = ordered[ROW_CAP:]
        if rest:
            total = sum(count for _, count, _ in rest)
            self._problems.append(
                Problem(
                    severity,
                    code,
                    file if isinstance(file, str) else _table_of(files),
                    None,
                    column,
                    None,
                    f"{expected} [{len(rest):,} more distinct values in {total:,} rows]",
                    count=total,
                )
            )

    def problems(self) -> list[Problem]:
        """All problems, errors first, otherwise in the order found."""
        return sorted(self._problems, key=lambda p: p.severity != "error")


def _table_of(files: Sequence[str]) -> str:
    """A summary line's file when its rows are in several: the files, shortened."""
    distinct = list(dict.fromkeys(files))
    return distinct[0] if len(distinct) == 1 else f"{distinct[0]} and {len(distinct) - 1} more"


def plain(value: object) -> object:
    """A value as shown in the report: missing as None, timestamps as ISO text, numbers as
    Python numbers."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return plain(value.item())
    return value
