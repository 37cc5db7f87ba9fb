"""The scoring command: score open leads into a ranked list and the scores store."""

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
    data_location,
    engine_location,
)
from leadml.cli.progress import job_progress
from leadml.cli.render import print_batch_outcome
from leadml.cli.store import check_store_option


class GradesChoice(StrEnum):
    """`leadml score --grades`: how grades are cut (`batch.GRADE_MODES`; a test keeps the
    two equal, so a bad value is refused, naming the option, before any work)."""

    model = "model"
    batch = "batch"


def score(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Folder holding leads and events, or a flat CRM export file (default: the "
            "config's [dataset] file). With --engine dask, a folder or URL (s3://...) of "
            "partitioned Parquet datasets leads/ and events/.",
        ),
    ] = None,
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
        typer.Option(
            "--out",
            dir_okay=False,
            help="Ranked list to write: .csv, .csv.gz, .xlsx or .parquet.",
        ),
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
        GradesChoice | None,
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
            "(default: contact_name,email,phone; '' for none). Never features. A flat "
            "export's pii and passthrough columns are always copied.",
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="After the store has the batch, POST its summary and the changed leads "
            "(grade moved, newly A) here as JSON, signed with the secret in "
            "$LEADML_WEBHOOK_SECRET (or the variable [score] webhook_secret_env names). "
            "Default: the config's [score] webhook. https://, or http:// to this machine.",
        ),
    ] = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Score every open (not yet converted) lead and write a ranked list sales can act on.

    Each row has rank, lead_id, company, lead_source, stage, probability, score (1-99),
    grade, reasons (the top three and the strongest against), model_version and
    scored_at, then the pass-through contact columns. The batch goes to the scores store
    that the API and the sales page read; the list is renamed into place only after the
    store has it, so a failed store write leaves the previous list, still matching.

    A flat model reads `--data FILE`, or the config's [dataset] file when --data is absent.

    Example:  leadml score --data data/generated/demo --as-of latest --out reports/ranked.csv
    """
    from leadml.config import load_config
    from leadml.jobs.score import run_batch

    if store and no_store:
        raise typer.BadParameter("--store and --no-store contradict each other")
    check_store_option(store)
    pass_through = None
    if columns is not None:
        pass_through = tuple(c.strip() for c in columns.split(",") if c.strip())
    cfg = load_config(
        config,
        overrides={
            "mlflow": {"tracking_uri": tracking_uri},
            "store": {"url": store},
            "compute": compute_overrides(engine, scheduler),
            "score": {
                "grade_mode": grades.value if grades else None,
                "pass_through": pass_through,
                "webhook": webhook,
            },
        },
    )
    location = data_location(data)
    engine_location(location, cfg.compute.engine)
    target = out or cfg.resolve(cfg.paths.reports_dir) / "ranked.csv"
    with job_progress("scoring and explaining") as progress:
        outcome = run_batch(
            location,
            cfg,
            model=model,
            as_of=as_of,
            out=target,
            top=top,
            store=not no_store,
            on_step=progress.on_step,
            on_progress=progress.on_progress,
        )
    print_batch_outcome(outcome)


def register(app: typer.Typer) -> None:
    """Attach the scoring command to `app`."""
    app.command()(score)
