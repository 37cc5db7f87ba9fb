"""Vectorised parsing of raw columns into clean ones: timestamps, numbers, text, categories.

Each parser returns the clean values plus masks saying which raw values were present
and which could not be parsed, so the checks can report them row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
"""Clean timestamps: microseconds (pandas 3's default unit), UTC."""

FALLBACK_FORMATS = (
    "ISO8601",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y",
    "%b %d %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%B %d, %Y",
    "%m/%d/%y",
)
"""Formats tried, most-matching first, for values that are not ISO 8601. On a tie the
earlier one wins, so slash dates whose day is never above 12 read month first (US)."""

_TZ_WORD = r"\s+(?:UTC|GMT)$"
_FORMAT_SAMPLE = 5_000


@dataclass(frozen=True)
class Parsed:
    """Clean values, which raw values were present, and which of those were unreadable."""

    values: pd.Series
    present: np.ndarray
    bad: np.ndarray
    formats: dict[str, int] = field(default_factory=dict)
    """Non-ISO formats used, with how many values each read (timestamps only)."""


def as_text(raw: pd.Series) -> pd.Series:
    """Strings with surrounding whitespace trimmed; blank cells become missing (NaN)."""
    text = raw if isinstance(raw.dtype, pd.StringDtype) else raw.astype("str")
    text = text.str.strip()
    blank = text.eq("")
    return text.mask(blank) if blank.any() else text


def parse_timestamps(raw: pd.Series) -> Parsed:
    """Parse to UTC: typed datetimes are converted (naive read as UTC), text is parsed as
    ISO 8601 and then as the common `FALLBACK_FORMATS`."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        values = raw.dt.tz_convert("UTC").dt.as_unit("us")
        return Parsed(values, values.notna().to_numpy(), np.zeros(len(raw), dtype=bool))
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        values = raw.dt.tz_localize("UTC").dt.as_unit("us")
        return Parsed(values, values.notna().to_numpy(), np.zeros(len(raw), dtype=bool))
    text = as_text(raw)
    present = text.notna().to_numpy()
    values = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").dt.as_unit("us")
    bad = present & values.isna().to_numpy()
    formats: dict[str, int] = {}
    if bad.any():
        values, bad, formats = _parse_fallback(text, values, bad)
    return Parsed(values, present, bad, formats)


def _parse_fallback(
    text: pd.Series, values: pd.Series, bad: np.ndarray
) -> tuple[pd.Series, np.ndarray, dict[str, int]]:
    """Read leftover values with the formats that fit them best (chosen on a sample)."""
    todo = np.flatnonzero(bad)
    rest = text.iloc[todo].str.replace(_TZ_WORD, "", regex=True)
    sample = pd.Series(pd.unique(rest.to_numpy())[:_FORMAT_SAMPLE], dtype="str")
    order: list[str] = []
    candidates = list(FALLBACK_FORMATS)
    while candidates and len(sample):
        hits = {fmt: _to_utc(sample, fmt).notna().to_numpy() for fmt in candidates}
        best = max(candidates, key=lambda fmt: int(hits[fmt].sum()))
        if not hits[best].any():
            break
        order.append(best)
        candidates.remove(best)
        sample = sample[~hits[best]]
    out = values.array.copy()
    still = np.ones(len(todo), dtype=bool)
    formats: dict[str, int] = {}
    for fmt in order:
        left = np.flatnonzero(still)
        parsed = _to_utc(rest.iloc[left], fmt)
        ok = parsed.notna().to_numpy()
        if ok.any():
            out[todo[left[ok]]] = parsed.array[ok]
            still[left[ok]] = False
            formats[fmt] = int(ok.sum())
    new_bad = np.zeros(len(bad), dtype=bool)
    new_bad[todo[still]] = True
    return pd.Series(out, index=values.index, name=values.name), new_bad, formats


def _to_utc(text: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(text, utc=True, format=fmt, errors="coerce").dt.as_unit("us")


def parse_numbers(raw: pd.Series) -> Parsed:
    """Parse to float64; text that is not a plain finite number (e.g. '1,200', 'n.a.',
    'inf') is bad and becomes NaN."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.astype("float64")
        present = values.notna().to_numpy()
    else:
        text = as_text(raw)
        present = text.notna().to_numpy()
        values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = present & ~np.isfinite(values.to_numpy())
    return Parsed(values.mask(bad), present, bad)


@dataclass(frozen=True)
class Categories:
    """A normalised category column and counts per distinct raw spelling."""

    values: pd.Series
    """Canonical strings; NaN where the raw value was missing or blank."""
    raw: list[str]
    """Distinct raw spellings, in order of first appearance."""
    canonical: list[str | None]
    counts: np.ndarray
    first: np.ndarray
    """Position of the first row with each raw spelling."""
    missing: np.ndarray
    """Rows whose value is missing or blank."""

    def changed(self) -> list[tuple[str, str, int, int]]:
        """(raw, canonical, count, first position) for spellings that were rewritten."""
        return [
            (raw, canon, int(n), int(first))
            for raw, canon, n, first in zip(
                self.raw, self.canonical, self.counts, self.first, strict=True
            )
            if canon is not None and canon != raw
        ]

    def outside(self, vocabulary: set[str]) -> list[tuple[str, int, int]]:
        """(canonical value, count, first position) for values not in `vocabulary`."""
        found: dict[str, tuple[int, int]] = {}
        for canon, n, first in zip(self.canonical, self.counts, self.first, strict=True):
            if canon is None or canon in vocabulary:
                continue
            count, pos = found.get(canon, (0, int(first)))
            found[canon] = (count + int(n), min(pos, int(first)))
        return [(canon, count, pos) for canon, (count, pos) in found.items()]


def normalise_categories(raw: pd.Series, canonical: Callable[[str], str]) -> Categories:
    """Apply `canonical` once per distinct raw value and spread the result to all rows."""
    text = raw if isinstance(raw.dtype, pd.StringDtype) else raw.astype("str")
    codes, uniques = pd.factorize(text)  # missing values get code -1
    spellings = [str(u) for u in uniques]
    mapped = [canonical(s) or None for s in spellings]
    absent = codes < 0
    blank = np.array([m is None for m in mapped] + [True], dtype=bool)  # [-1]: missing
    counts = np.bincount(codes[~absent] if absent.any() else codes, minlength=len(spellings))
    if mapped == spellings and isinstance(raw.dtype, pd.StringDtype):
        values = raw  # already canonical: skip rebuilding a long column
    else:
        values = pd.Series(
            pd.array(mapped, dtype="str").take(codes, allow_fill=True),
            index=raw.index,
            name=raw.name,
        )
    return Categories(
        values=values,
        raw=spellings,
        canonical=mapped,
        counts=counts,
        first=_first_positions(codes, len(spellings)),
        missing=blank[codes],
    )


def _first_positions(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Row of each code's first appearance; codes are numbered in order of appearance.

    Scans growing blocks and stops once every code is found, so a column with a few
    distinct values costs next to nothing however long it is.
    """
    first = np.empty(n_codes, dtype=np.int64)
    found, start, step = 0, 0, 1 << 12
    while found < n_codes and start < len(codes):
        block = codes[start : start + step]  # -1 (missing) never raises the running maximum
        running = np.maximum.accumulate(np.maximum(block, found - 1))
        new = np.flatnonzero(np.diff(running, prepend=found - 1) > 0)
        first[found : found + len(new)] = new + start
        found += len(new)
        start += step
        step *= 2
    return first
