"""The synthetic funnel at scale: drawn chunk by chunk and written as partitioned Parquet.

A funnel of N leads is ceil(N / `CHUNK_LEADS`) chunks of even size, each drawn alone,
so memory holds one chunk (about 0.5 GiB per 250,000 leads) whatever N is. Chunk 0 is
drawn from `seed` exactly as `generate_funnel(n0, seed=seed)` draws (so up to
`CHUNK_LEADS` leads the rows are today's, whatever the partitions); chunk k >= 1 from
`default_rng([seed, k])`. Above one chunk the rows differ from one `generate_funnel(N)`
draw, and so does this much of their shape:

- lead ids count on from chunk to chunk, so they follow creation time within a chunk
  only (every chunk covers the whole span, 2024-01-01 to the extraction);
- people register twice within their chunk only, about as long after the first
  registration as in one draw (each chunk spans the whole period);
- every chunk uses chunk 0's companies (min(n0 // 5, 31,200) of them), where one draw
  would have min(N // 5, 31,200): a company keeps its size, industry and country;
- events are in time order within each part file, not across files.

The source mix drifting over time, review sites in the last 90 days only and anonymous
visits stitched before a lead's creation are drawn per lead, so chunks keep them.

Partitions: with at least as many chunks as partitions, part i appends a run of whole
chunks; with fewer, each chunk is cut into several parts by lead id. Leads, events and
truth part i always hold the same leads (co-partitioned), and the same N, seed and
partitions give the same bytes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from leadml import schema
from leadml.data.io import MANIFEST, MANIFEST_FORMAT, TABLE_SUFFIXES, part_name
from leadml.data.synth.funnel import funnel_from
from leadml.data.synth.leads import company_table
from leadml.data.synth.tables import Funnel
from leadml.data.synth.writer import PARQUET_COMPRESSION, TABLES, arrow_table
from leadml.errors import InputError

CHUNK_LEADS: Final = 250_000
"""Leads drawn at once: bounds the generator's memory (about 0.5 GiB per chunk)."""


@dataclass(frozen=True)
class Chunk:
    """One chunk of the funnel: its number and its leads' 0-based global positions."""

    index: int
    first: int
    size: int


