"""Snapshot rows: every lead at every age it was open, labelled and featurised as of then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig, LabelConfig
from leadml.errors import InputError
from leadml.model.assess import metrics_by_age
from leadml.model.snapshots import (
    AGE,
    AGE_BUCKETS,
    REFERENCE_DRAW,
    SHAP_DRAW,
    SNAPSHOT_DRAW,
    TRAIN_SAMPLE_DRAW,
    age_bucket,
    kept_rows,
    lead_weights,
    snapshot_rows,
    snapshot_split,
    split_bounds,
    split_folds,
)

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2024-12-31", tz="UTC")
LABELS = LabelConfig(snapshot_days=(0, 7, 30, 200), snapshot_every_days=0, window_days=90)


def _leads() -> pd.DataFrame:
    """A converts on day 20; B never converts; C is created late (day 300), never converts."""
    return pd.DataFrame(
        {
            schema.LEAD_ID: ["A", "B", "C"],
            schema.CREATED_AT: [START, START, START + 300 * DAY],
            schema.LEAD_SOURCE: ["webinar", "referral", "paid_search"],
            schema.CONVERTED_AT: pd.to_datetime([START + 20 * DAY, None, None], utc=True),
        }
    )


def _events() -> pd.DataFrame:
    """B requests a demo on day 3 and views pricing on day 10."""
    return pd.DataFrame(
        {
            schema.LEAD_ID: ["B", "B"],
            schema.EVENT_TYPE: ["demo_request", "pricing_page_view"],
            schema.OCCURRED_AT: [START + 3 * DAY, START + 10 * DAY],
        }
    )


def _rows(**kwargs: object) -> pd.DataFrame:
    snaps = snapshot_rows(_leads(), _events(), LABELS, FeatureConfig(), end=END, **kwargs)  # type: ignore[arg-type]
    assert snaps.raw.index.equals(snaps.rows.index)
    return snaps.rows.join(snaps.raw[["total_events", "days_since_created"]])


def test_a_lead_has_a_row_at_each_age_it_was_open_with_the_label_of_that_moment() -> None:
    rows = _rows()
    # A converted on day 20: open (and converting within 90 days) at 0 and 7, gone at 30.
    assert rows.loc["A@0", "label"] == 1 and rows.loc["A@7", "label"] == 1
    assert "A@30" not in rows.index and "A@200" not in rows.index
    # B never converts: a negative row at every age whose window closed by the end.
    assert [rows.loc[f"B@{a}", "label"] for a in (0, 7, 30, 200)] == [0, 0, 0, 0]
    # C (created day 300) has no age whose 90-day window closed before the end of the data.
    assert not any(key.startswith("C@") for key in rows.index)
    assert rows.loc["B@30", schema.LEAD_ID] == "B"
    assert rows.loc["B@30", "cutoff"] == START + 30 * DAY
    assert rows.loc["B@30", AGE] == 30


def test_features_are_as_of_each_snapshot_and_age_is_a_feature() -> None:
    rows = _rows()
    assert rows.loc["B@0", "total_events"] == 0
    assert rows.loc["B@7", "total_events"] == 1  # the day-3 demo request only
    assert rows.loc["B@30", "total_events"] == 2
    assert rows.loc["B@200", "days_since_created"] == pytest.approx(200)
    assert rows.loc["B@7", "days_since_created"] == pytest.approx(7)


def test_counts_per_age_add_up() -> None:
    snaps = snapshot_rows(_leads(), _events(), LABELS, FeatureConfig(), end=END)
    per_age = snaps.per_snapshot
    assert per_age.loc["30", "excluded_converted_before_cutoff"] == 1  # A
    assert per_age.loc["0", "censored_window_not_closed"] == 1  # C
    assert int(per_age["rows"].sum()) == len(snaps.rows) == snaps.labels.n_eligible
    assert snaps.labels.n_positive == 2
    labels = snaps.labels
    assert (
        labels.n_total == labels.n_eligible + labels.n_converted_before_cutoff + labels.n_censored
    )


def test_sampling_keeps_the_same_share_of_every_snapshot() -> None:
    calendar = LabelConfig(snapshot_every_days=7, window_days=90)
    leads = pd.concat([_leads()] * 1, ignore_index=True)
    full = snapshot_rows(leads, _events(), calendar, FeatureConfig(), end=END)
    half = snapshot_rows(
        leads, _events(), calendar, FeatureConfig(), end=END, max_rows=len(full.rows) // 2, seed=1
    )
    assert 0 < len(half.rows) < len(full.rows)
    assert set(half.rows.index) <= set(full.rows.index)
    assert half.labels.n_eligible == full.labels.n_eligible  # counts are before sampling
    assert int(half.per_snapshot["sampled"].sum()) == len(half.rows)


def test_no_snapshot_with_a_closed_window_is_a_clear_error() -> None:
    leads = _leads().iloc[[2]]
    with pytest.raises(InputError, match="no lead has a snapshot whose window closed"):
        snapshot_rows(leads, _events(), LABELS, FeatureConfig(), end=END)


def _timeline() -> pd.Series:
    """A row every 2 days over 400 days."""
    stamps = START + pd.to_timedelta(np.arange(0, 400, 2), unit="D")
    return pd.Series(stamps, index=pd.Index([f"r{i}" for i in range(len(stamps))], name="row"))


def test_a_window_long_gap_precedes_validation_and_test() -> None:
    cutoff = _timeline()
    split = snapshot_split(cutoff, train_fraction=0.6, valid_fraction=0.2, window_days=30)
    window = pd.Timedelta(days=30)
    assert cutoff.loc[split.train].max() + window <= cutoff.loc[split.valid].min()
    assert cutoff.loc[split.valid].max() + window <= cutoff.loc[split.test].min()
    # test: the latest 20% of rows; the gaps come out of the earlier folds
    assert len(split.test) == pytest.approx(0.2 * len(cutoff), abs=1)
    assert cutoff.loc[split.test].min() == cutoff.sort_values().iloc[len(cutoff) - len(split.test)]
    before_test = cutoff[cutoff + window <= cutoff.loc[split.test].min()]
    assert len(split.valid) == pytest.approx(0.25 * len(before_test), abs=1)
    gap_rows = len(cutoff) - len(split.train) - len(split.valid) - len(split.test)
    assert 25 <= gap_rows <= 32  # two 30-day gaps of a row every 2 days
    assert split.windows["test"]["gap_before_days"] == "30"


def test_the_split_never_looks_at_outcomes() -> None:
    cutoff = _timeline()
    a = snapshot_split(cutoff, train_fraction=0.6, valid_fraction=0.2, window_days=30)
    shuffled = cutoff.sample(frac=1.0, random_state=1)
    b = snapshot_split(shuffled, train_fraction=0.6, valid_fraction=0.2, window_days=30)
    for name in ("train", "valid", "test"):
        assert set(getattr(a, name)) == set(getattr(b, name))


def test_a_span_too_short_for_the_gaps_says_how_to_fix_it() -> None:
    cutoff = _timeline().iloc[:40]  # 80 days
    with pytest.raises(InputError, match="window is empty once a 90-day gap"):
        snapshot_split(cutoff, train_fraction=0.6, valid_fraction=0.2, window_days=90)


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (0, "0-14"),
        (14.99, "0-14"),
        (15, "15-30"),
        (30.5, "15-30"),
        (31, "31-60"),
        (120, "61-120"),
        (240.9, "121-240"),
        (241, "over 240"),
        (5000, "over 240"),
    ],
)
def test_age_buckets_are_whole_days_with_inclusive_edges(age: float, bucket: str) -> None:
    assert age_bucket(np.array([age]))[0] == bucket


def test_age_bucket_refuses_unknown_or_negative_ages() -> None:
    with pytest.raises(ValueError):
        age_bucket(np.array([np.nan]))
    with pytest.raises(ValueError):
        age_bucket(np.array([-1.0]))


def test_metrics_by_age_report_each_bucket_and_all() -> None:
    age = np.array([1, 2, 20, 20, 300, 300, 300, 300])
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    p = np.array([0.8, 0.2, 0.4, 0.6, 0.1, 0.1, 0.1, 0.3])
    table = metrics_by_age(y, p, age)
    assert list(table.index) == ["0-14", "15-30", "over 240", "all"]
    assert table.loc["over 240", "rows"] == 4
    assert table.loc["over 240", "realized"] == pytest.approx(0.25)
    assert table.loc["over 240", "mean_predicted"] == pytest.approx(0.15)
    assert table.loc["0-14", "roc_auc"] == 1.0
    assert table.loc["all", "rows"] == len(y)
    assert {name for name, _, _ in AGE_BUCKETS} >= set(table.index[:-1])


def test_a_calendar_of_snapshots_takes_every_open_lead_at_its_own_age() -> None:
    calendar = LabelConfig(snapshot_days=(), snapshot_every_days=60, window_days=90)
    snaps = snapshot_rows(_leads(), _events(), calendar, FeatureConfig(), end=END)
    rows = snaps.rows
    dates = sorted(rows["snapshot"].unique())
    assert dates[0] == "2024-03-01"  # the first date is one step after the first lead
    assert all(pd.Timestamp(d, tz="UTC") + 90 * DAY <= END for d in dates)
    on_first = rows[rows["snapshot"] == dates[0]]
    assert set(on_first[schema.LEAD_ID]) == {"B"}  # A converted on day 20; C not yet created
    assert on_first.loc["B@2024-03-01", AGE] == 60
    assert not rows.duplicated([schema.LEAD_ID, "snapshot"]).any()
    assert (rows["cutoff"] == pd.to_datetime(rows["snapshot"], utc=True)).all()


def test_lead_weights_give_every_lead_the_same_total() -> None:
    ids = np.array(["a", "a", "a", "b", "c", "c"])
    weight = lead_weights(ids)
    totals = pd.Series(weight).groupby(ids).sum()
    assert np.allclose(totals, totals.iloc[0])
    assert weight.mean() == pytest.approx(1.0)


def test_whether_a_row_is_kept_depends_on_its_key_and_the_seed_alone() -> None:
    keys = pd.Index([f"lead{i}@2024-0{1 + i % 9}-01" for i in range(4000)])
    whole = kept_rows(keys, 0.3, seed=7, draw=SNAPSHOT_DRAW)
    assert 0.25 < whole.mean() < 0.35
    part = keys[::3]  # another frame (a partition) holding some of the same rows
    np.testing.assert_array_equal(kept_rows(part, 0.3, seed=7, draw=SNAPSHOT_DRAW), whole[::3])
    assert not np.array_equal(kept_rows(keys, 0.3, seed=8, draw=SNAPSHOT_DRAW), whole)


@pytest.mark.parametrize("draw", [TRAIN_SAMPLE_DRAW, SHAP_DRAW, REFERENCE_DRAW])
def test_a_later_draw_keeps_its_share_of_the_rows_an_earlier_draw_kept(draw: str) -> None:
    # Rows kept at 0.1 by the snapshot draw, then a 0.05 share of those for another
    # purpose: with one hash key for both, every row under 0.05 would be kept again
    # (half of them, ten times the share asked for).
    keys = pd.Index([f"lead{i}@2024-0{1 + i % 9}-01" for i in range(40_000)])
    snapshot_rows = keys[kept_rows(keys, 0.1, seed=7, draw=SNAPSHOT_DRAW)]
    again = kept_rows(snapshot_rows, 0.05, seed=7, draw=draw)
    assert 0.035 < again.mean() < 0.065
    assert kept_rows(snapshot_rows, 0.05, seed=7, draw=SNAPSHOT_DRAW).mean() > 0.4


def test_folds_from_the_bounds_are_the_split() -> None:
    cutoff = _timeline()
    split = snapshot_split(cutoff, train_fraction=0.6, valid_fraction=0.2, window_days=30)
    valid_start, test_start = split_bounds(
        cutoff.sort_values().array, train_fraction=0.6, valid_fraction=0.2, window_days=30
    )
    fold = split_folds(cutoff.array, valid_start, test_start, window_days=30)
    for name, ids in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        assert set(cutoff.index[fold == name]) == set(ids)
    assert set(cutoff.index[fold == ""]).isdisjoint(set(split.train) | set(split.valid))
