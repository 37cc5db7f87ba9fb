"""Checks and cleaning for the events table (one row per engagement)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.data.validate.checks import TableCheck
from leadml.data.validate.leads import CheckedLeads
from leadml.data.validate.parse import TIMESTAMP_DTYPE, normalise_categories

_KNOWN_EVENTS = frozenset(schema.EVENT_TYPES)
_POST_CONVERSION = frozenset(schema.POST_CONVERSION_EVENTS)


def check_events(
    check: TableCheck, leads: CheckedLeads | None, now: pd.Timestamp
) -> pd.DataFrame | None:
    """Report every problem in the events table and build its clean frame.

    Events are matched to `leads` (unknown lead_id, events before created_at) only when
    the leads table was readable and has a lead_id column.
    """
    frame = check.raw.frame
    n = len(frame)
    check.notes.append(f"{check.file}: {n:,} events, {frame.shape[1]} columns")
    extras = check.check_columns(schema.EVENT_REQUIRED)
    present = set(frame.columns)
    index = pd.RangeIndex(n)

    if schema.LEAD_ID in present:
        ids = check.required_text(schema.LEAD_ID)
    else:
        ids = pd.Series(np.nan, index=index, dtype="str")

    if schema.OCCURRED_AT in present:
        occurred, occurred_ok = check.timestamps(schema.OCCURRED_AT, now, required=True)
    else:
        occurred = pd.Series(pd.NaT, index=index, dtype=TIMESTAMP_DTYPE)
        occurred_ok = np.zeros(n, dtype=bool)

    if schema.EVENT_TYPE in present:
        types = _event_types(check)
    else:
        types = pd.Series(np.nan, index=index, dtype="str")

    if leads is not None and leads.has_ids and schema.LEAD_ID in present:
        _match_leads(check, leads, ids, occurred, occurred_ok)
    elif n:
        check.notes.append(f"{check.file}: events not matched to leads (no usable leads table)")

    clean = {schema.LEAD_ID: ids, schema.OCCURRED_AT: occurred, schema.EVENT_TYPE: types}
    clean.update({column: frame[column] for column in extras})
    return pd.DataFrame(clean, index=index)


def _event_types(check: TableCheck) -> pd.Series:
    column = schema.EVENT_TYPE
    cats = normalise_categories(check.raw.frame[column], schema.CANONICAL_FORM[column])
    check.rows(
        "error",
        "missing_value",
        column,
        cats.missing,
        None,
        f"an event type on every row, e.g. {', '.join(schema.EVENT_TYPES[:4])}",
    )
    check.normalised(column, cats, "'page_view' or 'demo_request'")
    outside = cats.outside(set(_KNOWN_EVENTS))
    check.values(
        "warning",
        "post_conversion_event",
        column,
        [item for item in outside if item[0] in _POST_CONVERSION],
        "events that can happen before a conversion; this one only happens after one, "
        "so it is kept but never used as a feature",
    )
    check.values(
        "warning",
        "unknown_event_type",
        column,
        [item for item in outside if item[0] not in _POST_CONVERSION],
        f"one of the {len(schema.EVENT_TYPES)} known event types (page_view, email_open, "
        "demo_request, trial_signup, ... see leadml.schema.EVENT_TYPES); kept as is and "
        "ignored by the features: map it to a known type if it means one",
    )
    return cats.values


def lead_positions(event_ids: pd.Series, lead_ids: pd.Series) -> np.ndarray:
    """Position in `lead_ids` of each event's lead (its first row), or -1 if unknown."""
    first = (lead_ids.notna() & ~lead_ids.duplicated(keep="first")).to_numpy()
    keys = lead_ids if first.all() else lead_ids[first]
    # Arrow's hash lookup is several times faster than pandas' for 10M+ strings.
    found = pc.index_in(
        pa.array(event_ids.array).cast(pa.large_string()),
        value_set=pa.array(keys.array).cast(pa.large_string()),
    )
    if found.null_count:
        found = pc.fill_null(found, -1)
    idx = found.to_numpy(zero_copy_only=False)
    if first.all():
        return idx
    positions = np.flatnonzero(first)
    if len(positions) == 0:  # no usable lead_id at all: every event is unknown
        return np.full(len(idx), -1, dtype=np.int64)
    return np.where(idx >= 0, positions[np.maximum(idx, 0)], -1)


def _match_leads(
    check: TableCheck,
    leads: CheckedLeads,
    ids: pd.Series,
    occurred: pd.Series,
    occurred_ok: np.ndarray,
) -> None:
    lead_ids = leads.frame[schema.LEAD_ID]
    pos = lead_positions(ids, lead_ids)
    unknown = ids.notna().to_numpy() & (pos < 0)
    check.rows(
        "error",
        "unknown_lead",
        schema.LEAD_ID,
        unknown,
        ids,
        f"a lead_id that appears in {leads.raw.name}: add the lead or drop its events",
    )
    known = pos >= 0
    safe = np.where(known, pos, 0)
    created = leads.frame[schema.CREATED_AT].dt.tz_localize(None).to_numpy()[safe]
    when = occurred.dt.tz_localize(None).to_numpy()
    before = known & occurred_ok & leads.created_ok[safe] & (when < created)
    raw = check.raw.frame[schema.OCCURRED_AT]
    shown = occurred if pd.api.types.is_datetime64_any_dtype(raw.dtype) else raw

    def expected(listed: np.ndarray) -> list[str]:
        lead_rows = leads.raw.where(pos[listed])
        if leads.raw.origin is None:
            lead_rows = [f"{leads.raw.name} {r}" for r in lead_rows]
        stamps = leads.frame[schema.CREATED_AT].iloc[pos[listed]]
        return [
            f"an occurred_at on or after the lead's created_at ({ts.isoformat()}, "
            f"{r}); kept, but check the export's time zones"
            for ts, r in zip(stamps, lead_rows, strict=True)
        ]

    check.rows("warning", "event_before_created", schema.OCCURRED_AT, before, shown, expected)
