"""Batch scoring: every open lead as of one moment, ranked, with reasons sales can read.

The pure core of `leadml score` (the job that reads and writes is `leadml.jobs.score`).
It uses the one `Scorer` (the same feature code as training and the API), so a lead gets
the same probability, score and reasons everywhere.

- **Open leads** are those created at or before `as_of` that had not converted by then;
  of those, leads older than `[score] max_open_days` are stale (`bundle.is_stale`): left
  out of the list and counted.
- **Rank**: the ranked list's one rule, `leadml.ranked.rank_order` (score, probability,
  raw score descending, then `lead_id`), so the order is total and stable everywhere.
- **Grades** come in two modes:
  - `model` (default): the bundle's thresholds, from the probability quantiles of the
    validation leads the list would show (`[grades] shares`: A top 10%, B next 20%, C
    next 30%, D the rest by default). A grade then means the
    same thing every day, so an A today is as good as an A last month, and the share of
    A leads rises and falls with the real quality of the pipeline. Use it for routing
    rules, SLAs and anything compared over time.
  - `batch`: the same shares, but of *this* batch. Exactly ~10% of today's open leads
    are A, whatever their absolute quality. Use it when sales capacity is fixed ("call
    the top 10% today"), or when the population has drifted away from the training data
    so far that the model thresholds put almost everyone in one grade.
  Scores (1-99) always stay the model's: a lead's percentile among validation leads.

Reasons are kept per lead as compact JSON (all top positive and negative reasons, see
`leadml.ranked.encode_reasons`) plus the list's text (`leadml.ranked.reasons_text`) and
one reason per column (`leadml.ranked.reason_columns`). Trend and previous score start
as "new" and empty; the job sets them against the store (`leadml.ranked.with_trend`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from leadml import schema
from leadml.batch_rows import Progress, assemble, attach_pass_through, score_in_chunks
from leadml.bundle import (
    DEFAULT_GRADE_SHARES,
    GRADES,
    grade_thresholds,
    grades_from_probability,
    is_stale,
)
from leadml.errors import InputError
from leadml.model.labels import data_end
from leadml.ranked import (
    NO_SOURCE,
    PREVIOUS_GRADE,
    RANKED_COLUMNS,
    REASONS_JSON,
    TOP_REASON,
    rank_order,
)
from leadml.scoring import Scorer

GradeMode = Literal["model", "batch"]
GRADE_MODES: tuple[GradeMode, ...] = ("model", "batch")
AS_OF_KEYWORDS = ("now", "latest")

SHOWN_ROWS = 10
"""Rows of the list the terminal shows after a batch (a Dask batch keeps only these, and
`--top N`'s, in the client's memory)."""


@dataclass(frozen=True)
class BatchSummary:
    """What the end-of-run summary prints."""

    leads_scored: int
    grade_counts: dict[str, int]
    top_sources_a: list[tuple[str, int]]
    """Lead sources with the most A-grade leads, most first (up to five)."""
    excluded_converted: int
    excluded_not_created: int
    source_mapped: bool = True
    """False: a flat model without a usable source column (every lead_source is NO_SOURCE)."""
    excluded_stale: int = 0
    """Open leads older than `[score] max_open_days`, left out of the list."""
    max_open_days: int = 0
    """The limit the stale leads were over (0: no limit)."""


@dataclass(frozen=True)
class RankedBatch:
    """One scoring batch: every open lead, ranked (row order = rank)."""

    frame: pd.DataFrame
    """RANKED_COLUMNS, the pass-through columns, then REASONS_JSON, TOP_REASON,
    PREVIOUS_GRADE and raw_score."""
    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    model_version: str
    grade_mode: GradeMode
    pass_through: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    excluded_converted: int = 0
    excluded_not_created: int = 0
    excluded_stale: int = 0
    """Open leads older than `[score] max_open_days`, left out of the list."""
    max_open_days: int = 0
    """The limit the stale leads were over (0: no limit)."""
    source: str = ""
    """Where the leads came from (a data folder), for the store's batch record."""
    flat: bool = False
    """Scored from a flat export: lead sources are the file's own text, not canonical tokens."""
    totals: BatchSummary | None = None
    """The whole batch's summary when `frame` holds only its first rows (a batch scored on
    the Dask engine, whose list stays partitioned); None: `frame` is the whole batch."""

    @property
    def columns(self) -> list[str]:
        """The public columns of the list: RANKED_COLUMNS then the pass-through ones."""
        return [*RANKED_COLUMNS, *self.pass_through]

    def table(self, top: int | None = None) -> pd.DataFrame:
        """The ranked list as written to CSV or Parquet (optionally the top N rows)."""
        frame = self.frame if top is None else self.frame.head(top)
        return frame[self.columns].reset_index(drop=True)

    def summary(self) -> BatchSummary:
        """Leads scored, grade counts and the sources of the A-grade leads."""
        if self.totals is not None:
            return self.totals
        grades = self.frame["grade"].value_counts()
        counts = {g: int(grades.get(g, 0)) for g in GRADES}
        source = self.frame["lead_source"]
        sources = source[(self.frame["grade"] == "A") & (source != NO_SOURCE)].value_counts()
        top = top_sources({str(s): int(n) for s, n in sources.items()})
        return BatchSummary(
            len(self.frame),
            counts,
            top,
            self.excluded_converted,
            self.excluded_not_created,
            source_mapped=not (len(source) and (source == NO_SOURCE).all()),
            excluded_stale=self.excluded_stale,
            max_open_days=self.max_open_days,
        )


