"""Where a lead came from: its source, the source's group, inbound or outbound, campaign.

Values are raw: plain strings (NaN when missing). Category levels, the long tail of
campaigns and unseen values are the spec's business (`features.spec`), learned on
training rows only.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from leadml import schema

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


def lead_source_features(leads: pd.DataFrame) -> pd.DataFrame:
    """Source features per lead (index lead_id, lead order).

    - `source_group`: schema.SOURCE_GROUP of the source; 'unknown' for an unknown source.
    - `is_inbound`: 1 unless the group is outbound (0); NaN when the source is unknown.
    - `campaign`: the raw campaign name (NaN when missing or when the column is absent).
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    source = _text(leads, schema.LEAD_SOURCE)
    group = source.map(schema.SOURCE_GROUP).fillna(schema.UNKNOWN).astype("str")
    known = (group != schema.UNKNOWN).to_numpy()
    inbound = (group != schema.OUTBOUND_GROUP).to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "lead_source": source.array,
            "source_group": group.array,
            "is_inbound": np.where(known, inbound, np.nan),
            "campaign": _text(leads, schema.CAMPAIGN).array,
        },
        index=index,
    )


def _text(leads: pd.DataFrame, column: str) -> pd.Series:
    """A text column as pandas' str dtype with NaN for missing; all NaN when absent."""
    if column not in leads:
        return pd.Series(np.nan, index=leads.index, dtype="str")
    return leads[column].astype("str")
