"""Requests -> the Scorer's column arrays, plus the per-lead warnings a caller should see.

Categories are cleaned with the data contract's own canonical forms (`schema.CANONICAL_FORM`),
so 'Paid Search' from an API call means what it means in a file. Timestamps become
datetime64[ns] UTC; one without a time zone is read as UTC and warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from leadml import schema
from leadml.schema import LeadColumn
from leadml.scoring import MAX_EVENT_AGE_NS, Category, DatasetConfig, FeatureSpec, categories
from leadml_serve.schemas import ValidLead

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.datetime64("NaT", "ns")
_MISSING_NS = np.iinfo(np.int64).min
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


@dataclass(frozen=True)
class _Plan:
    """The contract's scoring columns (`schema.scoring_columns`) by how a request's value
    becomes an array value: the same list the request model is generated from."""

    text: tuple[str, ...]
    """Canonicalised text (the lead id aside: it is kept exactly as sent)."""
    numbers: tuple[str, ...]
    stamps: tuple[str, ...]
    vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, columns: tuple[LeadColumn, ...]) -> _Plan:
        def named(kind: str) -> tuple[str, ...]:
            return tuple(c.name for c in columns if c.kind == kind and c.name != schema.LEAD_ID)

        vocabularies = {c.name: c.vocabulary for c in columns if c.vocabulary is not None}
        return cls(named("text"), named("number"), named("timestamp"), vocabularies)


_PLANS: list[tuple[tuple[LeadColumn, ...], _Plan]] = []
_KNOWN: list[tuple[FeatureSpec, dict[str, Category]]] = []


def _plan() -> _Plan:
    """The plan of the contract as it is now (rebuilt only when `LEAD_COLUMNS` changes)."""
    columns = schema.LEAD_COLUMNS
    if not _PLANS or _PLANS[0][0] is not columns:
        _PLANS[:] = [(columns, _Plan.of(schema.scoring_columns(columns)))]
    return _PLANS[0][1]


def _categories(spec: FeatureSpec) -> dict[str, Category]:
    """`scoring.categories` of a spec, remembered for the last few specs served."""
    for seen, known in _KNOWN:
        if seen is spec:
            return known
    known = categories(spec)
    _KNOWN[:] = [(spec, known), *_KNOWN[:3]]
    return known


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


@dataclass
class _Events:
    """Every request lead's events as three growing columns."""

    lead: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    at: list[int] = field(default_factory=list)

    def add(self, lead: ValidLead, cut: int, notes: list[str]) -> None:
        """Append one lead's events, noting late, unknown and post-conversion ones."""
        late = ancient = 0
        for event in lead.events:
            kind = _canonical(schema.EVENT_TYPE, event.event_type) or ""
            at = _ns(event.occurred_at, schema.OCCURRED_AT, notes)
            if cut - at > MAX_EVENT_AGE_NS:
                ancient += 1
            if at >= cut:
                late += 1
            elif kind not in _KNOWN_EVENTS:
                if kind in _IGNORED_EVENTS:
                    notes.append(f"event_type {kind!r} happens after a conversion: ignored")
                else:
                    notes.append(f"event_type {kind!r} unknown: ignored")
            self.lead.append(lead.lead_id)
            self.kind.append(kind)
            self.at.append(at)
        if late:
            notes.append(f"{late} event(s) at or after as_of ignored")
        if ancient:
            years = MAX_EVENT_AGE_NS // (_DAY_NS * 365)
            notes.append(
                f"{ancient} event(s) more than {years} years before as_of: counted as "
                f"{years} years old (check occurred_at)"
            )

    def columns(self) -> dict[str, Any]:
        return {
            schema.LEAD_ID: self.lead,
            schema.EVENT_TYPE: self.kind,
            schema.OCCURRED_AT: np.asarray(self.at, dtype=np.int64).view("datetime64[ns]"),
        }


_DAY_NS = 86_400 * 10**9


