"""The one-cutoff view of a Dask-trained snapshot model, per partition: every lead at
created_at + observation_days, as `model.pipeline` builds it on one machine. The test
window's leads are scored once there (the oracle and the baselines at that moment) and
the drift reference is built from train leads (a sample) and validation scores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadml.bundle import Bundle
from leadml.config import Config
from leadml.model.assemble import with_standard_reference
from leadml.model.assess import measure_standard_moment, score_standard_moment, standard_view
from leadml.model.pipeline import TrainedModel
from leadml.model.snapshots import REFERENCE_DRAW, kept_rows

if TYPE_CHECKING:
    import dask.dataframe as dd


def standard_moment(
    trained: TrainedModel,
    leads: dd.DataFrame,
    events: dd.DataFrame,
    config: Config,
    *,
    end: pd.Timestamp,
    train_last: pd.Timestamp,
    valid: tuple[pd.Timestamp, pd.Timestamp],
    test_first: pd.Timestamp,
    truth: pd.DataFrame | None,
) -> None:
    """As the local engine's one-cutoff view: leads at created_at + observation_days in
    the test window scored once (oracle, baselines), and the drift reference from train
    leads (a sample of `sample_rows`) and validation scores; per partition, gathered."""
    import dask

    n_leads = int(leads.shape[0].compute())
    share = min(1.0, config.compute.sample_rows / max(n_leads, 1))
    parts = [
        dask.delayed(_standard_part)(
            lp,
            ep,
            trained.bundle,
            trained.baselines,
            config,
            end,
            train_last,
            valid,
            test_first,
            share,
        )
        for lp, ep in zip(leads.to_delayed(), events.to_delayed(), strict=True)
    ]
    done = dask.compute(parts)[0]
    scored = pd.concat([d["test"] for d in done]).sort_index()
    trained.oracle = measure_standard_moment(scored, config, truth=truth, results=trained.results)
    raw_train = pd.concat([d["train_raw"] for d in done]).sort_index()
    train_cuts = pd.concat([d["train_cutoffs"] for d in done])
    p_valid = np.concatenate([d["valid_p"] for d in done])
    trained.bundle = with_standard_reference(
        trained.bundle,
        raw_train,
        train_cuts,
        None,
        p_valid=p_valid,
        leads=int(sum(d["train_leads"] for d in done)),
    )


def _standard_part(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    bundle: Bundle,
    baselines: dict[str, Any],
    config: Config,
    end: pd.Timestamp,
    train_last: pd.Timestamp,
    valid: tuple[pd.Timestamp, pd.Timestamp],
    test_first: pd.Timestamp,
    share: float,
) -> dict[str, Any]:
    frame, raw = standard_view(leads, events, config, end=end)
    at = frame["cutoff"]
    in_train = (at <= train_last).to_numpy()
    in_valid = ((at >= valid[0]) & (at <= valid[1])).to_numpy()
    test = (at >= test_first).to_numpy()
    kept = in_train & kept_rows(frame.index, share, config.train.seed, draw=REFERENCE_DRAW)
    train_at = at[in_train]
    return {
        "test": _scored_leads(bundle, frame[test], raw[test], baselines),
        "train_raw": raw[kept],
        "train_cutoffs": pd.Series([train_at.min(), train_at.max()]).dropna(),
        "train_leads": int(in_train.sum()),
        "valid_p": _scored_leads(bundle, frame[in_valid], raw[in_valid], {})["model"].to_numpy(),
    }


def _scored_leads(
    bundle: Bundle, frame: pd.DataFrame, raw: pd.DataFrame, baselines: dict[str, Any]
) -> pd.DataFrame:
    """`score_standard_moment`, with the same columns when there is no lead to score."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ["label", "model", *baselines]})
    return score_standard_moment(bundle, frame, raw, baselines)
