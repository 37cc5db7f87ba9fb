"""Drift on the Dask engine: the current population's PSI from histograms summed over
partitions.

Each pair of co-partitioned partitions (whole leads with their events) runs the local
engine's own code, `population_part` then `tally`, as of the whole data's end (from
`read_tables`' validation pass, `Tables.bounds`). Its tally holds the leads in each of the
reference's bins, the level counts and one (label, probability) pair per labelled lead;
the tallies add up to the whole data's, so `compare` gives the local engine's report.
Only the tallies are gathered; the bundle reaches the workers as batch scoring sends it
(`engine.score.bundle_files`, one Scorer per worker process).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadml.config import ComputeConfig
from leadml.engine.partition import DataBounds, bounds_of
from leadml.engine.score import BundleFiles, bundle_files, worker_scorer
from leadml.monitor.drift.population import population_part, reference_of, require_leads
from leadml.monitor.drift.report import Tally, tally

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from leadml.bundle import Bundle


def read_and_tally(
    bundle: Bundle,
    location: Path | str,
    compute: ComputeConfig,
    *,
    since: pd.Timestamp | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[Tally, pd.Timestamp]:
    """Read the current data at `location` on a Dask cluster (`[compute]`) and tally it:
    the tally and the end of the data."""
    from leadml.engine.cluster import dask_client
    from leadml.engine.read import read_tables

    with dask_client(compute, on_step=on_step) as client:
        tables = read_tables(location, compute)
        return drift_tally(
            client, bundle, tables.leads, tables.events, since=since, bounds=tables.bounds
        )


def drift_tally(
    client: Client,
    bundle: Bundle,
    leads: dd.DataFrame,
    events: dd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
    bounds: DataBounds | None = None,
) -> tuple[Tally, pd.Timestamp]:
    """The tally of co-partitioned `leads` and `events` (partition i of each holds the same
    whole leads), and the end of the data.

    `bounds`: the data's (`Tables.bounds`); when None, a first pass finds them (reading
    twice keeps memory bounded, where one graph would hold every partition until the last
    one had given its timestamp)."""
    from dask import delayed

    end = (bounds_of(leads, events) if bounds is None else bounds).end
    pairs = list(zip(leads.to_delayed(), events.to_delayed(), strict=True))
    [files] = client.scatter([bundle_files(bundle)], broadcast=True, hash=False)
    parts = [delayed(_tally, pure=True)(lp, ep, files, end, since) for lp, ep in pairs]
    total: Tally = client.compute(delayed(_sum, pure=True)(parts), sync=True)
    require_leads(total.counts, bundle)
    return total, end


def _tally(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    files: BundleFiles,
    end: pd.Timestamp,
    since: pd.Timestamp | None,
) -> Tally:
    scorer = worker_scorer(files)
    bundle = scorer.bundle
    current = population_part(bundle, leads, events, end=end, since=since, scorer=scorer)
    return tally(reference_of(bundle), current, bundle.spec)


def _sum(parts: list[Tally]) -> Tally:
    return reduce(add, parts)
