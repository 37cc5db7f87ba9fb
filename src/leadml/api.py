"""leadml from Python in five lines: load the champion, rank leads, read the reasons.

    from leadml.api import load_champion, rank, read_leads

    scorer = load_champion()  # the champion in ./mlflow.db
    data = read_leads("data/generated/demo")  # a leads + events folder
    ranked = rank(data, scorer, as_of="latest")
    print(ranked[["company", "score", "grade", "reasons"]].head().to_string())

These are the entry points a notebook or a script needs; they call the same jobs as the
command line (`leadml score`), so a lead gets the same probability, score, grade and
reasons here as in the CSV, the API and the sales page. Nothing is written: no list file,
no scores store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leadml.batch import parse_as_of
from leadml.config import Config, load_config
from leadml.data.load import Dataset, load_dataset
from leadml.jobs.score import rank_open_leads
from leadml.scoring import Scorer
from leadml.tracking.registry import load_model


def load_champion(project: str | Path = ".", *, model: str | None = None) -> Scorer:
    """The Scorer of the registered champion (or `model`: a registry reference such as
    "models:/lead-conversion/3", or a bundle folder), with the project's leadml.toml."""
    config = _config(project)
    reference = model or f"models:/{config.mlflow.model_name}@champion"
    return Scorer(load_model(reference, config))


def read_leads(folder: str | Path) -> Dataset:
    """Validated leads and events from a data folder (raises with the full report on any
    error, as `leadml validate` prints it)."""
    return load_dataset(Path(folder))


def rank(
    data: Dataset,
    scorer: Scorer,
    *,
    as_of: str | None = "latest",
    project: str | Path = ".",
) -> pd.DataFrame:
    """Every open lead as of `as_of` ("latest", "now" or an ISO date), ranked, with the
    list's columns (score, grade, reasons, ...), as `leadml score` ranks them with the
    project's `[score]` and `[grades]` settings. Nothing is stored, so every lead's trend
    is "new"."""
    config = _config(project)
    moment = parse_as_of(as_of, data.leads, data.events)
    batch = rank_open_leads(data, scorer, config, moment)
    return batch.table()


def _config(project: str | Path) -> Config:
    folder = Path(project)
    return load_config(project_dir=folder)


__all__ = ["load_champion", "rank", "read_leads"]
