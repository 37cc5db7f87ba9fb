"""Splits that are not plain time splits: a flat export's three windows (by time, file
order, a stratified draw, or the export's own split column), and the check that every
window holds both classes.

The event model's time split lives in `model.train.time_split`; `flat_split` falls back
to it when the export has a created-at column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.config import TrainConfig
from leadml.data.mapping.config import SPLIT_VALUES
from leadml.errors import InputError
from leadml.model.train import TimeSplit, time_split

RANDOM_SPLIT_WARNING = (
    "no created_at column: using a stratified random split. The test score is then "
    "optimistic whenever leads change over time (new sources, seasons, a new sales "
    "process), because test leads are interleaved with training leads. Add a created-at "
    "column to [dataset] for a time-ordered split."
)


def flat_split(
    y: pd.Series,
    created: pd.Series | None,
    mode: str,
    tc: TrainConfig,
    assigned: pd.Series | None = None,
) -> tuple[TimeSplit, pd.Series]:
    """Train/valid/test ids of a flat export and each row's ordering time.

    time: by created_at (ties by id); file_order: by row position; random: stratified by
    label, seeded; column: exactly as `assigned` says (train / valid / test per row, as
    `mapping.read.split_values` reads a `split_column`). The ordering 'time' of rows not
    split by time is created_at when known, else a synthetic stamp (epoch + row seconds)
    so the downstream windows stay well defined.
    """
    if mode == "column":
        assert assigned is not None
        return _column_split(y, created, assigned.loc[y.index])
    if mode == "time":
        assert created is not None
        undated = int(created.isna().sum())
        if undated:  # NaT sorts last: undated leads would all land in the test window
            raise InputError(
                "a time split needs a created_at on every labelled row",
                value=f"{undated:,} of {len(created):,} rows have none",
                expected="fill created_at on those rows, or set split = 'random' (or "
                "'file_order' when the rows are in time order) in [dataset]",
            )
        cutoff = pd.Series(created.to_numpy(), index=y.index, name="cutoff")
        return time_split(
            cutoff, train_fraction=tc.train_fraction, valid_fraction=tc.valid_fraction
        ), cutoff
    position = np.arange(len(y))
    if mode == "random":
        position = _stratified_order(y.to_numpy(), tc)
    cutoff = _stamps(position, y.index)
    ordered = y.index[np.argsort(position, kind="stable")]
    n = len(ordered)
    i_train = int(round(n * tc.train_fraction))
    i_valid = int(round(n * (tc.train_fraction + tc.valid_fraction)))
    parts = {
        "train": ordered[:i_train],
        "valid": ordered[i_train:i_valid],
        "test": ordered[i_valid:],
    }
    windows = {
        name: {"first_cutoff": f"{mode} split", "last_cutoff": f"{mode} split",
               "leads": str(len(part))}
        for name, part in parts.items()
    }  # fmt: skip
    return TimeSplit(parts["train"], parts["valid"], parts["test"], windows), cutoff


def _column_split(
    y: pd.Series, created: pd.Series | None, assigned: pd.Series
) -> tuple[TimeSplit, pd.Series]:
    """The split a `split_column` names, row for row; each window must hold rows."""
    if created is not None:
        cutoff = pd.Series(created.to_numpy(), index=y.index, name="cutoff")
    else:
        cutoff = _stamps(np.arange(len(y)), y.index)
    parts = {name: y.index[(assigned == name).to_numpy()] for name in SPLIT_VALUES}
    unknown = sorted(set(assigned.dropna()) - set(SPLIT_VALUES))
    if unknown or assigned.isna().any():
        raise InputError(
            "the split column holds a value other than train, valid or test",
            value=unknown[0] if unknown else None,
            expected="train, valid or test on every labelled row of [dataset] split_column",
        )
    for name, part in parts.items():
        if len(part) == 0:
            raise InputError(
                f"the split column has no {name!r} rows",
                value=f"{len(y)} labelled rows",
                expected="train, valid and test rows, each with labelled leads",
            )
    windows = {
        name: {"first_cutoff": "split column", "last_cutoff": "split column",
               "leads": str(len(part))}
        for name, part in parts.items()
    }  # fmt: skip
    return TimeSplit(parts["train"], parts["valid"], parts["test"], windows), cutoff


def _stamps(position: np.ndarray, index: pd.Index) -> pd.Series:
    """A synthetic ordering time per row: epoch + its position in seconds."""
    stamps = pd.Timestamp("1970-01-01", tz="UTC") + pd.to_timedelta(position, unit="s")
    return pd.Series(stamps, index=index, name="cutoff")


def _stratified_order(y: np.ndarray, tc: TrainConfig) -> np.ndarray:
    """A seeded permutation position per row such that every contiguous share (train,
    valid, test) holds each class in proportion: classes are interleaved evenly."""
    rng = np.random.default_rng(tc.seed)
    key = np.empty(len(y))
    for value in (0, 1):
        members = np.flatnonzero(y == value)
        rng.shuffle(members)
        key[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    order = np.argsort(key, kind="stable")
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y))
    return position


def require_both_classes(y_all: pd.Series, split: TimeSplit) -> None:
    """Refuse a split with a window that holds only one class (nothing to learn or judge)."""
    for name, ids in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        y = y_all.loc[ids].to_numpy()
        require_classes(name, int(y.sum()), len(y))


def require_classes(window: str, positives: int, rows: int) -> None:
    """Refuse a window of `rows` rows with no conversion or nothing but conversions."""
    if not 0 < positives < rows:
        raise InputError(
            f"the {window} window has only one class",
            value=f"{positives} conversions in {rows} leads",
            expected="conversions and non-conversions in every time window; "
            "add data or widen the window",
        )
