"""Tables the notebooks show: conversion by segment, the stage funnel, what moves the score.

Everything a notebook needs that is more than a call and a display lives here (or in
`insights_plots`), tested, so that nothing important lives only in a notebook.

Conversion is the model's own label: converted within `window_days` after the lead's
cutoff, counted only for leads whose window has closed (recent leads are not yet
negatives). Probabilities are the model's calibrated scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import LabelConfig
from leadml.errors import InputError
from leadml.ranked import render_reasons

if TYPE_CHECKING:
    from leadml.bundle import Bundle
    from leadml.data.validate import ValidationReport
    from leadml.features.spec import FeatureSpec

ENGAGEMENT_SUFFIX = " events"


def report_frame(report: ValidationReport) -> pd.DataFrame:
    """A validation report as a table: one row per problem line, errors first."""
    rows = [
        {
            "severity": p.severity,
            "problem": p.code,
            "file": p.file,
            "row": p.row,
            "column": p.column,
            "value": None if p.value is None else str(p.value),
            "expected": p.expected,
            "rows affected": p.count,
        }
        for p in sorted(report.problems, key=lambda p: p.severity != "error")
    ]
    columns = ["severity", "problem", "file", "row", "column", "value", "expected"]
    frame = pd.DataFrame(rows, columns=[*columns, "rows affected"])
    return frame.astype({"row": "Int64", "rows affected": "int64"})


def windowed_labels(leads: pd.DataFrame, events: pd.DataFrame, config: LabelConfig) -> pd.Series:
    """0/1 per lead whose window has closed (index lead_id), by the training label rules."""
    from leadml.model.labels import cutoffs, data_end, make_labels

    if schema.CONVERTED_AT not in leads or leads[schema.CONVERTED_AT].isna().all():
        return pd.Series(dtype="int64", index=pd.Index([], name=schema.LEAD_ID), name="label")
    made = make_labels(
        leads,
        cutoffs(leads, config),
        window_days=config.window_days,
        data_end=data_end(leads, events),
    )
    return made.frame["label"]


def segment_performance(
    leads: pd.DataFrame,
    labels: pd.Series,
    by: str | pd.Series,
    *,
    probability: pd.Series | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Per segment: leads, conversion rate, expected conversions and costs.

    - `labels`: 0/1 per lead id (`windowed_labels`); conversion_rate is over those leads.
    - `by`: a leads column name, or values per lead id (e.g. a raw feature column).
    - `probability`: calibrated score per lead id; adds `expected_conversions` (sum of
      probabilities) and `open_pipeline` (the same over leads not yet labelled and not
      converted: conversions still to come).
    - Costs, when leads carry `acquisition_cost`: cost_per_lead and cost_per_conversion
      (cost of labelled leads / their conversions).
    Sorted by leads, largest first; `top` keeps the largest segments and pools the rest
    as '(other)'.
    """
    ids = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    segment = _segment(leads, ids, by)
    if top is not None:
        keep = segment.value_counts().index[:top]
        segment = segment.where(segment.isin(keep), "(other)")
    frame, has_cost = _lead_frame(leads, ids, segment, labels, probability)
    table = _segment_table(frame, has_cost=has_cost, has_probability=probability is not None)
    name = by if isinstance(by, str) else str(by.name or "segment")
    table.index.name = name
    order = np.lexsort((table.index.astype(str).to_numpy(), -table["leads"].to_numpy()))
    return table.iloc[order]


def _lead_frame(
    leads: pd.DataFrame,
    ids: pd.Index,
    segment: pd.Series,
    labels: pd.Series,
    probability: pd.Series | None,
) -> tuple[pd.DataFrame, bool]:
    """One row per lead: segment, label, cost and score columns; and whether costs are known."""
    label = labels.reindex(ids)
    frame = pd.DataFrame(
        {
            "segment": segment.to_numpy(),
            "labelled": label.notna().to_numpy(),
            "converted": label.fillna(0).to_numpy(dtype=np.float64),
        },
        index=ids,
    )
    has_cost = schema.ACQUISITION_COST in leads and leads[schema.ACQUISITION_COST].notna().any()
    if has_cost:
        cost = pd.to_numeric(leads[schema.ACQUISITION_COST], errors="coerce").to_numpy()
        frame["cost"] = cost
        frame["labelled_cost"] = np.where(frame["labelled"], cost, np.nan)
    if probability is not None:
        p = probability.reindex(ids).to_numpy(dtype=np.float64)
        frame["p"] = p
        converted_at = (
            leads[schema.CONVERTED_AT].notna().to_numpy()
            if schema.CONVERTED_AT in leads
            else np.zeros(len(leads), dtype=bool)
        )
        frame["open_p"] = np.where(~frame["labelled"] & ~converted_at, p, 0.0)
    return frame, bool(has_cost)


def _segment_table(frame: pd.DataFrame, *, has_cost: bool, has_probability: bool) -> pd.DataFrame:
    """The per-lead frame summed per segment: counts, rates, expected conversions, costs."""
    grouped = frame.groupby("segment", sort=False)
    n = grouped.size()
    labelled = grouped["labelled"].sum()
    converted = grouped["converted"].sum()
    table = pd.DataFrame(
        {
            "leads": n.astype("int64"),
            "share": n / max(len(frame), 1),
            "labelled": labelled.astype("int64"),
            "converted": converted.astype("int64"),
            "conversion_rate": converted / labelled.where(labelled > 0),
        }
    )
    if has_probability:
        table["mean_probability"] = grouped["p"].mean()
        table["expected_conversions"] = grouped["p"].sum()
        table["open_pipeline"] = grouped["open_p"].sum()
    if has_cost:
        table["cost_per_lead"] = grouped["cost"].mean()
        table["cost_per_conversion"] = grouped["labelled_cost"].sum() / converted.where(
            converted > 0
        )
    return table


