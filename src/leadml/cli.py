"""The `leadml` command line: thin Typer commands over the core modules.

Each command parses its options, calls one core function, and renders the result.
Errors the user can fix (`LeadmlError`) are printed without a traceback unless
`--debug` is given.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadml.errors import LeadmlError

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    name="leadml",
    help=(
        "Predict which marketing leads convert, explain why, and rank them for sales.\n\n"
        "Typical first run:  leadml demo-data --out data/generated/demo  then  "
        "leadml validate data/generated/demo"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of short error messages.")
    ] = False,
) -> None:
    _state["debug"] = debug


def print_frame(df: pd.DataFrame, title: str, *, index: bool = True) -> None:
    """Render a small DataFrame as a rich table (numbers right-aligned, NaN as '-')."""
    import pandas as pd

    table = Table(title=title, title_justify="left")
    frame = df.reset_index() if index else df
    percent = [("rate" in str(c) or "share" in str(c)) for c in frame.columns]
    cells = [
        [_pct(v) if pc else _fmt(v) for v, pc in zip(row, percent, strict=True)]
        for row in frame.itertuples(index=False)
    ]
    for j, col in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        # Values never wrap; spaces instead of underscores let a long header wrap instead.
        table.add_column(
            str(col).replace("_", " "),
            justify="right" if numeric else "left",
            min_width=max((len(r[j]) for r in cells), default=1),
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    console.print(table)


def _pct(value: object) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.1%}"
    return _fmt(value)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.3f}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="Folder to write leads, events and truth into.")] = Path(
        "data/generated/demo"
    ),
    leads: Annotated[int, typer.Option("--leads", min=100, help="Number of leads.")] = 50_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives identical files.")
    ] = 7,
    fmt: Annotated[str, typer.Option("--format", help="File format: parquet or csv.")] = "parquet",
    with_defects: Annotated[
        bool,
        typer.Option(
            "--with-defects",
            help="Inject malformed rows of every kind `leadml validate` catches (for testing).",
        ),
    ] = False,
) -> None:
    """Generate the built-in synthetic lead funnel (leads, events and ground truth).

    The funnel behaves like a real one: sources differ in volume, quality and cost,
    stages follow behaviour (IQL/MQL/SQL/PQL), and conversion depends on fit and intent.
    The truth file holds each lead's true conversion probability; training never reads it.

    Example:  leadml demo-data --leads 50000 --seed 7 --out data/generated/demo
    """
    from leadml import synth

    funnel = synth.generate_funnel(leads, seed=seed, with_defects=with_defects, progress=True)
    paths = synth.write_funnel(funnel, out, fmt=fmt)
    console.print(
        f"[green]Wrote[/] {len(funnel.leads):,} leads and {len(funnel.events):,} events to {out}"
    )
    for path in paths:
        console.print(f"  {path}")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Folder holding leads and events (CSV or Parquet).")],
    all_warnings: Annotated[
        bool,
        typer.Option("--all-warnings", help="List every warning row instead of one line per kind."),
    ] = False,
) -> None:
    """Check a data folder against the data contract and report every problem found.

    Each problem names the file, row, column, the bad value and what was expected.
    Messy categories ('Google Ads', ' Referral ') are normalised and counted.
    Exit code 1 when there are errors, 0 when there are only warnings.
    Rows are CSV line numbers (the header is line 1) or 1-based Parquet row numbers.

    Example:  leadml validate data/generated/demo
    """
    from leadml.validate import validate_folder

    report = validate_folder(path)
    _print_report(report, all_warnings=all_warnings)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: object, *, all_warnings: bool) -> None:
    from leadml.validate import ValidationReport

    assert isinstance(report, ValidationReport)
    for p in report.errors:
        console.print(f"[red]error[/]   {_problem_line(p)}", highlight=False, soft_wrap=True)
    if all_warnings:
        for p in report.warnings:
            console.print(f"[yellow]warning[/] {_problem_line(p)}", highlight=False, soft_wrap=True)
    elif report.warnings:
        groups: dict[tuple[str, str, str], list[object]] = {}
        for p in report.warnings:
            groups.setdefault((p.code, p.file, p.column or "-"), []).append(p)
        table = Table(title="Warnings (data still loads)", title_justify="left")
        for col in ("kind", "file", "column", "rows", "first example"):
            table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
        for (code, file, column), items in groups.items():
            first = items[0]
            total = sum(getattr(i, "count", 1) for i in items)
            example = getattr(first, "value", None)
            row = getattr(first, "row", None)
            table.add_row(
                code.replace("_", " "),
                file,
                column,
                f"{total:,}",
                ("" if row is None else f"row {row}: ")
                + ("" if example is None else repr(example)),
            )
        console.print(table)
        console.print("  (run with --all-warnings to list every warning row)")
    for line in report.notes:
        console.print(f"  {line}", highlight=False)
    n_err, n_warn = report.error_count, report.warning_count
    if report.ok:
        console.print(f"[green]OK[/]: {report.path} is valid ({n_warn:,} warning(s)).")
    else:
        err_console.print(
            f"[red]Invalid[/]: {n_err:,} error(s), {n_warn:,} warning(s) in {report.path}. "
            "Fix the rows listed above and run `leadml validate` again."
        )


def _problem_line(p: object) -> str:
    from leadml.validate import Problem

    assert isinstance(p, Problem)
    where = p.file + (f" row {p.row}" if p.row is not None else "")
    where += f", column {p.column}" if p.column else ""
    got = "" if p.value is None else f" got {p.value!r};"
    many = f" [{p.count:,} rows]" if p.count > 1 else ""
    return f"{where}: {p.code}:{got} expected {p.expected}{many}"


@app.command()
def summary(
    path: Annotated[Path, typer.Argument(help="Folder holding leads and events.")],
) -> None:
    """Print a funnel summary: volume, conversion and cost by lead source and by stage.

    Example:  leadml summary data/generated/demo
    """
    from leadml.io import load_dataset
    from leadml.summary import funnel_summary

    data = load_dataset(path)
    result = funnel_summary(data.leads, data.events)
    for title, frame in result.tables():
        print_frame(frame, title)


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="leadml.toml to read (default: ./leadml.toml if present)."),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: sqlite:///mlflow.db in the project directory).",
    ),
]


@app.command()
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder holding leads and events; or, with a [dataset] mapping in the config, "
            "the flat CRM export (default: [dataset] file).",
        ),
    ] = None,
    config: ConfigOpt = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment name (default: leadml).")
    ] = None,
    tune: Annotated[
        int, typer.Option("--tune", min=0, help="Optuna trials on the validation window.")
    ] = 0,
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Register as challenger only; never promote.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote to champion even if the gate fails.")
    ] = False,
    metrics_out: Annotated[
        Path | None, typer.Option("--metrics-out", help="Write the result table as JSON here.")
    ] = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Train a calibrated LightGBM conversion model, evaluate it, and register it in MLflow.

    Features are computed as of each lead's cutoff; train, validation and test windows
    follow in time; the test window is scored once. The run logs metrics, plots, SHAP
    explanations and a report to MLflow, registers a version of `lead-conversion` with the
    alias `challenger`, and promotes it to `champion` if it passes the gate.

    Example:  leadml train --data data/generated/demo --metrics-out metrics.json
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from leadml.config import Config, load_config
    from leadml.tracking import Promotion, train_and_track, write_metrics_json

    if no_promote and force:
        raise typer.BadParameter("--no-promote and --force contradict each other")
    overrides: dict[str, dict[str, object]] = {"train": {"tune_trials": tune or None}}
    if tracking_uri or experiment:
        overrides["mlflow"] = {"tracking_uri": tracking_uri, "experiment": experiment}
    cfg: Config = load_config(config, overrides=overrides)
    promotion = Promotion.FORCE if force else Promotion.NEVER if no_promote else Promotion.GATE
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None, detail="")

        def on_step(message: str) -> None:
            from rich.markup import escape

            progress.console.print(f"[dim]-[/] {escape(message)}")
            progress.update(task, description=escape(message), total=None, completed=0, detail="")

        def on_round(done: int, total: int) -> None:
            progress.update(task, total=total, completed=done, detail=f"tree {done}")

        outcome = train_and_track(
            data, cfg, promotion=promotion, on_step=on_step, on_round=on_round
        )
    if metrics_out is not None:
        write_metrics_json(outcome, metrics_out)
    _print_train_outcome(outcome)


def _print_train_outcome(outcome: object) -> None:
    import pandas as pd

    from leadml.tracking import TrainOutcome

    assert isinstance(outcome, TrainOutcome)
    result = outcome.metrics_json()
    keys = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10")
    rows = {"model": result["model"], **result["baselines"]}
    if result["oracle"] is not None:
        rows["oracle"] = {
            "roc_auc": result["oracle"]["roc_auc"],
            "lift_at_10": result["oracle"]["lift_at_10"],
        }
    frame = pd.DataFrame(
        {name: [vals.get(k, float("nan")) for k in keys] for name, vals in rows.items()},
        index=list(keys),
    ).T
    frame.index.name = "scorer"
    print_frame(frame, "Test window (scored once)")
    m = result["model"]
    console.print(f"ROC AUC 95% interval: {m['roc_auc_ci_low']:.3f} - {m['roc_auc_ci_high']:.3f}")
    if result["oracle"] is not None:
        o = result["oracle"]
        console.print(
            f"Model/oracle: AUC ratio {o['model_oracle_auc_ratio']:.3f}, "
            f"top-decile lift ratio {o['model_oracle_lift_ratio']:.3f}"
        )
    labels = result["labels"]
    console.print(
        f"Labels: {labels['eligible']:,} eligible leads, {labels['positives']:,} converted; "
        f"excluded {labels['excluded_converted_before_cutoff']:,} converted before the cutoff, "
        f"censored {labels['censored_window_not_closed']:,} whose window had not closed."
    )
    ml = result["mlflow"]
    state = "[green]promoted to champion[/]" if ml["promoted"] else "[yellow]kept as challenger[/]"
    gate = ml["gate"]["reason"] if ml["gate"] else "-"
    console.print(
        f"MLflow run {ml['run_id']}: {ml['model_name']} version {ml['model_version']} {state}"
    )
    console.print(f"Gate: {gate}")
    console.print(f"Bundle: {result['bundle_path']}   Report: {result['report_path']}")


@app.command("init-config")
def init_config(
    data: Annotated[Path, typer.Argument(help="The flat CRM export (CSV), one row per lead.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the draft mapping.")] = Path(
        "leadml.toml"
    ),
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="Field delimiter (default: sniffed).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Write a draft [dataset] mapping for a flat CRM export, every guess marked in a comment.

    It infers each column's type, guesses its role (source, engagement, firmographic,
    ignore, pii, passthrough) from its name and values, and finds the id, label and
    created-at columns. Edit it, then run `leadml train --config leadml.toml`.

    Example:  leadml init-config exports/leads.csv --out leadml.toml
    """
    from leadml.errors import InputError
    from leadml.io import atomic_write_text
    from leadml.mapping.draft import draft_config

    if not data.exists():
        raise InputError("file not found", file=data, expected="a CSV export")
    if out.exists() and not overwrite:
        raise InputError(
            "refusing to overwrite an existing file", file=out, expected="--overwrite or --out"
        )
    relative = os.path.relpath(data.resolve(), out.resolve().parent)
    text = draft_config(data, delimiter=delimiter, file_value=relative)
    atomic_write_text(text, out)
    guessed = sum(1 for line in text.splitlines() if "guessed" in line)
    console.print(f"Wrote {out} ({guessed} guesses to check). Edit it, then run:")
    console.print(f"  leadml train --config {out}")


