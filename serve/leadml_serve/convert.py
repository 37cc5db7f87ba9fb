"""Requests -> the Scorer's column arrays, plus the per-lead warnings a caller should see.

Categories are cleaned with the data contract's own canonical forms (`schema.CANONICAL_FORM`),
so 'Paid Search' from an API call means what it means in a file. Timestamps become
datetime64[ns] UTC; one without a time zone is read as UTC and warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel

from leadml import schema
from leadml.data.mapping.config import DatasetConfig
from leadml.features.spec import FeatureSpec
from leadml_serve.schemas import LeadIn

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.datetime64("NaT", "ns")
_TEXT = (
    schema.LEAD_SOURCE,
    schema.CAMPAIGN,
    schema.COMPANY,
    schema.INDUSTRY,
    schema.COUNTRY,
    schema.JOB_TITLE,
    schema.SENIORITY,
    schema.EMAIL,
)
_NUMBERS = (schema.EMPLOYEES, schema.ANNUAL_REVENUE, schema.ACQUISITION_COST)
_CHECKED_LEVELS = (schema.LEAD_SOURCE, schema.INDUSTRY, schema.COUNTRY)
"""Request fields that are also categorical model features: unseen values get a warning."""
_KNOWN_EVENTS = frozenset(schema.EVENT_TYPES)
_IGNORED_EVENTS = frozenset(schema.POST_CONVERSION_EVENTS)


@dataclass(frozen=True)
class Columns:
    """A batch of leads as columns, ready for `Scorer.score_columns`."""

    leads: dict[str, Any]
    events: dict[str, Any]
    cutoff: np.ndarray
    warnings: list[list[str]]
    """Per lead, in input order."""


def _ns(stamp: datetime, field: str, warnings: list[str]) -> int:
    if stamp.tzinfo is None:
        warnings.append(f"{field} has no time zone: read as UTC")
        stamp = stamp.replace(tzinfo=UTC)
    delta = stamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _clean(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    return _canonical(field, value)


@lru_cache(maxsize=8192)
def _canonical(field: str, value: str) -> str | None:
    """The contract's canonical form of a category (cached: requests repeat a few values)."""
    canonical = schema.CANONICAL_FORM.get(field)
    text = canonical(value) if canonical else value.strip()
    return text or None


def to_columns(leads: list[LeadIn], spec: FeatureSpec, now: datetime) -> Columns:
    """Turn validated leads into column arrays, each lead's cutoff, and its warnings."""
    n = len(leads)
    text: dict[str, list[str | None]] = {f: [None] * n for f in _TEXT}
    numbers = {f: np.full(n, np.nan) for f in _NUMBERS}
    created = np.empty(n, dtype=np.int64)
    cutoff = np.empty(n, dtype=np.int64)
    event_lead: list[str] = []
    event_type: list[str] = []
    event_time: list[int] = []
    warnings: list[list[str]] = []
    now_ns = _ns(now, "now", [])
    levels = {f: frozenset(spec.column(f).levels) for f in _CHECKED_LEVELS if f in spec.names}
    for i, lead in enumerate(leads):
        notes: list[str] = []
        cut = _ns(lead.as_of, "as_of", notes) if lead.as_of is not None else now_ns
        cutoff[i] = cut
        created[i] = (
            _ns(lead.created_at, "created_at", notes)
            if lead.created_at is not None
            else np.iinfo(np.int64).min
        )
        for field in _TEXT:
            value = _clean(field, getattr(lead, field))
            text[field][i] = value
            known = levels.get(field)
            if value is not None and known is not None and value not in known:
                notes.append(f"{field} {value!r} unseen in training: scored as unknown")
        if text[schema.SENIORITY][i] not in (None, *schema.SENIORITIES):
            notes.append(
                f"seniority {text[schema.SENIORITY][i]!r} is not one of "
                f"{', '.join(schema.SENIORITIES)}: treated as missing"
            )
        for field in _NUMBERS:
            value = getattr(lead, field)
            if value is not None:
                numbers[field][i] = value
        late = 0
        for event in lead.events:
            kind = _canonical(schema.EVENT_TYPE, event.event_type) or ""
            at = _ns(event.occurred_at, "occurred_at", notes)
            if at >= cut:
                late += 1
            elif kind not in _KNOWN_EVENTS:
                if kind in _IGNORED_EVENTS:
                    notes.append(f"event_type {kind!r} happens after a conversion: ignored")
                else:
                    notes.append(f"event_type {kind!r} unknown: ignored")
            event_lead.append(lead.lead_id)
            event_type.append(kind)
            event_time.append(at)
        if late:
            notes.append(f"{late} event(s) at or after as_of ignored")
        if created[i] != np.iinfo(np.int64).min and created[i] > cut:
            notes.append("created_at is after as_of: the lead is scored with no history")
        if lead.model_extra:
            ignored = ", ".join(sorted(lead.model_extra))
            notes.append(f"unknown field(s) ignored: {ignored}")
        warnings.append(_dedupe(notes))
    lead_columns: dict[str, Any] = {
        schema.LEAD_ID: [lead.lead_id for lead in leads],
        schema.CREATED_AT: created.view("datetime64[ns]"),
        **text,
        **numbers,
    }
    event_columns: dict[str, Any] = {
        schema.LEAD_ID: event_lead,
        schema.EVENT_TYPE: event_type,
        schema.OCCURRED_AT: np.asarray(event_time, dtype=np.int64).view("datetime64[ns]"),
    }
    return Columns(lead_columns, event_columns, cutoff.view("datetime64[ns]"), warnings)


def _dedupe(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))


def flat_to_columns(
    leads: Sequence[BaseModel], dataset: DatasetConfig, spec: FeatureSpec
) -> Columns:
    """A flat model's request rows -> export columns for `Scorer.score_columns` (no events,
    no cutoff: a flat export's columns are already as of the moment they were read)."""
    names = dataset.feature_names
    rows = [lead.model_dump(by_alias=True) for lead in leads]
    columns: dict[str, Any] = {dataset.id_name: [lead.lead_id for lead in leads]}  # type: ignore[attr-defined]
    for name in names:
        columns[name] = [row.get(name) for row in rows]
    levels = {
        n: frozenset(spec.column(n).levels) for n in names if spec.column(n).kind == "categorical"
    }
    tokens = {t.strip().lower() for t in dataset.missing}
    warnings: list[list[str]] = []
    for lead, row in zip(leads, rows, strict=True):
        notes = []
        for name, known in levels.items():
            value = row.get(name)
            text = None if value is None else str(value).strip()
            if text and text.lower() not in tokens and text not in known:
                notes.append(f"{name} {text!r} unseen in training: scored as unknown")
        if lead.model_extra:
            notes.append(f"unknown field(s) ignored: {', '.join(sorted(lead.model_extra))}")
        warnings.append(notes)
    empty = {"lead_id": [], "event_type": [], "occurred_at": np.empty(0, "datetime64[ns]")}
    return Columns(columns, empty, np.full(len(leads), _NAT), warnings)