def _segment(leads: pd.DataFrame, ids: pd.Index, by: str | pd.Series) -> pd.Series:
    if isinstance(by, str):
        if by not in leads:
            raise InputError("no such column in the leads table", column=by)
        values = pd.Series(leads[by].to_numpy(dtype=object), index=ids)
    else:
        values = pd.Series(by.reindex(ids).to_numpy(dtype=object), index=ids)
    return values.where(values.notna(), "(missing)").astype(str)


def stage_funnel(leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """IQL -> MQL -> SQL -> PQL: leads reaching each stage or a later one, the
    stage-to-stage conversion, and how many of them became customers.

    A lead "reaches" a stage when its highest stage is that stage or later (leads can
    skip a stage, e.g. ask for a demo without downloading anything first).
    """
    from leadml.data.summary import highest_stage

    stage = highest_stage(leads, events).to_numpy()
    rank = pd.Series(stage).map({s: i for i, s in enumerate(schema.STAGES)}).to_numpy()
    rank = np.where(pd.isna(rank), -1, rank).astype(np.int64)
    converted = (
        leads[schema.CONVERTED_AT].notna().to_numpy()
        if schema.CONVERTED_AT in leads
        else np.zeros(len(leads), dtype=bool)
    )
    rows = []
    previous = len(leads)
    for i, name in enumerate(schema.STAGES):
        reached = rank >= i
        count = int(reached.sum())
        customers = int((reached & converted).sum())
        rows.append(
            {
                "stage": name,
                "leads_reached": count,
                "share_of_leads": count / max(len(leads), 1),
                "from_previous_stage": count / previous if previous else np.nan,
                "converted": customers,
                "conversion_rate": customers / count if count else np.nan,
            }
        )
        previous = count
    return pd.DataFrame(rows).set_index("stage")


@dataclass(frozen=True)
class Explained:
    """Leads with their raw features, model matrix, TreeSHAP contributions and scores."""

    raw: pd.DataFrame
    """Raw feature values (index lead_id): the words of the explanation."""
    X: pd.DataFrame
    """The encoded model matrix, same rows."""
    contrib: np.ndarray
    """(n, n_features + 1) log-odds contributions, bias last; rows sum to the raw score."""
    probability: np.ndarray


def explain_leads(
    bundle: Bundle,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    cutoff: pd.Series | None = None,
) -> Explained:
    """Features, contributions and probabilities for leads, at `cutoff` or the bundle's own."""
    from leadml.explain.reasons import contributions
    from leadml.features.spec import encode
    from leadml.scoring import Scorer

    scorer = Scorer(bundle)
    cut = scorer.cutoff_for(leads, None) if cutoff is None else cutoff
    raw = scorer.raw_features(leads, events, cut)
    X, _ = encode(raw, bundle.spec)
    contrib = contributions(bundle.booster, X)
    probability = scorer.probability(contrib.sum(axis=1))
    return Explained(raw=raw, X=X, contrib=contrib, probability=probability)


def explain_sample(
    bundle: Bundle, leads: pd.DataFrame, events: pd.DataFrame, *, n: int = 2000, seed: int = 0
) -> Explained:
    """`explain_leads` on a seeded random sample of at most `n` leads."""
    if len(leads) > n:
        rows = np.sort(np.random.default_rng(seed).choice(len(leads), n, replace=False))
        leads = leads.iloc[rows]
    return explain_leads(bundle, leads, events)


def engagement_impact(
    contrib: np.ndarray, spec: FeatureSpec, raw: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Which engagement actions move the score most, per event type (its counts and
    recency columns summed; log-odds from TreeSHAP):

    - mean_abs_contribution: how much the action moves scores, either way, on average;
    - mean_contribution: its average push over all leads (most never did it);
    - with `raw` (the same leads' raw features): share_of_leads who did it before their
      cutoff, and the mean push among those who did (`when_done`) and who did not.
    Overall engagement and stage scores are not one action and are left out.
    """
    fields: dict[str, list[int]] = {}
    for j, column in enumerate(spec.columns):
        action = column.field.removesuffix(ENGAGEMENT_SUFFIX)
        if column.family == "engagement" and action in schema.EVENT_TYPES:
            fields.setdefault(action, []).append(j)
    values = np.asarray(contrib, dtype=np.float64)[:, : len(spec.columns)]
    rows = []
    for action, members in fields.items():
        per_lead = values[:, members].sum(axis=1)
        row: dict[str, Any] = {
            "action": action,
            "mean_abs_contribution": _mean(np.abs(per_lead)),
            "mean_contribution": _mean(per_lead),
        }
        count = f"count_{action}_all"
        if raw is not None and count in raw:
            done = raw[count].to_numpy(dtype=np.float64, na_value=0.0) > 0
            row |= {
                "share_of_leads": _mean(done.astype(np.float64)),
                "when_done": _mean(per_lead[done]),
                "when_not_done": _mean(per_lead[~done]),
            }
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["mean_abs_contribution", "mean_contribution"])
    table = table.set_index("action")
    return table.sort_values("mean_abs_contribution", ascending=False, kind="stable")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def reason_lines(reasons: dict[str, list[dict[str, Any]]]) -> list[str]:
    """A lead's reasons as readable lines, strongest for first, then those against, each
    with its log-odds and probability change (the ranked list's renderer, all reasons)."""
    text = render_reasons(reasons, layout="detailed", positive=None, negative=None)
    return text.split("\n") if text else []
