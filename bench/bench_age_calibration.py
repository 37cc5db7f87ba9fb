"""Calibration by lead age: do a model's probabilities hold over the open leads it scores?

Issue 17's table. The real CLI (`leadml score --as-of DATE`, in a subprocess) scores the
open leads; each probability is compared with whether the lead converted in the next
`window_days` (the bundle's label window), by lead age at scoring in whole days.

Data: `--data DIR`, or the demo funnel (50,000 leads, seed 7) generated once. Models: one
table per `--model` (registry reference or bundle folder), one after the other (before and
after); references resolve in `--project`. No `--model`: the champion of `--project`, or,
with neither, the default model trained once on the data in a scratch project. `--as-of`
(default 2025-06-30) must leave the whole window inside the data.

Issue 17 targets, printed and never asserted: ECE over all open leads <= 0.01 (ten
equal-width bins); mean predicted within 15% of realized, or 0.005 where wider, in every
age bucket of >= 1,000 leads; ROC AUC over all open leads >= 0.88.

    python bench/bench_age_calibration.py
    python bench/bench_age_calibration.py --project . --data data/generated/demo \\
        --model models:/lead-conversion/1 models:/lead-conversion/2 --json age.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from leadml import schema
from leadml.model.evaluate import ECE_BINS, expected_calibration_error
from leadml.model.snapshots import AGE_BUCKETS, age_bucket

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "data" / "generated"
DEMO_LEADS, DEMO_SEED = 50_000, 7
DEFAULT_AS_OF = "2025-06-30"
DEFAULT_NAME = "lead-conversion"
REF_PREFIX = "models:/"
TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")

BUCKETS = tuple(name for name, _, _ in AGE_BUCKETS)
"""The age buckets training reports by (`leadml.model.snapshots.AGE_BUCKETS`)."""
ALL = "all"
TARGET_ECE = 0.01
TARGET_AUC = 0.88
MEAN_RELATIVE, MEAN_ABSOLUTE = 0.15, 0.005
MIN_BUCKET_LEADS = 1_000
console = Console()


# --- the maths: frames in, numbers out ------------------------------------------------


def age_buckets(age_days: pd.Series | np.ndarray) -> np.ndarray:
    """Bucket label per lead; an age counts whole days, so 14.9 days is in 0-14."""
    return age_bucket(np.asarray(age_days, dtype=np.float64))


def mean_within_target(mean_predicted: float, realized: float) -> bool:
    """Issue 17's rule: |predicted - realized| <= max(15% of realized, 0.005)."""
    allowed = max(MEAN_RELATIVE * realized, MEAN_ABSOLUTE)
    return abs(mean_predicted - realized) <= allowed + 1e-12


@dataclass(frozen=True)
class BucketRow:
    """One line of the age table. `within_target` is None when the target skips the row
    (the 'all' row, and buckets under MIN_BUCKET_LEADS leads)."""

    bucket: str
    open_leads: int
    mean_predicted: float
    realized: float
    share_a: float
    within_target: bool | None


def age_table(scored: pd.DataFrame) -> list[BucketRow]:
    """One row per age bucket, then 'all': open leads, mean predicted, realized, share A.

    `scored` holds one open lead per row: age_days, probability, grade, realized (0/1).
    """
    labels = age_buckets(scored["age_days"])
    p = scored["probability"].to_numpy(dtype=np.float64)
    y = scored["realized"].to_numpy(dtype=np.float64)
    a = (scored["grade"] == "A").to_numpy(dtype=np.float64)
    rows = []
    for label in (*BUCKETS, ALL):
        keep = np.ones(len(p), dtype=bool) if label == ALL else labels == label
        n = int(keep.sum())
        predicted, realized, share = (float(v[keep].mean()) if n else math.nan for v in (p, y, a))
        judged = label != ALL and n >= MIN_BUCKET_LEADS
        verdict = mean_within_target(predicted, realized) if judged else None
        rows.append(BucketRow(label, n, predicted, realized, share, verdict))
    return rows


def overall_figures(scored: pd.DataFrame) -> dict[str, float]:
    """ECE (ten equal-width bins), ROC AUC and mean predicted vs realized over all leads."""
    y = scored["realized"].to_numpy(dtype=np.float64)
    p = scored["probability"].to_numpy(dtype=np.float64)
    both_classes = 0.0 < y.mean() < 1.0
    return {
        "open_leads": float(len(y)),
        "ece": expected_calibration_error(y, p, bins=ECE_BINS),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else math.nan,
        "mean_predicted": float(p.mean()),
        "realized": float(y.mean()),
    }


@dataclass(frozen=True)
class Target:
    """One of issue 17's targets, its figure and whether it is met."""

    name: str
    goal: str
    value: str
    met: bool | None
    """None: nothing to judge (no age bucket holds MIN_BUCKET_LEADS leads)."""


