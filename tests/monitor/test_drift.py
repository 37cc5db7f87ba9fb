"""Drift core: PSI, binned profiles, the reference stored with a model, the comparison."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from leadml.config import FeatureConfig
from leadml.errors import LeadmlError
from leadml.features.spec import FeatureColumn, FeatureSpec
from leadml.model.evaluate import ECE_BINS, calibration_bins
from leadml.model.pipeline import TrainedModel
from leadml.monitor.drift import (
    EPSILON,
    MISSING,
    OTHER,
    PSI_ALERT,
    REFERENCE_KEY,
    SCORE,
    Current,
    Profile,
    Reference,
    build_reference,
    calibration_check,
    compare,
    profile,
    psi,
    status,
)
from leadml.monitor.drift.report import tally
from leadml.report.plots import reliability


def test_psi_is_zero_for_identical_shares_and_matches_the_formula() -> None:
    shares = np.array([0.2, 0.3, 0.5])
    assert psi(shares, shares) == 0.0
    current = np.array([0.1, 0.3, 0.6])
    expected = (0.1 - 0.2) * math.log(0.1 / 0.2) + (0.6 - 0.5) * math.log(0.6 / 0.5)
    assert psi(shares, current) == pytest.approx(expected)
    assert psi(shares, current) == pytest.approx(psi(current, shares))  # symmetric


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi(np.array([1.0, 0.0]), np.array([0.9, 0.1]))
    floor = (0.9 - 1.0) * math.log(0.9) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert value == pytest.approx(floor)
    with pytest.raises(ValueError, match="bins differ"):
        psi(np.array([1.0]), np.array([0.5, 0.5]))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "watch"), (0.2499, "watch"), (0.25, "alert")],
)
def test_status_thresholds(value: float, expected: str) -> None:
    assert status(value) == expected


def test_status_uses_the_configured_alert_threshold() -> None:
    assert status(0.2, alert=0.15) == "alert"
    assert status(0.3, alert=0.5) == "watch"


def test_numeric_profile_bins_deciles_right_closed_with_a_missing_bin() -> None:
    values = np.r_[np.arange(1.0, 101.0), [np.nan] * 25]
    p = profile("x", "numeric", values)
    assert len(p.edges) == 9
    assert p.edges[0] == pytest.approx(10.9)
    assert len(p.shares) == len(p.edges) + 2
    assert p.shares[-1] == pytest.approx(25 / 125)
    assert sum(p.shares) == pytest.approx(1.0)
    labels = p.bin_labels()
    assert labels[0].startswith("<=") and labels[-2].startswith(">") and labels[-1] == MISSING
    # Right-closed: a value equal to an edge falls in the bin that ends at it.
    counts = p.counts(np.array([p.edges[0], p.edges[0] + 1e-9, -5.0, np.nan]))
    assert counts[0] == 2 and counts[1] == 1 and counts[-1] == 1


def test_numeric_profile_merges_equal_edges_of_a_point_mass() -> None:
    values = np.r_[np.zeros(80), np.arange(1.0, 21.0)]
    p = profile("count", "numeric", values)
    assert p.edges[0] == 0.0
    assert len(set(p.edges)) == len(p.edges)
    assert p.shares[0] == pytest.approx(0.8)


def test_all_missing_numeric_profile_has_one_bin_and_missing() -> None:
    p = profile("never", "numeric", np.full(10, np.nan))
    assert p.edges == () and p.shares == (0.0, 1.0)
    assert p.bin_labels() == ["all values", MISSING]


def test_categorical_profile_bins_named_levels_other_and_missing() -> None:
    values = pd.Series(["a", "a", "b", "c", None, "a"], dtype="str")
    p = profile("source", "categorical", values, levels=("a", "b", "unknown"))
    assert p.bin_labels() == ["a", "b", "unknown", OTHER, MISSING]
    assert p.shares == pytest.approx((3 / 6, 1 / 6, 0.0, 1 / 6, 1 / 6))
    assert p.seen == ("a", "b", "c")  # every raw level, most common first
    assert p.seen_shares == pytest.approx((3 / 6, 1 / 6, 1 / 6))
    assert p.distribution(["d", "d", None, "a"]) == pytest.approx([0.25, 0, 0, 0.5, 0.25])
    assert p.distribution([]) == pytest.approx([0, 0, 0, 0, 0])


def test_profiles_round_trip_through_json() -> None:
    numeric = profile("x", "numeric", np.array([1.0, 2.0, np.nan, 4.0]))
    categorical = profile("s", "categorical", ["a", "b", None], levels=("a", "unknown"))
    reference = Reference(features=(numeric, categorical), score=numeric, window={"leads": "3"})
    data = json.loads(json.dumps(reference.to_dict()))
    assert Reference.from_dict(data) == reference
    assert Profile.from_dict(numeric.to_dict()) == numeric


def test_unsupported_reference_version_is_a_clear_error() -> None:
    with pytest.raises(LeadmlError, match="unsupported drift reference version"):
        Reference.from_dict({"version": 99, "features": [], "score": {}})


def _spec() -> FeatureSpec:
    return FeatureSpec(
        columns=(
            FeatureColumn(
                "lead_source",
                "categorical",
                "lead_source",
                "lead_source",
                ("ads", "web", "unknown"),
            ),
            FeatureColumn("employees_log", "numeric", "firmographics", "employees"),
        ),
        config=FeatureConfig(),
    )


def _raw(sources: list[str | None], employees: list[float]) -> pd.DataFrame:
    index = pd.Index([f"L{i}" for i in range(len(sources))], name="lead_id")
    return pd.DataFrame(
        {"lead_source": pd.Series(sources, dtype="str").array, "employees_log": employees},
        index=index,
    )


def test_compare_flags_a_new_source_and_keeps_stable_features_stable() -> None:
    rng = np.random.default_rng(0)
    spec = _spec()
    train = _raw(["ads", "web"] * 500, list(rng.normal(3, 1, 1000)))
    reference = build_reference(train, spec, rng.uniform(0, 0.3, 1000))
    sources: list[str | None] = ["ads", "web"] * 350 + ["review"] * 300
    current = Current(
        raw=_raw(sources, list(rng.normal(3, 1, 1000))),
        probability=rng.uniform(0, 0.3, 1000),
        labels=None,
        counts={"leads": 1000, "scored": 1000},
    )
    report = compare(reference, current, spec)
    assert report.psi.index[0] == "lead_source"
    assert report.psi.loc["lead_source", "status"] == "alert"
    assert report.psi.loc["employees_log", "psi"] < 0.1
    assert report.psi.loc[SCORE, "psi"] < 0.1
    assert report.alert and report.alerts == ["lead_source"]
    assert report.unseen_sources == {"review": 300}
    assert report.unseen_source_share == pytest.approx(0.3)
    new = report.levels[report.levels["change"] == "new"]
    assert new[["feature", "level"]].values.tolist() == [["lead_source", "review"]]
    assert report.calibration is None
    assert report.distributions["lead_source"].loc[OTHER, "current"] == pytest.approx(0.3)
    assert "psi.lead_source" in report.metrics() and report.metrics()["psi.max"] > PSI_ALERT
    json.dumps(report.to_dict())  # JSON-able


def test_compare_reports_gone_levels() -> None:
    spec = _spec()
    train = _raw(["ads", "web"] * 50, [1.0] * 100)
    reference = build_reference(train, spec, np.full(100, 0.1))
    current = Current(
        raw=_raw(["ads"] * 10, [1.0] * 10),
        probability=np.full(10, 0.1),
        labels=None,
        counts={"scored": 10},
    )
    report = compare(reference, current, spec, alert=10.0)
    gone = report.levels[report.levels["change"] == "gone"]
    assert gone["level"].tolist() == ["web"]
    assert gone["reference_share"].tolist() == pytest.approx([0.5])
    assert not report.alert  # the alert threshold is configurable


def _part(current: Current, rows: slice, converted: int) -> Current:
    raw = current.raw.iloc[rows]
    labels = None if current.labels is None else current.labels.reindex(raw.index)
    n = len(raw)
    return Current(
        raw, current.probability[rows], labels, {"leads": n, "scored": n, "labelled": n}, converted
    )


def test_tallies_of_parts_add_up_to_the_whole_datas_report() -> None:
    rng = np.random.default_rng(1)
    spec = _spec()
    reference = build_reference(
        _raw(["ads", "web"] * 300, list(rng.normal(3, 1, 600))), spec, rng.uniform(0, 1, 600)
    )
    sources: list[str | None] = ["ads", "web", "review", None, "fair", "web"] * 100
    employees = [*rng.normal(3.5, 1, 590), *[math.nan] * 10]
    raw = _raw(sources, employees)
    whole = Current(
        raw=raw,
        probability=rng.uniform(0, 1, 600),
        labels=pd.Series(rng.integers(0, 2, 600), index=raw.index, name="label"),
        counts={"leads": 600, "scored": 600, "labelled": 600},
        converted=1,
    )
    # Three uneven parts, the middle one without any conversion date of its own.
    parts = [_part(whole, slice(0, 7), 1), _part(whole, slice(7, 400), 0)]
    parts.append(_part(whole, slice(400, 600), 0))
    summed = sum((tally(reference, p, spec) for p in parts[1:]), tally(reference, parts[0], spec))
    one, split = compare(reference, whole, spec), compare(reference, summed, spec)
    pd.testing.assert_frame_equal(split.psi, one.psi, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(split.levels, one.levels)
    assert split.unseen_sources == one.unseen_sources == {"review": 100, "fair": 100}
    assert split.counts == one.counts
    assert one.calibration is not None and split.calibration is not None
    assert split.calibration.to_dict() == pytest.approx(one.calibration.to_dict(), abs=1e-12)
    # Labels count as outcomes only when some lead has a conversion date.
    none_converted = [_part(whole, slice(0, 300), 0), _part(whole, slice(300, 600), 0)]
    blind = tally(reference, none_converted[0], spec) + tally(reference, none_converted[1], spec)
    report = compare(reference, blind, spec)
    assert report.calibration is None and "labelled" not in report.counts
    assert report.psi.equals(one.psi)


def test_build_reference_names_a_missing_feature_column() -> None:
    with pytest.raises(LeadmlError, match="employees_log"):
        build_reference(_raw(["ads"], [1.0]).drop(columns="employees_log"), _spec(), np.ones(1))


def test_calibration_check_on_labelled_leads() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 5000)
    y = (rng.uniform(0, 1, 5000) < p).astype(int)
    cal = calibration_check(y, p)
    assert cal is not None
    assert cal.n == 5000 and cal.positives == int(y.sum())
    assert cal.ece < 0.03 and cal.roc_auc > 0.7
    assert list(cal.table.index) == [f"{10 * i}%-{10 * (i + 1)}%" for i in range(10)]
    assert cal.table["n"].sum() == 5000
    assert calibration_check(np.array([]), np.array([])) is None
    single = calibration_check(np.zeros(5), np.full(5, 0.2))
    assert single is not None and math.isnan(single.roc_auc)
    assert single.to_dict()["roc_auc"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_table_rows_reproduce_the_reported_ece(seed: int) -> None:
    # Skewed, miscalibrated probabilities leave some of the ECE's bins empty.
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 4.0, 3000)
    y = (rng.uniform(0, 1, 3000) < np.sqrt(p)).astype(int)
    cal = calibration_check(y, p)
    assert cal is not None and cal.ece > 0.05
    t = cal.table
    gap = (t["observed_rate"] - t["mean_predicted"]).abs()
    assert float((t["share"] * gap).sum()) == pytest.approx(cal.ece, rel=1e-12, abs=1e-15)
    assert float((t["share"] * t["gap"].abs()).sum()) == pytest.approx(cal.ece, rel=1e-12)
    assert (t["n"] > 0).all() and t["n"].sum() == 3000
    assert t["share"].sum() == pytest.approx(1.0)
    binned = calibration_bins(y, p)
    assert t["n"].tolist() == binned.count[binned.seen].tolist()
    assert len(t) == int(binned.seen.sum()) < ECE_BINS  # the empty bins are left out


def test_calibration_table_is_the_points_the_reliability_diagram_plots() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(2.0, 5.0, 2000)
    y = (rng.uniform(0, 1, 2000) < p).astype(int)
    cal = calibration_check(y, p)
    assert cal is not None
    mean_p, rate, share = reliability(y, p)
    np.testing.assert_array_equal(cal.table["mean_predicted"].to_numpy(), mean_p)
    np.testing.assert_array_equal(cal.table["observed_rate"].to_numpy(), rate)
    np.testing.assert_array_equal(cal.table["share"].to_numpy(), share[share > 0])


def test_trained_bundle_carries_its_drift_reference(trained: TrainedModel) -> None:
    bundle = trained.bundle
    reference = Reference.from_dict(bundle.extra[REFERENCE_KEY])
    assert [p.name for p in reference.features] == bundle.spec.names
    n_train = len(trained.split.train)
    assert all(p.n == n_train for p in reference.features)
    assert reference.score.n == len(trained.split.valid)
    assert reference.window == trained.split.windows["train"]
    source = reference.feature("lead_source")
    assert "review_site" not in source.seen  # the late new source is never in training
    assert sum(source.shares) == pytest.approx(1.0)
    json.dumps(bundle.extra)  # stored in bundle.json
