from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leadml.config import FeatureConfig
from leadml.features.build import build_features
from leadml.features.describe import describe
from leadml.features.spec import FeatureSpec, learn_spec
from tests.features.test_build import synthetic_inputs

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def built() -> tuple[pd.DataFrame, FeatureSpec]:
    leads, events, cutoff = synthetic_inputs(n_leads=60, n_events=2000, seed=5)
    raw = build_features(leads, events, cutoff, CONFIG)
    return raw, learn_spec(raw, CONFIG)


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("days_since_last_demo_request", 3.2, "Last requested a demo 3 days before scoring"),
        (
            "days_since_last_demo_request",
            0.4,
            "Last requested a demo less than a day before scoring",
        ),
        ("days_since_last_demo_request", np.nan, "Never requested a demo before scoring"),
        ("count_whitepaper_download_30d", 2, "Downloaded 2 whitepapers in the last 30 days"),
        ("count_whitepaper_download_30d", 1, "Downloaded 1 whitepaper in the last 30 days"),
        ("count_demo_request_all", 0, "Requested no demos before scoring"),
        ("count_pricing_page_view_7d", 3, "Viewed the pricing page 3 times in the last 7 days"),
        ("count_unsubscribe_all", 0, "Did not unsubscribe before scoring"),
        ("employees_log", math.log1p(1200), "Company size 1,200 employees"),
        ("employees_log", np.nan, "Company size unknown"),
        ("annual_revenue_log", math.log1p(12_300_000), "Annual revenue about 12.3M"),
        ("lead_source", "paid_search", "Came from paid search"),
        ("lead_source", None, "Lead source unknown"),
        ("is_corporate_email", 0.0, "Uses a free-mail address"),
        ("is_corporate_email", 1, "Uses a corporate email address"),
        ("stage_reached", 3, "Reached SQL stage (asked for a demo, quote or consultation)"),
        ("seniority", 3.0, "Seniority: VP"),
        ("email_click_through_rate", 0.25, "Clicked through 25% of opened emails"),
        ("campaign", "other", "From a small campaign (grouped as other)"),
        ("region", "emea", "Region: Europe, Middle East and Africa"),
        ("days_since_created", 14.0, "Lead created 14 days before scoring"),
    ],
)
def test_sentences(
    built: tuple[pd.DataFrame, FeatureSpec], name: str, value: object, sentence: str
) -> None:
    assert describe(name, value, built[1]) == sentence


def test_every_built_column_reads_well_present_and_missing(
    built: tuple[pd.DataFrame, FeatureSpec],
) -> None:
    raw, spec = built
    for name in raw.columns:
        present = raw[name].dropna()
        value = present.iloc[0] if len(present) else 1
        for shown in (value, np.nan, None):
            text = describe(name, shown, spec)
            assert text and text[0].isupper(), (name, shown, text)
            assert "_" not in text, (name, text)  # words, not column names
            assert "nan" not in text.lower().split(), (name, text)


def test_unknown_feature_names_still_get_a_sentence(
    built: tuple[pd.DataFrame, FeatureSpec],
) -> None:
    assert describe("mystery_signal", 2, built[1]) == "Mystery signal: 2"
    assert describe("count_webinar_rsvp_7d", 2, built[1]).startswith("Had 2 webinar rsvp events")
