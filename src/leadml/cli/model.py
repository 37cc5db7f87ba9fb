"""Model commands: train, promote, rollback and retrain."""

from __future__ import annotations

from enum import StrEnum
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
    err_console,
)
from leadml.cli.progress import job_progress
from leadml.cli.render import print_report, print_train_outcome


def train(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Folder holding leads and events; or, with a [dataset] mapping in the config, "
            "the flat CRM export (default: [dataset] file). With --engine dask, a folder or "
            "URL (s3://...) of partitioned Parquet datasets leads/ and events/.",
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
        Path | None,
        typer.Option("--metrics-out", dir_okay=False, help="Write the result table as JSON here."),
    ] = None,
    tracking_uri: TrackingOpt = None,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Train a calibrated LightGBM conversion model, evaluate it, and register it in MLflow.

    Features are computed as of each lead's cutoff; train, validation and test windows
    follow in time; the test window is scored once. The run logs metrics, plots, SHAP
    explanations and a report to MLflow, registers a version of `lead-conversion` with the
    alias `challenger`, and promotes it to `champion` if it passes the gate.

    Example:  leadml train --data data/generated/demo --metrics-out metrics.json
    """
    from leadml.config import Config, load_config
    from leadml.jobs.train import Promotion, train_and_track, write_metrics_json

    if no_promote and force:
        raise typer.BadParameter("--no-promote and --force contradict each other")
    overrides: dict[str, dict[str, object]] = {
        "train": {"tune_trials": tune or None},
        "compute": compute_overrides(engine, scheduler),
    }
    if tracking_uri or experiment:
        overrides["mlflow"] = {"tracking_uri": tracking_uri, "experiment": experiment}
    cfg: Config = load_config(config, overrides=overrides)
    location = data_location(data)
    engine_location(location, cfg.compute.engine)
    promotion = Promotion.FORCE if force else Promotion.NEVER if no_promote else Promotion.GATE
    with job_progress("boosting") as progress:
        outcome = train_and_track(
            location,
            cfg,
            promotion=promotion,
            on_step=progress.on_step,
            on_round=progress.on_progress,
        )
    if metrics_out is not None:
        write_metrics_json(outcome, metrics_out)
    print_train_outcome(outcome)


def promote_cmd(
    version: Annotated[str, typer.Argument(help="Registered model version to make champion.")],
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Make a registered version the champion (skipping the gate; you take responsibility).

    Example:  leadml promote 3
    """
    from leadml.config import load_config
    from leadml.tracking.registry import client_for, promote, require_store

    cfg = load_config(config, overrides={"mlflow": {"tracking_uri": tracking_uri}})
    require_store(cfg, f"cannot promote version {version}")  # and makes no empty store
    client = client_for(cfg)
    previous = promote(client, cfg.mlflow.model_name, version)
    console.print(
        f"{cfg.mlflow.model_name}: champion is now version {version} (was {previous or 'none'})."
    )


def rollback(config: ConfigOpt = None, tracking_uri: TrackingOpt = None) -> None:
    """Restore the previous champion (undo the last promotion).

    Example:  leadml rollback
    """
    from leadml.config import load_config
    from leadml.tracking.registry import client_for, require_store
    from leadml.tracking.registry import rollback as do_rollback

    cfg = load_config(config, overrides={"mlflow": {"tracking_uri": tracking_uri}})
    require_store(cfg, "nothing to roll back")  # and makes no empty store
    client = client_for(cfg)
    old, restored = do_rollback(client, cfg.mlflow.model_name)
    console.print(
        f"{cfg.mlflow.model_name}: champion rolled back from version {old} to version {restored}."
    )


def retrain_cmd(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            exists=True,
            help="Folder holding the new leads and events; or, with a [dataset] mapping in the "
            "config, the new flat CRM export.",
        ),
    ],
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
        typer.Option(
            "--metrics-out",
            dir_okay=False,
            help="Write the outcome (and the metrics) as JSON here.",
        ),
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
    from leadml.data.atomic import atomic_write_text
    from leadml.jobs.retrain import ReloadTarget, RetrainStatus, retrain

    target = None
    if reload_url:  # checked before any work: a missing key fails fast
        target = ReloadTarget(reload_url, admin_key or "", timeout=reload_timeout)
    overrides: dict[str, dict[str, object]] = {}
    if tracking_uri or experiment:
        overrides["mlflow"] = {"tracking_uri": tracking_uri, "experiment": experiment}
    cfg = load_config(config, overrides=overrides)
    with job_progress("boosting") as progress:
        result = retrain(
            data, cfg, reload=target, on_step=progress.on_step, on_round=progress.on_progress
        )
    if metrics_out is not None:
        atomic_write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True), metrics_out)
    if result.status is RetrainStatus.DATA_INVALID:
        print_report(result.report, all_warnings=False)
        err_console.print("[red]Data invalid[/]: nothing was trained (exit 4).")
    elif result.outcome is not None:
        print_train_outcome(result.outcome)
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


class SplitChoice(StrEnum):
    """`leadml evaluate --split`: how the repeated splits are drawn."""

    stratified = "stratified"
    time = "time"


def evaluate(
    data: Annotated[
        Path | None,
        typer.Option("--data", exists=True, help="The flat CRM export (default: [dataset] file)."),
    ] = None,
    config: ConfigOpt = None,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, max=50, help="How many splits to fit and score.")
    ] = 5,
    split: Annotated[
        SplitChoice,
        typer.Option(
            "--split",
            help="stratified: seeded 65/15/20 splits; time: rolling-origin splits by "
            "created_at (or file order), each test window later than its training.",
        ),
    ] = SplitChoice.stratified,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="Also write the table as JSON here."),
    ] = None,
) -> None:
    """Compare leadml with plain LightGBM on the same repeated splits of a flat export.

    Each split fits leadml (its defaults, calibrated) and a plain LightGBM reference
    (default parameters, early stopping on the same validation rows, categoricals as
    pandas categories) on the same train rows and scores the same test rows once.
    Prints ROC AUC, PR AUC and ECE per split, their mean ± sd, and the per-split
    difference. Nothing is registered in MLflow.

    Example:  leadml evaluate --config leadml.toml --repeats 5 --split stratified
    """
    from leadml.cli.render import print_frame
    from leadml.config import load_config
    from leadml.jobs.evaluate import evaluate_export, write_table

    cfg = load_config(config)
    with job_progress("splits") as progress:
        table = evaluate_export(
            data,
            cfg,
            repeats=repeats,
            split="time" if split is SplitChoice.time else "stratified",
            on_step=progress.on_step,
            on_split=progress.on_progress,
        )
    print_frame(table.rows.set_index(["split", "scorer"]), f"Test windows ({split} splits)")
    print_frame(table.summary(), f"Mean ± sd over {repeats} splits (difference: leadml - plain)")
    if out is not None:
        write_table(table, out)
        console.print(f"Table: {out}")


def register(app: typer.Typer) -> None:
    """Attach the model commands to `app`."""
    app.command()(train)
    app.command("promote")(promote_cmd)
    app.command()(rollback)
    app.command("retrain")(retrain_cmd)
    app.command()(evaluate)
