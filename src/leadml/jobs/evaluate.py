"""`leadml evaluate` at the edge: read the flat export, compare leadml with the plain
LightGBM reference on repeated splits (`model.repeats`), optionally write the table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from leadml.config import Config
from leadml.data.atomic import atomic_write_text
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError
from leadml.jobs.train import flat_path
from leadml.model.repeats import RepeatTable, SplitKind, compare_on_splits


def evaluate_export(
    data: Path | None,
    config: Config,
    *,
    repeats: int,
    split: SplitKind,
    on_step: Callable[[str], None] | None = None,
    on_split: Callable[[int, int], None] | None = None,
) -> RepeatTable:
    """Read the export named by `--data` or `[dataset] file` and run the comparison."""
    if config.dataset is None:
        raise InputError(
            "leadml evaluate compares models on a flat CRM export",
            setting="[dataset]",
            expected="a [dataset] mapping in leadml.toml (leadml init-config writes a draft)",
        )
    path = flat_path(data, config)
    if on_step is not None:
        on_step(f"reading the flat export {path}")
    frame = read_flat(path, config.dataset)
    return compare_on_splits(frame, config, repeats=repeats, split=split, on_split=on_split)


def write_table(table: RepeatTable, out: Path) -> None:
    """The per-split rows and the summary as JSON (written whole, then renamed)."""
    payload = {
        "splits": table.rows.to_dict(orient="records"),
        "summary": table.summary().to_dict(orient="index"),
        "mean_roc_auc_difference": table.mean_difference(),
    }
    atomic_write_text(json.dumps(payload, indent=2), out, "the comparison table")
