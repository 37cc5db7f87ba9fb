"""Where a lead came from: its source, the source's group, inbound or outbound, campaign.

Values are raw: plain strings (missing stays missing). Category levels, the long tail of
campaigns and unseen values are the spec's business (`features.spec`), learned on
training rows only.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.features.columns import LeadTable, Text, Values, to_frame

FAMILY: Final = "lead_source"
CATEGORICAL: Final = frozenset({"lead_source", "source_group", "campaign"})


def lead_source_columns() -> dict[str, str]:
    """The output columns in order, each with the business field it comes from."""
    return {
        "lead_source": schema.LEAD_SOURCE,
        "source_group": schema.LEAD_SOURCE,
        "is_inbound": schema.LEAD_SOURCE,
        "campaign": schema.CAMPAIGN,
    }


def lead_source_values(source: Text, campaign: Text) -> Values:
    """Source features per lead, from the lead_source and campaign columns.

    - `source_group`: schema.SOURCE_GROUP of the source; 'unknown' for an unknown source.
    - `is_inbound`: 1 unless the group is outbound (0); NaN when the source is unknown.
    - `campaign`: the raw campaign name (missing when missing or when the column is absent).
    """
    group = source.map(_source_group)
    return {
        "lead_source": source,
        "source_group": group,
        "is_inbound": group.numbers(_is_inbound),
        "campaign": campaign,
    }


def lead_source_features(leads: pd.DataFrame) -> pd.DataFrame:
    """Source features per lead (index lead_id, lead order); see `lead_source_values`."""
    table = LeadTable.from_frame(leads)
    values = lead_source_values(table.text(schema.LEAD_SOURCE), table.text(schema.CAMPAIGN))
    return to_frame(values, pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID))


def _source_group(source: str | None) -> str:
    return schema.SOURCE_GROUP.get(source, schema.UNKNOWN) if source is not None else schema.UNKNOWN


def _is_inbound(group: str | None) -> float:
    if group == schema.UNKNOWN:
        return np.nan
    return 0.0 if group == schema.OUTBOUND_GROUP else 1.0
