from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig
from leadml.errors import InputError
from leadml.features import columns as columns_module
from leadml.features import events as events_module
from leadml.features import ids as ids_module
from leadml.features.build import build_features, feature_catalogue, feature_columns

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


# --- training/serving skew: the frame wrapper and the array core agree exactly ---------

TEXT_COLUMNS = (
    schema.LEAD_SOURCE, schema.CAMPAIGN, schema.COMPANY, schema.INDUSTRY, schema.COUNTRY,
    schema.JOB_TITLE, schema.SENIORITY, schema.CONTACT_NAME, schema.EMAIL, schema.PHONE,
)  # fmt: skip


def as_arrays(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The serving representation of the same data: plain numpy, datetime64[ns] naive UTC,
    text as str/None objects, one cutoff per lead (NaT where the Series has NaT)."""

    def stamps(values: pd.Series) -> np.ndarray:
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")

    def text(values: pd.Series) -> np.ndarray:
        return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)

    lead_arrays: dict[str, np.ndarray] = {
        schema.LEAD_ID: text(leads[schema.LEAD_ID]),
        schema.CREATED_AT: stamps(leads[schema.CREATED_AT]),
    }
    for column in TEXT_COLUMNS:
        if column in leads:
            lead_arrays[column] = text(leads[column])
    for column in (schema.EMPLOYEES, schema.ANNUAL_REVENUE):
        if column in leads:
            lead_arrays[column] = leads[column].to_numpy(np.float64)
    event_arrays = {
        schema.LEAD_ID: text(events[schema.LEAD_ID]),
        schema.EVENT_TYPE: text(events[schema.EVENT_TYPE]),
        schema.OCCURRED_AT: stamps(events[schema.OCCURRED_AT]),
    }
    per_lead = cutoff.reindex(leads[schema.LEAD_ID])
    return lead_arrays, event_arrays, stamps(per_lead)


def assert_same_values(frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> None:
    """Every column identical: text as str/None, numbers bit for bit (NaN where NaN)."""
    assert list(columns) == list(frame.columns)
    kinds = {c.name: c.kind for c in feature_catalogue(CONFIG)}
    for name, values in columns.items():
        assert values.ndim == 1 and len(values) == len(frame), name
        if kinds[name] == "categorical":
            assert values.dtype == object, name
            expected = [None if pd.isna(v) else v for v in frame[name]]
            assert values.tolist() == expected, name
        else:
            assert values.dtype == frame[name].dtype, name
            np.testing.assert_array_equal(values, frame[name].to_numpy(), strict=True)


def _skewed_inputs(seed: int, n_leads: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """A random subset of leads in random order, with the awkward cases mixed in: leads
    without events, missing optional columns, missing cutoffs, created_at and event times."""
    leads, events, cutoff = synthetic_inputs(n_leads=60, n_events=1500, seed=seed)
    rng = np.random.default_rng(seed)
    subset = leads.iloc[rng.permutation(len(leads))[:n_leads]].reset_index(drop=True)
    optional = [c for c in subset.columns if c not in schema.LEAD_REQUIRED]
    dropped = rng.choice(optional, rng.integers(0, 4), replace=False).tolist()
    subset = subset.drop(columns=dropped)
    quiet = set(rng.choice(leads[schema.LEAD_ID], 10, replace=False))  # leads without events
    events = events[~events[schema.LEAD_ID].isin(quiet)].copy()
    events.loc[events.sample(frac=0.02, random_state=seed).index, schema.OCCURRED_AT] = pd.NaT
    cutoff = cutoff.copy()
    cutoff[cutoff.sample(frac=0.1, random_state=seed).index] = pd.NaT
    if len(subset) > 1:
        subset.loc[subset.index[-1], schema.CREATED_AT] = pd.NaT
    return subset, events, cutoff


@pytest.mark.parametrize("n_leads", [0, 1, 2, 17, 60])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_build_features_and_feature_columns_agree_exactly(seed: int, n_leads: int) -> None:
    leads, events, cutoff = _skewed_inputs(seed, n_leads)
    frame = build_features(leads, events, cutoff, CONFIG)
    lead_arrays, event_arrays, cut = as_arrays(leads, events, cutoff)
    assert_same_values(frame, feature_columns(lead_arrays, event_arrays, cut, CONFIG))


@pytest.mark.parametrize("n_leads", [1, 60])
def test_the_bulk_input_paths_agree_too(monkeypatch: pytest.MonkeyPatch, n_leads: int) -> None:
    """Arrow text and the id lookup table (bulk inputs) instead of dicts (a few leads)."""
    leads, events, cutoff = _skewed_inputs(3, n_leads)
    lead_arrays, event_arrays, cut = as_arrays(leads, events, cutoff)
    few = feature_columns(lead_arrays, event_arrays, cut, CONFIG)
    monkeypatch.setattr(columns_module, "_FEW", 0)
    monkeypatch.setattr(events_module, "_FEW", 0)
    monkeypatch.setattr(ids_module, "_TABLE_MIN_QUERIES", 0)
    frame = build_features(leads, events, cutoff, CONFIG)
    bulk = feature_columns(lead_arrays, event_arrays, cut, CONFIG)
    assert_same_values(frame, bulk)
    assert_same_values(frame, few)


def test_one_lead_alone_equals_its_row_in_a_batch() -> None:
    leads, events, cutoff = synthetic_inputs(n_leads=40, n_events=900, seed=5)
    lead_arrays, event_arrays, cut = as_arrays(leads, events, cutoff)
    batch = feature_columns(lead_arrays, event_arrays, cut, CONFIG)
    for i in (0, 13, 39):
        one = {k: v[i : i + 1] for k, v in lead_arrays.items()}
        own = event_arrays[schema.LEAD_ID] == lead_arrays[schema.LEAD_ID][i]
        alone = feature_columns(
            one, {k: v[own] for k, v in event_arrays.items()}, cut[i : i + 1], CONFIG
        )
        for name, values in alone.items():
            np.testing.assert_array_equal(values, batch[name][i : i + 1], strict=True)


def test_timestamp_units_and_time_zones_do_not_matter() -> None:
    leads, events, cutoff = synthetic_inputs(n_leads=30, n_events=600, seed=6)
    expected = build_features(leads, events, cutoff, CONFIG)
    in_ns = events.assign(**{schema.OCCURRED_AT: events[schema.OCCURRED_AT].dt.as_unit("ns")})
    berlin = cutoff.dt.tz_convert("Europe/Berlin").dt.as_unit("s")
    pd.testing.assert_frame_equal(build_features(leads, in_ns, berlin, CONFIG), expected)
    lead_arrays, event_arrays, cut = as_arrays(leads, events, cutoff)
    event_arrays[schema.OCCURRED_AT] = event_arrays[schema.OCCURRED_AT].astype("datetime64[us]")
    assert_same_values(
        expected, feature_columns(lead_arrays, event_arrays, cut.astype("datetime64[ms]"), CONFIG)
    )


def test_feature_columns_accepts_plain_sequences() -> None:
    columns = feature_columns(
        {
            schema.LEAD_ID: ["A"],
            schema.CREATED_AT: [np.datetime64("2024-01-01T00:00")],
            schema.LEAD_SOURCE: ["webinar"],
            schema.EMPLOYEES: [None],
        },
        {
            schema.LEAD_ID: ["A", "A", "B"],
            schema.EVENT_TYPE: ["demo_request", "mystery", "demo_request"],
            schema.OCCURRED_AT: ["2024-01-05T00:00", "2024-01-06T00:00", "2024-01-06T00:00"],
        },
        np.array(["2024-01-15"], dtype="datetime64[ns]"),
        CONFIG,
    )
    assert columns["source_group"].tolist() == ["events"]
    assert columns["campaign"].tolist() == [None]
    assert np.isnan(columns["employees_log"][0])
    assert columns["count_demo_request_30d"].tolist() == [1]
    assert columns["total_events"].tolist() == [1]
    assert columns["days_since_last_demo_request"].tolist() == [10.0]
    assert columns["days_since_created"].tolist() == [14.0]


def _one_lead() -> dict[str, np.ndarray]:
    return {
        schema.LEAD_ID: np.array(["A"], dtype=object),
        schema.CREATED_AT: np.array(["2024-01-01"], dtype="datetime64[ns]"),
    }


NO_EVENTS: dict[str, np.ndarray] = {
    schema.LEAD_ID: np.array([], dtype=object),
    schema.EVENT_TYPE: np.array([], dtype=object),
    schema.OCCURRED_AT: np.array([], dtype="datetime64[ns]"),
}
CUT = np.array(["2024-01-15"], dtype="datetime64[ns]")


@pytest.mark.parametrize(
    ("leads", "events", "cutoff", "column", "match"),
    [
        ({schema.CREATED_AT: CUT}, NO_EVENTS, CUT, schema.LEAD_ID, "lead_id"),
        (_one_lead(), NO_EVENTS, np.repeat(CUT, 2), "cutoff", "2 cutoffs for 1 leads"),
        (_one_lead() | {schema.LEAD_ID: np.array(["A", "A"])}, NO_EVENTS, np.repeat(CUT, 2),
         schema.LEAD_ID, "duplicate"),
        (_one_lead() | {schema.CREATED_AT: np.array(["soon"])}, NO_EVENTS, CUT,
         schema.CREATED_AT, "not a timestamp"),
        (_one_lead(), NO_EVENTS | {schema.OCCURRED_AT: np.array(["x"])}, CUT,
         schema.OCCURRED_AT, "not a timestamp"),
        (_one_lead(), {schema.LEAD_ID: np.array([])}, CUT, schema.OCCURRED_AT, "events need"),
        (_one_lead() | {schema.INDUSTRY: np.array(["retail", "media"])}, NO_EVENTS, CUT,
         schema.INDUSTRY, "2 values for 1 rows"),
    ],
    ids=["no lead_id", "cutoffs", "duplicates", "created_at", "occurred_at", "event columns",
         "ragged"],
)  # fmt: skip
def test_feature_columns_names_bad_input(
    leads: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    cutoff: np.ndarray,
    column: str,
    match: str,
) -> None:
    with pytest.raises(InputError, match=match) as caught:
        feature_columns(leads, events, cutoff, CONFIG)
    assert caught.value.column == column


def test_concurrent_calls_match_serial_ones() -> None:
    """The API calls feature_columns from many threads at once: no shared mutable state."""
    leads, events, cutoff = synthetic_inputs(n_leads=24, n_events=900, seed=8)
    lead_arrays, event_arrays, cut = as_arrays(leads, events, cutoff)

    def one(i: int) -> dict[str, np.ndarray]:
        own = event_arrays[schema.LEAD_ID] == lead_arrays[schema.LEAD_ID][i]
        alone = {k: v[i : i + 1] for k, v in lead_arrays.items()}
        return feature_columns(
            alone, {k: v[own] for k, v in event_arrays.items()}, cut[i : i + 1], CONFIG
        )

    serial = [one(i) for i in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(one, [i % 24 for i in range(240)]))
    for k, got in enumerate(threaded):
        for name, values in got.items():
            np.testing.assert_array_equal(values, serial[k % 24][name], strict=True)


WARM_UP_CHECK = """
import numpy as np
from leadml.config import FeatureConfig
from leadml.features import kernels
from leadml.features.build import feature_columns, warm_up

compiled = (kernels.counted, kernels.scatter, kernels.finish, kernels.band_codes)
assert not any(k.signatures for k in compiled)
warm_up(FeatureConfig())
after_warm_up = [list(k.signatures) for k in compiled]
assert all(after_warm_up), after_warm_up
lead = {
    "lead_id": np.array(["L1"], dtype=object),
    "created_at": np.array(["2024-03-01T10:00"], dtype="datetime64[ns]"),
    "employees": np.array([12.0]),
    "email": np.array(["a@b.io"], dtype=object),
}
events = {
    "lead_id": np.array(["L1", "L1"], dtype=object),
    "event_type": np.array(["page_view", "demo_request"], dtype=object),
    "occurred_at": np.array(["2024-03-02", "2024-03-03"], dtype="datetime64[ns]"),
}
feature_columns(lead, events, np.array(["2024-03-15"], dtype="datetime64[ns]"), FeatureConfig())
assert [list(k.signatures) for k in compiled] == after_warm_up, "a request compiled more"
"""


def test_warm_up_loads_every_kernel_an_api_request_needs() -> None:
    # A new process: nothing compiled or loaded yet (numba's cache may serve the code).
    subprocess.run([sys.executable, "-c", WARM_UP_CHECK], check=True, timeout=600)
