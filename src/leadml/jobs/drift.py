"""`leadml drift` at the edge: score a new data folder, compare it with the model's
training distribution (`drift.compare`), save a table and a plot, and log both to MLflow.

Runs are logged to the experiment `<experiment>-drift` with the tag `leadml.job=drift`,
so drift checks sit beside, not among, the training runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leadml import schema
from leadml.config import Config
from leadml.errors import InputError, LeadmlError
from leadml.monitor.drift import (
    MISSING,
    PSI_ALERT,
    PSI_WATCH,
    REFERENCE_KEY,
    SCORE,
    Current,
    DriftReport,
    Reference,
    compare,
)
from leadml.report.plots import save_png

if TYPE_CHECKING:
    from leadml.bundle import Bundle

DRIFT_JOB_TAG = "drift"
STATUS_COLOURS = {"stable": "#4c9a2a", "watch": "#e0a100", "alert": "#c0392b"}
PLOT_FEATURES = 15


@dataclass(frozen=True)
class DriftOutcome:
    """The report and where it went: the output folder's files and the MLflow run."""

    report: DriftReport
    paths: dict[str, Path]
    run_id: str | None


def reference_of(bundle: Bundle) -> Reference:
    """The drift reference stored with a model, or a clear error for older models."""
    data = bundle.extra.get(REFERENCE_KEY)
    if not data:
        label = f"{bundle.name} version {bundle.version}" if bundle.version else "this bundle"
        raise LeadmlError(
            f"{label} has no drift reference (it was trained before leadml stored one). "
            "Retrain it with `leadml train` or `leadml retrain`, then run `leadml drift` again."
        )
    return Reference.from_dict(data)


def current_population(
    bundle: Bundle,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
) -> Current:
    """Score the new leads at their own scoring moment, as training saw its leads.

    Leads created before `since` are ignored. A lead is left out when its cutoff is after
    the end of the data (its observation period is not over) or when it converted at or
    before its cutoff. Leads whose conversion window has closed carry a 0/1 label.
    A model trained on one snapshot date scores every lead as of the end of the data.
    """
    from leadml.model.labels import cutoffs, data_end, make_labels
    from leadml.scoring import Scorer

    end = data_end(leads, events)
    counts = {"leads": len(leads)}
    if since is not None:
        stamp = _utc(since)
        leads = leads[leads[schema.CREATED_AT] >= stamp]
        counts["before_since"] = counts["leads"] - len(leads)
    if bundle.labels.snapshot is None:
        cut = cutoffs(leads, bundle.labels)
    else:
        created = leads[schema.CREATED_AT]
        kept = leads.loc[created.notna().to_numpy(), schema.LEAD_ID]
        cut = pd.Series(end, index=pd.Index(kept, name=schema.LEAD_ID), name="cutoff")
    due = (cut <= end).to_numpy()
    counts["observation_not_over"] = int((~due).sum())
    cut = cut[due]
    converted = _converted_at(leads, cut.index)
    before = (converted.notna() & (converted <= cut)).to_numpy()
    counts["converted_before_cutoff"] = int(before.sum())
    cut = cut[~before]
    counts["scored"] = len(cut)
    if cut.empty:
        raise InputError(
            "no lead to compare: every lead is too recent or was filtered out",
            value=counts,
            expected="leads whose observation period (created_at + "
            f"{bundle.labels.observation_days} days) ended before the end of the data",
        )
    scorer = Scorer(bundle)
    raw = scorer.raw_features(leads, events, cut)
    scored = scorer.score_features(raw, explain=False)
    probability = scored.frame["probability"].to_numpy(dtype=np.float64)
    labels = None
    if converted.notna().any():
        subset = leads[leads[schema.LEAD_ID].isin(cut.index)]
        made = make_labels(subset, cut, window_days=bundle.labels.window_days, data_end=end)
        labels = made.frame["label"]
        counts["labelled"] = len(labels)
    return Current(raw=raw, probability=probability, labels=labels, counts=counts)


def drift_job(
    reference: str | Path,
    current_dir: Path,
    config: Config,
    *,
    since: pd.Timestamp | None = None,
    alert: float = PSI_ALERT,
    out_dir: Path | None = None,
    log: bool = True,
) -> DriftOutcome:
    """Load the model and the new data, compare them, save the report and plot, log them."""
    from leadml.data.io import load_dataset
    from leadml.tracking.registry import load_model

    if alert <= 0:
        raise InputError("the alert threshold must be positive", value=alert)
    bundle = load_model(reference, config)
    ref = reference_of(bundle)
    data = load_dataset(current_dir)
    current = current_population(bundle, data.leads, data.events, since=since)
    model = f"{bundle.name} version {bundle.version}" if bundle.version else str(reference)
    report = compare(ref, current, bundle.spec, alert=alert, model=model)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out_dir or config.resolve(config.paths.reports_dir) / "drift" / stamp
    paths = save_report(report, folder)
    run_id = log_to_mlflow(report, folder, config, bundle, current_dir) if log else None
    return DriftOutcome(report=report, paths=paths, run_id=run_id)


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


def save_report(report: DriftReport, out_dir: Path) -> dict[str, Path]:
    """Write drift.json (summary), psi.csv (every feature), levels.csv and drift.png."""
    from leadml.data.io import atomic_write_text

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


def log_to_mlflow(
    report: DriftReport, folder: Path, config: Config, bundle: Bundle, current_dir: Path
) -> str:
    """Log the metrics, the table and the plot as one run of `<experiment>-drift`."""
    import mlflow

    from leadml.tracking.registry import client_for

    experiment = f"{config.mlflow.experiment}-drift"
    cfg = config.model_copy(
        update={"mlflow": config.mlflow.model_copy(update={"experiment": experiment})}
    )
    client_for(cfg)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    with mlflow.start_run(run_name=f"drift {report.model} {day}") as run:
        mlflow.set_tags(
            {
                "leadml.job": DRIFT_JOB_TAG,
                "leadml.model_name": bundle.name,
                "leadml.model_version": bundle.version,
                "leadml.drift.alert": str(report.alert).lower(),
                "leadml.drift.alerts": ", ".join(report.alerts)[:5000],
            }
        )
        mlflow.log_params(
            {
                "current.path": str(Path(current_dir).resolve()),
                "alert_threshold": report.alert_threshold,
                "watch_threshold": PSI_WATCH,
            }
        )
        mlflow.log_metrics(report.metrics())
        mlflow.log_artifacts(str(folder), "drift")
        return str(run.info.run_id)


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
        t = cal.table
        top_p = float(max(t["mean_predicted"].max(), t["observed_rate"].max(), 0.01))
        cal_ax.plot([0, top_p], [0, top_p], "--", color="black", linewidth=1, label="perfect")
        cal_ax.plot(t["mean_predicted"], t["observed_rate"], "o-", label="current leads")
        cal_ax.set(
            xlabel="Mean predicted probability (per decile)",
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


def _converted_at(leads: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """converted_at per lead id in `ids` (NaT when unknown or absent)."""
    if schema.CONVERTED_AT not in leads:
        return pd.Series(pd.NaT, index=ids, dtype="datetime64[us, UTC]")
    by_id = pd.Series(leads[schema.CONVERTED_AT].array, index=leads[schema.LEAD_ID])
    return by_id.reindex(ids)


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
