"""The notebooks' plots, each saved as a PNG to a path the caller chooses.

Like `plots`, charts draw on a bare `matplotlib.figure.Figure` (no pyplot, no global
state); the SHAP waterfall needs pyplot, so it selects Agg and always closes its figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leadml.monitor.insights import Explained
from leadml.report.plots import pyplot, save_png


def segment_chart(table: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Conversion rate per segment (left) and leads with expected conversions (right)."""
    shown = table.iloc[::-1]
    names = [str(i) for i in shown.index]
    fig = Figure(figsize=(12, 0.32 * len(shown) + 2))
    rate_ax, volume_ax = fig.subplots(1, 2, sharey=True)
    rate_ax.barh(names, shown["conversion_rate"].fillna(0.0) * 100)
    rate_ax.set(xlabel="Conversion rate (%) among leads whose window has closed", title=title)
    volume_ax.barh(names, shown["leads"], label="leads", color="#c7d4e8")
    if "expected_conversions" in shown:
        volume_ax.barh(
            names, shown["expected_conversions"], label="expected conversions", color="#1f77b4"
        )
    volume_ax.set(xlabel="Leads", title="Volume and predicted pipeline")
    volume_ax.legend(loc="lower right")
    return save_png(fig, path)


def cost_chart(table: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Cost per lead (left) and cost per conversion (right) per segment, in the data's
    currency; a segment without conversions has no cost per conversion."""
    if "cost_per_lead" not in table:
        raise KeyError("the table has no costs: the leads carry no acquisition_cost")
    shown = table.iloc[::-1]
    names = [str(i) for i in shown.index]
    fig = Figure(figsize=(12, 0.32 * len(shown) + 2))
    lead_ax, conv_ax = fig.subplots(1, 2, sharey=True)
    lead_ax.barh(names, shown["cost_per_lead"].fillna(0.0), color="#7f7f7f")
    lead_ax.set(xlabel="Cost per lead", title=title)
    conv_ax.barh(names, shown["cost_per_conversion"].fillna(0.0), color="#d62728")
    conv_ax.set(xlabel="Cost per conversion", title="Cost per conversion (closed windows)")
    return save_png(fig, path)


def funnel_chart(funnel: pd.DataFrame, path: Path) -> Path:
    """Horizontal funnel: leads reaching each stage, with stage-to-stage conversion."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    stages = [str(s) for s in funnel.index]
    counts = funnel["leads_reached"].to_numpy(dtype=np.float64)
    y = np.arange(len(stages))[::-1]
    ax.barh(y, counts, left=(counts.max() - counts) / 2, color="#1f77b4")
    for yi, count, step, rate in zip(
        y, counts, funnel["from_previous_stage"], funnel["conversion_rate"], strict=True
    ):
        ax.text(
            counts.max() / 2,
            yi,
            f"{int(count):,} leads  |  {step:.0%} of previous  |  {rate:.1%} became customers",
            ha="center",
            va="center",
            color="black",
            fontsize=9,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
    ax.set_yticks(y, stages)
    ax.set_xticks([])
    ax.set_title("Funnel: leads reaching each stage (or a later one)")
    return save_png(fig, path)


def impact_chart(impact: pd.DataFrame, path: Path, *, top: int = 12) -> Path:
    """Mean |SHAP| per engagement action: how much each moves the score. Green when doing
    it raises the score on average (among leads who did it, when known), red otherwise."""
    shown = impact.head(top).iloc[::-1]
    sign = shown["when_done"] if "when_done" in shown else shown["mean_contribution"]
    fig = Figure(figsize=(8, 0.35 * len(shown) + 1.8))
    ax = fig.subplots()
    colours = ["#2ca02c" if m > 0 else "#d62728" for m in sign.fillna(0.0)]
    ax.barh([str(i) for i in shown.index], shown["mean_abs_contribution"], color=colours)
    ax.set(
        xlabel="Mean |SHAP| (log-odds); green: doing it raises the score, red: lowers it",
        title="Engagement actions that move the score most",
    )
    return save_png(fig, path)


def waterfall(explained: Explained, lead_id: str, path: Path, *, max_display: int = 12) -> Path:
    """SHAP waterfall of one lead: from the average score to its own, feature by feature."""
    import shap

    row = explained.raw.index.get_loc(lead_id)
    if not isinstance(row, int):
        raise KeyError(f"lead {lead_id!r} is not exactly once among the explained leads")
    names = list(explained.X.columns)
    values = explained.contrib[row, : len(names)]
    shown = explained.raw.iloc[row][names]
    display = np.array([_display(v) for v in shown], dtype=object)
    explanation = shap.Explanation(
        values=values,
        base_values=float(explained.contrib[row, -1]),
        data=display,
        feature_names=names,
    )
    plt = pyplot()
    fig = plt.figure(figsize=(9, 0.4 * max_display + 2))
    try:
        shap.plots.waterfall(explanation, max_display=max_display, show=False)
        fig = plt.gcf()
        fig.suptitle(
            f"Lead {lead_id}: probability {explained.probability[row]:.1%} (log-odds)",
            fontsize=11,
        )
        return save_png(fig, path)
    finally:
        plt.close("all")


def _display(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if isinstance(value, float | np.floating):
        return round(float(value), 2)
    return value
