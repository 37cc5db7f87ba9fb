"""Generate the synthetic funnel: leads, their events, and the ground truth, from one seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from leadml import schema
from leadml.data.synth import vocab
from leadml.data.synth.defects import inject_defects
from leadml.data.synth.draw import sigmoid
from leadml.data.synth.engagement import (
    EVENT_CODES,
    Climb,
    EventLog,
    post_cutoff_events,
    pre_cutoff_events,
)
from leadml.data.synth.leads import Companies, LeadDraw, draw_leads
from leadml.data.synth.tables import Funnel
from leadml.data.synth.timeline import (
    CUTOFF_SECONDS,
    DAY,
    END_SECONDS,
    WINDOW_SECONDS,
    BoolArray,
    FloatArray,
    IntArray,
    to_timestamps,
)
from leadml.data.synth.truth import (
    BUYER,
    COUNTRY_REGION_TERM,
    Firmographics,
    cutoff_signals,
    persona_share,
    true_log_odds,
)
from leadml.errors import InputError

INDUSTRY_TERM: Final = (0.35, 0.25, 0.1, 0.05, -0.05, -0.3, 0.1, -0.1, -0.35, -0.5, -0.15)
"""Behaviour: how each industry (schema.INDUSTRIES order) shifts hidden intent."""
SENIORITY_TERM: Final = (0.2, 0.0, 0.3, 0.4, 0.25)
"""Behaviour: how each seniority (schema.SENIORITIES order) shifts hidden intent."""
FREE_MAIL_TERM: Final = 0.0
FIT_IN_INTENT: Final = 0.6
"""How much (hidden, complete) fit raises buying intent."""
PRE_CUTOFF_BASE: Final = -3.6
"""Log-odds that a hand-raiser at zero intent buys before its cutoff (if time allows)."""
LATE_SHARE: Final = 0.3
"""Late conversions (after the window): this times p * (1 - p) of eligible leads."""
LATE_DAYS: Final = 45.0
"""Mean delay of a late conversion after the end of the window."""


def generate_funnel(
    n_leads: int,
    *,
    seed: int,
    with_defects: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Funnel:
    """Generate n_leads leads with events and ground truth; the same seed gives the same data.

    `on_step` hears each step's name as it starts (the CLI shows them); it never changes
    the data."""
    if n_leads < 1:
        raise InputError("need at least one lead", column="n_leads", value=n_leads)
    step = on_step or (lambda _message: None)
    rng = np.random.default_rng(seed)
    funnel = funnel_from(rng, n_leads, on_step=step)
    if with_defects:
        step("injecting defects")
        funnel = inject_defects(funnel, rng)
    return funnel


def funnel_from(
    rng: np.random.Generator,
    n_leads: int,
    *,
    first_id: int = 1,
    id_width: int | None = None,
    companies: Companies | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Funnel:
    """The clean funnel `generate_funnel` draws from `rng`; lead ids, their width and the
    company table as in `draw_leads` (one chunk of a larger funnel sets them)."""
    step = on_step or (lambda _message: None)
    step("drawing leads")
    draw = draw_leads(rng, n_leads, first_id=first_id, id_width=id_width, companies=companies)
    created, source = draw.created, draw.source
    fit_hidden = behaviour_fit(draw.hidden)
    intent_shift = np.array([p.intent for p in vocab.PROFILES])
    intent = intent_shift[source] + FIT_IN_INTENT * fit_hidden + rng.normal(0.0, 1.0, n_leads)
    activity_shift = np.array([p.activity for p in vocab.PROFILES])
    activity = activity_shift[source] * np.exp(0.5 * intent + rng.normal(0.0, 0.3, n_leads))

    step("events before the cutoff")
    early, climb = pre_cutoff_events(rng, created, source, intent, activity)
    buyer = persona_share(draw.hidden, BUYER)
    pre_at = _pre_cutoff_conversions(rng, created, climb, intent, fit_hidden, buyer)
    pre = pre_at >= 0
    early = early.select(~(pre[early.lead] & (early.seconds > pre_at[early.lead])))

    step("ground truth")
    probability = _true_probability(draw, early)
    converted = _conversions(rng, created, probability, pre_at)

    step("events after the cutoff")
    late = post_cutoff_events(rng, created, activity, climb, converted, pre)

    step("building tables")
    return _frames(draw, EventLog.concat([early, late]), converted, probability, pre)


def behaviour_fit(f: Firmographics) -> FloatArray:
    """How well the (hidden, complete) firmographics fit: drives engagement, not the truth."""
    industry = np.where(f.industry >= 0, np.asarray(INDUSTRY_TERM)[f.industry], -0.1)
    size_x = np.log10(np.maximum(f.employees, 1.0))
    size = np.where(np.isnan(f.employees), 0.0, 0.4 - 0.25 * (size_x - 2.4) ** 2)
    rev_x = np.clip(np.log10(np.maximum(f.annual_revenue, 1.0)) - 7.0, -2.0, 2.0)
    revenue = np.where(np.isnan(f.annual_revenue), 0.0, 0.15 * rev_x)
    seniority = np.where(f.seniority >= 0, np.asarray(SENIORITY_TERM)[f.seniority], -0.15)
    region = np.where(f.country >= 0, COUNTRY_REGION_TERM[f.country], 0.0)
    email = np.where(f.has_email, np.where(f.free_mail, FREE_MAIL_TERM, 0.0), -0.2)
    return np.asarray(industry + size + revenue + seniority + region + email, dtype=np.float64)


def _pre_cutoff_conversions(
    rng: np.random.Generator,
    created: IntArray,
    climb: Climb,
    intent: FloatArray,
    fit: FloatArray,
    buyer: FloatArray,
) -> IntArray:
    """Hot hand-raisers who buy before their cutoff: conversion time, or -1.

    `buyer` (0..1, truth.BUYER) keeps students, job seekers and competitors from buying.
    """
    n = len(created)
    raised = np.minimum(climb.entry_days[:, 2], climb.entry_days[:, 3])
    buy_day = raised + rng.gamma(2.0, 2.0, n)
    buys = (rng.random(n) < buyer * sigmoid(PRE_CUTOFF_BASE + intent + 0.5 * fit)) & (
        buy_day < schema.STANDARD_OBSERVATION_DAYS
    )
    at = created + np.floor(np.where(buys, buy_day, 0.0) * DAY).astype(np.int64)
    return np.where(buys, at, -1)


def _true_probability(draw: LeadDraw, early: EventLog) -> FloatArray:
    """True P(convert in window) from observables at the cutoff (NaN filled in later)."""
    code = np.where(early.code < len(schema.EVENT_TYPES), early.code, -1)
    signals = cutoff_signals(early.lead, early.seconds, code, draw.created)
    observed = draw.observed
    firm = replace(observed, free_mail=observed.free_mail & observed.has_email)
    return sigmoid(true_log_odds(draw.source, firm, signals))


def _conversions(
    rng: np.random.Generator, created: IntArray, probability: FloatArray, pre_at: IntArray
) -> IntArray:
    """Draw each eligible lead's outcome from its true probability; conversion time or -1."""
    n = len(created)
    cutoff = created + CUTOFF_SECONDS
    eligible = pre_at < 0
    u = rng.random(n)
    window = eligible & (u < probability)
    late = eligible & ~window & (u < probability + LATE_SHARE * probability * (1 - probability))
    hot = rng.beta(1.2, 1.4 + 2.5 * probability)  # hotter leads buy sooner
    in_window = cutoff + 1 + np.floor(hot * (WINDOW_SECONDS - 1)).astype(np.int64)
    after = cutoff + WINDOW_SECONDS + 1 + np.floor(rng.exponential(LATE_DAYS * DAY, n))
    converted = np.where(window, in_window, np.where(late, after.astype(np.int64), -1))
    return np.where(eligible, converted, pre_at)