def check_targets(rows: list[BucketRow], figures: dict[str, float]) -> list[Target]:
    """Issue 17's three targets on this model's figures."""
    judged = [r for r in rows if r.within_target is not None]
    missed = [r.bucket for r in judged if not r.within_target]
    buckets = f"{len(judged) - len(missed)} of {len(judged)} met"
    if missed:
        buckets += f" (not: {', '.join(missed)})"
    elif not judged:
        buckets = f"no bucket holds {MIN_BUCKET_LEADS:,} leads"
    ece, auc = figures["ece"], figures["roc_auc"]
    return [
        Target("ECE, all open leads", f"<= {TARGET_ECE}", f"{ece:.4f}", ece <= TARGET_ECE),
        Target(
            f"mean predicted, buckets of >= {MIN_BUCKET_LEADS:,} leads",
            f"±{MEAN_RELATIVE:.0%} or ±{MEAN_ABSOLUTE} of realized",
            buckets,
            not missed if judged else None,
        ),
        Target("ROC AUC, all open leads", f">= {TARGET_AUC}", f"{auc:.3f}", auc >= TARGET_AUC),
    ]


# --- data, models and the CLI -----------------------------------------------------------


def run_leadml(args: list[str], cwd: Path) -> None:
    """Run the `leadml` console script next to this Python; exit with its tail on failure."""
    script = Path(sys.executable).parent / "leadml"
    if not script.exists():
        raise SystemExit(f"no leadml console script next to {sys.executable}: install leadml")
    env = {**os.environ, "COLUMNS": "160", "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"leadml {args[0]} failed ({done.returncode}):\n{tail}")


def ensure_demo() -> Path:
    """The demo funnel (as `make demo` makes it), generated once."""
    folder = GENERATED / "bench-age-demo"
    if not any((folder / f"{schema.LEADS}{s}").exists() for s in TABLE_SUFFIXES):
        console.print(f"generating {DEMO_LEADS:,} demo leads (seed {DEMO_SEED}) into {folder} ...")
        args = ["--leads", str(DEMO_LEADS), "--seed", str(DEMO_SEED), "--out", str(folder)]
        run_leadml(["demo-data", *args], ROOT)
    return folder


def tracking_args(project: Path) -> list[str]:
    """The scratch project's MLflow store, named explicitly."""
    return ["--tracking-uri", f"sqlite:///{project / 'mlflow.db'}"]


def ensure_champion(data: Path, project: Path) -> str:
    """Train the default model once on `data` in the scratch `project`; its champion ref."""
    marker = project / ".bench-age-trained"
    if not marker.exists():
        console.print(f"training the default model on {data} in {project} (a minute or two) ...")
        run_leadml(["train", "--data", str(data), *tracking_args(project)], project)
        marker.write_text(f"{data}\n", encoding="utf-8")
    return f"{REF_PREFIX}{DEFAULT_NAME}@champion"


def find_table(folder: Path, name: str) -> Path | None:
    """The file holding table `name` in `folder` (leads.parquet, leads.csv, ...), if any."""
    found = [folder / f"{name}{s}" for s in TABLE_SUFFIXES if (folder / f"{name}{s}").exists()]
    if len(found) > 1:
        raise SystemExit(f"several {name} tables in {folder}: keep one")
    return found[0] if found else None


def read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    """Some columns of a Parquet or CSV table, timestamps parsed as UTC."""
    if path.name.endswith(".parquet"):
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=True)
    for column in columns:
        if column != schema.LEAD_ID:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
    return frame