@app.command("promote")
def promote_cmd(
    version: Annotated[str, typer.Argument(help="Registered model version to make champion.")],
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Make a registered version the champion (skipping the gate; you take responsibility).

    Example:  leadml promote 3
    """
    from leadml.config import load_config
    from leadml.registry import client_for, promote

    cfg = load_config(config, overrides={"mlflow": {"tracking_uri": tracking_uri}})
    client = client_for(cfg)
    previous = promote(client, cfg.mlflow.model_name, version)
    console.print(
        f"{cfg.mlflow.model_name}: champion is now version {version} (was {previous or 'none'})."
    )


@app.command()
def rollback(config: ConfigOpt = None, tracking_uri: TrackingOpt = None) -> None:
    """Restore the previous champion (undo the last promotion).

    Example:  leadml rollback
    """
    from leadml.config import load_config
    from leadml.registry import client_for
    from leadml.registry import rollback as do_rollback

    cfg = load_config(config, overrides={"mlflow": {"tracking_uri": tracking_uri}})
    client = client_for(cfg)
    old, restored = do_rollback(client, cfg.mlflow.model_name)
    console.print(
        f"{cfg.mlflow.model_name}: champion rolled back from version {old} to version {restored}."
    )


@app.command()
def score(
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder holding leads and events, or a flat CRM export file."),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Registry reference (default models:/lead-conversion@champion) or a "
            "bundle folder.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Scoring moment: an ISO date/time (UTC if no zone), 'now' (the default) or "
            "'latest' (midnight after the last timestamp in the data). Refused for a flat "
            "export file: it is as of the day it was exported.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Ranked list to write: .csv, .csv.gz or .parquet."),
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Write only the best N leads.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Scores store URL (default: sqlite:///scores.db in the project)."
        ),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not write the scores store.")
    ] = False,
    grades: Annotated[
        str | None,
        typer.Option(
            "--grades",
            help="'model': the bundle's validation thresholds (default); 'batch': A is the "
            "top 10% of this batch, B the next 20%, C the next 30%.",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Comma-separated lead columns to pass through for sales "
            "(default: contact_name,email,phone; '' for none). Never features.",
        ),
    ] = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score every open (not yet converted) lead and write a ranked list sales can act on.

    Each row has rank, lead_id, company, lead_source, stage, probability, score (1-99),
    grade, reasons (the top three and the strongest against), model_version and
    scored_at, then the pass-through contact columns. The list is written atomically,
    and the batch goes to the scores store that the API and the sales page read.

    Example:  leadml score --data data/generated/demo --as-of latest --out reports/ranked.csv
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from leadml.batch import run_batch
    from leadml.config import load_config

    if store and no_store:
        raise typer.BadParameter("--store and --no-store contradict each other")
    pass_through = None
    if columns is not None:
        pass_through = tuple(c.strip() for c in columns.split(",") if c.strip())
    cfg = load_config(
        config,
        overrides={
            "mlflow": {"tracking_uri": tracking_uri},
            "store": {"url": store},
            "score": {"grade_mode": grades, "pass_through": pass_through},
        },
    )
    target = out or cfg.resolve(cfg.paths.reports_dir) / "ranked.csv"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def on_step(message: str) -> None:
            progress.console.print(f"[dim]-[/] {message}")
            progress.update(task, description=message, total=None, completed=0)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, description="scoring and explaining", total=total, completed=done)

        outcome = run_batch(
            data,
            cfg,
            model=model,
            as_of=as_of,
            out=target,
            top=top,
            store=not no_store,
            on_step=on_step,
            on_progress=on_progress,
        )
    _print_batch_outcome(outcome)


def _print_batch_outcome(outcome: object) -> None:
    from leadml.batch import REASONS_JSON, BatchOutcome, decode_reasons

    assert isinstance(outcome, BatchOutcome)
    batch = outcome.batch
    summary = batch.summary()
    for warning in batch.warnings:
        err_console.print(f"[yellow]warning[/] {warning}", highlight=False)
    grades = ", ".join(f"{g} {n:,}" for g, n in summary.grade_counts.items())
    console.print(
        f"Scored {summary.leads_scored:,} open leads as of {batch.as_of:%Y-%m-%d %H:%M} UTC "
        f"with model {batch.model_version} (grades: {batch.grade_mode}); skipped "
        f"{summary.excluded_converted:,} already converted and "
        f"{summary.excluded_not_created:,} created later."
    )
    console.print(f"Grades: {grades}")
    if summary.top_sources_a:
        sources = ", ".join(f"{s} {n:,}" for s, n in summary.top_sources_a)
        console.print(f"Top sources among A leads: {sources}")
    table = Table(title="Top 10 leads", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("company / source / stage", max_width=26, overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("reasons (+ for, - against)", min_width=36, ratio=1, overflow="fold")
    for row in batch.frame.head(10).to_dict("records"):
        reasons = decode_reasons(row[REASONS_JSON])
        lines = [f"+ {r['text']}" for r in reasons["positive"][:3]]
        lines += [f"- {r['text']}" for r in reasons["negative"][:1]]
        table.add_row(
            str(row["rank"]),
            f"{_fmt(row['company'])}\n[dim]{row['lead_source']} / {row['stage']}[/]",
            f"{row['score']} {row['grade']}",
            "\n".join(lines),
        )
    console.print(table)
    if outcome.out_path is not None:
        console.print(f"Ranked list: {outcome.out_path}")
    if outcome.batch_id is not None:
        console.print(f"Scores store: batch {outcome.batch_id} in {outcome.store_url}")


@app.command()
def serve(
    config: ConfigOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Registry reference (models:/lead-conversion@champion, the default) or a "
            "bundle folder.",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default 1; use the core count).")
    ] = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run the scoring API (FastAPI under uvicorn with uvloop and httptools; gunicorn forks
    the workers after importing the stack once).

    API keys come from [serve] api_keys in leadml.toml and from the LEADML_API_KEYS
    environment variable (comma-separated name:sha256hex or name:sha256hex:admin).
    Create one with `leadml keys new NAME`.

    Examples:
      leadml serve
      leadml serve --model models/lead-conversion/3 --port 8080 --workers 2
      curl -H "Authorization: Bearer $KEY" localhost:8000/v1/model
    """
    from serve.server import run_server

    run_server(
        config,
        overrides={
            "mlflow": {"tracking_uri": tracking_uri},
            "serve": {"model": model, "host": host, "port": port, "workers": workers},
        },
        env=os.environ,
    )


keys_app = typer.Typer(help="Manage API keys for `leadml serve`.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. crm or sales-page.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="Allow admin routes (POST /v1/model/reload).")
    ] = False,
) -> None:
    """Print a fresh random API key once, with the config lines that enable it.

    The server stores only the key's SHA-256 digest, so keep the key itself safe now:
    it cannot be shown again.
    """
    from serve.security import digest, new_key

    from leadml.config import ApiKeyConfig

    key = new_key()
    entry = ApiKeyConfig(name=name, sha256=digest(key), admin=admin)
    suffix = ":admin" if admin else ""
    # Plain echo, never wrapped: these lines are meant to be copied.
    typer.echo(f"API key for {name!r} (shown once, store it safely):\n\n  {key}\n")
    typer.echo("Enable it in leadml.toml:\n")
    typer.echo(
        f'  [[serve.api_keys]]\n  name = "{entry.name}"\n  sha256 = "{entry.sha256}"\n'
        f"  admin = {str(admin).lower()}\n"
    )
    typer.echo("or in the environment (comma-separate several):\n")
    typer.echo(f"  export LEADML_API_KEYS={entry.name}:{entry.sha256}{suffix}\n")


