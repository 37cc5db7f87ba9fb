"""Assemble the feature families into one raw feature frame, and list what it holds."""

from __future__ import annotations

from typing import Literal, NamedTuple

import pandas as pd

from leadml.config import FeatureConfig
from leadml.features import engagement, firmographics, lead_source

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


def build_features(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series, config: FeatureConfig
) -> pd.DataFrame:
    """Raw features per lead as of its cutoff (index lead_id, lead order).

    Categoricals are plain strings (NaN when missing), numerics float64 or int32 counts.
    `cutoff` (index lead_id) must cover every lead in `leads`; only events strictly
    before a lead's cutoff are used, so later events never change its row.
    """
    frame = pd.concat(
        [
            lead_source.lead_source_features(leads),
            firmographics.firmographic_features(leads),
            engagement.engagement_features(leads, events, cutoff, config),
        ],
        axis=1,
    )
    return frame