def read_leads(data: Path) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Lead id, created_at and converted_at; and the last timestamp in leads and events."""
    leads_file = find_table(data, schema.LEADS)
    if not data.is_dir() or leads_file is None:
        raise SystemExit(f"--data must be a folder holding a leads table and events: {data}")
    columns = [schema.LEAD_ID, schema.CREATED_AT, schema.CONVERTED_AT]
    try:
        leads = read_columns(leads_file, columns)
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"{leads_file.name} needs {', '.join(columns)}: {exc}") from exc
    leads[schema.LEAD_ID] = leads[schema.LEAD_ID].astype(str)
    leads = leads.drop_duplicates(schema.LEAD_ID, keep="first")  # as validation keeps them
    stamps = [leads[schema.CREATED_AT].max(), leads[schema.CONVERTED_AT].max()]
    events_file = find_table(data, schema.EVENTS)
    if events_file is not None:
        stamps.append(read_columns(events_file, [schema.OCCURRED_AT])[schema.OCCURRED_AT].max())
    return leads, max(s for s in stamps if pd.notna(s))


def parse_as_of(text: str) -> pd.Timestamp:
    """An ISO date or time, UTC when it has no zone (as `leadml score` reads it)."""
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def check_window_closed(as_of: pd.Timestamp, window_days: int, last: pd.Timestamp) -> None:
    """Refuse an as-of whose label window runs past the end of the data."""
    end = as_of + pd.Timedelta(days=window_days)
    if end > last:
        latest = (last - pd.Timedelta(days=window_days)).date()
        raise SystemExit(
            f"as-of {as_of.date()}: its {window_days}-day window ends {end.date()}, after the "
            f"last timestamp in the data ({last.isoformat()}); use an as-of on or before {latest}"
        )


def bundle_json(model: str, version: str, project: Path) -> Path:
    """bundle.json of a bundle folder, or of the registered version `leadml score` used."""
    if not model.startswith(REF_PREFIX):
        path = Path(model) / "bundle.json"
        if not path.exists():
            raise SystemExit(f"--model {model}: not a bundle folder (no bundle.json)")
        return path
    name = model[len(REF_PREFIX) :].split("@")[0].split("/")[0] or DEFAULT_NAME
    path = project / "models" / name / version / "bundle.json"
    if not path.exists():
        raise SystemExit(f"{model} is version {version}, but {path} does not exist")
    return path


def window_days_of(bundle: Path) -> int:
    """The label window the bundle was trained on (labels.window_days)."""
    return int(json.loads(bundle.read_text(encoding="utf-8"))["labels"]["window_days"])


@dataclass(frozen=True)
class Scored:
    """One model's open leads as of the date, with age and outcome, and where it came from."""

    model: str
    version: str
    bundle: Path
    window_days: int
    frame: pd.DataFrame
    """age_days, probability, grade, realized: one row per open lead."""


def score_open_leads(
    model: str, data: Path, as_of: pd.Timestamp, project: Path, uri: list[str]
) -> pd.DataFrame:
    """`leadml score` in a subprocess: the ranked Parquet (lead_id, probability, grade...)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranked.parquet"
        args = ["score", "--data", str(data), "--model", model, "--as-of", as_of.isoformat()]
        run_leadml([*args, "--out", str(out), "--no-store", *uri], project)
        return pd.read_parquet(out)


def with_outcomes(
    ranked: pd.DataFrame, leads: pd.DataFrame, as_of: pd.Timestamp, window_days: int
) -> pd.DataFrame:
    """Each scored lead's age at `as_of` in days and whether it converted in the window."""
    ranked = ranked.assign(**{schema.LEAD_ID: ranked[schema.LEAD_ID].astype(str)})
    joined = ranked.merge(leads, on=schema.LEAD_ID, how="left", validate="one_to_one")
    if joined[schema.CREATED_AT].isna().any():
        raise SystemExit("some scored leads are missing from the leads table (or lack created_at)")
    converted = joined[schema.CONVERTED_AT]
    end = as_of + pd.Timedelta(days=window_days)
    realized = converted.notna() & (converted > as_of) & (converted <= end)
    return pd.DataFrame(
        {
            "age_days": (as_of - joined[schema.CREATED_AT]).dt.total_seconds() / 86_400,
            "probability": joined["probability"].astype(np.float64),
            "grade": joined["grade"].astype(str),
            "realized": realized.astype(np.int64),
        }
    )


def open_count(leads: pd.DataFrame, as_of: pd.Timestamp) -> int:
    """Leads created by `as_of` and not converted by then (what `leadml score` should score)."""
    converted = leads[schema.CONVERTED_AT]
    won = converted.notna() & (converted <= as_of)
    return int(((leads[schema.CREATED_AT] <= as_of) & ~won).sum())


@dataclass(frozen=True)
class Setting:
    """What every model is measured on: the data and its leads, the as-of, the project."""

    data: Path
    leads: pd.DataFrame
    last: pd.Timestamp
    """The last timestamp in the data: every label window must close by then."""
    as_of: pd.Timestamp
    project: Path
    uri: list[str]


def measure(model: str, at: Setting) -> Scored:
    """Score with one model and attach ages and outcomes; refuse an as-of still open."""
    if not model.startswith(REF_PREFIX):
        check_window_closed(at.as_of, window_days_of(bundle_json(model, "", at.project)), at.last)
    console.print(f"leadml score --model {model} --as-of {at.as_of.date()} ...")
    ranked = score_open_leads(model, at.data, at.as_of, at.project, at.uri)
    version = str(ranked["model_version"].iloc[0]) if len(ranked) else "?"
    bundle = bundle_json(model, version, at.project)
    window = window_days_of(bundle)
    check_window_closed(at.as_of, window, at.last)
    expected = open_count(at.leads, at.as_of)
    if expected != len(ranked):
        console.print(
            f"[yellow]note: {len(ranked):,} leads scored, {expected:,} open in the raw leads "
            "table (validation dropped some rows)"
        )
    frame = with_outcomes(ranked, at.leads, at.as_of, window)
    return Scored(model, version, bundle, window, frame)


