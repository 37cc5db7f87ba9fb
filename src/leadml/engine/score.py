"""Batch scoring on the Dask engine: the local engine's steps (`leadml.batch`), per partition.

- **The bundle** is broadcast once as the bytes of its two files (bundle.json and the
  LightGBM model text, as `save_bundle` writes them; never a pickle). Each worker process
  loads it with `load_bundle` once and keeps one Scorer for it (`worker_scorer`).
- **Per partition** (a co-partitioned pair of leads and their events), `batch.score_part`
  runs: the function the local engine calls on the whole batch, so open and stale leads,
  cutoffs, features, scores and reasons are the same code. The scored partitions stay on
  the workers.
- **Global steps** gather only what is small: the rank keys (score, probability, raw
  score, lead_id; one row per lead) for the one rank rule (`batch.ranks`), which also give
  batch grade mode's thresholds; the counts of leads left out, and the warnings. Each
  partition gets its ranks back.
- **Output partitions** in rank order: ranked rows move so that part k holds the k-th
  range of ranks (part 0 the best leads), in rank order. `DaskBatch.parts` fetches them
  one at a time (the job stages the list and loads the store from them, never the whole
  list in the client's memory; with `--top N` and no store, only until it has N rows).
"""

from __future__ import annotations

import hashlib
import operator
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadml.batch import (
    SHOWN_ROWS,
    BatchSummary,
    GradeMode,
    RankedBatch,
    ScoredPart,
    as_of_moment,
    batch_grade_thresholds,
    check_grade_mode,
    ranks,
    score_part,
    top_sources,
    utc,
    with_ranks,
)
from leadml.batch_rows import Progress
from leadml.bundle import (
    BUNDLE_FILE,
    GRADES,
    MODEL_FILE,
    Bundle,
    grades_from_probability,
    load_bundle,
    save_bundle,
)
from leadml.engine.partition import DataBounds
from leadml.ranked import NO_SOURCE
from leadml.scoring import Scorer
from leadml.warning_lines import merge_warnings

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client, Future

KEYS = ["score", "probability", "raw_score", "lead_id"]
"""What each lead sends to the client for the global rank (`leadml.ranked.rank_order`)."""

BundleFiles = tuple[bytes, bytes]
"""A bundle as the bytes of bundle.json and model.txt: what is broadcast to the workers."""

_SCORERS: dict[str, Scorer] = {}
"""A worker process's Scorer, by the digest of its bundle files (`worker_scorer`): the
last bundle it was sent, kept for the rest of the batch's tasks."""


def bundle_files(bundle: Bundle) -> BundleFiles:
    """The bytes of the files `save_bundle` writes for `bundle` (its JSON and model text)."""
    with tempfile.TemporaryDirectory(prefix="leadml-bundle-") as tmp:
        folder = save_bundle(bundle, Path(tmp) / "bundle")
        return (folder / BUNDLE_FILE).read_bytes(), (folder / MODEL_FILE).read_bytes()


def worker_scorer(files: BundleFiles) -> Scorer:
    """The Scorer of a broadcast bundle, loaded by `load_bundle` (which checks the model
    file against its digest) on a worker's first use and kept for its later tasks."""
    key = hashlib.sha256(files[0] + b"\0" + files[1]).hexdigest()
    found = _SCORERS.get(key)
    if found is None:
        _SCORERS.clear()  # one bundle at a time: a long-lived cluster scores many batches
        with tempfile.TemporaryDirectory(prefix="leadml-bundle-") as tmp:
            folder = Path(tmp)
            (folder / BUNDLE_FILE).write_bytes(files[0])
            (folder / MODEL_FILE).write_bytes(files[1])
            found = _SCORERS[key] = Scorer(load_bundle(folder))
    return found


@dataclass(frozen=True)
class PartSettings:
    """What every partition's `score_part` call is given (small, sent with each task)."""

    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    max_open_days: int
    pass_through: tuple[str, ...]
    chunk_size: int


@dataclass(frozen=True)
class DaskBatch:
    """A batch scored on the cluster: its record, with the first rows and the whole
    batch's summary, and its ranked output partitions, still on the workers."""

    batch: RankedBatch
    """`frame` holds the first `SHOWN_ROWS` rows; `totals` the whole batch's counts."""
    outputs: list[Future]
    """Output partitions in rank order: part k holds the k-th range of ranks."""
    leads: int

    def parts(self) -> Iterator[pd.DataFrame]:
        """The ranked rows, one output partition at a time, best first (each is released
        on the cluster once fetched)."""
        while self.outputs:
            future = self.outputs.pop(0)
            yield future.result()
            future.release()


