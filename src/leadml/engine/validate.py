"""Validation of the Dask engine's partitions: the folder checks on each co-partitioned
pair (`check`, on the workers), what the client gathers of it (`summary`), and lead_ids
used in two partitions (`cross_duplicates`). Reading the files is `engine.read`'s job.

Each partition is validated by the same checks `load_dataset` runs
(`data.validate.check_tables`), so the clean frames have the same dtypes and values, and
every problem names its file, partition, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.io import Origin, RawTable
from leadml.data.validate import Problem, ProblemLog
from leadml.data.validate.folder import check_tables
from leadml.data.validate.leads import CheckedLeads
from leadml.data.validate.parse import TIMESTAMP_DTYPE
from leadml.engine.partition import DataBounds, lead_hash, part_bounds, sort_events, sort_leads
from leadml.errors import InputError

FILE_COLUMN = "_leadml_file"
ROW_COLUMN = "_leadml_row"
"""Origin columns carried through the shuffle when there is no manifest."""


@dataclass(frozen=True)
class Checked:
    """One partition after validation."""

    leads: pd.DataFrame | None
    events: pd.DataFrame | None
    problems: list[Problem]
    notes: list[str]
    id_range: tuple[str, str] | None
    """The smallest and largest clean lead_id (None: no ids)."""
    leads_file: str = ""
    """How problems name the leads file (one file per partition with the manifest)."""
    lead_rows: np.ndarray | None = None
    """Each clean lead's row in its file (the clean leads are in lead_id order)."""
    bounds: DataBounds | None = None
    """The partition's end and earliest created_at (`part_bounds`; None: no lead)."""


def check(leads: RawTable, events: RawTable, now: pd.Timestamp) -> Checked:
    """The folder checks on one partition's pair of raw tables."""
    log, notes = ProblemLog(), list[str]()
    if len(leads.frame):
        clean_leads, clean_events = check_tables(leads, events, now, log, notes)
    elif len(events.frame):  # events without any lead here: all unknown, as in a folder
        clean_leads, clean_events = None, _orphan_events(leads, events, now, log, notes)
    else:
        return Checked(None, None, [], [], None)
    ids = None if clean_leads is None else clean_leads[schema.LEAD_ID].dropna()
    id_range = None if ids is None or ids.empty else (str(ids.min()), str(ids.max()))
    # the order `co_partition` gives, whichever way the partition was read
    rows = np.zeros(0, dtype=np.int64)
    if clean_leads is not None:
        positions = np.arange(len(clean_leads))
        clean_leads = sort_leads(clean_leads.assign(**{ROW_COLUMN: positions}))
        rows = leads.row_numbers(clean_leads.pop(ROW_COLUMN).to_numpy())
    clean_events = None if clean_events is None else sort_events(clean_events)
    bounds = None
    if clean_leads is not None:
        bounds = part_bounds(clean_leads, pd.DataFrame() if clean_events is None else clean_events)
    return Checked(
        clean_leads, clean_events, log.problems(), notes, id_range, leads.name, rows, bounds
    )


def _orphan_events(
    leads: RawTable, events: RawTable, now: pd.Timestamp, log: ProblemLog, notes: list[str]
) -> pd.DataFrame | None:
    from leadml.data.validate.checks import TableCheck
    from leadml.data.validate.events import check_events

    none = pd.DataFrame(
        {
            schema.LEAD_ID: pd.Series([], dtype="str"),
            schema.CREATED_AT: pd.Series([], dtype=TIMESTAMP_DTYPE),
        }
    )
    checked = CheckedLeads(none, leads, True, np.zeros(0, dtype=bool))
    return check_events(TableCheck(events, log, notes), checked, now)