# --- printing ----------------------------------------------------------------------------


def fmt(value: float, percent: bool = False) -> str:
    """A probability to three decimals or a share in %, with one more digit near zero."""
    if math.isnan(value):
        return "–"
    digits = (1 if percent else 3) + (0 < value < 0.001)
    return f"{value:.{digits}{'%' if percent else 'f'}}"


def verdict(met: bool | None) -> str:
    """A target's verdict, coloured; a dash when the target does not judge the row."""
    return "–" if met is None else ("[green]met" if met else "[red]not met")


def print_model(scored: Scored, as_of: pd.Timestamp, rows: list[BucketRow]) -> None:
    """The issue's age table for one model (fits an 80-column terminal)."""
    title = (
        f"{scored.model} (version {scored.version}), open leads as of {as_of.date()}; "
        f"realized = converted in the next {scored.window_days} days"
    )
    caption = (
        f"* mean predicted within ±{MEAN_RELATIVE:.0%} or ±{MEAN_ABSOLUTE} of realized; "
        f"judged in buckets of >= {MIN_BUCKET_LEADS:,} leads"
    )
    out = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    out.add_column("lead age\n(days)")
    for head in ("open\nleads", "mean\npredicted", "\nrealized", "predicted\n÷ realized"):
        out.add_column(head, justify="right")
    out.add_column("share\ngraded A", justify="right")
    out.add_column("within\ntarget*", justify="right")
    for r in rows:
        ratio = f"{r.mean_predicted / r.realized:.1f}×" if r.realized > 0 else "–"
        last = r.bucket == ALL
        figures = [f"{r.open_leads:,}", fmt(r.mean_predicted), fmt(r.realized), ratio]
        share, met = fmt(r.share_a, percent=True), verdict(r.within_target)
        out.add_row(f"[bold]{r.bucket}" if last else r.bucket, *figures, share, met)
    console.print(out)


def print_targets(figures: dict[str, float], targets: list[Target]) -> None:
    """The overall figures, then issue 17's targets beside them."""
    console.print(
        f"All {int(figures['open_leads']):,} open leads: ECE {figures['ece']:.4f} "
        f"({ECE_BINS} equal-width bins), ROC AUC {figures['roc_auc']:.3f}, "
        f"mean predicted {figures['mean_predicted']:.4f} vs realized {figures['realized']:.4f}"
    )
    console.print("Issue 17 targets:")
    for t in targets:
        console.print(f"  {verdict(t.met)}[/]: {t.name}: {t.value} (target {t.goal})")
    console.print()


def report(scored: Scored, as_of: pd.Timestamp) -> dict[str, Any]:
    """Print one model's table, figures and targets; return them for --json."""
    rows = age_table(scored.frame)
    figures = overall_figures(scored.frame)
    targets = check_targets(rows, figures)
    print_model(scored, as_of, rows)
    print_targets(figures, targets)

    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    return {
        "model": scored.model,
        "version": scored.version,
        "bundle": str(scored.bundle),
        "window_days": scored.window_days,
        "buckets": [{k: clean(v) for k, v in asdict(r).items()} for r in rows],
        **{k: clean(v) for k, v in figures.items()},
        "targets": [asdict(t) for t in targets],
    }


def scratch_project(data: Path) -> Path:
    """A scratch project per data folder, so a model is trained once per data."""
    digest = hashlib.sha1(str(data).encode()).hexdigest()[:8]
    return GENERATED / "bench-age-project" / f"{data.name}-{digest}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="leads and events folder (default: the demo funnel)")
    parser.add_argument("--model", nargs="+", help="registry references or bundle folders")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help="scoring date (UTC if no zone)")
    parser.add_argument("--project", help="project holding the registry (and its leadml.toml)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    data = Path(args.data).resolve() if args.data else ensure_demo()
    leads, last = read_leads(data)
    project = Path(args.project).resolve() if args.project else scratch_project(data)
    if args.project and not project.is_dir():
        raise SystemExit(f"--project {project} is not a folder")
    project.mkdir(parents=True, exist_ok=True)
    models = [m if m.startswith(REF_PREFIX) else str(Path(m).resolve()) for m in args.model or []]
    # The scratch project names its MLflow store; a given project's own config decides.
    uri = [] if args.project else tracking_args(project)
    if not models and args.project:
        models = [f"{REF_PREFIX}{DEFAULT_NAME}@champion"]
    elif not models:
        check_window_closed(as_of, schema.STANDARD_WINDOW_DAYS, last)
        models = [ensure_champion(data, project)]
    setting = Setting(data, leads, last, as_of, project, uri)
    results = [report(measure(m, setting), as_of) for m in models]
    if args.json:
        figures = {"as_of": as_of.isoformat(), "data": str(data), "models": results}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        console.print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
