"""Evaluation metrics: agreement with sklearn, hand-computed cases, and the edge rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from leadml.errors import InputError
from leadml.model.evaluate import (
    HEADLINE_KEYS,
    bootstrap_auc_ci,
    breakdown,
    calibration_bins,
    compare_table,
    decile_table,
    expected_calibration_error,
    gains_curve,
    headline_metrics,
    oracle_comparison,
    precision_at,
)


def _noisy(n: int, seed: int, base: float = -2.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from probabilities p; p is then an honest, informative score."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-(base + rng.normal(0, 1.5, n))))
    y = (rng.random(n) < p).astype(int)
    return y, p


def test_headline_metrics_match_sklearn() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 0])
    p = np.array([0.1, 0.8, 0.35, 0.35, 0.9, 0.2, 0.6, 0.55, 0.05, 0.4])
    m = headline_metrics(y, p, n_boot=0)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert (m["n"], m["n_positive"], m["base_rate"]) == (10.0, 4.0, 0.4)
    assert list(m) == list(HEADLINE_KEYS)


def test_ece_by_hand() -> None:
    # Bin [.1, .2): mean p .15, rate .5 -> .35 * 2/4.
    # Bin [.8, .9): mean p .85, rate 1 -> .15 * 2/4. Total .25.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.12, 0.18, 0.82, 0.88])
    assert expected_calibration_error(y, p) == pytest.approx(0.25, abs=1e-12)
    assert headline_metrics(y, p, n_boot=0)["ece"] == pytest.approx(0.25, abs=1e-12)


def test_ece_puts_probability_one_in_the_last_bin() -> None:
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_calibration_bins_are_equal_width_with_one_in_the_last() -> None:
    y = np.array([0, 1, 1, 0, 1, 0])
    p = np.array([0.0, 0.0999, 0.1, 0.55, 0.95, 1.0])
    binned = calibration_bins(y, p)
    np.testing.assert_array_equal(binned.count, [2, 1, 0, 0, 0, 1, 0, 0, 0, 2])
    np.testing.assert_array_equal(binned.positives, [1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_allclose(binned.probability_sum[[0, 9]], [0.0999, 1.95], atol=1e-15)
    np.testing.assert_allclose(binned.edges, np.linspace(0, 1, 11))
    assert calibration_bins(y, p, bins=4).count.tolist() == [3, 0, 1, 2]
    with pytest.raises(InputError, match="probabilities"):
        calibration_bins(y, p * 1.5)


def test_ece_is_the_plain_per_bin_definition() -> None:
    """The vectorised ECE equals the textbook loop over bins, for any number of bins."""
    y, p = _noisy(2000, seed=21)
    for bins in (5, 10, 15):
        reference = 0.0
        idx = np.minimum(np.floor(p * bins).astype(int), bins - 1)
        for k in range(bins):
            inside = idx == k
            if inside.any():
                reference += inside.mean() * abs(y[inside].mean() - p[inside].mean())
        assert expected_calibration_error(y, p, bins=bins) == pytest.approx(reference, abs=1e-12)


def test_precision_and_lift_by_hand() -> None:
    # 20 leads, 4 converters; ranked: pos, neg, pos, pos, then the rest.
    p = np.linspace(1.0, 0.05, 20)
    y = np.zeros(20, dtype=int)
    y[[0, 2, 3, 12]] = 1
    m = headline_metrics(y, p, n_boot=0)
    # Top 5% = 1 lead, top 10% = 2 leads, top 20% = 4 leads; base rate 0.2.
    assert (m["precision_at_5"], m["precision_at_10"], m["precision_at_20"]) == (1.0, 0.5, 0.75)
    assert m["lift_at_5"] == pytest.approx(5.0)
    assert m["lift_at_10"] == pytest.approx(2.5)
    assert m["lift_at_20"] == pytest.approx(3.75)


def test_top_k_rounds_up_and_takes_at_least_one_lead() -> None:
    y = np.array([1, 0, 0])
    p = np.array([0.9, 0.5, 0.1])
    assert precision_at(y, p, 5) == 1.0  # ceil(0.15) = 1 lead
    assert precision_at(y, p, 50) == 0.5  # ceil(1.5) = 2 leads


def test_ties_at_the_cut_are_shared_and_row_order_never_matters() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.full(10, 0.3)
    assert precision_at(y, p, 10) == pytest.approx(0.2)  # the base rate, not y[0]
    rng = np.random.default_rng(0)
    y2, p2 = _noisy(500, seed=1)
    p2 = np.round(p2, 1)  # many ties
    order = rng.permutation(500)
    a, b = headline_metrics(y2, p2, n_boot=0), headline_metrics(y2[order], p2[order], n_boot=0)
    for k in ("precision_at_5", "precision_at_10", "lift_at_20", "roc_auc", "ece"):
        assert a[k] == pytest.approx(b[k], abs=1e-12)


def test_perfect_scorer_reaches_one_over_base_rate() -> None:
    y = np.zeros(1000, dtype=int)
    y[::10] = 1  # base rate 10%
    p = np.where(y == 1, 0.9, 0.1)
    m = headline_metrics(y, p, n_boot=0)
    assert m["roc_auc"] == 1.0
    assert m["lift_at_5"] == pytest.approx(10.0)
    assert m["lift_at_10"] == pytest.approx(10.0)
    assert m["lift_at_20"] == pytest.approx(5.0)  # only 100 converters to find among 200


def test_random_scorer_has_lift_near_one() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(100_000) < 0.1).astype(int)
    p = rng.random(100_000)
    m = headline_metrics(y, p, n_boot=0)
    assert m["roc_auc"] == pytest.approx(0.5, abs=0.01)
    for k in (5, 10, 20):
        assert m[f"lift_at_{k}"] == pytest.approx(1.0, abs=0.12)


def test_bootstrap_ci_brackets_the_estimate_and_is_seeded() -> None:
    y, p = _noisy(3000, seed=3)
    m = headline_metrics(y, p, n_boot=200, seed=7)
    assert m["roc_auc_ci_low"] < m["roc_auc"] < m["roc_auc_ci_high"]
    assert m["roc_auc_ci_high"] - m["roc_auc_ci_low"] < 0.1
    again = headline_metrics(y, p, n_boot=200, seed=7)
    assert (again["roc_auc_ci_low"], again["roc_auc_ci_high"]) == (
        m["roc_auc_ci_low"],
        m["roc_auc_ci_high"],
    )
    other = headline_metrics(y, p, n_boot=200, seed=8)
    assert other["roc_auc_ci_low"] != m["roc_auc_ci_low"]


def test_bootstrap_resample_auc_equals_sklearn_on_the_same_resample() -> None:
    y, p = _noisy(400, seed=4)
    p = np.round(p, 2)  # ties must be counted as halves, as sklearn does
    idx = np.random.default_rng(11).integers(0, 400, 400)
    low, high = bootstrap_auc_ci(y, p, n_boot=1, seed=11)
    assert low == pytest.approx(roc_auc_score(y[idx], p[idx]), abs=1e-12)
    assert high == low


def test_one_class_gives_nan_auc_but_other_metrics() -> None:
    m = headline_metrics(np.zeros(50, dtype=int), np.full(50, 0.1), n_boot=50)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["roc_auc_ci_low"])
    assert math.isnan(m["pr_auc"]) and math.isnan(m["lift_at_10"])
    assert m["brier"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("y", "p"),
    [
        (np.array([0, 1]), np.array([0.5])),
        (np.array([0, 2]), np.array([0.5, 0.5])),
        (np.array([0, 1]), np.array([0.5, 1.5])),
        (np.array([0, 1]), np.array([0.5, np.nan])),
        (np.array([], dtype=int), np.array([])),
    ],
)
def test_bad_inputs_are_input_errors(y: np.ndarray, p: np.ndarray) -> None:
    with pytest.raises(InputError):
        headline_metrics(y, p)


def test_gains_curve_runs_from_nothing_to_everything() -> None:
    y, p = _noisy(2000, seed=5)
    g = gains_curve(y, p)
    assert g["fraction_captured"].iloc[0] == 0.0
    assert g["fraction_captured"].iloc[-1] == pytest.approx(1.0)
    assert (np.diff(g["fraction_captured"]) >= -1e-12).all()
    assert (g["fraction_captured_perfect"] >= g["fraction_captured"] - 1e-12).all()
    # An informative score beats random contact everywhere in the middle.
    assert (g["fraction_captured"].iloc[5:95] > g["fraction_contacted"].iloc[5:95]).all()


def test_constant_score_gains_equal_random_contact() -> None:
    y, _ = _noisy(1000, seed=6)
    g = gains_curve(y, np.full(1000, 0.2))
    np.testing.assert_allclose(g["fraction_captured"], g["fraction_contacted"], atol=1e-12)


def test_decile_table_adds_up() -> None:
    y, p = _noisy(1003, seed=7)
    d = decile_table(y, p)
    assert list(d.index) == list(range(1, 11))
    assert d["n"].sum() == 1003
    assert d["positives"].sum() == pytest.approx(y.sum())
    assert d["cumulative_captured"].iloc[-1] == pytest.approx(1.0)
    assert d["lift"].iloc[0] == pytest.approx(headline_metrics(y, p, n_boot=0)["lift_at_10"])
    assert (d["min_score"].to_numpy()[:-1] >= d["max_score"].to_numpy()[1:]).all()


def test_breakdown_counts_and_nan_rules() -> None:
    rng = np.random.default_rng(8)
    groups = pd.Series(["big"] * 200 + ["small"] * 10 + ["one_class"] * 40 + [None] * 50)
    y = np.r_[rng.integers(0, 2, 200), [0, 1] * 5, np.zeros(40, int), rng.integers(0, 2, 50)]
    p = rng.random(300)
    b = breakdown(y, p, groups.rename("segment"), min_count=30)
    assert b.index.name == "segment"
    assert list(b.index) == ["big", "(missing)", "one_class", "small"]  # by size
    assert b.loc["big", "n"] == 200 and b.loc["big", "positives"] == y[:200].sum()
    assert b.loc["big", "roc_auc"] == pytest.approx(roc_auc_score(y[:200], p[:200]))
    assert b.loc["big", "conversion_rate"] == pytest.approx(y[:200].mean())
    assert b.loc["big", "mean_predicted"] == pytest.approx(p[:200].mean())
    assert b["roc_auc"].isna()["small"]  # fewer than min_count rows
    assert b["roc_auc"].isna()["one_class"]  # only non-converters
    assert not b["roc_auc"].isna()["(missing)"]


def test_breakdown_rejects_misaligned_groups() -> None:
    with pytest.raises(InputError):
        breakdown(np.array([0, 1]), np.array([0.1, 0.9]), pd.Series(["a"]))


def test_oracle_comparison_ratios() -> None:
    y, p_true = _noisy(5000, seed=9)
    same = oracle_comparison(y, p_true, p_true)
    assert same["model_oracle_auc_ratio"] == pytest.approx(1.0)
    assert same["model_oracle_lift_ratio"] == pytest.approx(1.0)
    noisy = np.clip(p_true + np.random.default_rng(0).normal(0, 0.2, 5000), 0, 1)
    worse = oracle_comparison(y, noisy, p_true)
    assert worse["oracle_roc_auc"] == pytest.approx(roc_auc_score(y, p_true))
    assert worse["model_oracle_auc_ratio"] < 1.0
    assert worse["model_oracle_lift_ratio"] < 1.0


def test_compare_table_rows_columns_and_gaps() -> None:
    y, p = _noisy(500, seed=10)
    results = {
        "model": headline_metrics(y, p, n_boot=0),
        "points": {"roc_auc": 0.6, "lift_at_10": 1.5},
        "oracle": {**headline_metrics(y, p, n_boot=0), "model_oracle_auc_ratio": 0.9},
    }
    t = compare_table(results)
    assert list(t.index) == ["model", "points", "oracle"]
    assert list(t.columns)[: len(HEADLINE_KEYS)] == list(HEADLINE_KEYS)
    assert t.loc["points", "roc_auc"] == 0.6
    assert t["brier"].isna()["points"]
    assert t["model_oracle_auc_ratio"].isna()["model"]
    assert t.loc["oracle", "model_oracle_auc_ratio"] == 0.9
