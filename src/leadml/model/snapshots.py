"""Snapshot rows: each lead as it looked at several moments while it was still open.

`leadml score` ranks open leads of every age, from a few hours to years old. A model
trained on every lead at one age (the cutoff `created_at + observation_days`) has never
seen age vary, so it scores a 200-day-old lead that went quiet like a 14-day-old one.
Snapshot training gives each lead a row at every snapshot at which it was still open:

- the snapshots are a calendar (`[labels] snapshot_every_days`, the default: every open
  lead on each date, at the age it has then, so the rows look like the open lists that
  get scored) or fixed ages (`snapshot_days`: created_at + each age);
- features are built as of the snapshot by the same point-in-time code
  (`build_features`), and `days_since_created` carries the age;
- label = converted in (cutoff, cutoff + window_days]; a lead that converted at or before
  the snapshot has no row there; a window that has not closed is censored, as for
  one-cutoff labels (`model.labels.make_labels` runs per snapshot);
- rows are keyed `"<lead_id>@<snapshot>"` (index name `row`), with lead_id, cutoff,
  snapshot, age_days and label as columns.

Sampling above `[labels] snapshot_max_rows` keeps the same share of every snapshot, and
whether a row is kept is a hash of its key and the seed (`kept_rows`), not a draw from a
random stream: the local and the Dask engine (which builds rows partition by partition)
keep exactly the same rows. The share comes from the count over all the data, and the
calendar's first date and the end of the data are global too (`first`, `end`): every
partition of the Dask engine gets them passed in.

The split is on snapshot time (the row's cutoff), with a gap of one label window before
validation and before test (`snapshot_split`), so no outcome of an earlier fold is
decided inside a later one. A lead can have early snapshots in train and later ones in
validation or test, exactly as production scores a lead it trained on when it was
younger; what cannot happen is one conversion counted on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import FeatureConfig, LabelConfig
from leadml.errors import InputError
from leadml.features.build import build_features
from leadml.model.labels import CUTOFF, LABEL, Labels, cutoffs, make_labels
from leadml.model.train import TimeSplit, window_summary

ROW = "row"
AGE = "age_days"
SNAPSHOT = "snapshot"
LEAD = schema.LEAD_ID
AGE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-14", 0, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("61-120", 61, 120),
    ("121-240", 121, 240),
    ("over 240", 241, np.inf),
)
"""Lead age at scoring, in whole days: the buckets evaluation and the bench report by."""


@dataclass(frozen=True)
class Snapshots:
    """Labelled snapshot rows and their raw features, aligned on the row key."""

    rows: pd.DataFrame
    """Index `row`; columns lead_id, cutoff (UTC), snapshot (its name: the age in days or the
    date), age_days (whole days at the cutoff), label (0/1)."""
    raw: pd.DataFrame
    """Raw features per row (index `row`, same order as `rows`)."""
    labels: Labels
    """Counts over every (lead, snapshot) pair before sampling, in the shape of one-cutoff
    labels; its frame holds the rows kept."""
    per_snapshot: pd.DataFrame
    """Per snapshot (age or date): rows, positives, excluded (converted before), censored."""


def snapshot_rows(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    labels: LabelConfig,
    features: FeatureConfig,
    *,
    end: pd.Timestamp,
    first: pd.Timestamp | None = None,
    on_snapshot: Callable[[str], None] | None = None,
    max_rows: int | None = None,
    keep: float | None = None,
    seed: int = 0,
) -> Snapshots:
    """Every lead at every snapshot (`snapshot_days` ages, or the `snapshot_every_days`
    calendar) while it was open, labelled and featurised as of that moment.

    `first`: the earliest created_at of all the data (the calendar starts after it;
    default: of `leads`). `max_rows`: above it, the same share of every snapshot's rows is
    kept (`kept_rows`, seeded), before features are built; `keep`: that share when it was
    counted over more data than `leads` (the Dask engine's partitions)."""
    moments, counts = labelled_moments(leads, labels, end, first)
    if keep is None:
        keep = keep_share(sum(len(eligible) for _, eligible in moments), max_rows)
    rows, raw = _featurised(leads, events, features, moments, counts, keep, seed, on_snapshot)
    if rows.empty:
        raise InputError(
            "no lead has a snapshot whose window closed",
            value=f"{len(counts)} snapshots",
            expected=f"leads created at least {labels.window_days} days (the label window) "
            "before the end of the data",
        )
    per_snapshot = snapshot_counts(counts)
    return Snapshots(
        rows=rows, raw=raw, labels=snapshot_labels(rows, per_snapshot), per_snapshot=per_snapshot
    )


def snapshot_part(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    labels: LabelConfig,
    features: FeatureConfig,
    *,
    end: pd.Timestamp,
    first: pd.Timestamp,
    keep: float,
    seed: int,
) -> pd.DataFrame:
    """One partition's snapshot rows joined with their raw features (`rows` columns
    first), empty when none: what the Dask engine runs per partition."""
    moments, counts = labelled_moments(leads, labels, end, first)
    rows, raw = _featurised(leads, events, features, moments, counts, keep, seed, None)
    return rows.join(raw)


def labelled_moments(
    leads: pd.DataFrame, labels: LabelConfig, end: pd.Timestamp, first: pd.Timestamp | None
) -> tuple[list[tuple[str, pd.DataFrame]], list[dict[str, object]]]:
    """Each snapshot's eligible leads (`make_labels` frame) and its counts (`sampled`
    still 0): the labels alone, before any feature is built."""
    counts, moments = [], []
    for name, cut in _moments(leads, labels, end, first):
        made = make_labels(leads, cut, window_days=labels.window_days, data_end=end)
        counts.append(_count(name, made))
        moments.append((name, made.frame))
    return moments, counts


def keep_share(total: int, max_rows: int | None) -> float:
    """The share of snapshot rows kept: 1 up to `max_rows`, else `max_rows / total`."""
    return 1.0 if not max_rows or total <= max_rows else max_rows / total


SNAPSHOT_DRAW = "snapshot rows"
"""`kept_rows`' draw for sampling snapshot rows above `[labels] snapshot_max_rows`."""
TRAIN_SAMPLE_DRAW = "train sample"
"""The Dask engine's train rows gathered to this machine (`[compute] sample_rows`)."""
SHAP_DRAW = "shap sample"
"""The Dask engine's test rows gathered for SHAP (`[train] shap_sample`)."""
REFERENCE_DRAW = "reference sample"
"""The Dask engine's train leads gathered for the drift reference."""


def kept_rows(keys: pd.Index | np.ndarray, keep: float, seed: int, *, draw: str) -> np.ndarray:
    """Whether each row key is kept at share `keep`: a hash of the key keyed by the seed
    and the draw, read as a uniform number in [0, 1), so the choice depends on the row
    alone, never on which other rows a frame (or a partition) holds.

    `draw` names what the rows are kept for (the `*_DRAW` constants): each draw hashes
    with its own key, so a row's chance in one draw does not depend on whether an earlier
    draw kept it (the same key would pick, from rows kept at share k, all those under
    share s < k: s/k of them instead of s). The snapshot draw keeps the key it always had,
    so local models do not change."""
    text = np.asarray(keys, dtype=object)
    hashed = pd.util.hash_array(text, hash_key=_draw_key(seed, draw), categorize=False)
    return np.asarray(hashed / np.float64(2**64) < keep, dtype=bool)


def _draw_key(seed: int, draw: str) -> str:
    """The 16-character hash key of a seed and a draw."""
    if draw == SNAPSHOT_DRAW:
        return f"{seed % 10**16:016d}"
    return hashlib.sha256(f"{draw}:{seed}".encode()).hexdigest()[:16]


def first_created(leads: pd.DataFrame, window_days: int) -> pd.Timestamp:
    """The earliest created_at (UTC) of `leads`: where the snapshot calendar starts."""
    return cutoffs(leads, LabelConfig(observation_days=0, window_days=window_days)).min()


def snapshot_counts(counts: list[dict[str, object]]) -> pd.DataFrame:
    """Per snapshot: sampled, rows, positives, excluded and censored (index: its name)."""
    return pd.DataFrame(counts).set_index(SNAPSHOT)


def _featurised(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    features: FeatureConfig,
    moments: list[tuple[str, pd.DataFrame]],
    counts: list[dict[str, object]],
    keep: float,
    seed: int,
    on_snapshot: Callable[[str], None] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows and raw features of the kept rows of every snapshot (both empty when none);
    fills each count's `sampled`."""
    parts_rows, parts_raw = [], []
    for (name, eligible), count in zip(moments, counts, strict=True):
        if on_snapshot is not None:
            on_snapshot(name)
        key = pd.Index([f"{lead}@{name}" for lead in eligible.index], name=ROW)
        if keep < 1.0:  # the same share of every snapshot: the mix of ages is kept
            chosen = kept_rows(key, keep, seed, draw=SNAPSHOT_DRAW)
            eligible, key = eligible[chosen], key[chosen]
        count["sampled"] = len(eligible)
        if eligible.empty:
            continue
        rows_at = leads[leads[LEAD].isin(eligible.index)]
        raw = build_features(rows_at, events, eligible[CUTOFF], features).loc[eligible.index]
        created = pd.Series(rows_at[schema.CREATED_AT].array, index=rows_at[LEAD])
        seconds = (eligible[CUTOFF] - created.reindex(eligible.index)).dt.total_seconds()
        age = np.floor(seconds.to_numpy() / 86_400)
        parts_rows.append(
            pd.DataFrame(
                {
                    LEAD: eligible.index.to_numpy(),
                    CUTOFF: eligible[CUTOFF].to_numpy(),
                    SNAPSHOT: name,
                    AGE: age.astype(np.int64),
                    LABEL: eligible[LABEL].to_numpy(),
                },
                index=key,
            )
        )
        parts_raw.append(raw.set_axis(key, axis=0))
    if not parts_rows:
        empty = pd.Index([], name=ROW, dtype=object)
        return pd.DataFrame(index=empty), pd.DataFrame(index=empty)
    return pd.concat(parts_rows), pd.concat(parts_raw)


def _moments(
    leads: pd.DataFrame, labels: LabelConfig, end: pd.Timestamp, first: pd.Timestamp | None
) -> list[tuple[str, pd.Series]]:
    """(name, cutoff per lead) of each snapshot: an age after creation, or a calendar date
    (every open lead created by then, at its own age) from the day after `first`."""
    window = labels.window_days
    if labels.snapshot_every_days:  # the calendar wins when both are set
        if first is None:
            first = first_created(leads, window)
        step = pd.Timedelta(days=labels.snapshot_every_days)
        dates = pd.date_range(first.ceil("D") + step, end, freq=step)
        return [
            (f"{day:%Y-%m-%d}", cutoffs(leads, LabelConfig(window_days=window, snapshot=day)))
            for day in dates
        ]
    if not labels.snapshot_days:
        raise ValueError("snapshot training needs [labels] snapshot_days or snapshot_every_days")
    return [
        (str(age), cutoffs(leads, LabelConfig(observation_days=age, window_days=window)))
        for age in sorted(set(labels.snapshot_days))
    ]


def snapshot_split(
    cutoff: pd.Series, *, train_fraction: float, valid_fraction: float, window_days: int
) -> TimeSplit:
    """Split snapshot rows on snapshot time with a gap of one label window before each
    later fold: test is the latest `1 - train - valid` share of rows; validation ends a
    window before test starts; train ends a window before validation starts.

    No label of an earlier fold can be decided inside a later one, for the same lead or
    any other, and the rule looks only at cutoffs, never at outcomes (dropping rows by
    whether a lead shows up again later would keep converters and drop the leads that
    stayed open). A lead may still appear in several folds, as production scores leads it
    trained on when they were younger. The rows inside the gaps are not used.
    """
    order = cutoff.sort_values(kind="mergesort")
    valid_start, test_start = split_bounds(
        order.array,
        train_fraction=train_fraction,
        valid_fraction=valid_fraction,
        window_days=window_days,
    )
    fold = split_folds(order.array, valid_start, test_start, window_days=window_days)
    parts = {name: order.index[fold == name] for name in FOLDS}
    for name, part in parts.items():
        if len(part) == 0:
            raise _too_short(name, len(order), window_days)
    windows = {name: window_summary(cutoff, part) for name, part in parts.items()}
    for name in ("valid", "test"):
        windows[name]["gap_before_days"] = str(window_days)
    return TimeSplit(parts["train"], parts["valid"], parts["test"], windows)


FOLDS: tuple[str, ...] = ("train", "valid", "test")


def split_bounds(
    sorted_cutoffs: Any, *, train_fraction: float, valid_fraction: float, window_days: int
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Where validation and test start (`snapshot_split`), from every row's cutoff in
    ascending order: the one global quantity the split needs (the Dask engine gathers
    the cutoffs alone, then assigns folds per partition with `split_folds`)."""
    order = pd.Series(sorted_cutoffs)
    window = pd.Timedelta(days=window_days)
    n = len(order)
    if n == 0:
        raise _too_short("train", n, window_days)
    test_start = order.iloc[min(int(round(n * (train_fraction + valid_fraction))), n - 1)]
    before_test = order[order + window <= test_start]
    share = valid_fraction / (train_fraction + valid_fraction)
    i_valid = int(round(len(before_test) * (1 - share)))
    if len(before_test) < 2 or i_valid >= len(before_test):
        raise _too_short("validation", n, window_days)
    return pd.Timestamp(before_test.iloc[i_valid]), pd.Timestamp(test_start)


def split_folds(
    cutoffs: Any, valid_start: pd.Timestamp, test_start: pd.Timestamp, *, window_days: int
) -> np.ndarray:
    """Each row's fold ("train", "valid", "test", or "" inside a gap) from its cutoff."""
    at = pd.Series(cutoffs)
    window = pd.Timedelta(days=window_days)
    fold = np.full(len(at), "", dtype=object)
    fold[(at + window <= valid_start).to_numpy()] = "train"
    fold[((at >= valid_start) & (at + window <= test_start)).to_numpy()] = "valid"
    fold[(at >= test_start).to_numpy()] = "test"
    return fold


def _too_short(name: str, n: int, window_days: int) -> InputError:
    return InputError(
        f"the {name} window is empty once a {window_days}-day gap (one label window) is "
        "left before each later window",
        value=f"{n:,} snapshot rows",
        expected=f"snapshots spanning well over 3 x {window_days} days",
    )


def lead_weights(lead_ids: np.ndarray) -> np.ndarray:
    """Per-row weights that give every lead the same total weight (1 / its rows), scaled
    to a mean of 1."""
    ids = pd.Series(lead_ids)
    weight = (1.0 / ids.map(ids.value_counts())).to_numpy(dtype=np.float64)
    return weight * (len(weight) / weight.sum())


def age_bucket(age_days: np.ndarray) -> np.ndarray:
    """The AGE_BUCKETS label of each age (whole days, floored)."""
    days = np.floor(np.asarray(age_days, dtype=np.float64))
    if np.isnan(days).any() or (days < 0).any():
        raise ValueError("lead ages must be known and not negative")
    edges = np.array([low for _, low, _ in AGE_BUCKETS[1:]])
    names = np.array([name for name, _, _ in AGE_BUCKETS], dtype=object)
    return names[np.searchsorted(edges, days, side="right")]


def _count(name: str, made: Labels) -> dict[str, object]:
    return {
        SNAPSHOT: name,
        "sampled": 0,
        "rows": made.n_eligible,
        "positives": made.n_positive,
        "excluded_converted_before_cutoff": made.n_converted_before_cutoff,
        "censored_window_not_closed": made.n_censored,
    }


def snapshot_labels(rows: pd.DataFrame, per_snapshot: pd.DataFrame) -> Labels:
    """Counts over every (lead, snapshot) pair, before sampling; `frame`: the rows kept."""
    eligible = int(per_snapshot["rows"].sum())
    before = int(per_snapshot["excluded_converted_before_cutoff"].sum())
    censored = int(per_snapshot["censored_window_not_closed"].sum())
    return Labels(
        frame=rows[[CUTOFF, LABEL]],
        n_total=eligible + before + censored,
        n_converted_before_cutoff=before,
        n_censored=censored,
        n_eligible=eligible,
        n_positive=int(per_snapshot["positives"].sum()),
    )