def check_shuffled(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    index: int,
    names: tuple[list[str], list[str]],
    dtypes: list[dict[str, Any]],
    now: pd.Timestamp,
) -> Checked:
    """Validate one co-partitioned pair whose rows came from any files (with the dtypes
    the files were read with: the shuffle turns text into Arrow strings)."""
    raws = []
    for frame, files, table, read_as in zip(
        (leads, events), names, ("leads", "events"), dtypes, strict=True
    ):
        changed = {c: t for c, t in read_as.items() if c in frame and frame[c].dtype != t}
        frame = frame.astype(changed) if changed else frame
        # the first of two rows with one lead_id is the earlier file's, and row's
        keys = [schema.LEAD_ID, FILE_COLUMN, ROW_COLUMN]
        frame = frame.sort_values(keys, kind="mergesort") if table == "leads" else frame
        origin = Origin(
            tuple(f"{name} (partition {index})" for name in files),
            frame[FILE_COLUMN].to_numpy(),
            frame[ROW_COLUMN].to_numpy(),
        )
        data = frame.drop(columns=[FILE_COLUMN, ROW_COLUMN]).reset_index(drop=True)
        label = f"{table} (partition {index})"
        raws.append(RawTable(Path(label), data, "parquet", label=label, origin=origin))
    return check(raws[0], raws[1], now)


def summary(checked: Checked) -> Checked:
    """What the client gathers: problems, notes, the id range and empty frames as meta."""
    return Checked(
        None if checked.leads is None else checked.leads.iloc[:0],
        None if checked.events is None else checked.events.iloc[:0],
        checked.problems,
        checked.notes,
        checked.id_range,
        checked.leads_file,
        bounds=checked.bounds,
    )


def part_frame(checked: Checked, table: str, meta: pd.DataFrame) -> pd.DataFrame:
    """One partition's clean leads or events (an empty partition as `meta`)."""
    frame = checked.leads if table == "leads" else checked.events
    if checked.problems and any(p.severity == "error" for p in checked.problems):
        raise one_line([p for p in checked.problems if p.severity == "error"], table)
    return meta.iloc[:0] if frame is None else frame


def cross_duplicates(checked: list[Any], summaries: tuple[Checked, ...]) -> list[Problem]:
    """Lead ids used in two manifest partitions. Disjoint id ranges rule it out cheaply;
    otherwise the ids' hashes are gathered and any repeat is confirmed on its ids."""
    import dask

    ranges = sorted((s.id_range, i) for i, s in enumerate(summaries) if s.id_range is not None)
    if all(a[0][1] < b[0][0] for a, b in zip(ranges, ranges[1:], strict=False)):
        return []
    hashes = dask.compute(*[dask.delayed(_id_hashes)(c) for c in checked])
    every = np.concatenate(list(hashes))
    values, counts = np.unique(every, return_counts=True)
    repeated = values[counts > 1]
    if len(repeated) == 0:
        return []
    found = dask.compute(*[dask.delayed(_ids_hashed)(c, repeated) for c in checked])
    first: dict[str, str] = {}
    problems = []
    for rows in found:
        for lead_id, file, row in rows:
            if lead_id in first:
                problems.append(
                    Problem(
                        "error",
                        "duplicate_lead_id",
                        file,
                        row,
                        schema.LEAD_ID,
                        lead_id,
                        f"a unique lead_id; {lead_id!r} is already used at {first[lead_id]}: "
                        "remove or renumber the copy",
                    )
                )
            else:
                first[lead_id] = f"{file} row {row}"
    return problems


def _id_hashes(checked: Checked) -> np.ndarray:
    if checked.leads is None:
        return np.zeros(0, dtype=np.uint64)
    return np.asarray(lead_hash(checked.leads[schema.LEAD_ID].dropna()), dtype=np.uint64)


def _ids_hashed(checked: Checked, hashes: np.ndarray) -> list[tuple[str, str, int]]:
    """(lead_id, file, row) of the partition's leads whose id hash is in `hashes`."""
    if checked.leads is None:
        return []
    ids = checked.leads[schema.LEAD_ID]
    hit = np.isin(lead_hash(ids), hashes) & ids.notna().to_numpy()
    rows = checked.lead_rows if checked.lead_rows is not None else np.arange(1, len(ids) + 1)
    return [(str(ids.iloc[p]), checked.leads_file, int(rows[p])) for p in np.flatnonzero(hit)]


def one_line(errors: list[Problem], where: str) -> InputError:
    """The first error as one line, with how many more there are."""
    first = errors[0]
    more = sum(p.count for p in errors) - 1
    tail = f" ({more:,} more error(s) in {where})" if more > 0 else ""
    return InputError(
        f"{first.code}{tail}",
        file=first.file,
        row=first.row,
        column=first.column,
        value=first.value,
        expected=first.expected,
    )
