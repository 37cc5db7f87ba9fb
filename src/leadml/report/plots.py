"""Evaluation and explanation plots, each saved as a PNG to a path the caller chooses.

Metric plots draw on a bare `matplotlib.figure.Figure` (no pyplot, no global state);
the SHAP plots need pyplot, so they select the Agg backend first and always close
their figure. SHAP values are in log-odds, the model's raw output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from leadml import schema, vocabulary
from leadml.features.matrix import frame_matrix
from leadml.model.evaluate import calibration_bins, decile_table, gains_curve

DPI = 110
MODEL_NAME = "model"
SHAP_SAMPLE = 5000
"""At most this many leads (seeded sample) are drawn in a beeswarm or dependence plot."""
SHAP_AXIS = "SHAP value (log-odds of converting)"
MISSING = "(missing)"


def _stage_label(code: int) -> str:
    stages = (schema.NO_STAGE, *schema.STAGES)
    return vocabulary.label("stage", stages[code]) if 0 <= code < len(stages) else str(code)


ORDINALS: dict[str, Callable[[int], str]] = {
    "seniority": vocabulary.seniority_label,
    "stage_reached": _stage_label,
}
"""Features coded as ordinals (0 entry .. 4 C-level; 0 no stage .. 4 PQL), named in plots."""


def gains_and_lift(
    y: np.ndarray,
    p: np.ndarray,
    path: Path,
    *,
    baselines: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Cumulative gains (left) and lift per decile (right), model against baselines."""
    scorers = _scorers(p, baselines)
    fig = Figure(figsize=(11, 4.5))
    gains_ax, lift_ax = fig.subplots(1, 2)
    width = 0.8 / len(scorers)
    for i, (name, scores) in enumerate(scorers.items()):
        curve = gains_curve(y, scores)
        gains_ax.plot(curve["fraction_contacted"], curve["fraction_captured"], label=name)
        lift = decile_table(y, scores)["lift"]
        lift_ax.bar(lift.index + (i - (len(scorers) - 1) / 2) * width, lift, width, label=name)
    perfect = gains_curve(y, p)
    gains_ax.plot(
        perfect["fraction_contacted"],
        perfect["fraction_captured_perfect"],
        ":",
        color="grey",
        label="perfect",
    )
    gains_ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="random")
    gains_ax.set(
        xlabel="Share of leads contacted (highest scores first)",
        ylabel="Share of conversions captured",
        title="Cumulative gains",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    gains_ax.legend(loc="lower right")
    lift_ax.axhline(1.0, linestyle="--", color="black", linewidth=1, label="random")
    lift_ax.set(
        xlabel="Decile (1 = top 10% of scores)",
        ylabel="Lift (conversion rate / base rate)",
        title="Lift by decile",
        xticks=range(1, 11),
    )
    lift_ax.legend(loc="upper right")
    return save_png(fig, path)


def calibration_curve(
    y: np.ndarray,
    p: np.ndarray,
    path: Path,
    *,
    baselines: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Reliability diagram over the ECE's equal-width bins (`evaluate.calibration_bins`),
    with the share of leads per bin below."""
    scorers = _scorers(p, baselines)
    fig = Figure(figsize=(6.5, 6.5))
    curve_ax, count_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    curve_ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="perfectly calibrated")
    for name, scores in scorers.items():
        mean_p, rate, share = reliability(y, scores)
        curve_ax.plot(mean_p, rate, "o-", label=name)
        count_ax.stairs(share, np.linspace(0, 1, len(share) + 1), label=name)
    curve_ax.set(
        ylabel="Observed conversion rate",
        title="Calibration (reliability)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    curve_ax.legend(loc="upper left")
    count_ax.set(xlabel="Predicted probability", ylabel="Share of leads", yscale="log")
    return save_png(fig, path)


def calibration_by_age(y: np.ndarray, p: np.ndarray, bucket: np.ndarray, path: Path) -> Path:
    """One reliability diagram per lead-age bucket (test window), so a model that is
    calibrated over young leads but not over old ones shows it."""
    names = list(dict.fromkeys(bucket.tolist()))
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names, strict=False):
        inside = bucket == name
        mean_p, rate, _ = reliability(y[inside], p[inside])
        top = float(max(mean_p.max(initial=0.0), rate.max(initial=0.0), 0.05))
        ax.plot([0, top], [0, top], "--", color="black", linewidth=1)
        ax.plot(mean_p, rate, "o-")
        ax.set(
            title=f"{name} days ({int(inside.sum()):,} rows)",
            xlabel="Predicted probability",
            ylabel="Observed conversion rate",
            xlim=(0, top),
            ylim=(0, top),
        )
    for ax in axes[len(names) :]:
        ax.axis("off")
    fig.suptitle("Calibration by lead age at scoring (test window)")
    return save_png(fig, path)


def reliability(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reliability diagram's data over the ECE's own bins (`evaluate.calibration_bins`):
    mean probability and conversion rate of each non-empty bin, and every bin's share of
    rows. The ECE is the share-weighted mean gap between the two."""
    binned = calibration_bins(y, p)
    seen, count = binned.seen, binned.count
    mean_p = binned.probability_sum[seen] / count[seen]
    rate = binned.positives[seen] / count[seen]
    return mean_p, rate, count / count.sum()


def roc_pr(
    y: np.ndarray,
    p: np.ndarray,
    path: Path,
    *,
    baselines: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """ROC curve (left) and precision-recall curve (right), areas in the legend."""
    scorers = _scorers(p, baselines)
    fig = Figure(figsize=(11, 4.5))
    roc_ax, pr_ax = fig.subplots(1, 2)
    base_rate = float(np.mean(y))
    for name, scores in scorers.items():
        fpr, tpr, _ = roc_curve(y, scores)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(y, scores)
        keep = _thin(len(recall))
        pr_ax.plot(recall[keep], precision[keep], drawstyle="steps-post", label=name)
    roc_ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="random")
    roc_ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    roc_ax.legend(loc="lower right")
    pr_ax.axhline(base_rate, linestyle="--", color="black", linewidth=1, label="base rate")
    pr_ax.set(
        xlabel="Recall (share of conversions found)",
        ylabel="Precision (conversion rate)",
        title="Precision-recall curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    pr_ax.legend(loc="upper right")
    return save_png(fig, path)


def score_histogram(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Distribution of predicted probabilities for converted and non-converted leads."""
    yv = np.asarray(y).astype(bool)
    pv = np.asarray(p, dtype=np.float64)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    bins = np.linspace(0, max(float(pv.max()), 1e-9), 41).tolist()
    for mask, label in ((~yv, "did not convert"), (yv, "converted")):
        if mask.any():
            ax.hist(pv[mask], bins=bins, density=True, histtype="step", linewidth=2, label=label)
    ax.set(
        xlabel="Predicted probability of converting",
        ylabel="Density",
        title="Scores by outcome",
    )
    ax.legend(loc="upper right")
    return save_png(fig, path)


def shap_beeswarm(
    contrib: np.ndarray, X: pd.DataFrame, path: Path, *, max_display: int = 20, seed: int = 0
) -> Path:
    """SHAP beeswarm: each dot a lead, coloured by the feature's value (codes for categories)."""
    import shap

    explanation = _explanation(contrib, X, seed=seed)
    plt = pyplot()
    fig = plt.figure(figsize=(9, 0.35 * min(max_display, X.shape[1]) + 2))
    try:
        shap.plots.beeswarm(
            explanation, max_display=max_display, show=False, ax=fig.gca(), plot_size=None
        )
        fig.gca().set_xlabel(SHAP_AXIS)
        fig.gca().set_title("What drives the score (each dot is a lead)")
        return save_png(fig, path)
    finally:
        plt.close(fig)


def shap_bar(contrib: np.ndarray, X: pd.DataFrame, path: Path, *, max_display: int = 20) -> Path:
    """Mean |SHAP| per feature: the average size of each feature's push on the score."""
    import shap

    explanation = _explanation(contrib, X, max_rows=None)
    plt = pyplot()
    fig = plt.figure(figsize=(9, 0.35 * min(max_display, X.shape[1]) + 2))
    try:
        shap.plots.bar(explanation, max_display=max_display, show=False, ax=fig.gca())
        fig.gca().set_xlabel("mean |SHAP value| (log-odds)")
        fig.gca().set_title("Feature importance")
        return save_png(fig, path)
    finally:
        plt.close(fig)


def shap_dependence(
    contrib: np.ndarray, X: pd.DataFrame, feature: str, path: Path, *, seed: int = 0
) -> Path:
    """How one feature's value moves its contribution; categories are labelled by name."""
    import shap

    if feature not in X.columns:
        raise ValueError(f"no feature {feature!r} among the {X.shape[1]} columns")
    column = named_categories(feature, X[feature])
    values, _ = _split_bias(contrib, X)
    single = pd.DataFrame({feature: column})
    explanation = _explanation(values[:, [list(X.columns).index(feature)]], single, seed=seed)
    plt = pyplot()
    fig = plt.figure(figsize=(7, 4.5))
    try:
        ax = fig.gca()
        levels = _levels(column)
        # shap's background histogram swamps a handful of category columns.
        shap.plots.scatter(explanation[:, feature], show=False, ax=ax, hist=levels is None)
        if levels is not None:
            ax.set_xticks(range(len(levels)), levels, rotation=45, ha="right")
        ax.set_ylabel(f"SHAP value of {feature}\n(log-odds)")
        ax.set_title(f"Effect of {feature}")
        return save_png(fig, path)
    finally:
        plt.close(fig)


def save_all_plots(
    out_dir: Path,
    *,
    y: np.ndarray,
    p: np.ndarray,
    baselines: Mapping[str, np.ndarray] | None = None,
    contrib: np.ndarray | None = None,
    X: pd.DataFrame | None = None,
    max_display: int = 20,
    n_dependence: int = 3,
) -> dict[str, Path]:
    """Every plot into `out_dir`; SHAP plots (and dependence plots for the top
    `n_dependence` features by mean |SHAP|) only when `contrib` and `X` are given."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "gains_lift": gains_and_lift(y, p, out_dir / "gains_lift.png", baselines=baselines),
        "calibration": calibration_curve(y, p, out_dir / "calibration.png", baselines=baselines),
        "roc_pr": roc_pr(y, p, out_dir / "roc_pr.png", baselines=baselines),
        "score_histogram": score_histogram(y, p, out_dir / "score_histogram.png"),
    }
    if contrib is not None and X is not None:
        values, _ = _split_bias(contrib, X)
        paths["shap_beeswarm"] = shap_beeswarm(
            contrib, X, out_dir / "shap_beeswarm.png", max_display=max_display
        )
        paths["shap_bar"] = shap_bar(contrib, X, out_dir / "shap_bar.png", max_display=max_display)
        top = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:n_dependence]
        for i in top:
            feature = str(X.columns[i])
            key = f"shap_dependence_{feature}"
            paths[key] = shap_dependence(contrib, X, feature, out_dir / f"{key}.png")
    return paths


def named_categories(feature: str, column: pd.Series) -> pd.Series:
    """A category (or ordinal) column as the words people read, in code order, with
    missing as its own level so those leads are drawn; a number column as it is."""
    if feature in ORDINALS and pd.api.types.is_numeric_dtype(column):
        codes = sorted({int(v) for v in column.dropna()})
        names = list(dict.fromkeys(ORDINALS[feature](code) for code in codes))
        text = column.map(lambda v: MISSING if pd.isna(v) else ORDINALS[feature](int(v)))
        order = names + ([MISSING] if column.isna().any() else [])
        return pd.Series(pd.Categorical(text, categories=order), index=column.index)
    levels = _levels(column)
    if levels is None:
        return column
    kind = cast(vocabulary.Kind, feature) if feature in vocabulary.LABELS else None

    def words(token: object) -> str:
        if pd.isna(token):  # type: ignore[call-overload]
            return MISSING
        return vocabulary.label(kind, token) if kind is not None else str(token)

    order = list(dict.fromkeys(words(token) for token in levels))
    if column.isna().any():
        order.append(MISSING)
    text = column.astype(object).map(words)
    return pd.Series(pd.Categorical(text, categories=order), index=column.index)


def _scorers(p: np.ndarray, baselines: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The model first, then the baselines in the order given."""
    return {MODEL_NAME: np.asarray(p, dtype=np.float64), **(baselines or {})}


def _thin(n: int, limit: int = 4000) -> np.ndarray:
    """Indices keeping at most about `limit` points of a curve (always both ends)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - 1, limit).astype(np.int64), n - 1])


def _split_bias(contrib: np.ndarray, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature values and base values; LightGBM's pred_contrib appends a bias column."""
    values = np.asarray(contrib, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(X):
        raise ValueError(f"contributions of shape {values.shape} do not match {len(X)} rows")
    if values.shape[1] == X.shape[1] + 1:
        return values[:, :-1], values[:, -1]
    if values.shape[1] != X.shape[1]:
        raise ValueError(f"{values.shape[1]} contribution columns for {X.shape[1]} features")
    return values, np.zeros(len(X))


def _levels(s: pd.Series) -> list[str] | None:
    """Category names in code order for text/category columns; None for numbers."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return None
    cat = s.astype("category") if not isinstance(s.dtype, pd.CategoricalDtype) else s
    return [str(c) for c in cat.cat.categories]


def _numeric_frame(X: pd.DataFrame) -> np.ndarray:
    """Features as floats for colouring: categories become their codes, missing NaN, through
    the one frame -> matrix conversion (text columns are made categories first)."""
    text = {
        col: "category"
        for col in X.columns
        if _levels(X[col]) is not None and not isinstance(X[col].dtype, pd.CategoricalDtype)
    }
    return frame_matrix(X.astype(text) if text else X)


def _explanation(
    contrib: np.ndarray, X: pd.DataFrame, *, max_rows: int | None = SHAP_SAMPLE, seed: int = 0
) -> Any:
    """A shap.Explanation over (a seeded sample of) the rows, data as numbers."""
    import shap

    values, base = _split_bias(contrib, X)
    data = _numeric_frame(X)
    if max_rows is not None and len(X) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        values, base, data = values[rows], base[rows], data[rows]
    return shap.Explanation(
        values=values, base_values=base, data=data, feature_names=[str(c) for c in X.columns]
    )


def pyplot() -> Any:
    """pyplot on the non-interactive Agg backend (selected here, never at import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Figure, path: Path) -> Path:
    """Write the PNG via a temp file and an atomic rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    os.replace(tmp, path)
    return path
