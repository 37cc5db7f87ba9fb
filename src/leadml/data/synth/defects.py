"""Deliberately broken data: an adversary for the validator.

`inject_defects` adds malformed rows of every row-level kind the validator catches and
records each one (code, table, 1-based row, lead_id, column, value). Bad rows are new
rows (fresh lead ids, or a repeated one for duplicates), so the clean rows stay as they
were. File-level defects (one small folder each) are written by `file_defects`.
"""

from __future__ import annotations

import dataclasses
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.data.synth.tables import DEFECT_COLUMNS, Funnel
from leadml.data.synth.writer import timestamp_text

FUTURE: Final = "2031-07-04 12:00:00+00:00"
"""Years after any plausible extraction date."""

# (code, column, bad value) for new lead rows; None means a missing value.
LEAD_DEFECTS: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("missing_value", schema.LEAD_ID, None),
    ("missing_value", schema.CREATED_AT, None),
    ("unparseable_timestamp", schema.CREATED_AT, "31/02/2025 25:61"),
    ("unparseable_timestamp", schema.CREATED_AT, "last tuesday"),
    ("unparseable_timestamp", schema.CONVERTED_AT, "2025-13-01"),
    ("future_timestamp", schema.CREATED_AT, FUTURE),
    ("negative_value", schema.EMPLOYEES, "-50"),
    ("negative_value", schema.ANNUAL_REVENUE, "-1200000"),
    ("negative_value", schema.ACQUISITION_COST, "-12.5"),
    ("not_a_number", schema.EMPLOYEES, "approx 50"),
    ("not_a_number", schema.EMPLOYEES, "10-50"),
    ("not_a_number", schema.ANNUAL_REVENUE, "$2.5M"),
    ("not_a_number", schema.ACQUISITION_COST, "twelve"),
    ("unknown_category", schema.LEAD_SOURCE, "TikTok"),
    ("unknown_category", schema.INDUSTRY, "Space Mining"),
)
EVENT_DEFECTS: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("missing_value", schema.LEAD_ID, None),
    ("missing_value", schema.OCCURRED_AT, None),
    ("missing_value", schema.EVENT_TYPE, None),
    ("unparseable_timestamp", schema.OCCURRED_AT, "2025-02-30 10:00:00"),
    ("unparseable_timestamp", schema.OCCURRED_AT, "soon"),
    ("future_timestamp", schema.OCCURRED_AT, FUTURE),
    ("unknown_event_type", schema.EVENT_TYPE, "chatbot_open"),
    ("unknown_event_type", schema.EVENT_TYPE, "podcast_listen"),
)
N_DUPLICATE_IDS: Final = 2
N_UNKNOWN_LEADS: Final = 3
TEXT_COLUMNS: Final = {
    schema.LEADS: (
        schema.CREATED_AT,
        schema.CONVERTED_AT,
        schema.EMPLOYEES,
        schema.ANNUAL_REVENUE,
        schema.ACQUISITION_COST,
    ),
    schema.EVENTS: (schema.OCCURRED_AT,),
}
"""Columns that hold text once malformed values are in them."""