@dataclass(frozen=True)
class FunnelPlan:
    """What every chunk needs to draw itself: the funnel's size, seed and chunk size."""

    n_leads: int
    seed: int
    chunk_leads: int = CHUNK_LEADS

    def chunks(self) -> list[Chunk]:
        """The chunks, of even size, in lead id order."""
        count = -(-self.n_leads // self.chunk_leads)
        sizes = [self.n_leads // count + (k < self.n_leads % count) for k in range(count)]
        starts = np.cumsum([0, *sizes[:-1]]).tolist()
        return [Chunk(k, int(s), n) for k, (s, n) in enumerate(zip(starts, sizes, strict=True))]

    def draw(self, chunk: Chunk) -> Funnel:
        """Draw one chunk (the same rows wherever and whenever it is drawn)."""
        first = self.chunks()[0]
        companies = None
        if chunk.index > 0:
            companies = company_table(np.random.default_rng(self.seed), first.size)
        rng = np.random.default_rng(self.seed if chunk.index == 0 else [self.seed, chunk.index])
        return funnel_from(
            rng,
            chunk.size,
            first_id=chunk.first + 1,
            id_width=max(7, len(str(self.n_leads))),
            companies=companies,
        )


@dataclass(frozen=True)
class PartTask:
    """One unit of work: draw `chunks` and write them as the part files `parts` (one part
    appending several chunks, or one chunk cut into several parts)."""

    chunks: tuple[Chunk, ...]
    parts: tuple[int, ...]


@dataclass(frozen=True)
class Written:
    """What a task wrote."""

    chunks: int
    leads: int
    events: int


def plan_tasks(plan: FunnelPlan, partitions: int) -> list[PartTask]:
    """Cut the funnel's chunks into `partitions` part files, as tasks that share no file."""
    chunks = plan.chunks()
    n = len(chunks)
    if partitions <= n:
        return [
            PartTask(tuple(chunks[i * n // partitions : (i + 1) * n // partitions]), (i,))
            for i in range(partitions)
        ]
    return [
        PartTask((chunk,), tuple(range(k * partitions // n, (k + 1) * partitions // n)))
        for k, chunk in enumerate(chunks)
    ]


def write_task(task: PartTask, plan: FunnelPlan, folder: str) -> Written:
    """Draw a task's chunks and write its part files under `folder` (leads/, events/ and
    truth/ exist). Runs in this process or on a Dask worker."""
    root = Path(folder)
    if not all((root / name).is_dir() for name in TABLES):
        raise unshared_folder(folder, "its leads/, events/ and truth/ are not on this worker")
    leads = events = 0
    if len(task.parts) == 1:
        writers: dict[str, pq.ParquetWriter] = {}
        try:
            for chunk in task.chunks:
                funnel = plan.draw(chunk)
                for name, frame in _frames(funnel).items():
                    table = arrow_table(frame)
                    if name not in writers:
                        path = root / name / part_name(task.parts[0])
                        writers[name] = pq.ParquetWriter(
                            path, table.schema, compression=PARQUET_COMPRESSION
                        )
                    writers[name].write_table(table.cast(writers[name].schema))
                leads, events = leads + len(funnel.leads), events + len(funnel.events)
        finally:
            for writer in writers.values():
                writer.close()
        return Written(len(task.chunks), leads, events)
    (chunk,) = task.chunks
    funnel = plan.draw(chunk)
    cuts = np.linspace(0, len(funnel.leads), len(task.parts) + 1).round().astype(int)
    for part, lo, hi in zip(task.parts, cuts[:-1], cuts[1:], strict=True):
        ids = funnel.leads[schema.LEAD_ID].iloc[lo:hi]
        piece = {
            schema.LEADS: funnel.leads.iloc[lo:hi],
            schema.EVENTS: funnel.events[funnel.events[schema.LEAD_ID].isin(ids)],
            schema.TRUTH: funnel.truth.iloc[lo:hi],
        }
        for name, frame in piece.items():
            table = arrow_table(frame.reset_index(drop=True))
            pq.write_table(table, root / name / part_name(part), compression=PARQUET_COMPRESSION)
    return Written(1, len(funnel.leads), len(funnel.events))


def _frames(funnel: Funnel) -> dict[str, pd.DataFrame]:
    return {schema.LEADS: funnel.leads, schema.EVENTS: funnel.events, schema.TRUTH: funnel.truth}


Runner = Callable[[Callable[[PartTask], Written], list[PartTask]], Iterable[Written]]
"""Runs a task function over the tasks, yielding each result as it completes."""


def run_here(fn: Callable[[PartTask], Written], tasks: list[PartTask]) -> Iterator[Written]:
    """Run the tasks one after another in this process."""
    for task in tasks:
        yield fn(task)


def write_partitioned(
    n_leads: int,
    out_dir: Path,
    *,
    seed: int,
    partitions: int,
    chunk_leads: int = CHUNK_LEADS,
    run: Runner = run_here,
    on_progress: Callable[[int, int], None] | None = None,
) -> Written:
    """Write the funnel as partitioned Parquet (leads/, events/, truth/ and the manifest)
    into out_dir, all or nothing: everything is written into a folder beside out_dir and
    moved into place at the end, so a failure leaves out_dir as it was.

    `run` decides where the tasks run (here, or on Dask workers: `engine.generate`);
    `on_progress` hears (chunks done, chunks).
    """
    if n_leads < 1:
        raise InputError("need at least one lead", option="--leads", value=n_leads)
    if partitions < 1:
        raise InputError("need at least one partition", option="--partitions", value=partitions)
    plan = FunnelPlan(n_leads, seed, chunk_leads)
    tasks = plan_tasks(plan, partitions)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    trash = staging / "replaced"
    try:
        build = staging / out_dir.name
        for name in TABLES:
            (build / name).mkdir(parents=True)
        total = len(plan.chunks())
        done = Written(0, 0, 0)
        folder = str(build.resolve())  # workers elsewhere resolve no relative path
        for result in run(lambda task: write_task(task, plan, folder), tasks):
            done = Written(
                done.chunks + result.chunks, done.leads + result.leads, done.events + result.events
            )
            if on_progress is not None:
                on_progress(done.chunks, total)
        _require_parts(build, partitions, out_dir)
        manifest = {"co_partitioned_by": schema.LEAD_ID, "partitions": partitions}
        (build / MANIFEST).write_text(json.dumps({**manifest, "format": MANIFEST_FORMAT}) + "\n")
        _place(build, out_dir, trash)
    except BaseException:
        if not (trash.is_dir() and any(trash.iterdir())):  # else it holds the old dataset
            shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return done


def _require_parts(build: Path, partitions: int, out_dir: Path) -> None:
    """Refuse to put a dataset in place unless every table holds all its part files: Dask
    workers on other machines write to their own disks, and this machine sees nothing."""
    for name in TABLES:
        missing = [i for i in range(partitions) if not (build / name / part_name(i)).is_file()]
        if missing:
            why = (
                f"{len(missing)} of {partitions} {name} part files are not there "
                f"(e.g. {part_name(missing[0])})"
            )
            raise unshared_folder(build, why, out_dir)


def unshared_folder(folder: Path | str, why: str, out_dir: Path | None = None) -> InputError:
    """The one error for a build folder that the workers and this machine do not share."""
    return InputError(
        f"the workers could not write to {folder}: {why}; the folder is left as it was",
        option="--out",
        value=None if out_dir is None else str(out_dir),
        expected="a folder every Dask worker and this machine share (a network mount), "
        "or --engine local to write it here",
    )


def _place(build: Path, out_dir: Path, trash: Path) -> None:
    """Move the built dataset into out_dir: by one rename when out_dir is new, else entry
    by entry, moving the old dataset (single table files or parts) out of the way into
    `trash`. If a rename fails, whatever moved is moved back, so out_dir holds the old
    dataset; should that fail too, the old dataset stays in `trash` and the error says so."""
    if not out_dir.exists():
        build.rename(out_dir)
        return
    trash.mkdir()
    old = [out_dir / f"{name}{suffix}" for name in TABLES for suffix in TABLE_SUFFIXES]
    old += [out_dir / name for name in (*TABLES, MANIFEST)]
    moved: list[tuple[Path, Path]] = []  # (from, to), in the order they moved
    try:
        for path in old:
            if path.exists():
                path.rename(trash / path.name)
                moved.append((path, trash / path.name))
        for name in (*TABLES, MANIFEST):
            (build / name).rename(out_dir / name)
            moved.append((build / name, out_dir / name))
    except OSError as exc:
        try:
            for source, target in reversed(moved):
                target.rename(source)
        except OSError as undo:
            raise InputError(
                f"could not put the new dataset in place ({exc}) nor the old one back "
                f"({undo}): the old dataset is in {trash}",
                file=out_dir,
                expected=f"its entries moved back from {trash} by hand",
            ) from exc
        raise InputError(
            f"could not put the new dataset in place: {exc}; the old dataset is as it was",
            file=out_dir,
            expected="a folder whose leads, events, truth and _leadml.json entries can be "
            "replaced (or another --out)",
        ) from exc


def partitioned_paths(out_dir: Path) -> list[Path]:
    """The table folders and the manifest of a partitioned dataset (for the CLI to list)."""
    return [out_dir / name for name in (*TABLES, MANIFEST)]
