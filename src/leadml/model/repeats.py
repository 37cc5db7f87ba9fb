"""Honest comparison on repeated splits: leadml against the plain LightGBM reference.

One 70/15/15 split of a few thousand leads moves the test AUC by 0.01-0.04, so a single
number cannot tell two models apart. `compare_on_splits` fits leadml's flat model and the
plain reference (`model.reference`) on the SAME rows of each of several splits and reports
each split's figures and the per-split difference, whose spread is much smaller than the
spread of either model's AUC.

- stratified: split r uses seed `seed + r`: 65% train, 15% validation (early stopping
  and calibration for leadml, early stopping for the reference), 20% test.
- given: with `[dataset] split_column`, the export's own train/valid/test column is the
  one split (`repeats` is ignored), so any other model can be compared on the same rows.
- time: rolling origin. Split r keeps the earliest (1 - (k - 1 - r) / (2k)) share of the
  leads by created-at (or file order) and splits them 65/15/20 in time, so each test
  window is later than its training window and the windows move forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from leadml.config import Config
from leadml.errors import InputError
from leadml.features.flat import flat_features
from leadml.model.evaluate import headline_metrics
from leadml.model.flat_pipeline import fit_and_evaluate_flat
from leadml.model.labels import flat_labels
from leadml.model.pipeline import TrainedModel
from leadml.model.reference import fit_plain_reference

SplitKind = Literal["stratified", "time"]
METRICS = ("roc_auc", "pr_auc", "ece")
SCORERS = ("leadml", "plain LightGBM")
TRAIN_SHARE, VALID_SHARE = 0.65, 0.15


@dataclass(frozen=True)
class RepeatTable:
    """Per split and scorer: test ROC AUC, PR AUC, ECE and the test rows."""

    rows: pd.DataFrame
    """Columns: split, scorer, roc_auc, pr_auc, ece, test_rows, positives."""

    def summary(self) -> pd.DataFrame:
        """Mean and sd of each metric per scorer, and of the per-split difference."""
        wide = self.rows.pivot(index="split", columns="scorer", values=list(METRICS))
        out = {}
        for scorer in SCORERS:
            out[scorer] = {m: _mean_sd(wide[m][scorer]) for m in METRICS}
        diff = {m: wide[m]["leadml"] - wide[m]["plain LightGBM"] for m in METRICS}
        out["difference"] = {m: _mean_sd(diff[m]) for m in METRICS}
        return pd.DataFrame(out).T[list(METRICS)].rename_axis("scorer")

    def mean_difference(self, metric: str = "roc_auc") -> float:
        wide = self.rows.pivot(index="split", columns="scorer", values=metric)
        return float((wide["leadml"] - wide["plain LightGBM"]).mean())


def _mean_sd(values: pd.Series) -> str:
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return f"{values.mean():.4f} ± {sd:.4f}"


def compare_on_splits(
    frame: pd.DataFrame,
    config: Config,
    *,
    repeats: int = 5,
    split: SplitKind = "stratified",
    on_split: Callable[[int, int], None] | None = None,
) -> RepeatTable:
    """Fit leadml and the plain reference on `repeats` splits of a flat export (`read_flat`'s
    frame, mapped by `config.dataset`) and score each split's test rows once."""
    if config.dataset is None:
        raise InputError("no [dataset] section in the config", expected="a flat export mapping")
    if repeats < 1:
        raise InputError("too few repeats", value=repeats, expected="--repeats 1 or more")
    found = flat_labels(frame, config.dataset, window_days=config.labels.window_days)
    dated = found.created is not None or config.dataset.split == "file_order"
    if split == "time" and not dated and not config.dataset.split_column:
        raise InputError(
            "a time split needs a created_at column (or split = 'file_order')",
            setting="[dataset] created_at",
            expected='created_at = "COLUMN" in leadml.toml, or --split stratified',
        )
    if config.dataset.split_column:
        repeats = 1  # the export's own split: one, fixed
    rows: list[dict[str, object]] = []
    for r in range(repeats):
        if on_split is not None:
            on_split(r, repeats)
        subset, cfg = _split_config(frame, found.y.index, found.created, config, r, repeats, split)
        trained = fit_and_evaluate_flat(subset, cfg)
        rows.append(_row(r, "leadml", trained.results["model"]))
        reference = _reference(subset, cfg, trained)
        rows.append(_row(r, "plain LightGBM", reference))
    if on_split is not None:
        on_split(repeats, repeats)
    return RepeatTable(pd.DataFrame(rows))


def _split_config(
    frame: pd.DataFrame,
    labelled: pd.Index,
    created: pd.Series | None,
    config: Config,
    r: int,
    repeats: int,
    split: SplitKind,
) -> tuple[pd.DataFrame, Config]:
    """The rows and config of split r (see the module docstring)."""
    assert config.dataset is not None
    if config.dataset.split_column:
        return frame, config
    train = {
        "train_fraction": TRAIN_SHARE,
        "valid_fraction": VALID_SHARE,
        "bootstrap_rounds": 0,  # the spread over splits is the interval here
        "shap_sample": 100,
    }
    if split == "stratified":
        dataset = config.dataset.model_copy(update={"split": "random"})
        tc = config.train.model_copy(update={**train, "seed": config.train.seed + r})
        return frame, config.model_copy(update={"dataset": dataset, "train": tc})
    keep = 1 - (repeats - 1 - r) / (2 * repeats)
    rows = frame.loc[labelled]
    if created is not None:
        order = np.argsort(created.to_numpy(), kind="stable")
        rows = rows.iloc[order]
    rows = rows.iloc[: int(round(len(rows) * keep))]
    mode = "time" if created is not None else "file_order"
    dataset = config.dataset.model_copy(update={"split": mode})
    tc = config.train.model_copy(update=train)
    return rows, config.model_copy(update={"dataset": dataset, "train": tc})


def _reference(frame: pd.DataFrame, config: Config, trained: TrainedModel) -> dict[str, float]:
    """The plain reference's test metrics on exactly leadml's train/valid/test rows, reading
    the export's columns as leadml's bundle does (types, id-like columns set aside), without
    leadml's calendar features."""
    flat = trained.bundle.flat
    assert config.dataset is not None and flat is not None
    found = flat_labels(frame, config.dataset, window_days=config.labels.window_days)
    raw = flat_features(frame.loc[found.y.index], flat.model_copy(update={"calendar_columns": ()}))
    y, split = found.y, trained.split
    model = fit_plain_reference(
        raw.loc[split.train],
        y.loc[split.train].to_numpy(),
        raw.loc[split.valid],
        y.loc[split.valid].to_numpy(),
        seed=config.train.seed,
        threads=config.train.num_threads,
    )
    p = model.predict_proba(raw.loc[split.test])
    return headline_metrics(y.loc[split.test].to_numpy(), p, n_boot=0)


def _row(r: int, scorer: str, metrics: dict[str, float]) -> dict[str, object]:
    return {
        "split": r + 1,
        "scorer": scorer,
        **{m: float(metrics[m]) for m in METRICS},
        "test_rows": int(metrics["n"]),
        "positives": int(metrics["n_positive"]),
    }
