"""Assemble the feature families, and list what they hold.

`feature_columns` is the core: arrays in, feature arrays out (the serving path calls it
for one lead). `build_features` is a thin wrapper for DataFrames (training and batch
scoring): frame -> columns -> the same family functions -> frame. There is no second
implementation of any feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import FeatureConfig
from leadml.errors import InputError
from leadml.features import engagement, firmographics, lead_source
from leadml.features.columns import LeadTable, Values, array_micros, to_arrays, to_frame
from leadml.features.events import EventTable

Kind = Literal["numeric", "categorical"]
Family = Literal["lead_source", "engagement", "firmographics"]


class ColumnInfo(NamedTuple):
    """What build_features produces for one column, before anything is learned."""

    name: str
    kind: Kind
    family: Family
    field: str
    """The business field a person recognises, e.g. 'employees' or 'demo_request events'."""


def feature_catalogue(config: FeatureConfig) -> list[ColumnInfo]:
    """Every column build_features produces for this config, in frame order."""
    out: list[ColumnInfo] = []
    for name, field in lead_source.lead_source_columns().items():
        kind: Kind = "categorical" if name in lead_source.CATEGORICAL else "numeric"
        out.append(ColumnInfo(name, kind, "lead_source", field))
    for name, field in firmographics.firmographic_columns().items():
        kind = "categorical" if name in firmographics.CATEGORICAL else "numeric"
        out.append(ColumnInfo(name, kind, "firmographics", field))
    for name, field in engagement.engagement_columns(config).items():
        out.append(ColumnInfo(name, "numeric", "engagement", field))
    return out


def feature_columns(
    leads: Mapping[str, Sequence[Any] | np.ndarray],
    events: Mapping[str, Sequence[Any] | np.ndarray],
    cutoff: np.ndarray,
    config: FeatureConfig,
) -> dict[str, np.ndarray]:
    """Raw features per lead as of its cutoff: feature name -> 1-D array, catalogue order.

    `leads` maps schema lead columns to values: lead_id; created_at as datetime64 (UTC,
    naive values); text columns as str or None; employees and annual_revenue as numbers
    (NaN missing). An absent column is all missing. `events` maps lead_id, event_type and
    occurred_at (datetime64) to values; events of unknown leads or types are ignored.
    `cutoff` holds one datetime64 per lead (NaT: no events count).

    Categoricals come back as object arrays of str/None, counts as int32, the rest
    float64: the same values `build_features` gives.
    """
    table = LeadTable.from_mapping(leads)
    cut = array_micros(cutoff, "cutoff")
    if len(cut) != table.n:
        raise InputError(
            f"{len(cut)} cutoffs for {table.n} leads", column="cutoff", expected="one per lead"
        )
    resolved = EventTable.resolve(leads[schema.LEAD_ID], events, frame=False)
    if not resolved.leads_unique:
        raise InputError("leads have duplicate lead_id values", column=schema.LEAD_ID)
    out = to_arrays(_lead_values(table))
    out |= _engagement(table, resolved, cut, config)
    return out


def build_features(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series, config: FeatureConfig
) -> pd.DataFrame:
    """Raw features per lead as of its cutoff (index lead_id, lead order).

    Categoricals are plain strings (NaN when missing), numerics float64 or int32 counts.
    `cutoff` (index lead_id) must cover every lead in `leads`; only events strictly
    before a lead's cutoff are used, so later events never change its row.
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    resolved = EventTable.resolve(index, events, frame=True)
    if not resolved.leads_unique:
        raise ValueError("leads have duplicate lead_id values")
    cut = engagement.lead_cutoffs(index, cutoff)
    table = LeadTable.from_frame(leads)
    values = _lead_values(table)
    values |= _engagement(table, resolved, cut, config)
    return to_frame(values, index)


def warm_up(config: FeatureConfig) -> None:
    """Compute features for one made-up lead, so the first real call is fast.

    The compiled loops load from numba's on-disk cache, but numba's own start-up (its
    typing and lowering registries) still costs about half a second on the first call in
    a process. A server calls this at start-up, before it takes requests.
    """
    day = np.timedelta64(1, "D")
    created = np.datetime64("2024-01-01", "ns")
    events = {
        schema.LEAD_ID: np.array(["warm-up", "warm-up"], dtype=object),
        schema.EVENT_TYPE: np.array(["page_view", "demo_request"], dtype=object),
        schema.OCCURRED_AT: np.array([created + day, created + 2 * day]),
    }
    leads = {
        schema.LEAD_ID: np.array(["warm-up"], dtype=object),
        schema.CREATED_AT: np.array([created]),
        schema.EMPLOYEES: np.array([10.0]),
        schema.ANNUAL_REVENUE: np.array([1e6]),
    }
    feature_columns(leads, events, np.array([created + 14 * day]), config)


def _lead_values(table: LeadTable) -> Values:
    """The lead source and firmographic families, in catalogue order."""
    values = lead_source.lead_source_values(
        table.text(schema.LEAD_SOURCE), table.text(schema.CAMPAIGN)
    )
    return values | firmographics.firmographic_values(table)


def _engagement(
    table: LeadTable, events: EventTable, cut: np.ndarray, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """The engagement family (after the others in the catalogue)."""
    return engagement.engagement_values(events, cut, table.micros(schema.CREATED_AT), config)
