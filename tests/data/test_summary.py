"""Funnel summary tables on a tiny hand-built dataset, with exact numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.data.summary import funnel_summary, highest_stage


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def leads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LEAD_ID: ["L1", "L2", "L3", "L4", "L5"],
            schema.CREATED_AT: pd.to_datetime(
                [
                    "2024-03-01 10:00",
                    "2024-01-05 09:00",
                    "2024-02-01 00:00",
                    "2024-02-02 00:00",
                    "2024-06-30 23:00",
                ],
                utc=True,
            ),
            schema.LEAD_SOURCE: [
                "referral",
                "referral",
                "purchased_list",
                "purchased_list",
                "webinar",
            ],
            schema.ACQUISITION_COST: [40.0, 60.0, 2.0, 4.0, np.nan],
            schema.CONVERTED_AT: [_ts("2024-04-01"), pd.NaT, pd.NaT, pd.NaT, _ts("2024-08-01")],
        }
    )


@pytest.fixture
def events() -> pd.DataFrame:
    rows = [
        ("L1", "page_view"),
        ("L1", "demo_request"),
        ("L1", "trial_signup"),
        ("L2", "page_view"),
        ("L4", "whitepaper_download"),
        ("L5", "demo_request"),
        ("L5", "onboarding"),  # post-conversion: no stage
        ("L9", "trial_signup"),  # a lead not in the leads table: ignored per lead
    ]
    return pd.DataFrame(
        {
            schema.LEAD_ID: [r[0] for r in rows],
            schema.OCCURRED_AT: pd.date_range("2024-03-02", periods=len(rows), freq="D", tz="UTC"),
            schema.EVENT_TYPE: [r[1] for r in rows],
        }
    )


def test_overall(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    overall = funnel_summary(leads, events).overall["value"].to_dict()
    assert overall == {
        "leads": 5,
        "events": 8,
        "converted": 2,
        "conversion_rate": 0.4,
        "first_created": "2024-01-05",
        "last_created": "2024-06-30",
    }


def test_by_source_counts_cost_and_engagement(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    table = funnel_summary(leads, events).by_source
    assert list(table.index) == ["purchased_list", "referral", "webinar"]  # most leads first
    assert table["leads"].tolist() == [2, 2, 1]
    assert table["share"].tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert table["converted"].tolist() == [0, 1, 1]
    assert table["conversion_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert table["cost_per_lead"].iloc[:2].tolist() == pytest.approx([3.0, 50.0])
    assert math.isnan(table.loc["webinar", "cost_per_lead"])  # no cost recorded
    assert math.isnan(table.loc["purchased_list", "cost_per_conversion"])  # no conversions
    assert table.loc["referral", "cost_per_conversion"] == pytest.approx(100.0)
    assert table["median_events_per_lead"].tolist() == pytest.approx([0.5, 2.0, 2.0])


def test_by_stage_uses_highest_stage(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    table = funnel_summary(leads, events).by_stage
    assert list(table.index) == ["IQL", "MQL", "SQL", "PQL", "none"]
    assert table["leads"].tolist() == [1, 1, 1, 1, 1]
    assert table["share"].tolist() == pytest.approx([0.2] * 5)
    assert table["converted"].tolist() == [0, 0, 1, 1, 0]
    assert table["conversion_rate"].tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0, 0.0])


def test_highest_stage_per_lead(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    stage = highest_stage(leads, events)
    assert stage.tolist() == ["PQL", "IQL", "none", "MQL", "SQL"]


def test_tables_are_titled_in_order(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    titles = [title for title, _ in funnel_summary(leads, events).tables()]
    assert titles == ["Overall", "By lead source", "By highest stage reached"]


def test_inputs_are_not_modified(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    before_leads, before_events = leads.copy(), events.copy()
    funnel_summary(leads, events)
    pd.testing.assert_frame_equal(leads, before_leads)
    pd.testing.assert_frame_equal(events, before_events)


def test_categorical_columns_and_no_conversion_column(
    leads: pd.DataFrame, events: pd.DataFrame
) -> None:
    """Cleaned data may carry pandas categories, and scoring data has no converted_at."""
    leads = leads.drop(columns=[schema.CONVERTED_AT]).astype({schema.LEAD_SOURCE: "category"})
    events = events.astype({schema.EVENT_TYPE: "category"})
    result = funnel_summary(leads, events)
    assert result.by_source["leads"].tolist() == [2, 2, 1]
    assert result.by_source["conversion_rate"].isna().all()
    assert result.by_stage["leads"].tolist() == [1, 1, 1, 1, 1]
    assert result.overall.loc["converted", "value"] is None


def test_empty_events(leads: pd.DataFrame, events: pd.DataFrame) -> None:
    result = funnel_summary(leads, events.iloc[0:0])
    assert result.by_stage.loc["none", "leads"] == 5
    assert result.by_source["median_events_per_lead"].tolist() == [0.0, 0.0, 0.0]
