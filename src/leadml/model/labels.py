"""Labels as of a cutoff: did the lead convert within the window after it?

- Cutoff: `created_at + observation_days`, or one fixed `snapshot` for every lead (leads
  created after the snapshot get no cutoff).
- Excluded: leads that converted at or before their cutoff (nothing left to predict).
- Positive: converted in (cutoff, cutoff + window]; a conversion exactly at the cutoff is
  "before", one exactly at cutoff + window is still inside.
- Censored: the window reaches past the end of the data. These are left out, converted
  or not: they are not negatives, and keeping only the ones that already converted
  would fill the newest window with positives (a selection bias that inflates its rate).
- Conversions after `data_end` are treated as not yet seen.

A flat CRM export has no events and no cutoff: `flat_labels` reads its label from the
mapping's `label` + `positive` values or from `converted_at` within the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import LabelConfig
from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError
from leadml.features.flat import flat_dates

CUTOFF = "cutoff"
LABEL = "label"


@dataclass(frozen=True)
class Labels:
    """Eligible leads with their cutoff and 0/1 label, and how every lead was counted."""

    frame: pd.DataFrame
    """Index lead_id; columns `cutoff` (UTC) and `label` (int 0/1). Eligible leads only."""
    n_total: int
    n_converted_before_cutoff: int
    n_censored: int
    n_eligible: int
    n_positive: int


def cutoffs(leads: pd.DataFrame, config: LabelConfig) -> pd.Series:
    """Each lead's scoring moment (UTC, index lead_id, lead order).

    With `config.snapshot` every lead gets the snapshot and leads created after it are
    dropped. Otherwise cutoff = created_at + observation_days; leads without a
    created_at are dropped.
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    created = _utc(leads[schema.CREATED_AT], schema.CREATED_AT)
    if config.snapshot is not None:
        snapshot = _as_utc_stamp(config.snapshot)
        keep = (created <= snapshot).to_numpy()
        stamps = pd.Series(snapshot, index=index[keep], name=CUTOFF)
        return stamps.astype(created.dtype) if len(stamps) else stamps
    cut = created + pd.Timedelta(days=config.observation_days)
    keep = cut.notna().to_numpy()
    # `.array` keeps the tz-aware dtype even when no lead is left (to_numpy gives objects).
    return pd.Series(cut.array[keep], index=index[keep], name=CUTOFF)


def data_end(leads: pd.DataFrame, events: pd.DataFrame) -> pd.Timestamp:
    """The latest timestamp anywhere in the data (created_at, converted_at, occurred_at)."""
    latest = [_utc(leads[schema.CREATED_AT], schema.CREATED_AT).max()]
    if schema.CONVERTED_AT in leads:
        latest.append(_utc(leads[schema.CONVERTED_AT], schema.CONVERTED_AT).max())
    if len(events):
        latest.append(_utc(events[schema.OCCURRED_AT], schema.OCCURRED_AT).max())
    seen = [stamp for stamp in latest if not pd.isna(stamp)]
    if not seen:
        raise InputError("no timestamps in the data", expected="at least one lead")
    return max(seen)


