"""Leads and events read as partitioned Parquet datasets and validated per partition.

A data location (a folder, or an fsspec URL such as s3://bucket/funnel) holds `leads/`
and `events/`, each a folder of Parquet files (a single `leads.parquet` and
`events.parquet` count as one file each). With leadml's manifest (`_leadml.json`, written
by `leadml demo-data --partitions`), leads file i and events file i hold the same leads:
each pair is one partition, read as it is. Without it the files are read as they come,
each row keeping its origin (file, row), and co-partitioned by a hash of lead_id
(`engine.partition.co_partition`).

Each partition is validated on the workers by the same checks `load_dataset` runs
(`data.validate.check_tables`), so the clean frames have the same dtypes and values.
Validation runs once eagerly, gathering only the problems, the notes, each partition's
lead_id range and its bounds (the data's end and earliest created_at, returned as
`Tables.bounds`, so no job needs another pass for them): an error stops reading with one
line naming the file, the partition, the row within that file and the column. The
frames returned are lazy: a job that computes them reads and cleans each partition again
(twice the reading, never the whole data in memory). Duplicate lead_ids across manifest
partitions are caught from the partitions' lead_id ranges (disjoint ranges: none
possible), else by hashes of the ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import ComputeConfig
from leadml.data.io import MANIFEST, RawTable, read_parquet_source
from leadml.data.validate import Problem
from leadml.data.validate.folder import utc_now
from leadml.engine.partition import (
    DataBounds,
    co_partition,
    whole_bounds,
)
from leadml.engine.validate import (
    FILE_COLUMN,
    ROW_COLUMN,
    Checked,
    check,
    check_shuffled,
    cross_duplicates,
    one_line,
    part_frame,
    summary,
)
from leadml.errors import InputError

if TYPE_CHECKING:
    import dask.dataframe as dd
    from fsspec import AbstractFileSystem


@dataclass(frozen=True)
class Tables:
    """Validated leads and events as co-partitioned Dask frames (partition i of events
    holds exactly the events of partition i's leads), and what validation reported."""

    leads: dd.DataFrame
    events: dd.DataFrame
    npartitions: int
    location: str
    bounds: DataBounds
    """The data's end and earliest created_at, found by the validation pass: use them
    rather than another pass over the frames."""
    warnings: tuple[Problem, ...] = ()
    """Warning lines (file, partition, row, column), as `leadml validate` words them."""
    notes: tuple[str, ...] = ()
    co_partitioned_files: bool = False
    """True when the manifest said the files are co-partitioned (no shuffle)."""


@dataclass(frozen=True)
class _Files:
    """Where a location's tables are, and how to open them."""

    fs: AbstractFileSystem
    leads: list[str]
    events: list[str]
    shown: dict[str, str]
    """How problems name each file: the local path, or the URL."""


def read_tables(
    location: Path | str, compute: ComputeConfig, *, now: pd.Timestamp | None = None
) -> Tables:
    """Read and validate the partitioned leads and events at `location` (a folder or an
    fsspec URL) on the current Dask client; raise `InputError` (one line) on any error.

    `now` (default: the wall clock) is the moment after which timestamps count as future.
    """
    import dask
    import dask.dataframe as dd

    moment = utc_now(now)
    files = _find_files(location)
    manifest = _manifest(files.fs, location)
    paired = (
        manifest is not None
        and manifest.get("co_partitioned_by") == schema.LEAD_ID
        and manifest.get("partitions") == len(files.leads) == len(files.events)
    )
    notes: list[str] = []
    if manifest is not None and not paired:
        notes.append(
            f"{location}: {MANIFEST} does not match the files ({len(files.leads)} leads and "
            f"{len(files.events)} events files for {manifest.get('partitions')!r} partitions): "
            "read as they come and co-partitioned by lead_id"
        )
    if paired:
        checked = [
            dask.delayed(_check_files, pure=True)(files.fs, lp, ep, i, files.shown, moment)
            for i, (lp, ep) in enumerate(zip(files.leads, files.events, strict=True))
        ]
    else:
        checked = _shuffled(files, _partitions(compute, len(files.leads)), moment)
    summaries = dask.compute(*[dask.delayed(summary)(c) for c in checked])
    problems = [p for s in summaries for p in s.problems]
    errors = [p for p in problems if p.severity == "error"]
    if not errors and paired:
        errors = cross_duplicates(checked, summaries)
    if errors:
        raise one_line(errors, str(location))
    meta_leads = next((s.leads for s in summaries if s.leads is not None), None)
    meta_events = next((s.events for s in summaries if s.events is not None), None)
    if meta_leads is None or meta_events is None:
        raise InputError(
            "no leads in the data", file=str(location), expected="at least one lead row"
        )
    leads = dd.from_delayed(
        [dask.delayed(part_frame)(c, "leads", meta_leads) for c in checked],
        meta=meta_leads,
        verify_meta=False,
    )
    events = dd.from_delayed(
        [dask.delayed(part_frame)(c, "events", meta_events) for c in checked],
        meta=meta_events,
        verify_meta=False,
    )
    return Tables(
        leads=leads,
        events=events,
        npartitions=len(checked),
        location=str(location),
        bounds=whole_bounds(s.bounds for s in summaries),
        warnings=tuple(p for p in problems if p.severity == "warning"),
        notes=(*notes, *(n for s in summaries for n in s.notes)),
        co_partitioned_files=paired,
    )


def _find_files(location: Path | str) -> _Files:
    """The leads and events Parquet files at `location`, sorted by name."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(location))
    root = root.rstrip("/")
    url = isinstance(location, str) and "://" in location
    found: dict[str, list[str]] = {}
    for name in (schema.LEADS, schema.EVENTS):
        folder, single = f"{root}/{name}", f"{root}/{name}.parquet"
        if fs.isdir(folder):
            found[name] = sorted(p for p in fs.find(folder) if p.endswith(".parquet"))
        elif fs.isfile(single):
            found[name] = [single]
        else:
            found[name] = []
        if not found[name]:
            raise InputError(
                f"no {name} table found",
                file=str(location),
                expected=f"a folder {name}/ of Parquet files (part-00000.parquet, ...) or a "
                f"file {name}.parquet in {location}",
            )
    every = [*found[schema.LEADS], *found[schema.EVENTS]]
    shown = {p: fs.unstrip_protocol(p) if url else p for p in every}
    return _Files(fs, found[schema.LEADS], found[schema.EVENTS], shown)


def _manifest(fs: AbstractFileSystem, location: Path | str) -> dict[str, Any] | None:
    import fsspec

    _, root = fsspec.core.url_to_fs(str(location))
    path = f"{root.rstrip('/')}/{MANIFEST}"
    if not fs.isfile(path):
        return None
    with fs.open(path, "rb") as fh:
        try:
            data = json.loads(fh.read())
        except ValueError as exc:
            raise InputError(
                f"the manifest is not JSON: {exc}",
                file=str(path),
                expected='{"co_partitioned_by": "lead_id", "partitions": N, "format": 1}, or '
                "no manifest (the files are then co-partitioned by lead_id when read)",
            ) from exc
    return data if isinstance(data, dict) else None


def _partitions(compute: ComputeConfig, files: int) -> int:
    """`[compute] partitions`, or two per worker thread (the files' count if larger)."""
    if compute.partitions:
        return compute.partitions
    try:
        from distributed import default_client

        from leadml.engine.cluster import worker_threads

        threads = worker_threads(default_client())
    except ValueError:  # no client: the LocalCluster the config describes
        threads = compute.workers * compute.threads_per_worker
    return max(2 * threads, files)


def _read(fs: AbstractFileSystem, path: str, label: str) -> RawTable:
    with fs.open(path, "rb") as fh:
        return read_parquet_source(fh, Path(path), label=label)


def _check_files(
    fs: AbstractFileSystem,
    leads_path: str,
    events_path: str,
    index: int,
    shown: dict[str, str],
    now: pd.Timestamp,
) -> Checked:
    """Validate partition `index`: leads file i and events file i (the manifest pairs them)."""
    leads = _read(fs, leads_path, f"{shown[leads_path]} (partition {index})")
    events = _read(fs, events_path, f"{shown[events_path]} (partition {index})")
    return check(leads, events, now)


def _shuffled(files: _Files, npartitions: int, now: pd.Timestamp) -> list[Any]:
    """Files without a manifest: read as they come (origin kept), co-partitioned by
    lead_id, then validated per partition."""
    import dask
    import dask.dataframe as dd

    frames, dtypes = [], []
    for paths in (files.leads, files.events):
        texts = _mixed_columns(files.fs, paths)
        meta = _origin_part(files.fs, paths[0], 0, texts).iloc[:0]
        dtypes.append(meta.dtypes.to_dict())
        frames.append(
            dd.from_map(
                _origin_part,
                [files.fs] * len(paths),
                paths,
                list(range(len(paths))),
                [texts] * len(paths),
                meta=meta,
                enforce_metadata=False,
            )
        )
    for frame, paths in zip(frames, (files.leads, files.events), strict=True):
        if schema.LEAD_ID not in frame.columns:
            raise InputError(
                "no lead_id column",
                file=files.shown[paths[0]],
                column=schema.LEAD_ID,
                expected="a column named 'lead_id' in every leads and events file",
            )
    leads, events = co_partition(frames[0], frames[1], npartitions)
    names = (
        [files.shown[p] for p in files.leads],
        [files.shown[p] for p in files.events],
    )
    return [
        dask.delayed(check_shuffled, pure=True)(lp, ep, i, names, dtypes, now)
        for i, (lp, ep) in enumerate(zip(leads.to_delayed(), events.to_delayed(), strict=True))
    ]


def _mixed_columns(fs: AbstractFileSystem, paths: list[str]) -> tuple[str, ...]:
    """Columns whose type differs between files (one file typed, another text): read as
    text everywhere, as the validator reads a CSV, so the files can be shuffled together."""
    import pyarrow.parquet as pq

    types: dict[str, set[str]] = {}
    for path in paths:
        with fs.open(path, "rb") as fh:
            for field in pq.read_schema(fh):
                types.setdefault(field.name, set()).add(str(field.type))
    return tuple(name for name, seen in types.items() if len(seen) > 1)


def _origin_part(
    fs: AbstractFileSystem, path: str, index: int, texts: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One file's rows with their origin: the file's number and the row within it
    (`texts`: columns turned into text, missing values kept missing)."""
    frame = _read(fs, path, path).frame
    for column in texts:
        if column in frame:
            values = frame[column]
            text = values.astype(object).map(lambda v: v if isinstance(v, str) else str(v))
            frame[column] = pd.Series(text.where(values.notna()), dtype="str")
    return frame.assign(
        **{FILE_COLUMN: np.full(len(frame), index), ROW_COLUMN: np.arange(1, len(frame) + 1)}
    )
