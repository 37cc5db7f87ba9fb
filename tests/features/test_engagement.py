from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig
from leadml.features import engagement
from leadml.features import ids as id_lookup
from leadml.features.engagement import (
    engagement_columns,
    engagement_features,
)

CONFIG = FeatureConfig()
CREATED = pd.Timestamp("2024-01-01", tz="UTC")
CUTOFF = pd.Timestamp("2024-02-01", tz="UTC")
DAY = pd.Timedelta(days=1)


def _leads(ids: list[str], created: pd.Timestamp = CREATED) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LEAD_ID: pd.Series(ids, dtype="str"),
            schema.CREATED_AT: pd.Series([created] * len(ids), dtype="datetime64[us, UTC]"),
            schema.LEAD_SOURCE: "direct",
        }
    )


def _events(rows: list[tuple[str, pd.Timestamp, str]]) -> pd.DataFrame:
    ids, stamps, types = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {
            schema.LEAD_ID: pd.Series(list(ids), dtype="str"),
            schema.OCCURRED_AT: pd.Series(list(stamps), dtype="datetime64[us, UTC]"),
            schema.EVENT_TYPE: pd.Series(list(types), dtype="str"),
        }
    )


def _cutoff(ids: list[str], at: pd.Timestamp = CUTOFF) -> pd.Series:
    return pd.Series([at] * len(ids), index=pd.Index(ids, name=schema.LEAD_ID))


def _random_data(
    n_leads: int, n_events: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"L{i:05d}" for i in range(n_leads)]
    created = CREATED + pd.to_timedelta(rng.integers(0, 60 * 86_400, n_leads), unit="s")
    leads = _leads(ids)
    leads[schema.CREATED_AT] = pd.Series(created, dtype="datetime64[us, UTC]")
    types = [*schema.EVENT_TYPES, *schema.POST_CONVERSION_EVENTS, "mystery"]
    lead = rng.integers(0, n_leads, n_events)
    offsets = pd.to_timedelta(rng.integers(-20 * 86_400, 150 * 86_400, n_events), unit="s")
    events = _events(
        list(
            zip(
                [ids[i] for i in lead],
                created[lead] + offsets,
                rng.choice(types, n_events),
                strict=True,
            )
        )
    )
    cutoff = pd.Series(
        leads[schema.CREATED_AT].to_numpy(), index=pd.Index(ids, name=schema.LEAD_ID)
    ) + pd.to_timedelta(rng.integers(0, 40, n_leads), unit="D")
    return leads, events, cutoff


def test_hand_computed_lead() -> None:
    rows = [
        ("A", CUTOFF - 3 * DAY, "demo_request"),
        ("A", CUTOFF - 10 * DAY, "demo_request"),
        ("A", CUTOFF - 40 * DAY, "whitepaper_download"),
        ("A", CUTOFF - 1 * DAY, "email_open"),
        ("A", CUTOFF - 2 * DAY, "email_open"),
        ("A", CUTOFF - 1 * DAY, "email_click"),
        ("A", CUTOFF - 100 * DAY, "page_view"),
        ("A", CUTOFF - 1 * DAY, "mystery_event"),  # unknown type: ignored
        ("A", CUTOFF - 1 * DAY, "onboarding"),  # post-conversion: ignored
        ("A", CUTOFF, "demo_request"),  # at the cutoff: not strictly before
        ("A", CUTOFF + DAY, "quote_request"),  # after the cutoff
    ]
    row = engagement_features(_leads(["A"]), _events(rows), _cutoff(["A"]), CONFIG).loc["A"]

    assert [row[f"count_demo_request_{w}"] for w in ("7d", "30d", "90d", "all")] == [1, 2, 2, 2]
    assert [row[f"count_whitepaper_download_{w}"] for w in ("30d", "90d")] == [0, 1]
    assert [row[f"count_page_view_{w}"] for w in ("90d", "all")] == [0, 1]
    assert row["count_quote_request_all"] == 0
    assert row["days_since_last_demo_request"] == pytest.approx(3)
    assert row["days_since_last_page_view"] == pytest.approx(100)
    assert np.isnan(row["days_since_last_quote_request"])
    assert row["days_since_last_event"] == pytest.approx(1)
    assert row["total_events"] == 7
    assert row["distinct_event_types"] == 5
    assert row["stage_reached"] == 3
    assert row["email_click_through_rate"] == pytest.approx(0.5)
    assert row["engagement_velocity"] == pytest.approx((4 + 1) / (1 / 3 + 1))
    assert row["days_since_created"] == pytest.approx(31)
    decay = lambda days: 0.5 ** (days / CONFIG.half_life_days)  # noqa: E731
    score = (
        4 * (decay(3) + decay(10))
        + 2 * decay(40)
        + decay(1) + decay(2) + decay(1) + decay(100)
    )  # fmt: skip
    assert row["engagement_score"] == pytest.approx(score, rel=1e-5)
    assert row["engagement_score_sql"] == pytest.approx(decay(3) + decay(10), rel=1e-5)
    assert row["engagement_score_mql"] == pytest.approx(decay(40), rel=1e-5)
    iql = decay(1) + decay(2) + decay(1) + decay(100)
    assert row["engagement_score_iql"] == pytest.approx(iql, rel=1e-5)
    assert row["engagement_score_pql"] == 0


