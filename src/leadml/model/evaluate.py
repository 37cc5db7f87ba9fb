"""Honest evaluation: headline metrics with a bootstrap CI, gains and lift, segments, oracle.

Core functions only: arrays in, numbers and frames out. Ranking metrics that cut
the list at a top k% share tied scores at the cut-off pro rata (the expected value
under random tie-breaking), so a result never depends on row order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from leadml.errors import InputError

TOP_PERCENTS: tuple[int, ...] = (5, 10, 20)
ECE_BINS = 10
HEADLINE_KEYS: tuple[str, ...] = (
    "roc_auc",
    "roc_auc_ci_low",
    "roc_auc_ci_high",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    *(f"precision_at_{k}" for k in TOP_PERCENTS),
    *(f"lift_at_{k}" for k in TOP_PERCENTS),
    "base_rate",
    "n",
    "n_positive",
)
"""Column order of `compare_table` and the keys of `headline_metrics`."""


def headline_metrics(
    y: np.ndarray, p: np.ndarray, *, n_boot: int = 200, seed: int = 0
) -> dict[str, float]:
    """The numbers a run is judged by, for labels `y` (0/1) and probabilities `p`.

    - roc_auc: P(random converter scores above random non-converter), ties count 1/2.
    - roc_auc_ci_low/high: 2.5th/97.5th percentiles of roc_auc over `n_boot` seeded
      bootstrap resamples of the rows (percentile interval; NaN when n_boot is 0).
    - pr_auc: average precision (sklearn), the area under the precision-recall steps.
    - log_loss: mean of -[y log p + (1 - y) log(1 - p)].
    - brier: mean of (p - y)^2.
    - ece: sum over 10 equal-width bins of p ([0, .1), ..., [.9, 1]) of
      (rows in bin / n) * |conversion rate in bin - mean p in bin|.
    - precision_at_k: conversion rate among the top ceil(k% of n) leads by p
      (ties at the cut-off shared pro rata); lift_at_k = precision_at_k / base_rate.
    - base_rate: conversion rate of all rows; n: rows; n_positive: converters.
    AUC-type metrics are NaN when only one class is present.
    """
    yv, pv = _check_inputs(y, p)
    n = len(yv)
    n_pos = int(yv.sum())
    two_classes = 0 < n_pos < n
    base_rate = n_pos / n
    out: dict[str, float] = {
        "roc_auc": float(roc_auc_score(yv, pv)) if two_classes else math.nan,
        "roc_auc_ci_low": math.nan,
        "roc_auc_ci_high": math.nan,
        "pr_auc": float(average_precision_score(yv, pv)) if two_classes else math.nan,
        "log_loss": float(log_loss(yv, pv, labels=[0, 1])),
        "brier": float(np.mean((pv - yv) ** 2)),
        "ece": expected_calibration_error(yv, pv),
    }
    if two_classes and n_boot > 0:
        low, high = bootstrap_auc_ci(yv, pv, n_boot=n_boot, seed=seed)
        out["roc_auc_ci_low"], out["roc_auc_ci_high"] = low, high
    for k in TOP_PERCENTS:
        precision = precision_at(yv, pv, k)
        out[f"precision_at_{k}"] = precision
        out[f"lift_at_{k}"] = precision / base_rate if base_rate > 0 else math.nan
    out.update(base_rate=base_rate, n=float(n), n_positive=float(n_pos))
    return {key: out[key] for key in HEADLINE_KEYS}


@dataclass(frozen=True)
class CalibrationBins:
    """Rows binned by predicted probability into equal-width bins ([0, 1/b), ...,
    [(b-1)/b, 1]): per bin the rows, converters and summed probability. The one binning
    behind both the ECE and the reliability diagram."""

    count: np.ndarray
    positives: np.ndarray
    probability_sum: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        """The b + 1 bin edges from 0 to 1."""
        return np.linspace(0, 1, len(self.count) + 1)

    @property
    def seen(self) -> np.ndarray:
        """Bins holding at least one row."""
        return self.count > 0


def calibration_bins(y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS) -> CalibrationBins:
    """Labels `y` (0/1) and probabilities `p` in `bins` equal-width probability bins."""
    yv, pv = _check_inputs(y, p)
    idx = np.minimum((pv * bins).astype(np.int64), bins - 1)
    return CalibrationBins(
        count=np.bincount(idx, minlength=bins),
        positives=np.bincount(idx, weights=yv, minlength=bins),
        probability_sum=np.bincount(idx, weights=pv, minlength=bins),
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """ECE over equal-width probability bins, each weighted by its share of rows."""
    binned = calibration_bins(y, p, bins=bins)
    gap = np.abs(binned.positives - binned.probability_sum)
    # |sum(y) - sum(p)| / n per bin equals (n_bin / n) * |mean y - mean p|.
    return float(gap[binned.seen].sum() / binned.count.sum())


def precision_at(y: np.ndarray, p: np.ndarray, percent: float) -> float:
    """Conversion rate among the top `percent`% of rows by score (at least one row)."""
    yv, pv = _check_inputs(y, p, probabilities=False)
    n_top = max(1, int(_top_count(len(yv), np.array([percent / 100]))[0]))
    return float(_expected_positives_in_top(yv, pv, np.array([n_top]))[0] / n_top)


def bootstrap_auc_ci(
    y: np.ndarray, p: np.ndarray, *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC, resampling rows with replacement.

    Each resample is a vector of row counts, so its AUC is a weighted rank statistic
    over the scores' tie groups, sorted once: O(n) per resample, no re-sorting.
    """
    yv, pv = _check_inputs(y, p, probabilities=False)
    n = len(yv)
    _, group = np.unique(pv, return_inverse=True)
    n_groups = int(group.max()) + 1
    rng = np.random.default_rng(seed)
    aucs = np.full(n_boot, np.nan)
    for b in range(n_boot):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        pos = np.bincount(group, weights=weight * yv, minlength=n_groups)
        neg = np.bincount(group, weights=weight * (1.0 - yv), minlength=n_groups)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos > 0 and total_neg > 0:
            neg_below = np.cumsum(neg) - neg
            aucs[b] = np.dot(pos, neg_below + 0.5 * neg) / (total_pos * total_neg)
    if np.isnan(aucs).all():
        return math.nan, math.nan
    tail = (1.0 - level) / 2 * 100
    low, high = np.nanpercentile(aucs, [tail, 100 - tail])
    return float(low), float(high)