def top_sources(counts: dict[str, int], n: int = 5) -> list[tuple[str, int]]:
    """The `n` lead sources with the most A leads, most first, ties by name (the summary's
    rule on either engine)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def parse_as_of(
    text: str | None, leads: pd.DataFrame, events: pd.DataFrame, *, now: pd.Timestamp | None = None
) -> pd.Timestamp:
    """The scoring moment (UTC) from `--as-of` for the leads and events in memory."""
    return as_of_moment(text, lambda: data_end(leads, events), now=now)


def as_of_moment(
    text: str | None, latest: Callable[[], pd.Timestamp], *, now: pd.Timestamp | None = None
) -> pd.Timestamp:
    """The scoring moment (UTC) from `--as-of`.

    None or "now": the wall clock. "latest": midnight UTC after the last timestamp in the
    data (`latest()`, asked only then), i.e. "this morning" for a fresh export. Otherwise
    an ISO 8601 date or time; one without a time zone is read as UTC.
    """
    if text is None or text.strip().lower() == "now":
        stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    elif text.strip().lower() == "latest":
        stamp = latest().tz_convert("UTC").floor("D") + pd.Timedelta(days=1)
    else:
        try:
            stamp = pd.Timestamp(text.strip())
        except (ValueError, TypeError) as exc:
            raise InputError(
                "cannot read the scoring moment",
                option="--as-of",
                value=text,
                expected="an ISO 8601 date or time such as 2025-06-30 or 2025-06-30T08:00Z, "
                "'now' or 'latest'",
            ) from exc
        if pd.isna(stamp):
            raise InputError("empty scoring moment", option="--as-of", value=text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def open_leads(leads: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.DataFrame, int, int]:
    """Leads created by `as_of` that had not converted by then.

    Returns (open leads, converted by as_of, created after as_of).
    """
    created = leads[schema.CREATED_AT]
    born = (created <= as_of).to_numpy(dtype=bool)
    if schema.CONVERTED_AT in leads and leads[schema.CONVERTED_AT].notna().any():
        converted = leads[schema.CONVERTED_AT]
        won = (converted.notna() & (converted <= as_of)).to_numpy(dtype=bool)
    else:
        won = np.zeros(len(leads), dtype=bool)
    keep = born & ~won
    return leads.loc[keep], int((born & won).sum()), int((~born).sum())


def drop_stale(
    todo: pd.DataFrame, as_of: pd.Timestamp, max_open_days: int
) -> tuple[pd.DataFrame, int]:
    """Open leads without the stale ones (`bundle.is_stale`: older than `max_open_days`
    whole days at `as_of`; 0 keeps all). Returns (kept leads, stale count)."""
    seconds = (as_of - todo[schema.CREATED_AT]).dt.total_seconds().to_numpy()
    stale = is_stale(np.floor(seconds / 86_400), max_open_days)
    return todo.loc[~stale], int(stale.sum())


def score_open_leads(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Scorer,
    *,
    as_of: pd.Timestamp,
    grade_mode: GradeMode = "model",
    grade_shares: dict[str, float] = DEFAULT_GRADE_SHARES,
    max_open_days: int = 0,
    pass_through: Sequence[str] = (),
    chunk_size: int = 50_000,
    on_progress: Progress | None = None,
    scored_at: pd.Timestamp | None = None,
    source: str = "",
) -> RankedBatch:
    """Score and explain every open lead as of `as_of` and rank them.

    Leads open for more than `max_open_days` (0: no limit) are left out and counted;
    `grade_shares` are batch grade mode's shares (`config.grades.fractions()`). Features
    are built once for the whole batch; scoring and explanations run in chunks of
    `chunk_size` leads, calling `on_progress(done, total)` after each.

    Two steps, which the Dask engine (`leadml.engine.score`) takes per partition and
    globally: `score_part` scores the leads, `rank_batch` grades (batch mode) and ranks.
    """
    check_grade_mode(grade_mode)
    as_of = utc(as_of)
    scored_at = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
    part = score_part(
        leads,
        events,
        scorer,
        as_of=as_of,
        max_open_days=max_open_days,
        pass_through=pass_through,
        chunk_size=chunk_size,
        on_progress=on_progress,
        scored_at=scored_at,
    )
    return RankedBatch(
        frame=rank_batch(part.frame, grade_mode, grade_shares, pass_through),
        as_of=as_of,
        scored_at=scored_at,
        model_version=scorer.model_version,
        grade_mode=grade_mode,
        pass_through=tuple(pass_through),
        warnings=part.warnings,
        excluded_converted=part.excluded_converted,
        excluded_not_created=part.excluded_not_created,
        excluded_stale=part.excluded_stale,
        max_open_days=max_open_days,
        source=source,
    )


@dataclass(frozen=True)
class ScoredPart:
    """Some open leads scored and explained, not yet graded by batch or ranked: every lead
    of a local batch, or one partition's on the Dask engine (`score_part`)."""

    frame: pd.DataFrame
    """The list's columns but rank (trend "new"), the pass-through ones, then REASONS_JSON,
    TOP_REASON, PREVIOUS_GRADE and raw_score; in the order the features were built."""
    warnings: tuple[str, ...] = ()
    excluded_converted: int = 0
    excluded_not_created: int = 0
    excluded_stale: int = 0


def utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """A moment in UTC (one without a time zone is read as UTC)."""
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def score_part(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Scorer,
    *,
    as_of: pd.Timestamp,
    scored_at: pd.Timestamp,
    max_open_days: int = 0,
    pass_through: Sequence[str] = (),
    chunk_size: int = 50_000,
    on_progress: Progress | None = None,
) -> ScoredPart:
    """Open leads of `leads` (with their `events`) as of `as_of`, scored and explained, with
    the counts of the leads left out. Pure and per lead: a partition holding whole leads
    and their events gives exactly the rows the whole batch gives for them."""
    if chunk_size < 1:
        raise InputError("chunk size must be positive", column="chunk_size", value=chunk_size)
    as_of = utc(as_of)
    warnings: list[str] = []
    missing = [c for c in pass_through if c not in leads.columns]
    for name in missing:
        warnings.append(f"pass-through column {name!r} is not in the leads table; left empty")
    todo, n_converted, n_unborn = open_leads(leads, as_of)
    todo, n_stale = drop_stale(todo, as_of, max_open_days)
    cutoff = scorer.cutoff_for(todo, as_of)
    warnings += scorer.age_warnings(todo, cutoff)
    warnings += scorer.event_age_warnings(events, cutoff)
    raw = scorer.raw_features(todo, events, cutoff)
    parts = score_in_chunks(scorer, raw, chunk_size, warnings, on_progress)
    frame = assemble(parts, todo, raw.index, scorer.model_version, scored_at)
    attach_pass_through(frame, todo.set_index(schema.LEAD_ID), pass_through)
    return ScoredPart(frame, tuple(warnings), n_converted, n_unborn, n_stale)