def test_columns_follow_the_catalogue_and_types() -> None:
    frame = engagement_features(_leads(["A"]), _events([]), _cutoff(["A"]), CONFIG)
    assert list(frame.columns) == list(engagement_columns(CONFIG))
    counts = [c for c in frame.columns if c.startswith("count_")]
    assert len(counts) == len(schema.EVENT_TYPES) * (len(CONFIG.windows_days) + 1)
    assert all(frame[c].dtype == np.int32 for c in [*counts, "total_events", "stage_reached"])
    assert frame["engagement_score"].dtype == np.float64


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [("A", CUTOFF + DAY, "demo_request"), ("A", CUTOFF, "page_view")],
        [("A", CUTOFF - DAY, "mystery"), ("A", CUTOFF - DAY, "onboarding")],
        [("A", CUTOFF - DAY, "invoice_paid"), ("B", CUTOFF - DAY, "demo_request")],
    ],
    ids=["no events", "all after cutoff", "unknown types", "post-conversion and other lead"],
)
def test_leads_without_counted_events(rows: list[tuple[str, pd.Timestamp, str]]) -> None:
    row = engagement_features(_leads(["A"]), _events(rows), _cutoff(["A"]), CONFIG).loc["A"]
    counts = row[[c for c in row.index if c.startswith("count_")]]
    assert (counts == 0).all()
    assert row["total_events"] == 0
    assert row["distinct_event_types"] == 0
    assert row["stage_reached"] == 0
    recency = [c for c in row.index if c.startswith("days_since_last_")]
    assert row[recency].isna().all()
    assert np.isnan(row["email_click_through_rate"])
    assert row["engagement_score"] == 0
    assert row["engagement_velocity"] == 1
    assert row["days_since_created"] == pytest.approx(31)


@pytest.mark.parametrize(
    ("age", "in_7d"),
    [
        (7 * DAY, True),
        (7 * DAY + pd.Timedelta(microseconds=1), False),
        (pd.Timedelta(microseconds=1), True),
    ],
)
def test_window_edge_is_inclusive(age: pd.Timedelta, in_7d: bool) -> None:
    events = _events([("A", CUTOFF - age, "blog_view")])
    row = engagement_features(_leads(["A"]), events, _cutoff(["A"]), CONFIG).loc["A"]
    assert row["count_blog_view_7d"] == int(in_7d)
    assert row["count_blog_view_30d"] == 1


@pytest.mark.parametrize(
    ("event_type", "stage"),
    [
        ("unsubscribe", 0),
        ("page_view", 1),
        ("pricing_page_view", 2),
        ("quote_request", 3),
        ("trial_activity", 4),
    ],
)
def test_stage_reached(event_type: str, stage: int) -> None:
    events = _events([("A", CUTOFF - DAY, event_type), ("A", CUTOFF - DAY, "unsubscribe")])
    row = engagement_features(_leads(["A"]), events, _cutoff(["A"]), CONFIG).loc["A"]
    assert row["stage_reached"] == stage


