"""Monitoring commands: drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadml.cli.common import (
    ConfigOpt,
    EngineOpt,
    SchedulerOpt,
    TrackingOpt,
    compute_overrides,
    console,
    data_location,
    engine_location,
)
from leadml.cli.render import print_frame


def drift_cmd(
    current: Annotated[
        str,
        typer.Option(
            "--current",
            help="Folder holding the new leads and events (with --engine dask, a folder or "
            "URL of partitioned Parquet datasets leads/ and events/).",
        ),
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
        typer.Option(
            "--out",
            file_okay=False,
            help="Folder for drift.json, psi.csv, levels.csv and drift.png.",
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every feature's PSI.")] = False,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log to MLflow.")] = False,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
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
    from leadml.jobs.drift import drift_job
    from leadml.monitor.drift.tables import summary_lines, summary_tables

    cfg = load_config(
        config,
        overrides={
            "mlflow": {"tracking_uri": tracking_uri},
            "compute": compute_overrides(engine, scheduler),
        },
    )
    location = data_location(current, "--current", folder=True)
    assert location is not None
    engine_location(location, cfg.compute.engine, "--current")
    ref = reference or f"models:/{cfg.mlflow.model_name}@champion"
    start = None
    if since:
        try:
            start = pd.Timestamp(since)
        except ValueError as exc:
            raise InputError(
                "bad date", option="--since", value=since, expected="an ISO 8601 date"
            ) from exc
    outcome = drift_job(
        ref,
        location,
        cfg,
        since=start,
        alert=alert_psi,
        out_dir=out,
        log=not no_log,
        on_step=lambda message: console.print(message, highlight=False, soft_wrap=True),
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


def register(app: typer.Typer) -> None:
    """Attach the monitoring commands to `app`."""
    app.command("drift")(drift_cmd)