def to_columns(
    leads: Sequence[ValidLead],
    spec: FeatureSpec,
    now: datetime,
    *,
    max_age_days: int | None = None,
) -> Columns:
    """Turn validated leads (`schemas.LeadIn`) into column arrays: every scoring column of
    the contract, each lead's cutoff, its events and its warnings. `max_age_days`: the
    oldest lead age the model was trained on; an older lead is scored with a warning."""
    plan = _plan()
    n = len(leads)
    text: dict[str, list[str | None]] = {f: [None] * n for f in plan.text}
    numbers = {f: np.full(n, np.nan) for f in plan.numbers}
    stamps = {f: np.full(n, _MISSING_NS, dtype=np.int64) for f in plan.stamps}
    created = stamps.get(schema.CREATED_AT)
    cutoff = np.empty(n, dtype=np.int64)
    events = _Events()
    warnings: list[list[str]] = []
    now_ns = _ns(now, "now", [])
    known = _categories(spec)
    levels = {f: known[f].levels for f in plan.text if f in known and not known[f].long_tail}
    for i, lead in enumerate(leads):
        notes: list[str] = []
        cut = cutoff[i] = _ns(lead.as_of, "as_of", notes) if lead.as_of is not None else now_ns
        for name in plan.stamps:
            value = getattr(lead, name)
            if value is not None:
                stamps[name][i] = _ns(value, name, notes)
        for name in plan.text:
            value = text[name][i] = _clean(name, getattr(lead, name))
            _check_text(name, value, levels.get(name), plan.vocabularies.get(name), notes)
        for name in plan.numbers:
            value = getattr(lead, name)
            if value is not None:
                numbers[name][i] = value
        events.add(lead, cut, notes)
        if created is not None and created[i] != _MISSING_NS:
            _check_age(int(cut - created[i]), max_age_days, notes)
        if lead.model_extra:
            notes.append(f"unknown field(s) ignored: {', '.join(sorted(lead.model_extra))}")
        warnings.append(_dedupe(notes))
    lead_columns: dict[str, Any] = {
        schema.LEAD_ID: [lead.lead_id for lead in leads],
        **{name: values.view("datetime64[ns]") for name, values in stamps.items()},
        **text,
        **numbers,
    }
    return Columns(lead_columns, events.columns(), cutoff.view("datetime64[ns]"), warnings)


def _check_age(age_ns: int, max_age_days: int | None, notes: list[str]) -> None:
    """Warn about a lead created after its scoring moment, or older than training saw."""
    if age_ns < 0:
        notes.append("created_at is after as_of: the lead is scored with no history")
    elif max_age_days is not None and age_ns > max_age_days * _DAY_NS:
        notes.append(
            f"the lead is {age_ns // _DAY_NS:,} days old, older than any lead the model was "
            f"trained on ({max_age_days:,} days): scored as a lead of that age"
        )


def _check_text(
    name: str,
    value: str | None,
    levels: frozenset[str] | None,
    vocabulary: tuple[str, ...] | None,
    notes: list[str],
) -> None:
    """Warn about a value the model never saw, or one outside the contract's closed list."""
    if value is None:
        return
    if levels is not None and value not in levels:
        notes.append(f"{name} {value!r} unseen in training: scored as unknown")
    if vocabulary is not None and value not in vocabulary:
        notes.append(f"{name} {value!r} is not one of {', '.join(vocabulary)}: treated as missing")


def _dedupe(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))


def flat_to_columns(
    leads: Sequence[ValidLead], dataset: DatasetConfig, spec: FeatureSpec
) -> Columns:
    """A flat model's request rows -> export columns for `Scorer.score_columns` (no events,
    no cutoff: a flat export's columns are already as of the moment they were read)."""
    names = dataset.feature_names
    rows = [lead.model_dump(by_alias=True) for lead in leads]
    columns: dict[str, Any] = {dataset.id_name: [lead.lead_id for lead in leads]}
    for name in names:
        columns[name] = [row.get(name) for row in rows]
    if dataset.calendar_columns and dataset.created_at:
        columns[dataset.created_at] = [row.get(dataset.created_at) for row in rows]
    model_categories = _categories(spec)
    levels = {n: model_categories[n].levels for n in names if n in model_categories}
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