def test_velocity_and_click_rate() -> None:
    rows = [("A", CUTOFF - 20 * DAY, "email_open")] * 6 + [("A", CUTOFF - 2 * DAY, "email_click")]
    row = engagement_features(_leads(["A"]), _events(rows), _cutoff(["A"]), CONFIG).loc["A"]
    assert row["engagement_velocity"] == pytest.approx((1 + 1) / (6 / 3 + 1))
    assert row["email_click_through_rate"] == pytest.approx(1 / 6)


def test_configurable_windows_and_half_life() -> None:
    config = FeatureConfig(windows_days=(3,), half_life_days=1.0)
    rows = [("A", CUTOFF - 2 * DAY, "demo_request"), ("A", CUTOFF - 5 * DAY, "demo_request")]
    frame = engagement_features(_leads(["A"]), _events(rows), _cutoff(["A"]), config)
    assert "count_demo_request_30d" not in frame
    assert frame.loc["A", "count_demo_request_3d"] == 1
    assert frame.loc["A", "count_demo_request_all"] == 2
    assert frame.loc["A", "engagement_score"] == pytest.approx(4 * (0.25 + 0.5**5), rel=1e-5)


def _reference(
    leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series, config: FeatureConfig
) -> pd.DataFrame:
    """The same features the slow, obvious way: one lead at a time with pandas."""
    rows = {}
    for lead, created in zip(leads[schema.LEAD_ID], leads[schema.CREATED_AT], strict=True):
        own = events[events[schema.LEAD_ID] == lead]
        age = (cutoff[lead] - own[schema.OCCURRED_AT]) / DAY
        own = own.assign(age=age)[(age > 0) & own[schema.EVENT_TYPE].isin(schema.EVENT_TYPES)]
        row: dict[str, float] = {}
        for t in schema.EVENT_TYPES:
            mine = own[own[schema.EVENT_TYPE] == t]
            for w in config.windows_days:
                row[f"count_{t}_{w}d"] = int((mine["age"] <= w).sum())
            row[f"count_{t}_all"] = len(mine)
            row[f"days_since_last_{t}"] = mine["age"].min() if len(mine) else np.nan
        stages = own[schema.EVENT_TYPE].map(schema.EVENT_STAGE)
        decay = 0.5 ** (own["age"] / config.half_life_days)
        row["total_events"] = len(own)
        row["distinct_event_types"] = own[schema.EVENT_TYPE].nunique()
        row["stage_reached"] = max([0, *(schema.STAGES.index(s) + 1 for s in stages.dropna())])
        row["days_since_last_event"] = own["age"].min() if len(own) else np.nan
        for stage in schema.STAGES:
            row[f"engagement_score_{stage.lower()}"] = decay[stages == stage].sum()
        row["engagement_score"] = sum(
            engagement.STAGE_WEIGHT[s] * row[f"engagement_score_{s.lower()}"] for s in schema.STAGES
        )
        recent = (own["age"] <= 7).sum()
        earlier = ((own["age"] > 7) & (own["age"] <= 28)).sum()
        row["engagement_velocity"] = (recent + 1) / (earlier / 3 + 1)
        opens = row["count_email_open_all"]
        row["email_click_through_rate"] = row["count_email_click_all"] / opens if opens else np.nan
        row["days_since_created"] = (cutoff[lead] - created) / DAY
        rows[lead] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize(
    "windows",
    [(7, 30, 90), (3,), (90, 7), (5, 10, 20, 40, 80), (1, 2, 3, 7, 14, 30, 60, 90, 120), ()],
    ids=["default", "one", "unsorted", "five (8-bit fields)", "nine (wide counters)", "none"],
)
def test_matches_a_plain_pandas_reference(windows: tuple[int, ...]) -> None:
    config = FeatureConfig(windows_days=windows, half_life_days=9.0)
    leads, events, cutoff = _random_data(25, 1500, seed=7)
    # One busy lead: more than an 8-bit packed counter holds.
    busy = _events([("L00003", CUTOFF - DAY * (i % 50 + 0.5), "page_view") for i in range(600)])
    events = pd.concat([events, busy], ignore_index=True)
    cutoff = cutoff.copy()
    cutoff["L00003"] = CUTOFF
    got = engagement_features(leads, events, cutoff, config)
    expected = _reference(leads, events, cutoff, config)
    expected.index.name = schema.LEAD_ID
    pd.testing.assert_frame_equal(
        got.astype(np.float64), expected[got.columns].astype(np.float64), rtol=1e-5
    )


