"""Checks shared by the leads and events tables: columns, required values, timestamps,
categories. Each turns a boolean mask into capped, row-numbered problems."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadml.data.io import RawTable
from leadml.data.validate.parse import Categories, Parsed, as_text, parse_timestamps
from leadml.data.validate.report import ROW_CAP, Problem, ProblemLog, Severity
from leadml.schema import normalise_token


@dataclass
class TableCheck:
    """One raw table under check, with the log and notes its findings go to."""

    raw: RawTable
    log: ProblemLog
    notes: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        """The file name used in problems."""
        return self.raw.name

    def column_problem(self, severity: Severity, code: str, column: str, expected: str) -> None:
        """A problem about a whole column (no row)."""
        self.log.add(Problem(severity, code, self.file, None, column, None, expected))

    def rows(
        self,
        severity: Severity,
        code: str,
        column: str | None,
        mask: np.ndarray,
        values: pd.Series | None,
        expected: str | Callable[[np.ndarray], Sequence[str]],
    ) -> int:
        """Report the rows where `mask` is true; `expected` may be built per listed row
        from their positions. Returns how many rows matched."""
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return 0
        listed = positions[:ROW_CAP]
        shown = values.iloc[listed].tolist() if values is not None else [None] * len(listed)
        texts = expected if isinstance(expected, str) else expected(listed)
        self.log.rows(
            severity,
            code,
            self.raw.files(listed) if self.raw.origin is not None else self.file,
            column,
            self.raw.row_numbers(listed),
            shown,
            texts,
            len(positions),
        )
        return len(positions)

    def values(
        self,
        severity: Severity,
        code: str,
        column: str,
        items: Sequence[tuple[str, int, int]],
        expected: str,
    ) -> None:
        """Report distinct values with their counts; `items` hold (value, count, position)."""
        if not items:
            return
        positions = np.array([pos for _, _, pos in items], dtype=np.int64)
        rows = self.raw.row_numbers(positions)
        self.log.values(
            severity,
            code,
            self.raw.files(positions) if self.raw.origin is not None else self.file,
            column,
            [(v, n, int(r)) for (v, n, _), r in zip(items, rows, strict=True)],
            expected,
        )

    def check_columns(self, required: Sequence[str], optional: Sequence[str] = ()) -> list[str]:
        """Report missing required and optional columns; return the extra columns."""
        present = [str(c) for c in self.raw.frame.columns]
        for column in required:
            if column not in present:
                self.column_problem(
                    "error", "missing_column", column, _missing_column_hint(column, present)
                )
        for column in optional:
            if column not in present:
                self.column_problem(
                    "warning",
                    "missing_optional_column",
                    column,
                    f"an optional column {column!r}; without it every {column} is treated "
                    "as missing",
                )
        known = {*required, *optional}
        extras = [c for c in present if c not in known]
        if extras:
            self.notes.append(f"{self.file}: carried along extra columns: {', '.join(extras)}")
        return extras

    def required_text(self, column: str) -> pd.Series:
        """Trimmed text of a required column; empty values are `missing_value` errors."""
        text = as_text(self.raw.frame[column])
        self.rows(
            "error",
            "missing_value",
            column,
            text.isna().to_numpy(),
            None,
            f"a value in {column!r} on every row",
        )
        return text

    def timestamps(
        self, column: str, now: pd.Timestamp, *, required: bool
    ) -> tuple[pd.Series, np.ndarray]:
        """Parse a timestamp column, reporting missing (if required), unreadable and future
        values. Returns the UTC values and the mask of usable (valid, present) rows."""
        raw = self.raw.frame[column]
        parsed: Parsed = parse_timestamps(raw)
        if required:
            self.rows(
                "error",
                "missing_value",
                column,
                ~parsed.present,
                None,
                f"a date-time in {column!r} on every row",
            )
        self.rows(
            "error",
            "unparseable_timestamp",
            column,
            parsed.bad,
            raw,
            "a date-time such as 2024-03-05T14:30:00Z or 2024-03-05 14:30 (ISO 8601; "
            "03/05/2024 and 05.03.2024 styles are read too)",
        )
        values = parsed.values
        future = (values > now).to_numpy(dtype=bool, na_value=False)
        self.rows(
            "error",
            "future_timestamp",
            column,
            future,
            values if pd.api.types.is_datetime64_any_dtype(raw.dtype) else raw,
            f"a date-time not after the time of validation ({now.isoformat(timespec='seconds')}"
            "); check the clock or time zone of the export",
        )
        for fmt, count in parsed.formats.items():
            if fmt != "ISO8601":
                self.notes.append(f"{self.file}: {column}: read {count:,} values as {fmt!r}")
        usable = parsed.present & ~parsed.bad
        return values, usable

    def normalised(self, column: str, cats: Categories, example: str) -> None:
        """Report (one warning line) and note how many values were rewritten, and how."""
        changed = cats.changed()
        if not changed:
            return
        changed.sort(key=lambda item: -item[2])
        total = sum(n for _, _, n, _ in changed)
        raw, canon, _, first = changed[0]
        self.log.add(
            Problem(
                "warning",
                "normalised_category",
                self.raw.files(np.array([first]))[0],
                int(self.raw.row_numbers(np.array([first]))[0]),
                column,
                raw,
                f"canonical values such as {example}; {_plural(total, 'value')} in "
                f"{_plural(len(changed), 'spelling')} rewritten automatically (e.g. {raw!r} -> "
                f"{canon!r}), see notes",
                count=total,
            )
        )
        shown = ", ".join(f"{r!r} -> {c}: {n:,}" for r, c, n, _ in changed[:5])
        more = ", ..." if len(changed) > 5 else ""
        self.notes.append(f"{column}: normalised {_plural(total, 'value')} ({shown}{more})")


def _missing_column_hint(column: str, present: Sequence[str]) -> str:
    """What to do about a missing column, naming a look-alike header if there is one."""
    alike = [c for c in present if normalise_token(c) == column]
    found = ", ".join(repr(c) for c in present[:12]) + (", ..." if len(present) > 12 else "")
    if alike:
        return f"a column named exactly {column!r}: rename the column {alike[0]!r}"
    return f"a column named {column!r} (the header has: {found or 'no columns'})"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
