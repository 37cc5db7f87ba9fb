from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig
from leadml.features.build import build_features, feature_catalogue

CONFIG = FeatureConfig()
START = pd.Timestamp("2024-01-01", tz="UTC")


def synthetic_inputs(
    n_leads: int = 40, n_events: int = 900, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Tiny random leads (with PII columns), events and cutoffs; also used by other tests."""
    rng = np.random.default_rng(seed)
    ids = [f"L{i:04d}" for i in range(n_leads)]
    created = START + pd.to_timedelta(rng.integers(0, 90 * 86_400, n_leads), unit="s")
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: pd.Series(ids, dtype="str"),
            schema.CREATED_AT: pd.Series(created, dtype="datetime64[us, UTC]"),
            schema.LEAD_SOURCE: rng.choice([*schema.LEAD_SOURCES, "tiktok", "unknown"], n_leads),
            schema.CAMPAIGN: rng.choice(["spring", "summer", None], n_leads),
            schema.COMPANY: [f"Company {i}" for i in range(n_leads)],
            schema.INDUSTRY: rng.choice([*schema.INDUSTRIES, None], n_leads),
            schema.EMPLOYEES: np.where(
                rng.random(n_leads) < 0.2, np.nan, rng.integers(1, 9000, n_leads)
            ),
            schema.ANNUAL_REVENUE: rng.lognormal(15, 2, n_leads),
            schema.COUNTRY: rng.choice([*schema.COUNTRY_REGION, None], n_leads),
            schema.JOB_TITLE: "Head of Things",
            schema.SENIORITY: rng.choice([*schema.SENIORITIES, None], n_leads),
            schema.CONTACT_NAME: [f"Person {i}" for i in range(n_leads)],
            schema.EMAIL: rng.choice(["a@gmail.com", "b@acme.io", None], n_leads),
            schema.PHONE: "+1 555 0100",
        }
    ).astype(dict.fromkeys((schema.LEAD_SOURCE, schema.CAMPAIGN, schema.INDUSTRY), "str"))
    lead = rng.integers(0, n_leads, n_events)
    events = pd.DataFrame(
        {
            schema.LEAD_ID: pd.Series([ids[i] for i in lead], dtype="str"),
            schema.OCCURRED_AT: pd.Series(
                created[lead]
                + pd.to_timedelta(rng.integers(-5 * 86_400, 60 * 86_400, n_events), unit="s"),
                dtype="datetime64[us, UTC]",
            ),
            schema.EVENT_TYPE: pd.Series(
                rng.choice([*schema.EVENT_TYPES, "onboarding", "mystery"], n_events), dtype="str"
            ),
        }
    )
    cutoff = pd.Series(created + pd.Timedelta(days=14), index=pd.Index(ids, name=schema.LEAD_ID))
    return leads, events, cutoff


def test_columns_follow_the_catalogue_with_raw_types() -> None:
    leads, events, cutoff = synthetic_inputs()
    frame = build_features(leads, events, cutoff, CONFIG)
    catalogue = feature_catalogue(CONFIG)
    assert list(frame.columns) == [c.name for c in catalogue]
    assert frame.index.tolist() == leads[schema.LEAD_ID].tolist()
    for column in catalogue:
        dtype = frame[column.name].dtype
        if column.kind == "categorical":
            assert dtype == "str", column.name
        else:
            assert dtype in (np.float64, np.int32), column.name
    assert {c.family for c in catalogue} == {"lead_source", "firmographics", "engagement"}


def test_no_leakage_events_after_the_cutoff_change_nothing() -> None:
    leads, events, cutoff = synthetic_inputs(seed=1)
    full = build_features(leads, events, cutoff, CONFIG)
    lead_cut = cutoff.reindex(events[schema.LEAD_ID]).to_numpy()
    later = (events[schema.OCCURRED_AT] >= lead_cut).to_numpy()
    assert later.any()
    pd.testing.assert_frame_equal(full, build_features(leads, events[~later], cutoff, CONFIG))
    # Moving every later event even further into the future changes nothing either.
    moved = events.copy()
    moved.loc[later, schema.OCCURRED_AT] += pd.Timedelta(days=400)
    pd.testing.assert_frame_equal(full, build_features(leads, moved, cutoff, CONFIG))


def test_partition_invariance() -> None:
    leads, events, cutoff = synthetic_inputs(seed=2)
    full = build_features(leads, events, cutoff, CONFIG)
    subset = leads.iloc[[7, 2, 30]]
    part = build_features(subset, events, cutoff, CONFIG)
    pd.testing.assert_frame_equal(part, full.loc[subset[schema.LEAD_ID].tolist()])


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (schema.CONTACT_NAME, "Renamed Person"),
        (schema.PHONE, "+44 20 0000 0000"),
        (schema.COMPANY, "Another Company"),
        (schema.EMAIL, "someone@hotmail.com"),  # free-mail stays free-mail
    ],
)
def test_pii_changes_leave_features_unchanged(column: str, value: str) -> None:
    leads, events, cutoff = synthetic_inputs(seed=3)
    leads[schema.EMAIL] = "first@gmail.com"
    changed = leads.copy()
    changed.loc[changed.index[:5], column] = value
    pd.testing.assert_frame_equal(
        build_features(leads, events, cutoff, CONFIG),
        build_features(changed, events, cutoff, CONFIG),
    )


def test_inputs_are_not_mutated_and_no_events_is_fine() -> None:
    leads, events, cutoff = synthetic_inputs(seed=4)
    copies = leads.copy(), events.copy(), cutoff.copy()
    build_features(leads, events, cutoff, CONFIG)
    pd.testing.assert_frame_equal(leads, copies[0])
    pd.testing.assert_frame_equal(events, copies[1])
    pd.testing.assert_series_equal(cutoff, copies[2])
    empty = build_features(leads, events.iloc[:0], cutoff, CONFIG)
    assert (empty["total_events"] == 0).all()