def test_per_lead_cutoffs_and_lead_order() -> None:
    leads = _leads(["B", "A"])
    rows = [("A", CUTOFF - DAY, "demo_request"), ("B", CUTOFF - DAY, "demo_request")]
    cutoff = pd.Series([CUTOFF, CUTOFF - 2 * DAY], index=pd.Index(["A", "B"], name=schema.LEAD_ID))
    frame = engagement_features(leads, _events(rows), cutoff, CONFIG)
    assert frame.index.tolist() == ["B", "A"]
    assert frame.index.name == schema.LEAD_ID
    assert frame["count_demo_request_all"].tolist() == [0, 1]


def test_no_leakage_events_after_the_cutoff_change_nothing() -> None:
    leads, events, cutoff = _random_data(40, 800, seed=1)
    lead_cut = cutoff.reindex(events[schema.LEAD_ID]).to_numpy()
    before = events[(events[schema.OCCURRED_AT] < lead_cut).to_numpy()]
    pd.testing.assert_frame_equal(
        engagement_features(leads, events, cutoff, CONFIG),
        engagement_features(leads, before, cutoff, CONFIG),
    )


def test_partition_invariance() -> None:
    leads, events, cutoff = _random_data(60, 1200, seed=2)
    full = engagement_features(leads, events, cutoff, CONFIG)
    subset = leads.iloc[[5, 17, 3, 42]]
    ids = subset[schema.LEAD_ID]
    own_events = events[events[schema.LEAD_ID].isin(ids)]
    for some_events in (own_events, events):
        part = engagement_features(subset, some_events, cutoff.loc[ids], CONFIG)
        pd.testing.assert_frame_equal(part, full.loc[ids.tolist()])


def test_inputs_are_not_mutated() -> None:
    leads, events, cutoff = _random_data(10, 100, seed=3)
    copies = leads.copy(), events.copy(), cutoff.copy()
    engagement_features(leads, events, cutoff, CONFIG)
    pd.testing.assert_frame_equal(leads, copies[0])
    pd.testing.assert_frame_equal(events, copies[1])
    pd.testing.assert_series_equal(cutoff, copies[2])


def test_input_dtypes_do_not_change_the_result() -> None:
    leads, events, cutoff = _random_data(30, 600, seed=4)
    expected = engagement_features(leads, events, cutoff, CONFIG)
    other = events.assign(
        **{
            schema.LEAD_ID: events[schema.LEAD_ID].astype(object),
            schema.EVENT_TYPE: events[schema.EVENT_TYPE].astype("category"),
            schema.OCCURRED_AT: events[schema.OCCURRED_AT].dt.as_unit("ns"),
        }
    )
    in_ns = cutoff.dt.as_unit("ns").dt.tz_convert("Europe/Berlin")
    pd.testing.assert_frame_equal(engagement_features(leads, other, in_ns, CONFIG), expected)


@pytest.mark.parametrize("width", [8, 18, None], ids=["short ids", "hashed ids", "varied"])
def test_id_lookup_table_matches_pandas(monkeypatch: pytest.MonkeyPatch, width: int | None) -> None:
    rng = np.random.default_rng(5)
    if width is None:
        ids = [f"lead-{i}" for i in range(300)]
    else:
        ids = [f"{i:0{width}d}" for i in range(300)]
    queries = [ids[i] for i in rng.integers(0, 300, 5000)] + ["x" * (width or 3)] * 7
    table = pd.Index(pd.Series(ids, dtype="str"))
    query = pd.Series(queries, dtype="str")
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 0)
    found = id_lookup.Lookup(table, query).positions(0, len(query))
    np.testing.assert_array_equal(found, table.get_indexer(query))