@app.command("retrain")
def retrain_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder holding the new leads and events.")],
    config: ConfigOpt = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment name (default: leadml).")
    ] = None,
    tracking_uri: TrackingOpt = None,
    reload_url: Annotated[
        str | None,
        typer.Option(
            "--reload-url",
            help="After a promotion, POST <URL>/v1/model/reload on this running server.",
        ),
    ] = None,
    admin_key: Annotated[
        str | None,
        typer.Option(
            "--admin-key",
            envvar="LEADML_ADMIN_KEY",
            show_default=False,
            help="The server's admin key for --reload-url (or set LEADML_ADMIN_KEY).",
        ),
    ] = None,
    reload_timeout: Annotated[
        float, typer.Option("--reload-timeout", min=0.1, help="Seconds to wait for the reload.")
    ] = 30.0,
    metrics_out: Annotated[
        Path | None,
        typer.Option("--metrics-out", help="Write the outcome (and the metrics) as JSON here."),
    ] = None,
) -> None:
    """Retrain headlessly (cron, Airflow): validate, train, gate, promote or keep, reload.

    Exit codes: 0 promoted (and the server reloaded, if asked); 1 failure (including a
    promotion whose reload failed); 3 kept the champion (the new version failed the gate);
    4 data invalid (nothing trained).

    Example:  leadml retrain --data data/new --reload-url http://127.0.0.1:8000
    """
    import json

    from leadml.config import load_config
    from leadml.io import atomic_write_text
    from leadml.retrain import ReloadTarget, RetrainStatus, retrain

    target = None
    if reload_url:  # checked before any work: a missing key fails fast
        target = ReloadTarget(reload_url, admin_key or "", timeout=reload_timeout)
    overrides: dict[str, dict[str, object]] = {}
    if tracking_uri or experiment:
        overrides["mlflow"] = {"tracking_uri": tracking_uri, "experiment": experiment}
    cfg = load_config(config, overrides=overrides)
    result = retrain(
        data, cfg, reload=target, on_step=lambda m: err_console.print(f"[dim]-[/] {m}")
    )
    if metrics_out is not None:
        atomic_write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True), metrics_out)
    if result.status is RetrainStatus.DATA_INVALID:
        _print_report(result.report, all_warnings=False)
        err_console.print("[red]Data invalid[/]: nothing was trained (exit 4).")
    elif result.outcome is not None:
        _print_train_outcome(result.outcome)
    if result.reload is not None:
        console.print(
            f"Server reloaded: now serving version {result.reload.model_version} "
            f"(was {result.reload.previous_version or 'none'})."
        )
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    if result.error:
        err_console.print(f"[red]error:[/] {result.error}")
    verdict = {
        RetrainStatus.PROMOTED: "[green]Promoted[/] (exit 0).",
        RetrainStatus.KEPT_CHAMPION: "[yellow]Kept the champion[/]: the new version failed "
        "the gate and stays the challenger (exit 3).",
        RetrainStatus.FAILED: "[red]Failed[/] (exit 1).",
    }
    if result.status in verdict:
        console.print(verdict[result.status])
    raise typer.Exit(result.exit_code)


