"""`leadml drift` at the edge: score a new data folder, compare it with the model's
training distribution (`drift.compare`), save a table and a plot, and log both to MLflow.

Runs are logged to the experiment `<experiment>-drift` with the tag `leadml.job=drift`,
so drift checks sit beside, not among, the training runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from leadml.config import Config
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.monitor.drift import PSI_ALERT, DriftReport, compare
from leadml.monitor.drift.population import current_population, reference_of
from leadml.monitor.drift.report import Current, Tally
from leadml.report.drift import save_report
from leadml.tracking.log import log_drift, run_name


@dataclass(frozen=True)
class DriftOutcome:
    """The report and where it went: the output folder's files and the MLflow run."""

    report: DriftReport
    paths: dict[str, Path]
    run_id: str | None


def drift_job(
    reference: str | Path,
    current_dir: Path | str,
    config: Config,
    *,
    since: pd.Timestamp | None = None,
    alert: float = PSI_ALERT,
    out_dir: Path | None = None,
    log: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> DriftOutcome:
    """Load the model and the new data, compare them, save the report and plot, log them.

    On the Dask engine (`[compute] engine = "dask"`) `current_dir` may be a URL, and the
    current population is counted per partition (`leadml.engine.drift`); the report is
    the same. `on_step` hears the Dask dashboard link."""
    from leadml.tracking.registry import load_model

    if alert <= 0:
        raise InputError("the alert threshold must be positive", value=alert)
    bundle = load_model(reference, config)
    ref = reference_of(bundle)
    current: Current | Tally
    if config.compute.engine == "dask":
        from leadml.engine.drift import read_and_tally

        current, end = read_and_tally(
            bundle, current_dir, config.compute, since=since, on_step=on_step
        )
    else:
        from leadml.data.load import load_dataset

        data = load_dataset(Path(current_dir))
        current = current_population(bundle, data.leads, data.events, since=since)
        end = data_end(data.leads, data.events)
    model = f"{bundle.name} version {bundle.version}" if bundle.version else str(reference)
    report = compare(ref, current, bundle.spec, alert=alert, model=model)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out_dir or config.resolve(config.paths.reports_dir) / "drift" / stamp
    paths = save_report(report, folder)
    run_id = None
    if log:
        name = run_name("drift", report.counts["leads"], "leads", end, model)
        run_id = log_drift(report, folder, config, bundle, current_dir, name)
    return DriftOutcome(report=report, paths=paths, run_id=run_id)
