"""The drift check as titled tables and closing lines, in reading order (no I/O)."""

from __future__ import annotations

import pandas as pd

from leadml import schema
from leadml.monitor.drift.profiles import PSI_WATCH, SCORE
from leadml.monitor.drift.report import DriftReport


def summary_tables(
    report: DriftReport, *, show_all: bool = False
) -> list[tuple[str, pd.DataFrame]]:
    """The tables `leadml drift` prints, titled, in reading order.

    The PSI table lists the score and every feature at or above the watch threshold
    (at least the ten largest; all of them with `show_all`), its status marked.
    """
    table = report.psi
    if not show_all:
        shown = (table["psi"] >= PSI_WATCH).to_numpy().copy()
        shown[:10] = True
        shown |= table.index == SCORE
        table = table[shown]
    psi = pd.DataFrame(
        {
            "field": table["field"],
            "psi": table["psi"].round(3),
            "status": [_mark(s) for s in table["status"]],
            "largest change": table["largest_change"],
        },
        index=table.index,
    )
    title = (
        f"Population stability vs training ({report.model}): "
        f"watch >= {PSI_WATCH:g}, ALERT >= {report.alert_threshold:g}"
    )
    tables = [(title, psi)]
    mix = report.distributions.get(schema.LEAD_SOURCE)
    if mix is not None:
        mix = mix[(mix["reference"] > 0) | (mix["current"] > 0)]
        mix = mix.rename_axis(schema.LEAD_SOURCE)
        frame = pd.DataFrame(
            {
                "reference_share": mix["reference"],
                "current_share": mix["current"],
                "change": (mix["current"] - mix["reference"]).round(4),
            }
        )
        tables.append(("Lead-source mix (share of leads)", frame))
    if len(report.levels):
        tables.append(("Category levels that are new or gone", level_summary(report)))
    if report.calibration is not None:
        cal = report.calibration
        tables.append(
            (
                f"Calibration on {cal.n:,} current leads whose window has closed "
                f"(ECE {cal.ece:.3f}, Brier {cal.brier:.3f}, ROC AUC {cal.roc_auc:.3f})",
                cal.table,
            )
        )
    return tables


def level_summary(report: DriftReport, *, examples: int = 2) -> pd.DataFrame:
    """One row per (feature, new|gone): how many levels, their share, a few names."""
    rows = []
    for (feature, change), part in report.levels.groupby(["feature", "change"], sort=False):
        share_col = "current_share" if change == "new" else "reference_share"
        part = part.sort_values(share_col, ascending=False, kind="stable")
        names = ", ".join(_clip(str(name), 24) for name in part["level"].head(examples))
        more = len(part) - examples
        rows.append(
            {
                "feature": feature,
                "change": change,
                "levels": len(part),
                "share": float(part[share_col].sum()),
                "examples": names + (f" (+{more} more)" if more > 0 else ""),
            }
        )
    return pd.DataFrame(rows).set_index("feature")


def summary_lines(report: DriftReport) -> list[str]:
    """The closing lines: counts, unseen sources, calibration, and the verdict."""
    c = report.counts
    lines = [
        f"Current leads compared: {c.get('scored', 0):,} of {c.get('leads', 0):,} "
        f"(before --since {c.get('before_since', 0):,}; observation not over "
        f"{c.get('observation_not_over', 0):,}; converted before the cutoff "
        f"{c.get('converted_before_cutoff', 0):,})."
    ]
    if report.unseen_sources:
        names = ", ".join(f"{k} ({v:,})" for k, v in report.unseen_sources.items())
        lines.append(
            f"Leads from sources unseen in training: {report.unseen_source_share:.1%} ({names})."
        )
    else:
        lines.append("Leads from sources unseen in training: none.")
    if report.calibration is None:
        lines.append("Calibration: no current lead's outcome window has closed yet.")
    else:
        cal = report.calibration
        lines.append(
            f"Calibration: predicted {cal.mean_predicted:.1%} vs observed {cal.observed_rate:.1%} "
            f"on {cal.n:,} leads (ECE {cal.ece:.3f})."
        )
    if report.alert:
        lines.append(f"ALERT: PSI >= {report.alert_threshold:g} for {', '.join(report.alerts)}.")
    else:
        lines.append(f"No PSI reaches {report.alert_threshold:g} (largest {report.max_psi:.3f}).")
    return lines


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _mark(status: str) -> str:
    return {"alert": "ALERT", "watch": "watch", "stable": "ok"}[status]