@app.command("drift")
def drift_cmd(
    current: Annotated[
        Path, typer.Option("--current", help="Folder holding the new leads and events.")
    ],
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="The model whose training data is the reference: a registry reference "
            "(default models:/lead-conversion@champion) or a bundle folder.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Compare only leads created at or after this ISO date."),
    ] = None,
    alert_psi: Annotated[
        float, typer.Option("--alert-psi", min=0.001, help="Exit 2 when any PSI reaches this.")
    ] = 0.25,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for drift.json, psi.csv, levels.csv and drift.png."),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every feature's PSI.")] = False,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log to MLflow.")] = False,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Compare new data with the model's training data: PSI per feature and for the score.

    Also reports category levels that are new or gone, the share of leads from sources
    the model never saw, and calibration on recent outcomes where their window has
    closed. Prints a table with the 0.1 (watch) and 0.25 (alert) thresholds marked,
    saves a plot, and logs both to MLflow (experiment <experiment>-drift).
    Exit codes: 0 no alert; 2 some PSI >= --alert-psi; 1 error.

    Example:  leadml drift --reference models:/lead-conversion@champion --current data/new
    """
    import pandas as pd

    from leadml.config import load_config
    from leadml.errors import InputError
    from leadml.monitor import drift_job, summary_lines, summary_tables

    cfg = load_config(config, overrides={"mlflow": {"tracking_uri": tracking_uri}})
    ref = reference or f"models:/{cfg.mlflow.model_name}@champion"
    start = None
    if since:
        try:
            start = pd.Timestamp(since)
        except ValueError as exc:
            raise InputError(
                "bad date", column="--since", value=since, expected="an ISO 8601 date"
            ) from exc
    outcome = drift_job(
        ref, current, cfg, since=start, alert=alert_psi, out_dir=out, log=not no_log
    )
    for title, frame in summary_tables(outcome.report, show_all=show_all):
        print_frame(frame, title)
    for line in summary_lines(outcome.report):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"Plot: {outcome.paths['plot']}   Table: {outcome.paths['psi']}")
    if outcome.run_id:
        console.print(f"MLflow run {outcome.run_id} (experiment {cfg.mlflow.experiment}-drift)")
    if outcome.report.alert:
        raise typer.Exit(2)


def main() -> None:
    """Console-script entry point: run the app, turning user errors into short messages."""
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning
    # threads made LightGBM's first fit 3-30x slower. Must be set before lightgbm loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()  # standalone mode: usage errors and --help exit through SystemExit
    except LeadmlError as exc:
        if _state["debug"]:
            raise
        from rich.markup import escape

        err_console.print(f"[red]error:[/] {escape(str(exc))}")  # "[train]" is text, not markup
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
