"""The webhook's JSON: the batch summary and the leads a CRM should hear about.

A lead is *changed* when its grade moved since its previous score, or when it is newly A
(its first score is an A). Unchanged leads are never sent: the CRM already holds them.

Deliveries are bounded: at most `max_leads` changed leads per POST. A batch with more is
sent as several numbered parts (`part` 1..`parts`), each carrying the full summary, so a
receiver can process any part alone and knows when it has them all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd

from leadml.batch import RankedBatch

EVENT = "leadml.batch.scored"
"""The event type every delivery names."""
MAX_LEADS = 500
"""Changed leads per delivery; more are split into numbered parts."""
LEAD_FIELDS = (
    "lead_id",
    "company",
    "lead_source",
    "stage",
    "score",
    "previous_score",
    "grade",
    "previous_grade",
    "trend",
    "reasons",
)
"""Each changed lead's fields, in order (the batch frame's own column names)."""


def changed_leads(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a stored batch whose grade moved since their previous score, or that are
    newly A (first score, grade A); the batch's rank order is kept."""
    missing = [c for c in LEAD_FIELDS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the batch has no {', '.join(missing)} column(s): the webhook needs the "
            "previous grades the store write adds to the batch"
        )
    previous = frame["previous_grade"]
    first = previous.isna()
    moved = ~first & (frame["grade"] != previous)
    return frame.loc[moved | (first & (frame["grade"] == "A"))]


def build_payloads(
    batch: RankedBatch, batch_id: int, *, max_leads: int = MAX_LEADS
) -> list[dict[str, Any]]:
    """The deliveries for one stored batch: always at least one (the summary, even with
    no changed lead), each with at most `max_leads` changed leads."""
    if max_leads < 1:
        raise ValueError("max_leads must be at least 1")
    changed = changed_leads(batch.frame)
    leads = [_lead(row) for row in changed[list(LEAD_FIELDS)].to_dict("records")]
    parts = max(1, math.ceil(len(leads) / max_leads))
    summary = batch.summary()
    excluded = {
        "converted": summary.excluded_converted,
        "not_created": summary.excluded_not_created,
        "stale": summary.excluded_stale,  # open longer than [score] max_open_days
    }
    head = {
        "event": EVENT,
        "batch_id": int(batch_id),
        "as_of": _stamp(batch.as_of),
        "scored_at": _stamp(batch.scored_at),
        "model_version": batch.model_version,
        "grade_mode": batch.grade_mode,
        "leads_scored": summary.leads_scored,
        "grade_counts": summary.grade_counts,
        "excluded": excluded,
        "changed_total": len(leads),
        "parts": parts,
    }
    return [
        {
            **head,
            "part": k + 1,
            "delivery_id": delivery_id(batch_id, k + 1),
            "changed_leads": leads[k * max_leads : (k + 1) * max_leads],
        }
        for k in range(parts)
    ]


def delivery_id(batch_id: int, part: int) -> str:
    """The idempotency key of one delivery: a receiver that saw it already can drop it."""
    return f"batch-{batch_id}-part-{part}"


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed (compact UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _lead(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """One changed lead as plain JSON values (numpy scalars and NaN become int and null)."""
    out: dict[str, Any] = {}
    for name in LEAD_FIELDS:
        value = row[name]
        if value is None or pd.isna(value):
            out[name] = None
        elif name in ("score", "previous_score"):
            out[name] = int(value)
        else:
            out[name] = str(value)
    return out


def _stamp(moment: pd.Timestamp) -> str:
    """An ISO 8601 UTC time, as the ranked list writes `scored_at`."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat().replace("+00:00", "Z")