def _as_text(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Render columns as the strings a CSV export would hold (nulls stay null)."""
    out = frame.copy()
    for col in columns:
        values = out[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[col] = timestamp_text(values)
        else:
            text = pc.cast(pa.array(values, from_pandas=True), pa.large_string())
            out[col] = pd.Series(pd.array(text, dtype="str"), index=out.index)
    return out


def _place(
    frame: pd.DataFrame, extra: pd.DataFrame, after: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Insert extra rows at random positions (each after position `after`); new 1-based rows."""
    n = len(frame)
    key = np.concatenate(
        [np.arange(n, dtype=np.float64), after + 0.5 + rng.random(len(extra)) * (n - 1 - after)]
    )
    order = np.argsort(key, kind="stable")
    combined = pd.concat([frame, extra], ignore_index=True).iloc[order].reset_index(drop=True)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return combined, position[n:] + 1


def _lead_rows(
    leads: pd.DataFrame, rng: np.random.Generator, width: int
) -> tuple[pd.DataFrame, list[dict[str, object]], np.ndarray]:
    """New malformed lead rows (copies of random leads), their records, and insert-after rows."""
    n = len(leads)
    donors = rng.integers(0, n, len(LEAD_DEFECTS) + 1)
    rows = leads.iloc[donors].reset_index(drop=True)
    rows[schema.LEAD_ID] = [f"L{n + 1 + i:0{width}d}" for i in range(len(rows))]
    rows[schema.CONVERTED_AT] = None  # one defect per row: no knock-on conversion problems
    records: list[dict[str, object]] = []
    for i, (code, column, value) in enumerate(LEAD_DEFECTS):
        rows.loc[i, column] = value
        records.append(_record(code, schema.LEADS, rows.loc[i, schema.LEAD_ID], column, value))
    last = len(LEAD_DEFECTS)
    created = pd.Timestamp(str(rows.loc[last, schema.CREATED_AT]))
    early = (created - pd.Timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S+00:00")
    rows.loc[last, schema.CONVERTED_AT] = early
    records.append(
        _record(
            "converted_before_created",
            schema.LEADS,
            rows.loc[last, schema.LEAD_ID],
            schema.CONVERTED_AT,
            early,
        )
    )
    dup_of = np.sort(rng.choice(n, N_DUPLICATE_IDS, replace=False))
    dups = leads.iloc[dup_of].reset_index(drop=True)
    dups.loc[0, schema.LEAD_SOURCE] = "Referral"  # same id, different content
    for lead_id in dups[schema.LEAD_ID]:
        records.append(_record("duplicate_lead_id", schema.LEADS, lead_id, schema.LEAD_ID, lead_id))
    extra = pd.concat([rows, dups], ignore_index=True)
    after = np.concatenate([np.full(len(rows), -1), dup_of])
    return extra, records, after


def _record(
    code: str, table: str, lead_id: object, column: str, value: object
) -> dict[str, object]:
    return {
        "code": code,
        "table": table,
        "lead_id": None if lead_id is None or lead_id != lead_id else str(lead_id),  # NaN
        "column": column,
        "value": value,
    }


def inject_defects(funnel: Funnel, rng: np.random.Generator) -> Funnel:
    """A copy of the funnel with malformed rows of every row-level kind, and their record."""
    leads = _as_text(funnel.leads, TEXT_COLUMNS[schema.LEADS])
    events = _as_text(funnel.events, TEXT_COLUMNS[schema.EVENTS])
    n = len(leads)
    width = int(funnel.leads[schema.LEAD_ID].str.len().max()) - 1
    extra, lead_records, after = _lead_rows(leads, rng, width)
    leads, lead_rows = _place(leads, extra, after, rng)

    donors = rng.integers(0, len(events), len(EVENT_DEFECTS) + N_UNKNOWN_LEADS)
    bad = events.iloc[donors].reset_index(drop=True)
    event_records = []
    for i, (code, column, value) in enumerate(EVENT_DEFECTS):
        bad.loc[i, column] = value
        event_records.append(
            _record(code, schema.EVENTS, bad.loc[i, schema.LEAD_ID], column, value)
        )
    for k in range(N_UNKNOWN_LEADS):
        i = len(EVENT_DEFECTS) + k
        ghost = f"L{n + 1000 + k:0{width}d}"  # beyond every lead id, defective ones too
        bad.loc[i, schema.LEAD_ID] = ghost
        event_records.append(_record("unknown_lead", schema.EVENTS, ghost, schema.LEAD_ID, ghost))
    events, event_rows = _place(events, bad, np.full(len(bad), -1), rng)

    records = pd.DataFrame(lead_records + event_records)
    records["row"] = np.concatenate([lead_rows, event_rows])
    records = records.sort_values(["table", "row"], ignore_index=True)[list(DEFECT_COLUMNS)]
    return dataclasses.replace(funnel, leads=leads, events=events, defects=records)