def gains_curve(y: np.ndarray, p: np.ndarray, *, points: int = 100) -> pd.DataFrame:
    """Share of conversions captured when contacting the top x% of leads by score.

    Columns: fraction_contacted (0..1 in `points` steps), fraction_captured,
    fraction_captured_perfect (a perfect ranking) and lift (captured / contacted).
    """
    yv, pv = _check_inputs(y, p, probabilities=False)
    n, n_pos = len(yv), yv.sum()
    contacted = np.linspace(0.0, 1.0, points + 1)
    n_top = _top_count(n, np.arange(points + 1) / points)
    captured = _expected_positives_in_top(yv, pv, n_top)
    share = captured / n_pos if n_pos > 0 else np.full(len(n_top), np.nan)
    perfect = np.minimum(n_top, n_pos) / n_pos if n_pos > 0 else np.full(len(n_top), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(contacted > 0, share / contacted, np.nan)
    return pd.DataFrame(
        {
            "fraction_contacted": contacted,
            "fraction_captured": share,
            "fraction_captured_perfect": perfect,
            "lift": lift,
        }
    )


def decile_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Leads ranked by score and cut into tenths; decile 1 is the top 10%.

    Columns: n, positives (ties at a cut shared pro rata, so possibly fractional),
    conversion_rate, mean_predicted, min_score, max_score, lift (rate / base rate),
    cumulative_captured (share of all conversions in this and higher deciles).
    """
    yv, pv = _check_inputs(y, p, probabilities=False)
    n = len(yv)
    base_rate = yv.mean()
    order = np.argsort(-pv, kind="stable")
    bounds = _top_count(n, np.arange(11) / 10)
    cum_pos = _expected_positives_in_top(yv, pv, bounds)
    sorted_p = pv[order]
    rows = []
    for d in range(10):
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        size = hi - lo
        positives = float(cum_pos[d + 1] - cum_pos[d])
        rate = positives / size if size else math.nan
        segment = sorted_p[lo:hi]
        rows.append(
            {
                "decile": d + 1,
                "n": size,
                "positives": positives,
                "conversion_rate": rate,
                "mean_predicted": float(segment.mean()) if size else math.nan,
                "min_score": float(segment.min()) if size else math.nan,
                "max_score": float(segment.max()) if size else math.nan,
                "lift": rate / base_rate if base_rate > 0 else math.nan,
                "cumulative_captured": (
                    float(cum_pos[d + 1] / yv.sum()) if yv.sum() > 0 else math.nan
                ),
            }
        )
    return pd.DataFrame(rows).set_index("decile")


def breakdown(
    y: np.ndarray, p: np.ndarray, groups: pd.Series, *, min_count: int = 30
) -> pd.DataFrame:
    """Per-segment counts, conversion rate, mean prediction and ROC AUC.

    roc_auc is NaN for a segment with fewer than `min_count` rows or only one class.
    Missing group values form their own '(missing)' segment. Sorted by size.
    """
    yv, pv = _check_inputs(y, p)
    if len(groups) != len(yv):
        raise InputError(
            "groups and labels differ in length",
            column=str(groups.name),
            value=(len(groups), len(yv)),
            expected="one group value per row",
        )
    name = str(groups.name) if groups.name is not None else "group"
    keys = groups.astype(object).where(groups.notna(), "(missing)").astype(str).to_numpy()
    frame = pd.DataFrame({"key": keys, "y": yv, "p": pv})
    rows = []
    for key, part in frame.groupby("key", sort=True):
        size, positives = len(part), int(part["y"].sum())
        auc = math.nan
        if size >= min_count and 0 < positives < size:
            auc = float(roc_auc_score(part["y"], part["p"]))
        rows.append(
            {
                name: key,
                "n": size,
                "positives": positives,
                "conversion_rate": positives / size,
                "mean_predicted": float(part["p"].mean()),
                "roc_auc": auc,
            }
        )
    table = pd.DataFrame(
        rows, columns=[name, "n", "positives", "conversion_rate", "mean_predicted", "roc_auc"]
    )
    table = table.sort_values(["n", name], ascending=[False, True], kind="stable")
    return table.set_index(name)


def oracle_comparison(y: np.ndarray, p_model: np.ndarray, p_true: np.ndarray) -> dict[str, float]:
    """How close the model gets to the true probabilities (synthetic data only).

    oracle_* rank by the generator's true probability; the ratios are model / oracle,
    so 1.0 means the model ranks as well as anything could on this data.
    """
    yv, pm = _check_inputs(y, p_model)
    _, pt = _check_inputs(y, p_true)
    two_classes = 0 < yv.sum() < len(yv)
    base_rate = yv.mean()
    model_auc = float(roc_auc_score(yv, pm)) if two_classes else math.nan
    oracle_auc = float(roc_auc_score(yv, pt)) if two_classes else math.nan
    model_lift = precision_at(yv, pm, 10) / base_rate if base_rate > 0 else math.nan
    oracle_lift = precision_at(yv, pt, 10) / base_rate if base_rate > 0 else math.nan
    return {
        "model_roc_auc": model_auc,
        "oracle_roc_auc": oracle_auc,
        "model_lift_at_10": model_lift,
        "oracle_lift_at_10": oracle_lift,
        "model_oracle_auc_ratio": _ratio(model_auc, oracle_auc),
        "model_oracle_lift_ratio": _ratio(model_lift, oracle_lift),
    }


def compare_table(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """One row per scorer (model, points, logistic, oracle), headline metrics as columns."""
    extra = [k for r in results.values() for k in r if k not in HEADLINE_KEYS]
    columns = [*HEADLINE_KEYS, *dict.fromkeys(extra)]
    table = pd.DataFrame(
        [[float(r.get(c, math.nan)) for c in columns] for r in results.values()],
        index=pd.Index(list(results), name="scorer"),
        columns=columns,
        dtype="float64",
    )
    return table


def _top_count(n: int, fractions: np.ndarray) -> np.ndarray:
    """Leads in the top `fractions` of n, rounded up (the same rule everywhere, so decile 1
    is exactly the top 10%); the tolerance keeps 0.1 * 1000 at 100, not 101."""
    return np.ceil(np.asarray(fractions) * n - 1e-9).astype(np.int64).clip(0, n)


def _expected_positives_in_top(y: np.ndarray, p: np.ndarray, n_top: np.ndarray) -> np.ndarray:
    """Positives among the `n_top` highest scores; a tie group cut by the boundary counts
    pro rata, which is the expected count under random tie-breaking."""
    order = np.argsort(-p, kind="stable")
    sorted_p, sorted_y = p[order], y[order]
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    ends = np.r_[starts[1:], len(sorted_p)]
    cum = np.r_[0.0, np.cumsum(sorted_y)]
    group_pos = cum[ends] - cum[starts]
    t = np.asarray(n_top, dtype=np.int64)
    g = np.minimum(np.searchsorted(ends, t, side="left"), len(ends) - 1)
    frac = (t - starts[g]) / (ends[g] - starts[g])
    return cum[starts[g]] + np.clip(frac, 0.0, 1.0) * group_pos[g]


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when either side is undefined or the denominator is zero."""
    if math.isnan(num) or math.isnan(den) or den == 0:
        return math.nan
    return num / den


def _check_inputs(
    y: np.ndarray, p: np.ndarray, *, probabilities: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validated float copies: equal length, non-empty, y in {0, 1}, p finite (and in
    [0, 1] when `probabilities`; ranking-only metrics accept any score)."""
    yv = np.asarray(y, dtype=np.float64).ravel()
    pv = np.asarray(p, dtype=np.float64).ravel()
    if len(yv) != len(pv):
        raise InputError(
            "labels and scores differ in length", value=(len(yv), len(pv)), expected="equal"
        )
    if len(yv) == 0:
        raise InputError("nothing to evaluate", expected="at least one row")
    if not np.isin(yv, (0.0, 1.0)).all():
        raise InputError("labels must be 0/1", column="label", expected="0 or 1")
    if not np.isfinite(pv).all():
        raise InputError("scores must be finite", column="score", expected="no NaN or inf")
    if probabilities and (pv.min() < 0.0 or pv.max() > 1.0):
        raise InputError("scores must be probabilities", column="score", expected="in [0, 1]")
    return yv, pv
