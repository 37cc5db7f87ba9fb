"""bench/bench_age_calibration.py's maths: age buckets, the age table, issue 17's targets."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_age_calibration.py"


def _load() -> ModuleType:
    """Import the bench script by path (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_age_calibration", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


bench = _load()


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (0.0, "0-14"),
        (14.0, "0-14"),
        (14.99, "0-14"),
        (15.0, "15-30"),
        (30.0, "15-30"),
        (30.5, "15-30"),
        (31.0, "31-60"),
        (60.0, "31-60"),
        (61.0, "61-120"),
        (120.0, "61-120"),
        (121.0, "121-240"),
        (240.0, "121-240"),
        (240.9, "121-240"),
        (241.0, "over 240"),
        (1000.0, "over 240"),
    ],
)
def test_bucket_edges_are_inclusive_whole_days(age: float, bucket: str) -> None:
    assert list(bench.age_buckets(np.array([age]))) == [bucket]


def test_unknown_or_negative_age_is_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        bench.age_buckets(np.array([3.0, -0.5]))
    with pytest.raises(ValueError):
        bench.age_buckets(np.array([np.nan]))


def _frame(rows: list[tuple[float, float, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["age_days", "probability", "grade", "realized"])


def test_age_table_counts_means_and_shares() -> None:
    scored = _frame(
        [
            (2.0, 0.10, "A", 1),
            (14.0, 0.30, "B", 0),
            (15.0, 0.20, "A", 0),
            (30.0, 0.40, "A", 1),
            (45.0, 0.05, "C", 0),
            (300.0, 0.02, "D", 0),
            (241.0, 0.04, "A", 0),
            (500.0, 0.03, "D", 0),
        ]
    )
    rows = {r.bucket: r for r in bench.age_table(scored)}
    assert list(rows) == [*bench.BUCKETS, "all"]
    assert [rows[b].open_leads for b in bench.BUCKETS] == [2, 2, 1, 0, 0, 3]
    assert rows["0-14"].mean_predicted == pytest.approx((0.10 + 0.30) / 2)
    assert rows["0-14"].realized == pytest.approx(0.5)
    assert rows["15-30"].share_a == pytest.approx(1.0)
    assert rows["over 240"].mean_predicted == pytest.approx((0.02 + 0.04 + 0.03) / 3)
    assert rows["over 240"].share_a == pytest.approx(1 / 3)
    assert rows["over 240"].realized == 0.0
    empty = rows["61-120"]
    assert math.isnan(empty.mean_predicted) and math.isnan(empty.realized)
    total = rows["all"]
    assert total.open_leads == 8
    assert total.mean_predicted == pytest.approx(scored["probability"].mean())
    assert total.realized == pytest.approx(2 / 8)
    assert total.share_a == pytest.approx(4 / 8)
    # No bucket has 1,000 leads, so the per-bucket target judges none of them.
    assert all(r.within_target is None for r in rows.values())


def test_only_buckets_of_at_least_1000_leads_are_judged() -> None:
    n = bench.MIN_BUCKET_LEADS
    young = _frame([(5.0, 0.10, "A", int(i < n // 10)) for i in range(n)])
    old = _frame([(400.0, 0.10, "D", 0) for _ in range(n - 1)])
    rows = {r.bucket: r for r in bench.age_table(pd.concat([young, old], ignore_index=True))}
    assert rows["0-14"].open_leads == n and rows["0-14"].within_target is True
    assert rows["over 240"].open_leads == n - 1 and rows["over 240"].within_target is None
    assert rows["all"].within_target is None
    # The same old leads, one more of them: now judged, and 0.10 vs 0 realized misses.
    old = _frame([(400.0, 0.10, "D", 0) for _ in range(n)])
    rows = {r.bucket: r for r in bench.age_table(pd.concat([young, old], ignore_index=True))}
    assert rows["over 240"].within_target is False


@pytest.mark.parametrize(
    ("predicted", "realized", "met"),
    [
        (0.114, 0.10, True),  # 15% of 0.10 = 0.015 is wider than 0.005
        (0.086, 0.10, True),
        (0.116, 0.10, False),
        (0.084, 0.10, False),
        (0.0149, 0.01, True),  # 15% of 0.01 = 0.0015: the 0.005 floor applies
        (0.0051, 0.01, True),
        (0.0151, 0.01, False),
        (0.0049, 0.01, False),
        (0.005, 0.0, True),
        (0.0051, 0.0, False),
        (0.23, 0.20, True),  # exactly 15% above
        (0.047, 0.058, False),  # the 31-60 row: 19% low
        (0.064, 0.065, True),  # the 15-30 row
    ],
)
def test_mean_within_target_rule(predicted: float, realized: float, met: bool) -> None:
    assert bench.mean_within_target(predicted, realized) is met


def test_overall_figures_by_hand() -> None:
    scored = _frame(
        [(1.0, 0.05, "D", 0), (1.0, 0.05, "D", 1), (1.0, 0.95, "A", 1), (1.0, 0.95, "A", 1)]
    )
    figures = bench.overall_figures(scored)
    # Bin 0 holds half the rows: |0.5 - 0.05| * 0.5; bin 9: |1 - 0.95| * 0.5.
    assert figures["ece"] == pytest.approx(0.225 + 0.025)
    # Pairs (negative, positive): two won, one tied.
    assert figures["roc_auc"] == pytest.approx(2.5 / 3)
    assert figures["mean_predicted"] == pytest.approx(0.5)
    assert figures["realized"] == pytest.approx(0.75)
    assert figures["open_leads"] == 4


def test_targets_met_and_missed() -> None:
    buckets = [
        bench.BucketRow("0-14", 1500, 0.07, 0.09, 0.08, False),
        bench.BucketRow("15-30", 1200, 0.064, 0.065, 0.06, True),
        bench.BucketRow("31-60", 900, 0.3, 0.0, 0.0, None),
    ]
    targets = bench.check_targets(buckets, {"ece": 0.026, "roc_auc": 0.9})
    assert [t.met for t in targets] == [False, False, True]
    assert "1 of 2 met" in targets[1].value and "0-14" in targets[1].value
    fixed = [bench.BucketRow("0-14", 1500, 0.09, 0.09, 0.08, True), *buckets[1:]]
    targets = bench.check_targets(fixed, {"ece": 0.01, "roc_auc": 0.879})
    assert [t.met for t in targets] == [True, True, False]
    small = [bench.BucketRow("0-14", 999, 0.3, 0.0, 0.0, None)]
    targets = bench.check_targets(small, {"ece": 0.01, "roc_auc": 0.88})
    assert [t.met for t in targets] == [True, None, True]  # no bucket to judge: no verdict


def test_outcomes_count_conversions_in_the_window_only() -> None:
    as_of = pd.Timestamp("2025-06-30", tz="UTC")
    day = pd.Timedelta(days=1)
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "created_at": [as_of - 20 * day, as_of - 0.5 * day, as_of - 300 * day, as_of],
            "converted_at": [as_of + 90 * day, as_of + 90 * day + pd.Timedelta(seconds=1),
                             pd.NaT, as_of + pd.Timedelta(seconds=1)],
        }
    )  # fmt: skip
    ranked = pd.DataFrame(
        {"lead_id": ["d", "c", "b", "a"], "probability": [0.4, 0.3, 0.2, 0.1], "grade": "B"}
    )
    out = bench.with_outcomes(ranked, leads, as_of, 90)
    assert out["age_days"].tolist() == pytest.approx([0.0, 300.0, 0.5, 20.0])
    assert out["realized"].tolist() == [1, 0, 0, 1]
    assert out["probability"].tolist() == [0.4, 0.3, 0.2, 0.1]


def test_an_open_window_is_refused_naming_the_last_timestamp() -> None:
    last = pd.Timestamp("2025-12-30 23:54:02", tz="UTC")
    bench.check_window_closed(pd.Timestamp("2025-06-30", tz="UTC"), 90, last)
    with pytest.raises(SystemExit, match="2025-12-30T23:54:02") as refused:
        bench.check_window_closed(pd.Timestamp("2025-10-15", tz="UTC"), 90, last)
    assert "\n" not in str(refused.value)
    assert "2025-10-01" in str(refused.value)  # the latest as-of whose window has closed
