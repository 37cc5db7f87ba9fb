"""The synthetic funnel's ground truth (each lead's true conversion probability), read
from a data folder for evaluation only: training never sees it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leadml import schema
from leadml.data.io import find_table, read_table


def read_truth(data_dir: Path) -> pd.DataFrame | None:
    """The synthetic ground truth, if the folder has one (a file, or a folder of Parquet
    parts as `demo-data --partitions` writes). Used for evaluation only."""
    parts = sorted((Path(data_dir) / schema.TRUTH).glob("*.parquet"))
    if parts:
        truth = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        truth[schema.LEAD_ID] = truth[schema.LEAD_ID].astype(str)
        return truth
    try:
        find_table(data_dir, schema.TRUTH)
    except Exception:
        return None
    truth = read_table(data_dir, schema.TRUTH)
    truth[schema.LEAD_ID] = truth[schema.LEAD_ID].astype(str)
    truth[schema.TRUE_PROBABILITY] = pd.to_numeric(truth[schema.TRUE_PROBABILITY])
    return truth
