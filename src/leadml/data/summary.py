"""Funnel summary: volume, conversion and cost overall, by lead source and by stage reached.

A descriptive view of cleaned data (canonical categories, tz-aware UTC timestamps).
Conversion here is simply "has a converted_at", not the windowed training label, so
recent (censored) leads pull the rates down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml import schema

STAGE_ORDER = (*schema.STAGES, schema.NO_STAGE)
_STAGE_RANK = {event: schema.STAGES.index(stage) for event, stage in schema.EVENT_STAGE.items()}


@dataclass(frozen=True)
class FunnelSummary:
    """The summary tables; `tables()` gives them titled, in reading order."""

    overall: pd.DataFrame
    by_source: pd.DataFrame
    by_stage: pd.DataFrame

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """Titled tables for display."""
        return [
            ("Overall", self.overall),
            ("By lead source", self.by_source),
            ("By highest stage reached", self.by_stage),
        ]


def _rate(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).astype("float64")


def _count(values: pd.Series) -> pd.Series:
    """Whole counts as integers; all-missing (no converted_at column) stays NaN."""
    return values if values.isna().any() else values.astype("int64")


def highest_stage(leads: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Each lead's highest funnel stage reached in its events ('none' without staged events)."""
    types = pd.Series(events[schema.EVENT_TYPE].to_numpy(dtype=object))
    rank = types.map(_STAGE_RANK)
    lead_ids = pd.Series(events[schema.LEAD_ID].to_numpy(dtype=object))
    best = rank.groupby(lead_ids).max()
    per_lead = pd.Series(leads[schema.LEAD_ID].to_numpy(dtype=object)).map(best)
    names = np.array(STAGE_ORDER, dtype=object)
    stage = names[per_lead.fillna(len(schema.STAGES)).astype(int).to_numpy()]
    return pd.Series(stage, index=leads.index, name="highest_stage")


def _converted(leads: pd.DataFrame) -> pd.Series:
    if schema.CONVERTED_AT not in leads:
        return pd.Series(np.nan, index=leads.index)
    return leads[schema.CONVERTED_AT].notna().astype("float64")


def _overall(leads: pd.DataFrame, events: pd.DataFrame, converted: pd.Series) -> pd.DataFrame:
    created = leads[schema.CREATED_AT]
    n = len(leads)
    n_converted = converted.sum(min_count=1)
    rows: dict[str, object] = {
        "leads": n,
        "events": len(events),
        "converted": None if pd.isna(n_converted) else int(n_converted),
        "conversion_rate": float(n_converted / n) if n and not pd.isna(n_converted) else None,
        "first_created": None if created.empty else created.min().strftime("%Y-%m-%d"),
        "last_created": None if created.empty else created.max().strftime("%Y-%m-%d"),
    }
    frame = pd.DataFrame({"value": pd.Series(rows, dtype=object)})
    frame.index.name = "metric"
    return frame


def _by_source(
    leads: pd.DataFrame, events_per_lead: pd.Series, converted: pd.Series
) -> pd.DataFrame:
    source = leads[schema.LEAD_SOURCE].astype(object).fillna(schema.UNKNOWN)
    cost = (
        pd.to_numeric(leads[schema.ACQUISITION_COST], errors="coerce")
        if schema.ACQUISITION_COST in leads
        else pd.Series(np.nan, index=leads.index)
    )
    parts = pd.DataFrame(
        {"source": source, "converted": converted, "cost": cost, "events": events_per_lead}
    )
    grouped = parts.groupby("source", sort=True)
    leads_n = grouped.size()
    conv = _count(grouped["converted"].sum(min_count=1))
    total_cost = grouped["cost"].sum(min_count=1)
    table = pd.DataFrame(
        {
            "leads": leads_n.astype("int64"),
            "share": leads_n / max(len(leads), 1),
            "converted": conv,
            "conversion_rate": _rate(conv, leads_n),
            "cost_per_lead": grouped["cost"].mean(),
            "cost_per_conversion": _rate(total_cost, conv),
            "median_events_per_lead": grouped["events"].median().astype("float64"),
        }
    )
    table.index.name = schema.LEAD_SOURCE
    order = np.lexsort((table.index.to_numpy(dtype=str), -table["leads"].to_numpy()))
    return table.iloc[order]


def _by_stage(stage: pd.Series, converted: pd.Series) -> pd.DataFrame:
    parts = pd.DataFrame({"stage": stage, "converted": converted})
    grouped = parts.groupby("stage")
    leads_n = grouped.size().reindex(STAGE_ORDER, fill_value=0).astype("int64")
    conv = _count(grouped["converted"].sum(min_count=1).reindex(STAGE_ORDER, fill_value=0))
    total = int(leads_n.sum())
    table = pd.DataFrame(
        {
            "leads": leads_n,
            "share": leads_n / max(total, 1),
            "converted": conv,
            "conversion_rate": _rate(conv, leads_n),
        }
    )
    table.index.name = "highest_stage"
    return table


def funnel_summary(leads: pd.DataFrame, events: pd.DataFrame) -> FunnelSummary:
    """Summarise cleaned leads and events; inputs are not modified."""
    converted = _converted(leads)
    counts = pd.Series(events[schema.LEAD_ID].to_numpy(dtype=object)).value_counts()
    lead_ids = pd.Series(leads[schema.LEAD_ID].to_numpy(dtype=object), index=leads.index)
    events_per_lead = lead_ids.map(counts).fillna(0).astype("int64")
    return FunnelSummary(
        overall=_overall(leads, events, converted),
        by_source=_by_source(leads, events_per_lead, converted),
        by_stage=_by_stage(highest_stage(leads, events), converted),
    )
