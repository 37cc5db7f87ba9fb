"""What the training job records beside a Dask-trained model, gathered so that no Dask
type leaves the engine: the data's profile and last moment, a few rows for the run's input
and the registered model's example, and the gate's champion re-scoring per partition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle
from leadml.config import Config
from leadml.engine.partition import DataBounds
from leadml.engine.train import fit_and_evaluate_dask
from leadml.model.pipeline import TrainedModel
from leadml.model.train import ProgressFn

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

StepFn = Callable[[str], None]
LEAD_ID = schema.LEAD_ID


@dataclass(frozen=True)
class RecordedRun:
    """A Dask training run with what the job logs beside it, all gathered (no Dask
    types leave the engine): the model, the data's profile and last moment, a few rows
    (the run's input sample and the registered model's example) and the champion's
    re-scoring on the cluster for the gate."""

    trained: TrainedModel
    profile: dict[str, Any]
    end: pd.Timestamp
    leads_head: pd.DataFrame
    events_head: pd.DataFrame
    rescore: Callable[[Bundle, pd.DataFrame], np.ndarray]


def fit_for_the_record(
    leads: dd.DataFrame,
    events: dd.DataFrame,
    config: Config,
    client: Client,
    *,
    bounds: DataBounds | None = None,
    truth: pd.DataFrame | None = None,
    on_step: StepFn | None = None,
    on_round: ProgressFn | None = None,
) -> RecordedRun:
    """`fit_and_evaluate_dask`, plus what `jobs.train` logs and gates with. `bounds`: the
    data's end and earliest created_at when already known (`engine.read.Tables.bounds`),
    which saves a pass over the data."""
    from leadml.engine.features import data_bounds

    trained = fit_and_evaluate_dask(
        leads,
        events,
        config,
        client,
        known=bounds,
        truth=truth,
        on_step=on_step,
        on_round=on_round,
    )
    head = leads.get_partition(0).compute().head(1000)  # one partition, never the table
    first = list(head[LEAD_ID].head(3))
    end = (bounds or DataBounds(*data_bounds(leads, events, config.labels.window_days))).end
    return RecordedRun(
        trained=trained,
        profile=table_profile(leads, events),
        end=end,
        leads_head=head,
        events_head=events[events[LEAD_ID].isin(first)].compute(),
        rescore=champion_rescorer(leads, events),
    )


def table_profile(leads: dd.DataFrame, events: dd.DataFrame) -> dict[str, Any]:
    """`tracking.log.table_profile` over Dask frames (one pass of small reductions)."""
    import dask

    created = leads[schema.CREATED_AT]
    found = dask.compute(
        leads.shape[0],
        events.shape[0],
        created.min(),
        created.max(),
        leads[schema.LEAD_SOURCE].value_counts(),
        events[schema.EVENT_TYPE].value_counts(),
        leads.isna().mean(),
    )
    n_leads, n_events, first, last, sources, types, missing = found
    return {
        "leads": int(n_leads),
        "events": int(n_events),
        "created_from": first.isoformat(),
        "created_to": last.isoformat(),
        "lead_sources": sources.sort_values(ascending=False).to_dict(),
        "event_types": types.sort_values(ascending=False).to_dict(),
        "missing_share": missing.round(4).to_dict(),
    }


def champion_rescorer(
    leads: dd.DataFrame, events: dd.DataFrame
) -> Callable[[Bundle, pd.DataFrame], np.ndarray]:
    """The gate's champion re-scoring on Dask data (`promotion.Rescore`): each partition
    scores the test rows of its own leads with `promotion.champion_probabilities`, the
    local engine's function, and the probabilities are gathered in the test frame's order."""

    def rescore(champion: Bundle, test_frame: pd.DataFrame) -> np.ndarray:
        import dask

        rows = test_frame[[LEAD_ID, "snapshot", "cutoff"]]
        parts = [
            dask.delayed(_champion_part)(champion, rows, lp, ep)
            for lp, ep in zip(leads.to_delayed(), events.to_delayed(), strict=True)
        ]
        found = pd.concat(dask.compute(parts)[0])
        return found.reindex(test_frame.index).to_numpy(dtype="float64")

    return rescore


def _champion_part(
    champion: Bundle, rows: pd.DataFrame, leads: pd.DataFrame, events: pd.DataFrame
) -> pd.Series:
    from leadml.promotion import champion_probabilities

    mine = rows[rows[LEAD_ID].isin(leads[LEAD_ID])]
    if mine.empty:
        return pd.Series(dtype="float64")
    return pd.Series(champion_probabilities(champion, mine, leads, events), index=mine.index)