def test_id_lookup_on_sliced_and_chunked_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = pd.Series([f"L{i:04d}" for i in range(500)], dtype="str")
    query = pd.concat([ids.iloc[100:300], ids.iloc[::-1]], ignore_index=True)  # two chunks
    table = pd.Index(ids.iloc[50:450])  # a slice: arrow data with an offset
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 0)
    found = id_lookup.Lookup(table, query).positions(0, len(query))
    np.testing.assert_array_equal(found, table.get_indexer(query))


def test_a_hash_collision_never_maps_to_the_wrong_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    # A deliberately weak hash (first 8 bytes only) makes every query collide.
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 0)
    monkeypatch.setattr(id_lookup.Lookup, "_key", lambda self, words: words[0])
    table = pd.Index(pd.Series([f"{i:08d}-lead" for i in range(50)], dtype="str"))
    query = pd.Series([f"{i:08d}-LEAD" for i in range(50)] + ["00000007-lead"], dtype="str")
    found = id_lookup.Lookup(table, query).positions(0, len(query))
    assert found.tolist() == [-1] * 50 + [7]


def test_large_inputs_match_the_small_input_path(monkeypatch: pytest.MonkeyPatch) -> None:
    leads, events, cutoff = _random_data(500, 20_000, seed=6)
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 0)  # numpy id table
    monkeypatch.setattr(engagement, "_CHUNK", 3_000)  # several chunks, run ahead
    chunked = engagement_features(leads, events, cutoff, CONFIG)
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 10**9)  # arrow lookup
    monkeypatch.setattr(engagement, "_CHUNK", 10**9)  # one chunk
    pd.testing.assert_frame_equal(chunked, engagement_features(leads, events, cutoff, CONFIG))


def test_a_lead_with_more_events_than_packed_counters_hold() -> None:
    n = 70_000  # more than a 16-bit packed window counter
    rows = [("A", CUTOFF - DAY, "page_view")] * n + [("B", CUTOFF - 40 * DAY, "page_view")]
    frame = engagement_features(_leads(["A", "B"]), _events(rows), _cutoff(["A", "B"]), CONFIG)
    assert frame.loc["A", "count_page_view_7d"] == n
    assert frame.loc["A", "count_page_view_all"] == n
    assert frame.loc["B", "count_page_view_30d"] == 0
    assert frame.loc["B", "count_page_view_90d"] == 1


def test_every_lead_needs_a_cutoff() -> None:
    with pytest.raises(ValueError, match="no cutoff"):
        engagement_features(_leads(["A", "B"]), _events([]), _cutoff(["A"]), CONFIG)


def test_duplicate_leads_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        engagement_features(_leads(["A", "A"]), _events([]), _cutoff(["A"]), CONFIG)


def test_naive_timestamps_are_refused() -> None:
    events = _events([("A", CUTOFF - DAY, "page_view")])
    events[schema.OCCURRED_AT] = events[schema.OCCURRED_AT].dt.tz_localize(None)
    with pytest.raises(ValueError, match="tz-aware"):
        engagement_features(_leads(["A"]), events, _cutoff(["A"]), CONFIG)


@pytest.mark.parametrize("n_table", [1, 2, 5])
def test_id_lookup_with_a_tiny_table_and_many_queries(
    monkeypatch: pytest.MonkeyPatch, n_table: int
) -> None:
    # Queries hash to every home slot, also to slots no table id landed near.
    monkeypatch.setattr(id_lookup, "_TABLE_MIN_QUERIES", 0)
    table = pd.Index(pd.Series([f"L{i:07d}" for i in range(n_table)], dtype="str"))
    query = pd.Series([f"L{i:07d}" for i in range(2000)], dtype="str")
    found = id_lookup.Lookup(table, query).positions(0, len(query))
    np.testing.assert_array_equal(found, table.get_indexer(query))
