"""The ground truth: each lead's true conversion probability from what is known at the cutoff.

The true log-odds are an additive function of observables (firmographics as written in
the leads table, the lead source, and the lead's events strictly before the cutoff,
decayed with a 14-day half-life) plus two mild interactions. Missing firmographics
contribute a fixed "unknown" term, so the probability never peeks at hidden values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.synth import vocab
from leadml.synth.timeline import CUTOFF_SECONDS, DAY, BoolArray, FloatArray, IntArray

HALF_LIFE_DAYS: Final = 14.0
"""Recency decay of engagement in the true log-odds."""
INTERCEPT: Final = -4.05
STAGE_WEIGHTS: Final = (0.55, 0.72, 1.25, 1.35)
"""Log-odds per unit of log(1 + decayed count) of IQL, MQL, SQL and PQL events."""
SENIOR_HAND_RAISER: Final = 0.35
"""Interaction: a director or above who asked for sales contact."""
FREE_MAIL_HAND_RAISER: Final = -0.45
"""Interaction: a free-mail address that asked for sales contact (often a student or a rival)."""
UNSUBSCRIBED: Final = -1.0

INDUSTRY_TERM: Final = (0.35, 0.25, 0.1, 0.05, -0.05, -0.3, 0.1, -0.1, -0.35, -0.5, -0.15)
"""By schema.INDUSTRIES order."""
SENIORITY_TERM: Final = (-0.4, 0.0, 0.3, 0.4, 0.25)
"""By schema.SENIORITIES order."""
REGION_TERM: Final[dict[str, float]] = {
    "north_america": 0.1,
    "latin_america": -0.25,
    "emea": 0.0,
    "apac": -0.1,
}
SOURCE_TERM: Final = np.array([p.log_odds for p in vocab.PROFILES])
"""By schema.LEAD_SOURCES order (vocab.SOURCE_PROFILES): referral +0.6 .. purchased_list -0.8."""
FREE_MAIL_TERM: Final = -0.6
UNKNOWN_INDUSTRY: Final = -0.1
UNKNOWN_SIZE: Final = 0.0
UNKNOWN_SENIORITY: Final = -0.15
UNKNOWN_EMAIL: Final = -0.2
SENIOR: Final = 2
"""Seniority index from which a lead counts as senior (director and above)."""
COUNTRY_REGION_TERM: Final = np.array(
    [REGION_TERM[schema.COUNTRY_REGION[c]] for c in schema.COUNTRY_REGION], dtype=np.float64
)


@dataclass(frozen=True)
class Firmographics:
    """Firmographic codes of each lead; -1 (or NaN) where the value is missing."""

    industry: IntArray
    employees: FloatArray
    annual_revenue: FloatArray
    country: IntArray
    seniority: IntArray
    free_mail: BoolArray
    has_email: BoolArray


def fit_log_odds(f: Firmographics) -> FloatArray:
    """Fit: industry, a mid-market sweet spot in size, revenue, seniority, region, email."""
    industry = np.where(f.industry >= 0, np.asarray(INDUSTRY_TERM)[f.industry], UNKNOWN_INDUSTRY)
    size_x = np.log10(np.maximum(f.employees, 1.0))
    size = np.where(np.isnan(f.employees), UNKNOWN_SIZE, 0.4 - 0.25 * (size_x - 2.4) ** 2)
    rev_x = np.clip(np.log10(np.maximum(f.annual_revenue, 1.0)) - 7.0, -2.0, 2.0)
    revenue = np.where(np.isnan(f.annual_revenue), 0.0, 0.15 * rev_x)
    seniority = np.where(
        f.seniority >= 0, np.asarray(SENIORITY_TERM)[f.seniority], UNKNOWN_SENIORITY
    )
    region = np.where(f.country >= 0, COUNTRY_REGION_TERM[f.country], 0.0)
    email = np.where(f.has_email, np.where(f.free_mail, FREE_MAIL_TERM, 0.0), UNKNOWN_EMAIL)
    return np.asarray(industry + size + revenue + seniority + region + email, dtype=np.float64)


def decayed_stage_counts(
    lead: IntArray, seconds: IntArray, stage: IntArray, created: IntArray
) -> FloatArray:
    """Per lead and stage (IQL..PQL), events strictly before the cutoff weighted by recency."""
    n = len(created)
    cutoff = created[lead] + CUTOFF_SECONDS
    keep = (seconds < cutoff) & (stage >= 0)
    age_days = (cutoff[keep] - seconds[keep]) / DAY
    weight = 0.5 ** (age_days / HALF_LIFE_DAYS)
    flat = lead[keep] * 4 + stage[keep]
    counts = np.bincount(flat, weights=weight, minlength=4 * n).reshape(n, 4)
    return np.asarray(counts, dtype=np.float64)


def true_log_odds(
    source_term: FloatArray,
    fit: FloatArray,
    stage_decayed: FloatArray,
    unsubscribed: BoolArray,
    seniority: IntArray,
    free_mail: BoolArray,
) -> FloatArray:
    """The true log-odds of converting in the window, from observables at the cutoff only."""
    engagement = np.log1p(stage_decayed) @ np.asarray(STAGE_WEIGHTS)
    hand_raiser = stage_decayed[:, 2] > 0
    interactions = hand_raiser * (
        SENIOR_HAND_RAISER * (seniority >= SENIOR) + FREE_MAIL_HAND_RAISER * free_mail
    )
    logit = INTERCEPT + source_term + fit + engagement + interactions + UNSUBSCRIBED * unsubscribed
    return np.asarray(logit, dtype=np.float64)


def _codes(values: pd.Series, levels: tuple[str, ...], aliases: dict[str, str]) -> IntArray:
    """Canonical level index of messy category values (-1 for missing or unknown)."""
    distinct = values.dropna().unique()
    canonical = {v: schema.canonical_category(str(v), aliases) for v in distinct}
    resolved = pd.Categorical(values.map(canonical), categories=list(levels))
    return np.asarray(resolved.codes, dtype=np.int64)


def _seconds(stamps: pd.Series) -> IntArray:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return np.asarray((stamps - start) // pd.Timedelta(seconds=1), dtype=np.int64)


def true_probability_from_tables(leads: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Recompute the true probability from the exported leads and events alone.

    Proof that the truth uses only what is known at the cutoff, and an oracle for
    evaluation. Exact for leads whose cutoff is not after the extraction moment.
    """
    firm = Firmographics(
        industry=_codes(leads[schema.INDUSTRY], schema.INDUSTRIES, schema.INDUSTRY_ALIASES),
        employees=pd.to_numeric(leads[schema.EMPLOYEES]).to_numpy(
            dtype=np.float64, na_value=np.nan
        ),
        annual_revenue=pd.to_numeric(leads[schema.ANNUAL_REVENUE]).to_numpy(
            dtype=np.float64, na_value=np.nan
        ),
        country=np.asarray(
            pd.Categorical(
                leads[schema.COUNTRY].str.strip().str.upper(),
                categories=list(schema.COUNTRY_REGION),
            ).codes,
            dtype=np.int64,
        ),
        seniority=_codes(leads[schema.SENIORITY], schema.SENIORITIES, schema.SENIORITY_ALIASES),
        free_mail=np.zeros(len(leads), dtype=bool),
        has_email=leads[schema.EMAIL].notna().to_numpy(),
    )
    domain = leads[schema.EMAIL].str.rsplit("@", n=1).str[-1].str.lower()
    free_mail = domain.isin(schema.FREE_MAIL_DOMAINS).to_numpy() & firm.has_email
    firm = Firmographics(**{**firm.__dict__, "free_mail": free_mail})
    source = _codes(leads[schema.LEAD_SOURCE], schema.LEAD_SOURCES, schema.SOURCE_ALIASES)
    source_term = SOURCE_TERM[source]

    position = pd.Series(np.arange(len(leads)), index=leads[schema.LEAD_ID].to_numpy())
    known = events[schema.LEAD_ID].isin(position.index).to_numpy()
    lead = position.reindex(events.loc[known, schema.LEAD_ID].to_numpy()).to_numpy()
    types = events.loc[known, schema.EVENT_TYPE]
    stage_rank = {e: schema.STAGES.index(s) for e, s in schema.EVENT_STAGE.items()}
    stage = np.asarray(types.map(stage_rank).fillna(-1), dtype=np.int64)
    seconds = _seconds(events.loc[known, schema.OCCURRED_AT])
    created = _seconds(leads[schema.CREATED_AT])
    decayed = decayed_stage_counts(lead, seconds, stage, created)
    quit_ = (types.to_numpy() == "unsubscribe") & (seconds < created[lead] + CUTOFF_SECONDS)
    unsubscribed = np.bincount(lead[quit_], minlength=len(leads)) > 0
    logit = true_log_odds(
        source_term, fit_log_odds(firm), decayed, unsubscribed, firm.seniority, free_mail
    )
    return pd.Series(1.0 / (1.0 + np.exp(-logit)), index=leads.index, name=schema.TRUE_PROBABILITY)
