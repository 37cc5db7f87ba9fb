"""The one call that returns validated, clean leads and events from a data folder.

It sits above both the raw reader (`data.io`) and the validator (`data.validate`), which
builds on that reader: keeping it out of `io` keeps the two free of an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadml.data.validate import DataValidationError, ValidationReport, check_folder


@dataclass(frozen=True)
class Dataset:
    """Validated, clean leads and events, plus the report (warnings) that came with them."""

    leads: pd.DataFrame
    events: pd.DataFrame
    report: ValidationReport


def load_dataset(path: Path, *, now: pd.Timestamp | None = None) -> Dataset:
    """Validate the leads and events in folder `path` and return them clean.

    Raises `DataValidationError` (carrying the full report) when there is any error.
    Reads only; never writes.
    """
    result = check_folder(Path(path), now=now)
    if not result.report.ok or result.leads is None or result.events is None:
        raise DataValidationError(result.report)
    return Dataset(leads=result.leads, events=result.events, report=result.report)


__all__ = ["Dataset", "load_dataset"]
