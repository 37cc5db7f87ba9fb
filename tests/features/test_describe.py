from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from leadml.config import FeatureConfig
from leadml.data.mapping.config import DatasetConfig, FlatColumn
from leadml.features.build import build_features
from leadml.features.describe import absent, describe
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
        ("days_since_last_demo_request", 3.2, "Last requested a demo 3 days ago"),
        ("days_since_last_demo_request", 0.4, "Last requested a demo in the last 24 hours"),
        ("days_since_last_demo_request", 1.0, "Last requested a demo 1 day ago"),
        ("days_since_last_demo_request", np.nan, "Has not requested a demo"),
        ("count_whitepaper_download_30d", 2, "Downloaded 2 whitepapers in the last 30 days"),
        ("count_whitepaper_download_30d", 1, "Downloaded a whitepaper in the last 30 days"),
        ("count_demo_request_all", 0, "Has not requested a demo"),
        ("count_demo_request_all", 4, "Requested 4 demos"),
        ("count_pricing_page_view_7d", 3, "Viewed pricing 3 times this week"),
        ("count_unsubscribe_all", 0, "Has not unsubscribed"),
        ("employees_log", math.log1p(1200), "1,200-person company"),
        ("employees_log", np.nan, "Company size unknown"),
        ("annual_revenue_log", math.log1p(12_300_000), "Annual revenue about 12.3M"),
        ("lead_source", "paid_search", "Came in through paid search"),
        ("lead_source", "referral", "Came in through a referral"),
        ("lead_source", "event", "Came in through an event"),
        ("lead_source", "partner_portal", "Came in through Partner portal"),
        ("lead_source", None, "Lead source unknown"),
        ("source_group", "paid", "Came in through: Paid (ads or content syndication)"),
        ("is_corporate_email", 0.0, "Uses a free email address (such as Gmail)"),
        ("is_corporate_email", 1, "Uses a company email address"),
        ("stage_reached", 3, "Reached SQL: asked for a demo, a quote or a consultation"),
        ("stage_reached", 0, "No funnel stage reached yet"),
        ("seniority", 3.0, "VP-level contact"),
        ("seniority", 0.0, "Entry-level contact"),
        ("industry", "financial_services", "Financial services company"),
        ("industry", "government", "Government organisation"),
        ("country", "DE", "Based in Germany"),
        ("country", "GB", "Based in the United Kingdom"),
        ("email_click_through_rate", 0.25, "Clicked links in 25% of opened emails"),
        ("email_click_through_rate", np.nan, "Has not opened an email"),
        ("campaign", "other", "From a small campaign"),
        ("campaign", "unknown", "No campaign recorded"),
        ("region", "emea", "Based in Europe, Middle East and Africa"),
        ("days_since_created", 14.0, "Became a lead 14 days ago"),
        ("engagement_score", 15.2, "Engagement score 15.2"),
        ("engagement_score_sql", 2.5, "Recent demo, quote or consultation requests"),
        ("days_since_last_event", np.nan, "No activity yet"),
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
            assert text and (text[0].isupper() or text[0].isdigit()), (name, shown, text)
            assert "_" not in text, (name, text)  # words, not column names
            assert "nan" not in text.lower().split(), (name, text)
            # No formula and no time "before scoring": plain words relative to now.
            assert not re.search(r"halv|weight|before scoring|\(each", text), (name, text)


def test_unknown_feature_names_still_get_a_sentence(
    built: tuple[pd.DataFrame, FeatureSpec],
) -> None:
    assert describe("mystery_signal", 2, built[1]) == "Mystery signal: 2"
    assert describe("count_webinar_rsvp_7d", 2, built[1]) == "Had 2 webinar rsvp events this week"


