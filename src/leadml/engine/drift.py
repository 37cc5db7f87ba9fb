"""Drift on the Dask engine: the current population's PSI from histograms summed over
partitions.

Each pair of co-partitioned partitions (whole leads with their events) runs the local
engine's own code, `population_part` then `tally`, as of the whole data's end, which a
first pass reduces (one timestamp per partition). Its tally holds the leads in each of the
reference's bins, the level counts and one (label, probability) pair per labelled lead;
the tallies add up to the whole data's, so `compare` gives the local engine's report.
Only the tallies are gathered; the bundle is sent to every worker once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadml.config import ComputeConfig
from leadml.errors import InputError
from leadml.model.labels import data_end
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
        return drift_tally(client, bundle, tables.leads, tables.events, since=since)


def drift_tally(
    client: Client,
    bundle: Bundle,
    leads: dd.DataFrame,
    events: dd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
) -> tuple[Tally, pd.Timestamp]:
    """The tally of co-partitioned `leads` and `events` (partition i of each holds the same
    whole leads), and the end of the data.

    Two passes: the first finds the end of the data (one timestamp per partition), the
    second tallies each partition as of it. Reading twice keeps memory bounded; one
    graph would hold every partition until the last one had given its timestamp."""
    from dask import delayed

    if leads.npartitions != events.npartitions:
        raise ValueError(
            f"leads and events are not co-partitioned: {leads.npartitions} partitions "
            f"vs {events.npartitions}"
        )
    pairs = list(zip(leads.to_delayed(), events.to_delayed(), strict=True))
    latest = client.compute([delayed(_latest, pure=True)(lp, ep) for lp, ep in pairs], sync=True)
    end = _end(latest, leads._meta, events._meta)
    [shared] = client.scatter([bundle], broadcast=True)
    parts = [delayed(_tally, pure=True)(lp, ep, shared, end, since) for lp, ep in pairs]
    total: Tally = client.compute(delayed(_sum, pure=True)(parts), sync=True)
    require_leads(total.counts, bundle)
    return total, end


def _latest(leads: pd.DataFrame, events: pd.DataFrame) -> pd.Timestamp | None:
    """One partition's latest timestamp (None for a partition without any)."""
    try:
        return data_end(leads, events)
    except InputError:
        return None


def _end(
    latest: list[pd.Timestamp | None], leads: pd.DataFrame, events: pd.DataFrame
) -> pd.Timestamp:
    """The whole data's end; with no timestamp anywhere, `data_end`'s own error."""
    seen = [stamp for stamp in latest if stamp is not None]
    return max(seen) if seen else data_end(leads, events)


def _tally(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    bundle: Bundle,
    end: pd.Timestamp,
    since: pd.Timestamp | None,
) -> Tally:
    current = population_part(bundle, leads, events, end=end, since=since)
    return tally(reference_of(bundle), current, bundle.spec)


def _sum(parts: list[Tally]) -> Tally:
    return reduce(add, parts)
