"""Writing a scored batch: the ranked list file and the scores store, so that they never
disagree, on either engine.

The list is staged (a complete temp file, or a temp folder of Parquet part files) from
the frame whose trend was just set against the stored scores, inside the store's
transaction, and put in place only after the commit: a failed store write leaves the
previous list, which still matches the store's latest batch. `leadml.jobs.score` scores;
this module writes what it scored (`write_batch_file` for a batch in memory,
`write_dask_batch` for one whose ranked partitions are on a Dask cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadml.batch import SHOWN_ROWS, RankedBatch
from leadml.config import Config
from leadml.data.atomic import StagedFile, StagedFolder, stage_folder, stage_table
from leadml.errors import InputError, WriteError
from leadml.ranked import csv_cells, with_trend

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadml.engine.score import DaskBatch

Step = Callable[[str], None]
ListFile = tuple[RankedBatch, StagedFile | None]


@dataclass(frozen=True)
class BatchOutcome:
    """What `run_batch` did: the batch, where the list went, and the stored batch id.

    `batch.frame` carries each lead's trend, previous_score and previous_grade against the
    store (as stored, or as read from it with `--no-store`)."""

    batch: RankedBatch
    out_path: Path | None
    store_url: str | None
    batch_id: int | None


def check_renames(renames: dict[str, str], columns: list[str]) -> None:
    """Refuse `[score.columns]` keys that are not columns of the list, and new names that
    another column of the list already has (one line each)."""
    unknown = [name for name in renames if name not in columns]
    if unknown:
        raise InputError(
            f"[score.columns] renames {', '.join(map(repr, unknown))}, which the ranked list "
            "does not have",
            setting="[score.columns]",
            value=unknown[0],
            expected=f"keys among the list's columns: {', '.join(columns)}",
        )
    kept = [name for name in columns if name not in renames]
    clash = next((new for new in renames.values() if new in kept), None)
    if clash is not None:
        raise InputError(
            f"[score.columns] gives a column the name {clash!r}, which another column of the "
            "list keeps",
            setting="[score.columns]",
            value=clash,
            expected="new names that no other list column has (rename that column too)",
        )


def list_table(batch: RankedBatch, config: Config, out: Path, top: int | None) -> pd.DataFrame:
    """The list as written to `out`: Parquet keeps canonical names and values; CSV cells
    that a spreadsheet would run are escaped (`[score] csv_formula_guard`); Excel gets
    scored_at as a date; CSV and Excel columns take their `[score.columns]` names."""
    table = batch.table(top)
    if out.name.endswith(".parquet"):
        return table
    check_renames(config.score.columns, list(table.columns))
    if out.name.endswith(".xlsx"):
        table["scored_at"] = pd.to_datetime(table["scored_at"], utc=True)
        return table.rename(columns=config.score.columns)
    return csv_cells(table, config.score.columns, formula_guard=config.score.csv_formula_guard)


def write_batch_file(
    batch: RankedBatch,
    config: Config,
    out: Path | None,
    top: int | None,
    store: bool,
    step: Step,
) -> BatchOutcome:
    """Write the list and the store, as asked; the list carries the store's trend.

    With the store, the list is staged inside the store's transaction, from the frame
    whose trend was just set against the stored scores (a complete 0600 temp file beside
    `out`), and renamed into place only after the commit: a full, read-only or killed
    store write leaves the previous list, which still matches the store's latest batch. A
    failure removes the temp file. Without the store (`--no-store`), the trend is read
    from an existing store by the same rule, and nothing is written to it.
    """
    if not store:
        batch = _trend_from_store(batch, config)
        _, staged = _stage_list(batch, config, out, top, step)
        with staged or nullcontext():
            return BatchOutcome(batch, staged.commit() if staged else None, None, None)
    listed: list[ListFile] = []

    def stage(frame: pd.DataFrame) -> None:
        listed.append(_stage_list(replace(batch, frame=frame), config, out, top, step))

    def write(engine: Engine, place: Callable[[int], None]) -> int:
        from leadml.store import write_batch

        trend = config.store.trend_points
        return write_batch(engine, batch, trend_points=trend, on_trend=stage, on_commit=place)

    def put() -> None:
        staged = listed[0][1] if listed else None
        if staged is not None:
            staged.commit()

    try:
        batch_id = _store_batch(config, out, step, write, put)
    finally:
        for _, staged in listed:
            if staged is not None:
                staged.discard()  # a no-op once committed
    return BatchOutcome(listed[0][0], out, config.store_url, batch_id)


def _stage_list(
    batch: RankedBatch, config: Config, out: Path | None, top: int | None, step: Step
) -> ListFile:
    """The batch and its list staged beside `out` (None: no list file asked for)."""
    if out is None:
        return batch, None
    step(f"writing {out}")
    return batch, stage_table(list_table(batch, config, out, top), out, "the ranked list")


def _trend_from_store(batch: RankedBatch, config: Config) -> RankedBatch:
    """`--no-store`: the batch's trend against the store's latest scores, when a store
    exists (it is only read); a store that cannot be read leaves a warning."""
    previous, note = _previous_from_store(config)
    if note is not None:
        return replace(batch, warnings=(*batch.warnings, note))
    if previous is None:
        return batch
    return replace(batch, frame=with_trend(batch.frame, previous, config.store.trend_points))


def _store_batch(
    config: Config,
    out: Path | None,
    step: Step,
    write: Callable[[Engine, Callable[[int], None]], int],
    put_list: Callable[[], object],
) -> int:
    """Write the batch to the store with `write(engine, on_commit)`, which stages the list
    inside the transaction; `put_list` puts the staged list in place right after the
    commit. A store failure says what became of the list (one line)."""
    from leadml.store import StoreError, open_store  # SQLAlchemy: storing only

    def place(batch_id: int) -> None:
        try:
            put_list()
        except WriteError as exc:
            raise replace(
                exc,
                note=f"Batch {batch_id} is in the scores store, but the ranked list was not "
                f"updated: run `leadml score` again. {exc.note}".strip(),
            ) from exc

    existed = out is not None and out.exists()
    step("writing the scores store")
    try:
        engine = open_store(config.store_url)
        try:
            return write(engine, place)
        finally:
            engine.dispose()
    except StoreError as exc:
        if out is None:
            raise
        if existed:
            kept = f"The ranked list {out} was left as it was, so it still matches the store."
        else:
            kept = f"No ranked list was written to {out}."
        said = str(exc).rstrip()
        raise StoreError(f"{said}{'' if said.endswith('.') else '.'} {kept}") from exc


GATHER_ROWS = 1_048_575
"""The most leads a CSV or Excel list holds on the Dask engine, where it is gathered into
one file on this machine: an Excel sheet's rows less its header. Longer lists: a Parquet
folder of part files (`--out ranked.parquet`), or `--top N`."""


def write_dask_batch(
    scored: DaskBatch,
    config: Config,
    *,
    out: Path | None,
    top: int | None,
    store: bool,
    step: Step | None = None,
    gather_rows: int = GATHER_ROWS,
) -> BatchOutcome:
    """Write a batch scored on the cluster: the store (one transaction, loaded part by
    part, trend per part by the one rule) and the list staged from the same trended parts,
    put in place after the commit, as `write_batch_file` does for a local batch.

    The list: with `--top N`, the first N rows in one file (only those are fetched without
    the store); a `.parquet` name or a folder name without `--top`, a folder of Parquet
    part files in rank order (part-00000.parquet holds the best leads); a CSV or Excel
    name, the whole list in one file, up to `gather_rows` leads (refused above, before
    anything is written)."""
    step = step or (lambda _message: None)
    if out is not None and top is None and not _parted(out) and scored.leads > gather_rows:
        raise InputError(
            f"the ranked list has {scored.leads:,} leads, more than a CSV or Excel file "
            f"holds on the Dask engine ({gather_rows:,})",
            file=out,
            expected="--out NAME.parquet (a folder of Parquet part files), or --top N",
        )
    sink = _DaskList(scored, config, out, top, step)
    with sink:
        if not store:
            previous, note = _previous_from_store(config)
            trend = config.store.trend_points
            for part in scored.parts():
                sink.add(part if previous is None else with_trend(part, previous, trend))
                if sink.full:
                    break
            sink.stage()
            return BatchOutcome(sink.batch(note), sink.commit(), None, None)

        def parts() -> Iterator[pd.DataFrame]:
            yield from scored.parts()
            sink.stage()  # the last part was added: the list is staged inside the transaction

        def write(engine: Engine, place: Callable[[int], None]) -> int:
            from leadml.store import write_batch_parts

            return write_batch_parts(
                engine,
                scored.batch,
                parts(),
                trend_points=config.store.trend_points,
                on_part=sink.add,
                on_commit=place,
            )

        batch_id = _store_batch(config, out, step, write, sink.commit)
        return BatchOutcome(sink.batch(None), out, config.store_url, batch_id)


class _DaskList:
    """The ranked list of a Dask batch, staged from its trended parts as they pass: a
    folder of Parquet part files, or one file (`--top N`, CSV, Excel) staged once the
    parts are in (`stage`). Keeps the first rows for the outcome's table. Discarded on
    exit unless committed."""

    def __init__(
        self, scored: DaskBatch, config: Config, out: Path | None, top: int | None, step: Step
    ) -> None:
        self.scored = scored
        self.config = config
        self.out = out
        self.top = top
        self.step = step
        self.shown: list[pd.DataFrame] = []
        self.rows: list[pd.DataFrame] = []
        self.kept = 0
        self.seen = 0
        self.folder: StagedFolder | None = None
        self.file: StagedFile | None = None
        if out is not None and top is None and _parted(out):
            step(f"writing {out} (a folder of Parquet part files)")
            self.folder = stage_folder(out, "the ranked list")

    @property
    def full(self) -> bool:
        """Whether later parts change neither the list file nor the rows kept to show."""
        whole = self.out is not None and self.top is None
        return not whole and self.seen >= max(self.top or 0, SHOWN_ROWS)

    def add(self, frame: pd.DataFrame) -> None:
        """The next trended part of the list, in rank order."""
        if self.seen < SHOWN_ROWS:
            self.shown.append(frame.head(SHOWN_ROWS - self.seen))
        self.seen += len(frame)
        record = replace(self.scored.batch, frame=frame)
        if self.folder is not None:
            self.folder.write_table(record.table(), f"part-{len(self.folder.files):05d}.parquet")
        elif self.out is not None and (self.top is None or self.kept < self.top):
            table = record.table(None if self.top is None else self.top - self.kept)
            self.rows.append(table)
            self.kept += len(table)

    def stage(self) -> None:
        """Stage the one list file from the rows gathered (a folder is already staged)."""
        if self.folder is not None or self.out is None:
            return
        record = self.scored.batch
        rows = pd.concat(self.rows, ignore_index=True) if self.rows else record.table().iloc[:0]
        self.step(f"writing {self.out}")
        table = list_table(replace(record, frame=rows), self.config, self.out, None)
        self.file = stage_table(table, self.out, "the ranked list")

    def batch(self, note: str | None) -> RankedBatch:
        """The batch's record with its first (trended) rows."""
        record = self.scored.batch
        first = pd.concat(self.shown, ignore_index=True) if self.shown else record.frame.iloc[:0]
        warnings = record.warnings if note is None else (*record.warnings, note)
        return replace(record, frame=first, warnings=warnings)

    def commit(self) -> Path | None:
        """Put the staged list in place (None: no list asked for)."""
        if self.folder is not None:
            return self.folder.commit()
        return None if self.file is None else self.file.commit()

    def __enter__(self) -> _DaskList:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for staged in (self.folder, self.file):
            if staged is not None:
                staged.discard()  # a no-op once committed


def _previous_from_store(config: Config) -> tuple[pd.DataFrame | None, str | None]:
    """`--no-store`: the store's latest scores to set the trend against (None when there
    is no store), or a warning when it cannot be read."""
    from leadml.store import StoreError, stored_previous_scores  # SQLAlchemy: storing only

    try:
        return stored_previous_scores(config.store_url), None
    except StoreError as exc:
        return None, f"{exc}; every lead's trend says new".replace("\n", " ")


def _parted(out: Path) -> bool:
    """Whether the Dask engine writes `out` as a folder of Parquet part files (a .parquet
    name, or a name without a suffix) rather than one file."""
    return out.name.endswith(".parquet") or not out.suffix