FLAT = DatasetConfig(
    label="Converted",
    columns={
        "TotalVisits": FlatColumn(role="engagement", type="numeric"),
        "Page.Views.Per.Visit": FlatColumn(role="engagement", type="numeric"),
        "Total Time Spent on Website": FlatColumn(
            role="engagement", type="numeric", label="Time on site", unit="min"
        ),
        "LeadQuality": FlatColumn(role="firmographic", type="categorical"),
        "ProfileCode": FlatColumn(role="firmographic", type="categorical", unit="min"),
        "days_since_last_event": FlatColumn(role="engagement", type="numeric"),
    },
)


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("TotalVisits", 5.0, "Total visits: 5"),
        ("TotalVisits", 1200.0, "Total visits: 1,200"),
        ("Page.Views.Per.Visit", 2.3333333, "Page views per visit: 2.33"),
        ("Total Time Spent on Website", 45.05554866, "Time on site: 45.1 min"),
        ("LeadQuality", "Might be", "Lead quality: Might be"),
        ("ProfileCode", "2", "Profile code: 2"),  # a category's text, no unit
        ("ProfileCode", 2.0, "Profile code: 2"),  # never a float code
        ("TotalVisits", np.nan, "Total visits not recorded"),
        ("Total Time Spent on Website", None, "Time on site not recorded"),
        ("LeadQuality", None, "Lead quality not recorded"),
        ("LeadQuality", "unknown", "Lead quality not recorded"),
        # A flat column is the export's own, whatever its name: no event-model sentence.
        ("days_since_last_event", 3.0, "Days since last event: 3"),
        ("days_since_last_event", np.nan, "Days since last event not recorded"),
    ],
)
def test_flat_export_columns_read_as_label_and_rounded_value(
    built: tuple[pd.DataFrame, FeatureSpec], name: str, value: object, sentence: str
) -> None:
    assert describe(name, value, built[1], FLAT) == sentence


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("TotalVisits", np.array([1.0, np.nan, 0.0]), [False, True, True]),  # 0: none
        ("LeadQuality", np.array(["High", None, "unknown"], object), [False, True, True]),
        ("days_since_last_event", np.array([np.nan, 2.0]), [True, False]),  # flat: missing
        ("ProfileCode", np.array(["0", None], object), [False, True]),  # a category's "0"
    ],
)
def test_absent_marks_missing_data_and_zero_counts_of_a_flat_export(
    name: str, values: np.ndarray, expected: list[bool]
) -> None:
    assert absent(name, values, FLAT).tolist() == expected


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("days_since_last_demo_request", np.array([np.nan, 3.0]), [True, False]),  # never
        ("days_since_last_event", np.array([np.nan, 40.0]), [True, False]),  # never engaged
        ("email_click_through_rate", np.array([np.nan, 0.0, 0.2]), [True, True, False]),
        ("employees_log", np.array([np.nan, 4.0]), [True, False]),
        ("industry", np.array(["unknown", "software", None], object), [True, False, True]),
        ("industry", np.array(["unknown", "software"]), [True, False]),  # a str array
        ("count_demo_request_all", np.array([0, 2]), [True, False]),  # a zero count
        ("count_unsubscribe_30d", np.array([0.0, 1.0]), [True, False]),  # never unsubscribed
        ("engagement_score_sql", np.array([0.0, 0.4]), [True, False]),
        ("stage_reached", np.array([0, 3]), [True, False]),
        ("campaign", np.array(["unknown", "2025q1-webinar"], object), [True, False]),
        ("is_corporate_email", np.array([np.nan, 0.0, 1.0]), [True, False, False]),  # a fact
        ("days_since_created", np.array([0.0, np.nan]), [False, True]),
    ],
)
def test_absent_tells_absence_from_facts_in_the_event_model(
    name: str, values: np.ndarray, expected: list[bool]
) -> None:
    assert absent(name, values).tolist() == expected


def test_unknown_event_model_columns_read_in_words(
    built: tuple[pd.DataFrame, FeatureSpec],
) -> None:
    assert describe("mysterySignal", 45.05554866, built[1]) == "Mystery signal: 45.1"
    assert describe("mystery_signal", None, built[1]) == "Mystery signal not recorded"


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("created_month", 4.0, "Created in April"),
        ("created_weekday", 5.0, "Created on a Saturday"),
        ("created_hour", 9.0, "Created at 09:00-09:59"),
        ("created_day", 20151.0, "Created on 4 March 2025"),
        ("created_month", np.nan, "Created date not recorded"),
    ],
)
def test_calendar_features_read_as_dates(
    built: tuple[pd.DataFrame, FeatureSpec], name: str, value: object, sentence: str
) -> None:
    calendar = FLAT.model_copy(
        update={
            "created_at": "Created",
            "calendar_columns": (
                "created_month",
                "created_weekday",
                "created_hour",
                "created_day",
            ),
        }  # fmt: skip
    )
    assert describe(name, value, built[1], calendar) == sentence
    assert absent(name, np.array([value], dtype=float), calendar)[0] == (sentence.endswith(
        "not recorded"))  # fmt: skip


def test_the_glossary_explains_what_reasons_no_longer_say() -> None:
    """The half-life moved out of the reasons into the glossary, with the configured value."""
    from leadml.vocabulary import GLOSSARY

    assert {"score", "grade", "probability points", "trend", "engagement"} <= set(GLOSSARY)
    assert f"every {CONFIG.half_life_days:g} days" in GLOSSARY["engagement"]
    assert all(text.endswith(".") for text in GLOSSARY.values())
