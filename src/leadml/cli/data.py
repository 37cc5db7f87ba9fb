"""Data commands: demo-data, validate, summary and init-config."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadml.cli.common import (
    ConfigOpt,
    Engine,
    EngineOpt,
    SchedulerOpt,
    compute_overrides,
    console,
)
from leadml.cli.progress import job_progress
from leadml.cli.render import print_frame, print_report

if TYPE_CHECKING:
    from leadml.data.validate import ValidationReport


class TableFormat(StrEnum):
    """`leadml demo-data --format`: the file formats a data folder may hold
    (`schema.TABLE_FORMATS`; a test keeps the two equal)."""

    parquet = "parquet"
    csv = "csv"


def demo_data(
    out: Annotated[
        Path,
        typer.Option(file_okay=False, help="Folder to write leads, events and truth into."),
    ] = Path("data/generated/demo"),
    leads: Annotated[int, typer.Option("--leads", min=100, help="Number of leads.")] = 50_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives identical files.")
    ] = 7,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="File format: parquet or csv.")
    ] = TableFormat.parquet,
    with_defects: Annotated[
        bool,
        typer.Option(
            "--with-defects",
            help="Inject malformed rows of every kind `leadml validate` catches (for testing).",
        ),
    ] = False,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            min=0,
            help="Write leads/, events/ and truth/ as this many co-partitioned Parquet part "
            "files (plus _leadml.json), drawn chunk by chunk in bounded memory; 0 writes one "
            "file per table.",
        ),
    ] = 0,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Generate the built-in synthetic lead funnel (leads, events and ground truth).

    The funnel behaves like a real one: sources differ in volume, quality and cost,
    stages follow behaviour (IQL/MQL/SQL/PQL), and conversion depends on fit and intent.
    The truth file holds each lead's true conversion probability; training never reads it.

    With --partitions N the funnel is drawn in chunks of 250,000 leads, so memory stays
    bounded for any --leads, and written as N part files per table; up to one chunk the
    rows equal the single-file funnel's (above it, see `leadml.data.synth.chunked`). With
    --engine dask the workers draw and write the parts in parallel (the folder must be
    one they can write to).

    Example:  leadml demo-data --leads 50000 --seed 7 --out data/generated/demo

    Example:  leadml demo-data --leads 10000000 --partitions 40 --engine dask --out data/big
    """
    from leadml.data import synth

    if not partitions and (engine == Engine.dask or scheduler):
        from leadml.errors import InputError

        raise InputError(
            "Dask workers write a partitioned funnel only",
            option="--partitions",
            value=partitions,
            expected="--partitions N (N >= 1) with --engine dask or --scheduler",
        )
    if partitions:
        _demo_partitioned(
            out, leads, seed, fmt, with_defects, partitions, engine, scheduler, config
        )
        return
    with job_progress("synthetic funnel") as progress:
        funnel = synth.generate_funnel(
            leads, seed=seed, with_defects=with_defects, on_step=progress.on_step
        )
    paths = synth.write_funnel(funnel, out, fmt=fmt.value)
    console.print(
        f"[green]Wrote[/] {len(funnel.leads):,} leads and {len(funnel.events):,} events to {out}"
    )
    for path in paths:
        console.print(f"  {path}")


def _demo_partitioned(
    out: Path,
    leads: int,
    seed: int,
    fmt: TableFormat,
    with_defects: bool,
    partitions: int,
    engine: Engine | None,
    scheduler: str | None,
    config: Path | None,
) -> None:
    """`demo-data --partitions N`: chunked, partitioned Parquet, here or on Dask workers."""
    from leadml.config import load_config
    from leadml.data.synth.chunked import partitioned_paths, run_here, write_partitioned
    from leadml.errors import InputError

    if fmt != TableFormat.parquet:
        raise InputError(
            "a partitioned funnel is written as Parquet only",
            option="--format",
            value=fmt.value,
            expected="--format parquet with --partitions, or --partitions 0 for CSV files",
        )
    if with_defects:
        raise InputError(
            "defects are injected into single files only",
            option="--with-defects",
            expected="--partitions 0 with --with-defects",
        )
    cfg = load_config(config, overrides={"compute": compute_overrides(engine, scheduler)})
    with job_progress("chunks drawn and written") as progress:
        if cfg.compute.engine == "dask":
            from leadml.engine.cluster import dask_client
            from leadml.engine.generate import on_workers

            with dask_client(cfg.compute, on_step=progress.on_step) as client:
                written = write_partitioned(
                    leads,
                    out,
                    seed=seed,
                    partitions=partitions,
                    run=on_workers(client),
                    on_progress=progress.on_progress,
                )
        else:
            written = write_partitioned(
                leads,
                out,
                seed=seed,
                partitions=partitions,
                run=run_here,
                on_progress=progress.on_progress,
            )
    console.print(
        f"[green]Wrote[/] {written.leads:,} leads and {written.events:,} events to {out} "
        f"in {partitions} partitions"
    )
    for path in partitioned_paths(out):
        console.print(f"  {path}")


