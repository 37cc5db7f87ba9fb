from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.features.lead_source import lead_source_columns, lead_source_features


def _leads(sources: list[object], campaigns: list[object] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            schema.LEAD_ID: [f"L{i}" for i in range(len(sources))],
            schema.CREATED_AT: pd.Timestamp("2024-01-01", tz="UTC"),
            schema.LEAD_SOURCE: pd.Series(sources, dtype="str"),
        }
    )
    if campaigns is not None:
        frame[schema.CAMPAIGN] = pd.Series(campaigns, dtype="str")
    return frame


@pytest.mark.parametrize(
    ("source", "group", "inbound"),
    [
        ("paid_search", "paid", 1.0),
        ("organic_search", "organic", 1.0),
        ("webinar", "events", 1.0),
        ("outbound_call", "outbound", 0.0),
        ("purchased_list", "outbound", 0.0),
        ("tiktok", "unknown", np.nan),  # unseen source
        ("unknown", "unknown", np.nan),
        (None, "unknown", np.nan),
    ],
)
def test_source_group_and_inbound(source: str | None, group: str, inbound: float) -> None:
    row = lead_source_features(_leads([source])).iloc[0]
    assert row["source_group"] == group
    assert row["is_inbound"] == inbound or (np.isnan(inbound) and np.isnan(row["is_inbound"]))
    assert row["lead_source"] == source or (source is None and pd.isna(row["lead_source"]))


def test_columns_types_and_order() -> None:
    frame = lead_source_features(_leads(["email", "social"], ["spring", None]))
    assert list(frame.columns) == list(lead_source_columns())
    assert frame.index.tolist() == ["L0", "L1"]
    assert frame.index.name == schema.LEAD_ID
    assert frame["is_inbound"].dtype == np.float64
    assert all(frame[c].dtype == "str" for c in ("lead_source", "source_group", "campaign"))
    assert frame["campaign"].iloc[0] == "spring"
    assert pd.isna(frame["campaign"].iloc[1])


def test_missing_campaign_column_is_all_missing() -> None:
    frame = lead_source_features(_leads(["email"]))
    assert frame["campaign"].isna().all()


def test_partition_invariance_and_no_mutation() -> None:
    leads = _leads(["email", "tiktok", "event", "outbound_call"], ["a", "b", None, "c"])
    before = leads.copy()
    full = lead_source_features(leads)
    part = lead_source_features(leads.iloc[[3, 1]])
    pd.testing.assert_frame_equal(part, full.loc[["L3", "L1"]])
    pd.testing.assert_frame_equal(leads, before)
