"""The current population for a drift check: new leads scored at their own scoring moment,
and the reference a model carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadml import schema
from leadml.errors import InputError, LeadmlError
from leadml.monitor.drift.profiles import REFERENCE_KEY, Reference
from leadml.monitor.drift.report import Current

if TYPE_CHECKING:
    from leadml.bundle import Bundle
    from leadml.scoring import Scorer


def reference_of(bundle: Bundle) -> Reference:
    """The drift reference stored with a model, or a clear error for older models."""
    data = bundle.extra.get(REFERENCE_KEY)
    if not data:
        label = f"{bundle.name} version {bundle.version}" if bundle.version else "this bundle"
        raise LeadmlError(
            f"{label} has no drift reference (it was trained before leadml stored one). "
            "Retrain it with `leadml train` or `leadml retrain`, then run `leadml drift` again."
        )
    return Reference.from_dict(data)


def current_population(
    bundle: Bundle,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
) -> Current:
    """Score the new leads at their own scoring moment, as training saw its leads.

    Leads created before `since` are ignored. A lead is left out when its cutoff is after
    the end of the data (its observation period is not over) or when it converted at or
    before its cutoff. Leads whose conversion window has closed carry a 0/1 label.
    A model trained on one snapshot date scores every lead as of the end of the data.
    """
    from leadml.model.labels import data_end

    current = population_part(bundle, leads, events, end=data_end(leads, events), since=since)
    require_leads(current.counts, bundle)
    return current


def population_part(
    bundle: Bundle,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    end: pd.Timestamp,
    since: pd.Timestamp | None = None,
    scorer: Scorer | None = None,
) -> Current:
    """`current_population` of one part of the data (leads with all their events), as of
    the whole data's `end` (`data_end`). A part may hold no lead to compare. `scorer`:
    the bundle's Scorer when the caller keeps one (a Dask worker), else one is made."""
    from leadml.model.labels import cutoffs, make_labels
    from leadml.scoring import Scorer

    counts = {"leads": len(leads)}
    if since is not None:
        stamp = _utc(since)
        leads = leads[leads[schema.CREATED_AT] >= stamp]
        counts["before_since"] = counts["leads"] - len(leads)
    if bundle.labels.snapshot is None:
        cut = cutoffs(leads, bundle.labels)
    else:
        created = leads[schema.CREATED_AT]
        kept = leads.loc[created.notna().to_numpy(), schema.LEAD_ID]
        cut = pd.Series(end, index=pd.Index(kept, name=schema.LEAD_ID), name="cutoff")
    due = (cut <= end).to_numpy()
    counts["observation_not_over"] = int((~due).sum())
    cut = cut[due]
    converted = _converted_at(leads, cut.index)
    before = (converted.notna() & (converted <= cut)).to_numpy()
    counts["converted_before_cutoff"] = int(before.sum())
    cut = cut[~before]
    counts["scored"] = len(cut)
    if cut.empty:
        names = [column.name for column in bundle.spec.columns]
        raw = pd.DataFrame(columns=names, index=pd.Index([], name=schema.LEAD_ID), dtype=object)
        return Current(raw=raw, probability=np.empty(0), labels=None, counts=counts, converted=0)
    scorer = Scorer(bundle) if scorer is None else scorer
    raw = scorer.raw_features(leads, events, cut)
    scored = scorer.score_features(raw, explain=False)
    probability = scored.frame["probability"].to_numpy(dtype=np.float64)
    labels = None
    if schema.CONVERTED_AT in leads:
        subset = leads[leads[schema.LEAD_ID].isin(cut.index)]
        made = make_labels(subset, cut, window_days=bundle.labels.window_days, data_end=end)
        labels = made.frame["label"]
        counts["labelled"] = len(labels)
    return Current(
        raw=raw,
        probability=probability,
        labels=labels,
        counts=counts,
        converted=int(converted.notna().sum()),
    )


def require_leads(counts: dict[str, int], bundle: Bundle) -> None:
    """Refuse a comparison with no lead in it, saying why every lead was left out."""
    if counts.get("scored", 0) == 0:
        raise InputError(
            "no lead to compare: every lead is too recent or was filtered out",
            value=counts,
            expected="leads whose observation period (created_at + "
            f"{bundle.labels.observation_days} days) ended before the end of the data",
        )


def _converted_at(leads: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """converted_at per lead id in `ids` (NaT when unknown or absent)."""
    if schema.CONVERTED_AT not in leads:
        return pd.Series(pd.NaT, index=ids, dtype="datetime64[us, UTC]")
    by_id = pd.Series(leads[schema.CONVERTED_AT].array, index=leads[schema.LEAD_ID])
    return by_id.reindex(ids)


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