def make_labels(
    leads: pd.DataFrame, cutoff: pd.Series, *, window_days: int, data_end: pd.Timestamp
) -> Labels:
    """Label every lead that has a cutoff; see the module docstring for the rules."""
    if schema.CONVERTED_AT not in leads:
        raise InputError(
            "training needs conversion dates",
            column=schema.CONVERTED_AT,
            expected="a converted_at column (empty for leads that did not convert)",
        )
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    converted = pd.Series(_naive(leads[schema.CONVERTED_AT], schema.CONVERTED_AT), index=index)
    if not cutoff.index.equals(index):
        unknown = ~cutoff.index.isin(index)
        if unknown.any():
            raise InputError(
                f"{int(unknown.sum())} cutoffs for leads that are not in the leads table",
                value=str(cutoff.index[unknown][0]),
            )
        converted = converted.reindex(cutoff.index)
    cut = _naive(cutoff, CUTOFF)
    conv = converted.to_numpy()
    end = _as_utc_stamp(data_end).tz_localize(None).to_datetime64()
    window_end = cut + np.timedelta64(window_days, "D")
    seen = ~pd.isna(conv) & (conv <= end)
    before = seen & (conv <= cut)
    positive = seen & (conv > cut) & (conv <= window_end)
    # A window that has not closed is censored even when the lead already converted:
    # keeping only the early converters among recent leads would bias the newest window.
    censored = ~before & (window_end > end)
    eligible = ~before & ~censored
    frame = pd.DataFrame(
        {CUTOFF: cutoff.to_numpy()[eligible], LABEL: positive[eligible].astype(np.int64)},
        index=pd.Index(cutoff.index[eligible], name=schema.LEAD_ID),
    )
    return Labels(
        frame=frame,
        n_total=len(cutoff),
        n_converted_before_cutoff=int(before.sum()),
        n_censored=int(censored.sum()),
        n_eligible=int(eligible.sum()),
        n_positive=int(positive[eligible].sum()),
    )


def _utc(stamps: pd.Series, name: str) -> pd.Series:
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        if stamps.isna().all():  # e.g. an all-empty converted_at column
            return pd.Series(pd.NaT, index=stamps.index, dtype="datetime64[us, UTC]")
        raise InputError("timestamps must be tz-aware", column=name, expected="UTC timestamps")
    return stamps.dt.tz_convert("UTC")


def _naive(stamps: pd.Series, name: str) -> np.ndarray:
    """UTC timestamps as a plain datetime64 array (NaT for missing)."""
    return _utc(stamps, name).dt.tz_localize(None).to_numpy()


def _as_utc_stamp(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class FlatLabels:
    """Labelled rows of a flat export: 0/1 label and (when known) the creation time."""

    y: pd.Series
    """Index = lead id; int 0/1. Only rows with a known label."""
    created: pd.Series | None
    """UTC creation time per labelled row (None without a created_at column)."""
    n_rows: int
    n_unlabelled: int


def flat_labels(frame: pd.DataFrame, dataset: DatasetConfig, *, window_days: int) -> FlatLabels:
    """The label per row from `label` + `positive`, or from `converted_at`.

    With `converted_at` and `created_at`, a lead is positive when it converted within
    `window_days` of creation; leads whose window had not closed by the newest date in
    the file are left out (they are neither positives nor negatives yet).
    """
    created = None
    if dataset.created_at:
        created = _dates(frame[dataset.created_at], dataset.created_at)
    if dataset.label:
        raw = frame[dataset.label]
        positive = {p.strip().lower() for p in dataset.positive}
        known = raw.notna().to_numpy()
        y = raw.map(lambda v: int(str(v).lower() in positive), na_action="ignore")
    else:
        assert dataset.converted_at is not None
        converted = _dates(frame[dataset.converted_at], dataset.converted_at)
        if created is None:
            y = converted.notna().astype(int)
            known = np.ones(len(frame), dtype=bool)
        else:
            end = pd.concat([created, converted]).max()
            window = pd.Timedelta(days=window_days)
            inside = converted.notna() & (converted - created <= window)
            closed = (created + window) <= end
            known = (inside | closed).to_numpy() & created.notna().to_numpy()
            y = inside.astype(int)
    y = y[known].astype(np.int64)
    if y.nunique() < 2:
        raise InputError(
            "the label has only one class",
            column=dataset.label or dataset.converted_at,
            value=f"{int(y.sum())} positives in {len(y)} rows",
            expected=f"converted and not converted leads (positive values: {dataset.positive})",
        )
    return FlatLabels(
        y=y,
        created=None if created is None else created[known],
        n_rows=len(frame),
        n_unlabelled=int((~known).sum()),
    )


def _dates(values: pd.Series, name: str) -> pd.Series:
    """A file column's dates, tz-aware UTC (errors name the file row: header + 1)."""
    parsed = flat_dates(values.to_numpy(dtype=object), name, first_row=2)
    return pd.Series(pd.DatetimeIndex(parsed).tz_localize("UTC"), index=values.index)
