"""Checks and cleaning for the leads table (one row per lead)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.io import RawTable
from leadml.data.validate.checks import TableCheck
from leadml.data.validate.parse import (
    TIMESTAMP_DTYPE,
    as_text,
    normalise_categories,
    parse_numbers,
)
from leadml.data.validate.report import Problem


@dataclass(frozen=True)
class _CategoryRule:
    canonical: Callable[[str], str]
    vocabulary: tuple[str, ...] | None
    example: str


_CATEGORY_RULES: dict[str, _CategoryRule] = {
    schema.INDUSTRY: _CategoryRule(
        schema.CANONICAL_FORM[schema.INDUSTRY],
        schema.INDUSTRIES,
        "'software' or 'healthcare'",
    ),
    schema.SENIORITY: _CategoryRule(
        schema.CANONICAL_FORM[schema.SENIORITY],
        schema.SENIORITIES,
        "'manager' or 'c_level'",
    ),
    schema.COUNTRY: _CategoryRule(schema.CANONICAL_FORM[schema.COUNTRY], None, "'US' or 'DE'"),
}
"""Firmographic categories: how to canonicalise them and the known levels (if closed)."""


@dataclass(frozen=True)
class CheckedLeads:
    """The clean leads frame plus what the events checks need to look leads up."""

    frame: pd.DataFrame
    raw: RawTable
    has_ids: bool
    created_ok: np.ndarray
    """Rows whose created_at is present and readable."""


def check_leads(check: TableCheck, now: pd.Timestamp) -> CheckedLeads | None:
    """Report every problem in the leads table and build its clean frame (None if empty)."""
    frame = check.raw.frame
    if len(frame) == 0:
        check.log.add(
            Problem(
                "error",
                "empty_file",
                check.file,
                None,
                None,
                None,
                "at least one lead row below the header line",
            )
        )
        return None
    n = len(frame)
    check.notes.append(f"{check.file}: {n:,} leads, {frame.shape[1]} columns")
    extras = check.check_columns(schema.LEAD_REQUIRED, schema.LEAD_OPTIONAL)
    present = set(frame.columns)
    clean: dict[str, pd.Series] = {}

    has_ids = schema.LEAD_ID in present
    ids = check.required_text(schema.LEAD_ID) if has_ids else _empty(schema.LEAD_ID, n)
    if has_ids:
        _duplicate_ids(check, ids)
    clean[schema.LEAD_ID] = ids

    created_ok = np.zeros(n, dtype=bool)
    clean[schema.CREATED_AT] = _empty(schema.CREATED_AT, n)
    if schema.CREATED_AT in present:
        clean[schema.CREATED_AT], created_ok = check.timestamps(
            schema.CREATED_AT, now, required=True
        )

    clean[schema.LEAD_SOURCE] = (
        _lead_source(check) if schema.LEAD_SOURCE in present else _empty(schema.LEAD_SOURCE, n)
    )

    for column in schema.LEAD_OPTIONAL:
        if column not in present:
            clean[column] = _empty(column, n)
        elif column in schema.LEAD_NON_NEGATIVE:
            clean[column] = _non_negative(check, column)
        elif column == schema.CONVERTED_AT:
            clean[column] = _converted_at(check, clean[schema.CREATED_AT], created_ok, now)
        elif column in _CATEGORY_RULES:
            clean[column] = _category(check, column, _CATEGORY_RULES[column])
        elif column == schema.EMAIL:
            clean[column] = as_text(frame[column]).str.lower()
        else:
            clean[column] = as_text(frame[column])

    if schema.EMAIL in present and has_ids:
        _duplicate_contacts(check, clean[schema.EMAIL], ids)

    for column in extras:
        clean[column] = frame[column]
    return CheckedLeads(pd.DataFrame(clean, index=frame.index), check.raw, has_ids, created_ok)


def _empty(column: str, n: int) -> pd.Series:
    """An all-missing column of the clean dtype, for a column the file lacks."""
    index = pd.RangeIndex(n)
    if column in schema.LEAD_TIMESTAMPS:
        return pd.Series(pd.NaT, index=index, dtype=TIMESTAMP_DTYPE, name=column)
    if column in schema.LEAD_NON_NEGATIVE:
        return pd.Series(np.nan, index=index, dtype="float64", name=column)
    return pd.Series(np.nan, index=index, dtype="str", name=column)


def _duplicate_ids(check: TableCheck, ids: pd.Series) -> None:
    dup = (ids.duplicated(keep="first") & ids.notna()).to_numpy()

    def expected(listed: np.ndarray) -> list[str]:
        values = ids.iloc[listed]
        firsts = ids[ids.isin(values.unique()) & ~ids.duplicated(keep="first")]
        first_pos = dict(zip(firsts.tolist(), firsts.index, strict=True))
        rows = check.raw.where(np.array([first_pos[v] for v in values]))
        return [
            f"a unique lead_id; {v!r} is already used at {r}: remove or renumber the copy"
            for v, r in zip(values, rows, strict=True)
        ]

    check.rows("error", "duplicate_lead_id", schema.LEAD_ID, dup, ids, expected)


def _lead_source(check: TableCheck) -> pd.Series:
    column = schema.LEAD_SOURCE
    cats = normalise_categories(check.raw.frame[column], schema.CANONICAL_FORM[schema.LEAD_SOURCE])
    check.normalised(column, cats, "'paid_search' or 'referral'")
    n_missing = int(cats.missing.sum())
    if n_missing:
        first = int(np.flatnonzero(cats.missing)[0])
        check.log.add(
            Problem(
                "warning",
                "normalised_category",
                check.raw.files(np.array([first]))[0],
                int(check.raw.row_numbers(np.array([first]))[0]),
                column,
                None,
                f"a lead source on every row; {n_missing:,} empty value(s) set to "
                f"{schema.UNKNOWN!r}",
                count=n_missing,
            )
        )
        check.notes.append(f"{column}: {n_missing:,} missing value(s) set to {schema.UNKNOWN!r}")
    check.values(
        "warning",
        "unknown_category",
        column,
        cats.outside({*schema.LEAD_SOURCES, schema.UNKNOWN}),
        f"one of the known lead sources ({', '.join(schema.LEAD_SOURCES)}) or an alias of "
        "one; kept as is",
    )
    return cats.values.fillna(schema.UNKNOWN)


def _category(check: TableCheck, column: str, rule: _CategoryRule) -> pd.Series:
    cats = normalise_categories(check.raw.frame[column], rule.canonical)
    check.normalised(column, cats, rule.example)
    if rule.vocabulary is not None:
        check.values(
            "warning",
            "unknown_category",
            column,
            cats.outside(set(rule.vocabulary)),
            f"one of {', '.join(rule.vocabulary)} (or an alias of one); kept as is",
        )
    return cats.values


def _non_negative(check: TableCheck, column: str) -> pd.Series:
    raw = check.raw.frame[column]
    parsed = parse_numbers(raw)
    check.rows(
        "error",
        "not_a_number",
        column,
        parsed.bad,
        raw,
        "a plain number such as 1200 or 1200.50 (no thousands separators, units or "
        "currency symbols), or an empty cell if unknown",
    )
    negative = (parsed.values < 0).to_numpy()
    check.rows(
        "error",
        "negative_value",
        column,
        negative,
        raw,
        f"{column} of zero or more (leave the cell empty if unknown)",
    )
    return parsed.values


def _converted_at(
    check: TableCheck, created: pd.Series, created_ok: np.ndarray, now: pd.Timestamp
) -> pd.Series:
    column = schema.CONVERTED_AT
    converted, converted_ok = check.timestamps(column, now, required=False)
    before = created_ok & converted_ok & (converted < created).to_numpy(dtype=bool)

    def expected(listed: np.ndarray) -> list[str]:
        return [
            f"a converted_at on or after created_at ({ts.isoformat()}), or empty if the "
            "lead has not converted"
            for ts in created.iloc[listed]
        ]

    raw = check.raw.frame[column]
    shown = converted if pd.api.types.is_datetime64_any_dtype(raw.dtype) else raw
    check.rows("error", "converted_before_created", column, before, shown, expected)
    return converted


def _duplicate_contacts(check: TableCheck, emails: pd.Series, ids: pd.Series) -> None:
    """Warn about emails that appear on more than one lead_id (possible duplicate leads)."""
    pairs = pd.DataFrame({"email": emails, "lead_id": ids})
    pairs = pairs[pairs["email"].notna() & pairs["lead_id"].notna()]
    pairs = pairs[~pairs.duplicated()]
    repeat = pairs["email"].duplicated(keep="first")
    mask = np.zeros(len(emails), dtype=bool)
    mask[pairs.index[repeat.to_numpy()]] = True
    firsts = pairs[~repeat.to_numpy()]

    def expected(listed: np.ndarray) -> list[str]:
        wanted = emails.iloc[listed]
        hits = firsts[firsts["email"].isin(wanted.unique())]
        where = {
            e: (lid, pos)
            for e, lid, pos in zip(hits["email"], hits["lead_id"], hits.index, strict=True)
        }
        rows = check.raw.where(np.array([where[e][1] for e in wanted]))
        return [
            f"one lead per contact; this email is already on lead_id {where[e][0]!r} "
            f"({r}): merge the leads if they are the same person"
            for e, r in zip(wanted, rows, strict=True)
        ]

    check.rows("warning", "duplicate_contact", schema.EMAIL, mask, emails, expected)