def _frames(
    draw: LeadDraw,
    log: EventLog,
    converted: IntArray,
    probability: FloatArray,
    pre: BoolArray,
) -> Funnel:
    """Build the exported frames; nothing after the extraction moment is recorded."""
    log = log.select(log.seconds <= END_SECONDS)
    order = np.lexsort((log.code, log.lead, log.seconds))
    log = EventLog(log.lead[order], log.seconds[order], log.code[order])
    lead_id = draw.table.column(schema.LEAD_ID).combine_chunks()
    recorded = (converted >= 0) & (converted <= END_SECONDS)
    leads = draw.table.append_column(
        schema.CONVERTED_AT, to_timestamps(np.maximum(converted, 0), recorded)
    )
    events = pa.table(
        {
            schema.LEAD_ID: lead_id.take(pa.array(log.lead)),
            schema.OCCURRED_AT: to_timestamps(log.seconds),
            schema.EVENT_TYPE: pa.array(EVENT_CODES, type=pa.large_string()).take(
                pa.array(log.code)
            ),
        }
    )
    truth = pa.table(
        {
            schema.LEAD_ID: lead_id,
            schema.TRUE_PROBABILITY: pa.array(np.where(pre, np.nan, probability)),
            schema.ELIGIBLE: pa.array(~pre),
        }
    )
    return Funnel(leads=_to_pandas(leads), events=_to_pandas(events), truth=_to_pandas(truth))


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with nullable integers (employees stay whole numbers)."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