def validate(
    path: Annotated[
        Path,
        typer.Argument(exists=True, help="Folder holding leads and events (CSV or Parquet)."),
    ],
    all_warnings: Annotated[
        bool,
        typer.Option("--all-warnings", help="List every warning row instead of one line per kind."),
    ] = False,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Check a data folder against the data contract and report every problem found.

    Each problem names the file, row, column, the bad value and what was expected.
    Messy categories ('Google Ads', ' Referral ') are normalised and counted.
    Exit code 1 when there are errors, 0 when there are only warnings.
    Rows are CSV line numbers (the header is line 1) or 1-based Parquet row numbers.

    A partitioned folder (leads/ and events/ of Parquet files, as `demo-data --partitions`
    writes) is checked per partition on Dask, by the same checks, unless --engine local
    says otherwise (an error); the first error is one line naming the file, the partition,
    the row in that file and the column.

    Example:  leadml validate data/generated/demo

    Example:  leadml validate data/big --scheduler tcp://10.0.0.5:8786
    """
    from leadml.data.validate import validate_folder
    from leadml.errors import InputError

    partitioned = (path / "leads").is_dir()
    if partitioned and engine == Engine.local and not scheduler:
        raise InputError(
            "a partitioned folder (leads/ and events/ of Parquet part files) is validated "
            "on the Dask engine only",
            option="--engine",
            value=engine.value,
            expected="--engine dask (a LocalCluster on this machine), --scheduler ADDR, or no "
            "--engine",
        )
    if engine == Engine.dask or scheduler or partitioned:
        report = _validate_partitioned(path, engine, scheduler, config)
    else:
        report = validate_folder(path)
    print_report(report, all_warnings=all_warnings)
    if not report.ok:
        raise typer.Exit(1)


def _validate_partitioned(
    path: Path, engine: Engine | None, scheduler: str | None, config: Path | None
) -> ValidationReport:
    """`validate` on the Dask engine (`engine.read.read_tables`): raises the first error
    as one line, else returns the warnings and notes as a report."""
    from leadml.config import load_config
    from leadml.data.validate import ValidationReport
    from leadml.engine.cluster import dask_client
    from leadml.engine.read import read_tables

    overrides = compute_overrides(engine or Engine.dask, scheduler)
    cfg = load_config(config, overrides={"compute": overrides})
    with (
        job_progress("validating partitions") as progress,
        dask_client(cfg.compute, on_step=progress.on_step),
    ):
        tables = read_tables(path, cfg.compute)
    return ValidationReport(path, list(tables.warnings), list(tables.notes))


def summary(
    path: Annotated[Path, typer.Argument(exists=True, help="Folder holding leads and events.")],
) -> None:
    """Print a funnel summary: volume, conversion and cost by lead source and by stage.

    Example:  leadml summary data/generated/demo
    """
    from leadml.data.load import load_dataset
    from leadml.data.summary import funnel_summary

    data = load_dataset(path)
    result = funnel_summary(data.leads, data.events)
    for title, frame in result.tables():
        print_frame(frame, title)


def init_config(
    data: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="The flat CRM export (CSV), one row per lead."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", dir_okay=False, help="Where to write the draft mapping."),
    ] = Path("leadml.toml"),
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="Field delimiter (default: sniffed).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Write a draft [dataset] mapping for a flat CRM export, every guess marked in a comment.

    It infers each column's type and guesses its role (source, engagement, firmographic,
    ignore, pii, passthrough) from its values, with its name as a hint: dates by parsing,
    the label among binary columns, ids as columns unique per row, e-mails and phones by
    their values, and a split column (train/valid/test) when there is one. Each guess
    carries its evidence in a comment. Edit it, then run `leadml train --config leadml.toml`.

    Example:  leadml init-config exports/leads.csv --out leadml.toml
    """
    from leadml.data.atomic import atomic_write_text
    from leadml.data.mapping.draft import draft_config
    from leadml.errors import InputError

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


def register(app: typer.Typer) -> None:
    """Attach the data commands to `app`."""
    app.command("demo-data")(demo_data)
    app.command()(validate)
    app.command()(summary)
    app.command("init-config")(init_config)