def scoring_moment(text: str | None, bounds: DataBounds) -> pd.Timestamp:
    """`--as-of` on the Dask engine (`batch.as_of_moment`): "latest" from the data's end,
    which `read_tables` found while validating (`Tables.bounds`)."""
    return as_of_moment(text, lambda: bounds.end)


def score_partitions(
    client: Client,
    leads: dd.DataFrame,
    events: dd.DataFrame,
    bundle: Bundle,
    *,
    as_of: pd.Timestamp,
    grade_mode: GradeMode = "model",
    grade_shares: dict[str, float],
    max_open_days: int = 0,
    pass_through: Sequence[str] = (),
    chunk_size: int = 50_000,
    on_progress: Progress | None = None,
    scored_at: pd.Timestamp | None = None,
    source: str = "",
) -> DaskBatch:
    """Score every open lead of co-partitioned `leads` and `events` as of `as_of`, rank
    them globally and lay the list out in rank order on the cluster. The arguments are
    `batch.score_open_leads`'s, whose result this equals (partition by partition);
    `on_progress(done, total)` counts partitions as they finish."""
    from dask import delayed

    check_grade_mode(grade_mode)
    if leads.npartitions != events.npartitions:
        raise ValueError("leads and events must be co-partitioned (as many partitions)")
    settings = PartSettings(
        utc(as_of),
        pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at),
        max_open_days,
        tuple(pass_through),
        chunk_size,
    )
    [files] = client.scatter([bundle_files(bundle)], broadcast=True, hash=False)
    pairs = zip(leads.to_delayed(), events.to_delayed(), strict=True)
    scored: list[Future] = client.compute(
        [delayed(_score_pair, pure=True)(lp, ep, files, settings) for lp, ep in pairs]
    )
    _wait_for(scored, on_progress)
    found = client.gather([client.submit(_keys, f, pure=False) for f in scored])
    keys = pd.concat([k for k, _ in found], ignore_index=True)
    rank = ranks(keys)
    thresholds = (
        batch_grade_thresholds(keys["probability"].to_numpy(), grade_shares)
        if grade_mode == "batch"
        else None
    )
    sizes = [len(part_keys) for part_keys, _ in found]
    outputs = _in_rank_order(client, scored, rank, sizes, thresholds, settings.pass_through)
    del scored  # each scored partition is freed on the cluster once it has been cut
    counts = client.gather([client.submit(_tally, f) for f in outputs])
    metas = [meta for _, meta in found]
    record = RankedBatch(
        frame=pd.DataFrame(),
        as_of=settings.as_of,
        scored_at=settings.scored_at,
        model_version=bundle.version or "unregistered",
        grade_mode=grade_mode,
        pass_through=settings.pass_through,
        warnings=merge_warnings([m.warnings for m in metas]),
        excluded_converted=sum(m.excluded_converted for m in metas),
        excluded_not_created=sum(m.excluded_not_created for m in metas),
        excluded_stale=sum(m.excluded_stale for m in metas),
        max_open_days=max_open_days,
        source=source,
    )
    totals = _summary(counts, record)
    head = _head(outputs, SHOWN_ROWS)
    return DaskBatch(replace(record, frame=head, totals=totals), outputs, len(keys))


def _wait_for(scored: list[Future], on_progress: Progress | None) -> None:
    """Wait for every partition, counting them done; the first failed one raises its error
    here, as the local engine would."""
    from distributed import as_completed

    total = len(scored)
    if on_progress is not None:
        on_progress(0, total)
    for done, future in enumerate(as_completed(scored), start=1):
        if future.status == "error":
            future.result()
        if on_progress is not None:
            on_progress(done, total)


def _in_rank_order(
    client: Client,
    scored: list[Future],
    rank: np.ndarray,
    sizes: list[int],
    thresholds: dict[str, float] | None,
    pass_through: tuple[str, ...],
) -> list[Future]:
    """The output partitions (`range_edges`): each scored partition cut into its rows of
    every rank range, then each range's rows from every partition joined in rank order.
    A partition's pieces are taken as soon as it is cut (tasks run in the order they are
    submitted), so each scored partition is read once, not once per output partition:
    under memory pressure the latter spilled and reloaded it from disk again and again."""
    edges = range_edges(len(rank), len(scored))
    starts = np.cumsum([0, *sizes])
    pieces = []
    for i, future in enumerate(scored):
        mine = rank[starts[i] : starts[i + 1]]
        cut = client.submit(_split, future, mine, thresholds, pass_through, edges)
        pieces.append([client.submit(operator.getitem, cut, k) for k in range(len(edges) - 1)])
    return [client.submit(_concat, [p[k] for p in pieces]) for k in range(len(edges) - 1)]