def batch_grade_thresholds(
    probability: np.ndarray, shares: dict[str, float] = DEFAULT_GRADE_SHARES
) -> dict[str, float] | None:
    """Batch grade mode's thresholds: the given shares of this batch's probabilities
    (None for an empty batch). Computed over the whole batch, even when it is scored in
    partitions."""
    p = np.asarray(probability, dtype=np.float64)
    return grade_thresholds(p, shares) if len(p) else None


def grades_within_batch(
    probability: np.ndarray, shares: dict[str, float] = DEFAULT_GRADE_SHARES
) -> np.ndarray:
    """Relative grades: the given shares (`[grades] shares`; A 10%, B 20%, C 30%) of this batch.

    Thresholds are this batch's probability quantiles, computed by the same function
    training uses on validation leads, so tied probabilities always share a grade.
    """
    p = np.asarray(probability, dtype=np.float64)
    thresholds = batch_grade_thresholds(p, shares)
    if thresholds is None:
        return np.empty(0, dtype=object)
    return grades_from_probability(p, thresholds)


def check_grade_mode(grade_mode: str) -> None:
    if grade_mode not in GRADE_MODES:
        raise InputError(
            "unknown grade mode", column="grade_mode", value=grade_mode, expected="model or batch"
        )


def rank_batch(
    frame: pd.DataFrame,
    grade_mode: str,
    grade_shares: dict[str, float],
    pass_through: Sequence[str],
) -> pd.DataFrame:
    """A whole batch's `ScoredPart.frame` graded (batch mode) and ranked: the list's frame."""
    if grade_mode == "batch":
        frame = frame.assign(
            grade=grades_within_batch(frame["probability"].to_numpy(), grade_shares)
        )
    return with_ranks(frame, ranks(frame), pass_through)


def ranks(frame: pd.DataFrame) -> np.ndarray:
    """Each row's rank (1..n) by the ranked list's rule (`rank_order`), in row order. The
    Dask engine calls it on the gathered keys (score, probability, raw_score, lead_id)."""
    order = rank_order(
        frame["score"].to_numpy(),
        frame["probability"].to_numpy(),
        frame["raw_score"].to_numpy(),
        frame["lead_id"].to_numpy(),
    )
    out = np.empty(len(frame), dtype=np.int64)
    out[order] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return out


def with_ranks(frame: pd.DataFrame, rank: np.ndarray, pass_through: Sequence[str]) -> pd.DataFrame:
    """Scored rows with their `rank`, in rank order and in the list frame's column order."""
    ranked = frame.assign(rank=np.asarray(rank, dtype=np.int64))
    ranked = ranked.sort_values("rank", kind="mergesort")
    return ranked[list_columns(pass_through)].reset_index(drop=True)


def list_columns(pass_through: Sequence[str]) -> list[str]:
    """The columns of a `RankedBatch.frame`, in order."""
    columns = [*RANKED_COLUMNS, *pass_through, REASONS_JSON, TOP_REASON, PREVIOUS_GRADE]
    columns.append("raw_score")
    return columns
