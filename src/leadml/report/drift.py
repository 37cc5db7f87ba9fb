"""The drift check's files: drift.json, psi.csv, levels.csv and the drift.png plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leadml import schema
from leadml.monitor.drift.profiles import MISSING, PSI_WATCH, SCORE
from leadml.monitor.drift.report import DriftReport
from leadml.report.plots import save_png

STATUS_COLOURS = {"stable": "#4c9a2a", "watch": "#e0a100", "alert": "#c0392b"}
PLOT_FEATURES = 15


def save_report(report: DriftReport, out_dir: Path) -> dict[str, Path]:
    """Write drift.json (summary), psi.csv (every feature), levels.csv and drift.png."""
    from leadml.data.atomic import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": atomic_write_text(
            json.dumps(report.to_dict(), indent=2, sort_keys=True), out_dir / "drift.json"
        ),
        "psi": atomic_write_text(report.psi.to_csv(), out_dir / "psi.csv"),
        "levels": atomic_write_text(report.levels.to_csv(index=False), out_dir / "levels.csv"),
        "plot": drift_plot(report, out_dir / "drift.png"),
    }
    return paths


def drift_plot(report: DriftReport, path: Path) -> Path:
    """PSI per feature with the 0.1 and alert thresholds marked, the lead-source mix,
    the score distribution and, when outcomes exist, calibration on recent leads."""
    fig = Figure(figsize=(13, 9.5))
    (psi_ax, source_ax), (score_ax, cal_ax) = fig.subplots(2, 2)
    top = report.psi.head(PLOT_FEATURES).iloc[::-1]
    colours = [STATUS_COLOURS[s] for s in top["status"]]
    psi_ax.barh([str(i) for i in top.index], top["psi"], color=colours)
    psi_ax.axvline(PSI_WATCH, linestyle="--", color=STATUS_COLOURS["watch"], label="watch 0.1")
    alert_label = f"alert {report.alert_threshold:g}"
    psi_ax.axvline(report.alert_threshold, linestyle="--", color="black", label=alert_label)
    psi_ax.legend(loc="lower right")
    psi_ax.set(xlabel="Population stability index", title=f"Largest PSI ({report.model})")
    psi_ax.set_xlim(0, max(report.max_psi, report.alert_threshold) * 1.15)

    _mix(source_ax, report.distributions.get(schema.LEAD_SOURCE), "Lead-source mix")
    _mix(score_ax, report.distributions.get(SCORE), "Score distribution (reference deciles)")

    cal = report.calibration
    if cal is None:
        cal_ax.axis("off")
        cal_ax.text(
            0.5,
            0.5,
            "No closed outcome windows in the current data:\ncalibration not checked",
            ha="center",
            va="center",
        )
    else:
        # The table holds the ECE's own bins, so the points and the title's ECE agree.
        t = cal.table
        top_p = float(max(t["mean_predicted"].max(), t["observed_rate"].max(), 0.01))
        cal_ax.plot([0, top_p], [0, top_p], "--", color="black", linewidth=1, label="perfect")
        cal_ax.plot(t["mean_predicted"], t["observed_rate"], "o-", label="current leads")
        cal_ax.set(
            xlabel="Mean predicted probability (per ECE bin: tenths of 0-1)",
            ylabel="Observed conversion rate",
            title=f"Calibration on {cal.n:,} recent outcomes (ECE {cal.ece:.3f})",
        )
        cal_ax.legend(loc="upper left")
    return save_png(fig, path)


def _mix(ax: object, table: pd.DataFrame | None, title: str) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    if table is None:
        ax.axis("off")
        return
    shown = table[(table["reference"] > 0) | (table["current"] > 0)]
    if MISSING in shown.index and shown.loc[MISSING].sum() == 0:
        shown = shown.drop(index=MISSING)
    y = np.arange(len(shown))
    ax.barh(y - 0.2, shown["reference"], 0.4, label="reference (when the model was trained)")
    ax.barh(y + 0.2, shown["current"], 0.4, label="current")
    ax.set_yticks(y, [str(i) for i in shown.index])
    ax.invert_yaxis()
    ax.set(xlabel="Share of leads", title=title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