def range_edges(n: int, parts: int) -> list[int]:
    """Rank edges of the output partitions: part k holds ranks edges[k] .. edges[k+1]-1,
    about n / parts each (one part for an empty batch)."""
    parts = max(1, min(parts, n))
    return [1 + (n * k) // parts for k in range(parts + 1)]


# --- tasks (run on the workers) ---------------------------------------------------------------


def _score_pair(
    leads: pd.DataFrame, events: pd.DataFrame, files: BundleFiles, settings: PartSettings
) -> ScoredPart:
    """One partition's open leads, scored and explained by `batch.score_part`."""
    return score_part(
        leads,
        events,
        worker_scorer(files),
        as_of=settings.as_of,
        scored_at=settings.scored_at,
        max_open_days=settings.max_open_days,
        pass_through=settings.pass_through,
        chunk_size=settings.chunk_size,
    )


def _keys(part: ScoredPart) -> tuple[pd.DataFrame, ScoredPart]:
    """A scored partition's rank keys and its counts and warnings (without its rows)."""
    return part.frame[KEYS].reset_index(drop=True), replace(part, frame=part.frame.iloc[:0])


def _split(
    part: ScoredPart,
    rank: np.ndarray,
    thresholds: dict[str, float] | None,
    pass_through: tuple[str, ...],
    edges: list[int],
) -> list[pd.DataFrame]:
    """A scored partition graded (batch mode's global thresholds), given its global ranks
    and cut into the output partitions' rank ranges."""
    frame = part.frame
    if thresholds is not None:
        frame = frame.assign(
            grade=grades_from_probability(frame["probability"].to_numpy(), thresholds)
        )
    ranked = with_ranks(frame, rank, pass_through)
    cuts = np.searchsorted(ranked["rank"].to_numpy(), edges)
    return [
        ranked.iloc[cuts[k] : cuts[k + 1]].reset_index(drop=True) for k in range(len(edges) - 1)
    ]


def _concat(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """An output partition: its rank range's rows from every partition, in rank order."""
    frame = pd.concat(pieces, ignore_index=True)
    return frame.sort_values("rank", kind="mergesort").reset_index(drop=True)


def _tally(frame: pd.DataFrame) -> tuple[dict[str, int], dict[str, int], int]:
    """An output partition's grade counts, A leads by source, and leads without a source."""
    grades = {str(k): int(n) for k, n in frame["grade"].value_counts(sort=False).items()}
    source = frame["lead_source"]
    a = source[(frame["grade"] == "A") & (source != NO_SOURCE)].value_counts(sort=False)
    return grades, {str(k): int(n) for k, n in a.items()}, int((source == NO_SOURCE).sum())


def _head(outputs: list[Future], n: int) -> pd.DataFrame:
    """The first `n` rows of the output partitions, fetched until there are enough."""
    rows: list[pd.DataFrame] = []
    left = n
    for future in outputs:
        if left <= 0:
            break
        got = future.client.submit(_first, future, left).result()
        rows.append(got)
        left -= len(got)
    if not rows:  # an empty batch: its one (empty) output partition
        return outputs[0].client.submit(_first, outputs[0], 0).result()
    return pd.concat(rows, ignore_index=True)


def _first(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    return frame.head(n)


def _summary(
    counts: list[tuple[dict[str, int], dict[str, int], int]], record: RankedBatch
) -> BatchSummary:
    """The whole batch's `BatchSummary`, from the output partitions' tallies."""
    grades: dict[str, int] = {}
    sources: dict[str, int] = {}
    unsourced = 0
    for part_grades, part_sources, part_unsourced in counts:
        for key, n in part_grades.items():
            grades[key] = grades.get(key, 0) + n
        for key, n in part_sources.items():
            sources[key] = sources.get(key, 0) + n
        unsourced += part_unsourced
    leads = sum(grades.values())
    return BatchSummary(
        leads,
        {g: grades.get(g, 0) for g in GRADES},
        top_sources(sources),
        record.excluded_converted,
        record.excluded_not_created,
        source_mapped=not (leads and unsourced == leads),
        excluded_stale=record.excluded_stale,
        max_open_days=record.max_open_days,
    )
