"""The ground truth: each lead's true conversion probability from what is known at the cutoff.

The true log-odds are built like a real B2B funnel, not like a points sheet:
- fit: industry, a mid-market sweet spot in size, seniority (director/VP best; a C-level
  buys quickly in a small company and slowly in a huge one) and a corporate e-mail;
- intent: hand-raises (demo, quote, consultation requests) fade with a 7-day half-life,
  a trial counts only once it is used (three sessions or more), content with a 30-day
  half-life, and a webinar counts when attended, not when merely registered;
- intent is worth more from a good fit (`intent * (floor + fit)`): a student with a gmail
  address asking for a demo rarely buys, a director at a 300-person software firm often does;
- the source scales intent: engagement of bought-list and cold-called leads means little,
  referred leads convert well even when they engage little.
Missing firmographics score as "unknown", so the probability never peeks at hidden values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.synth import vocab
from leadml.synth.timeline import CUTOFF_SECONDS, DAY, BoolArray, FloatArray, IntArray

# --- behaviour: how (hidden, complete) fit drives intent in the generator --------------
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
COUNTRY_REGION_TERM: Final = np.array(
    [REGION_TERM[schema.COUNTRY_REGION[c]] for c in schema.COUNTRY_REGION], dtype=np.float64
)
FREE_MAIL_TERM: Final = -0.6

# --- truth: fit ------------------------------------------------------------------------
INDUSTRY_FIT: Final = (1.0, 0.9, 0.55, 0.5, 0.35, 0.1, 0.8, 0.3, 0.15, 0.0, 0.25)
"""Fit in [0, 1] by schema.INDUSTRIES order: software and finance are the target market."""
SENIORITY_FIT: Final = (0.05, 0.45, 1.0, 0.95)
"""Entry .. VP; a C-level's fit depends on company size (C_LEVEL_FIT)."""
C_LEVEL_FIT: Final = ((50.0, 0.9), (1_000.0, 0.6), (np.inf, 0.15))
"""(employees below, fit): founders decide fast, chiefs of huge companies delegate slowly."""
C_LEVEL_UNKNOWN_SIZE: Final = 0.55
SIZE_PEAK: Final = 2.5
"""log10(employees) of the sweet spot (about 300 people)."""
SIZE_WIDTH: Final = (1.2, 2.2)
"""Fit falls to 0 this many decades below / above the sweet spot."""
UNKNOWN_FIT: Final = {"industry": 0.35, "size": 0.4, "seniority": 0.35, "email": 0.3}
FIT_PARTS: Final = 4
FIT_MAIN: Final = 1.2
"""Log-odds between the worst and the best fit, without any intent."""

# --- truth: intent ---------------------------------------------------------------------
HAND_RAISE_WEIGHT: Final[dict[str, float]] = {
    "demo_request": 1.0,
    "quote_request": 1.1,
    "consultation_request": 0.8,
}
HAND_RAISE_HALF_LIFE: Final = 7.0
HAND_RAISE_SLOPE: Final = 1.9
"""Log-odds per unit of log(1 + decayed hand-raises), at fit 1."""
CONTENT_WEIGHT: Final[dict[str, float]] = {
    "pricing_page_view": 1.0,
    "webinar_attendance": 0.9,
    "whitepaper_download": 0.4,
    "ebook_download": 0.3,
    "webinar_registration": 0.05,
}
CONTENT_HALF_LIFE: Final = 30.0
CONTENT_SLOPE: Final = 1.0
BROWSE_WEIGHT: Final[dict[str, float]] = {
    "page_view": 0.3,
    "blog_view": 0.2,
    "newsletter_signup": 0.5,
    "email_open": 0.1,
    "email_click": 0.5,
}
BROWSE_SLOPE: Final = 0.35
TRIAL_SIGNUP: Final = 0.5
TRIAL_SESSIONS: Final = (2, 6)
"""Trial use counts from the third session on and saturates at the sixth."""
TRIAL_USE: Final = 1.8
INTENT_FLOOR: Final = 0.25
"""Intent multiplier at fit 0: intent * (INTENT_FLOOR + fit)."""
SOURCE_INTENT_GAIN: Final[dict[str, float]] = {
    "content_syndication": 0.7,
    "social": 0.85,
    "referral": 0.55,
    "outbound_call": 0.45,
    "purchased_list": 0.3,
}
"""How much a source's engagement is worth (1 when not listed)."""
SOURCE_BASE: Final[dict[str, float]] = {"referral": 0.5}
"""Added to each source's direct term (vocab.SOURCE_PROFILES log_odds)."""
INTERCEPT: Final = -3.4
UNSUBSCRIBED: Final = -1.0

SOURCE_TERM: Final = np.array(
    [vocab.SOURCE_PROFILES[s].log_odds + SOURCE_BASE.get(s, 0.0) for s in schema.LEAD_SOURCES]
)
"""By schema.LEAD_SOURCES order: referral highest, purchased_list lowest."""
SOURCE_GAIN: Final = np.array([SOURCE_INTENT_GAIN.get(s, 1.0) for s in schema.LEAD_SOURCES])
TYPE_INDEX: Final = {t: i for i, t in enumerate(schema.EVENT_TYPES)}
"""Event type -> code (position in schema.EVENT_TYPES); other types are -1."""
_N_TYPES: Final = len(schema.EVENT_TYPES)


def _per_type(weights: dict[str, float]) -> FloatArray:
    out = np.zeros(_N_TYPES + 1)  # the last slot takes code -1 (no type)
    for name, w in weights.items():
        out[TYPE_INDEX[name]] = w
    return out


GROUPS: Final = ("hand_raise", "content", "browse")
GROUP_WEIGHT: Final = np.stack(
    [_per_type(HAND_RAISE_WEIGHT), _per_type(CONTENT_WEIGHT), _per_type(BROWSE_WEIGHT)]
)
GROUP_HALF_LIFE: Final = np.array([HAND_RAISE_HALF_LIFE, CONTENT_HALF_LIFE, CONTENT_HALF_LIFE])


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


@dataclass(frozen=True)
class Signals:
    """What each lead did before its cutoff, as the truth reads it."""

    decayed: FloatArray
    """(n, 3) weighted, decayed sums per GROUPS entry."""
    trial_signup: BoolArray
    trial_sessions: IntArray
    unsubscribed: BoolArray


def fit_log_odds(f: Firmographics) -> FloatArray:
    """Behaviour: how good a fit drives hidden intent (industry, size, revenue, role, mail)."""
    industry = np.where(f.industry >= 0, np.asarray(INDUSTRY_TERM)[f.industry], -0.1)
    size_x = np.log10(np.maximum(f.employees, 1.0))
    size = np.where(np.isnan(f.employees), 0.0, 0.4 - 0.25 * (size_x - 2.4) ** 2)
    rev_x = np.clip(np.log10(np.maximum(f.annual_revenue, 1.0)) - 7.0, -2.0, 2.0)
    revenue = np.where(np.isnan(f.annual_revenue), 0.0, 0.15 * rev_x)
    seniority = np.where(f.seniority >= 0, np.asarray(SENIORITY_TERM)[f.seniority], -0.15)
    region = np.where(f.country >= 0, COUNTRY_REGION_TERM[f.country], 0.0)
    email = np.where(f.has_email, np.where(f.free_mail, FREE_MAIL_TERM, 0.0), -0.2)
    return np.asarray(industry + size + revenue + seniority + region + email, dtype=np.float64)


def fit_score(f: Firmographics) -> FloatArray:
    """Truth: how much the lead looks like a customer, in [0, 1], from written values only."""
    industry = np.asarray(INDUSTRY_FIT)[np.maximum(f.industry, 0)]
    industry = np.where(f.industry >= 0, industry, UNKNOWN_FIT["industry"])
    x = np.log10(np.maximum(np.nan_to_num(f.employees, nan=1.0), 1.0)) - SIZE_PEAK
    width = np.where(x < 0, SIZE_WIDTH[0], SIZE_WIDTH[1])
    size = np.where(
        np.isnan(f.employees), UNKNOWN_FIT["size"], np.clip(1.0 - (x / width) ** 2, 0.0, 1.0)
    )
    chief = np.full(len(x), C_LEVEL_UNKNOWN_SIZE)
    for below, value in reversed(C_LEVEL_FIT):
        chief = np.where(f.employees < below, value, chief)  # NaN compares False: unknown
    role = np.append(np.asarray(SENIORITY_FIT), 0.0)[np.clip(f.seniority, 0, 4)]
    role = np.where(f.seniority == 4, chief, role)
    role = np.where(f.seniority >= 0, role, UNKNOWN_FIT["seniority"])
    email = np.where(f.has_email, np.where(f.free_mail, 0.0, 1.0), UNKNOWN_FIT["email"])
    return np.asarray((industry + size + role + email) / FIT_PARTS, dtype=np.float64)


def cutoff_signals(lead: IntArray, seconds: IntArray, code: IntArray, created: IntArray) -> Signals:
    """Per lead, the events strictly before its cutoff, grouped and decayed for the truth.

    `code` is the position of each event's type in schema.EVENT_TYPES (-1 for any other).
    """
    n = len(created)
    cutoff = created[lead] + CUTOFF_SECONDS
    keep = (seconds < cutoff) & (code >= 0)
    lead, code = lead[keep], code[keep]
    age_days = (cutoff[keep] - seconds[keep]) / DAY
    groups = len(GROUPS)
    decayed = np.zeros((n, groups))
    for g in range(groups):
        weight = GROUP_WEIGHT[g][code]
        used = weight > 0
        contribution = weight[used] * 0.5 ** (age_days[used] / GROUP_HALF_LIFE[g])
        decayed[:, g] = np.bincount(lead[used], weights=contribution, minlength=n)
    per_type = np.bincount(lead * _N_TYPES + code, minlength=n * _N_TYPES).reshape(n, _N_TYPES)
    return Signals(
        decayed=decayed,
        trial_signup=per_type[:, TYPE_INDEX["trial_signup"]] > 0,
        trial_sessions=np.asarray(per_type[:, TYPE_INDEX["trial_activity"]], dtype=np.int64),
        unsubscribed=per_type[:, TYPE_INDEX["unsubscribe"]] > 0,
    )


def true_log_odds(source: IntArray, firm: Firmographics, signals: Signals) -> FloatArray:
    """The true log-odds of converting in the window, from observables at the cutoff only."""
    fit = fit_score(firm)
    low, high = TRIAL_SESSIONS
    trial_use = np.clip((signals.trial_sessions - low) / (high - low), 0.0, 1.0)
    hand, content, browse = np.log1p(signals.decayed).T
    intent = (
        HAND_RAISE_SLOPE * hand
        + CONTENT_SLOPE * content
        + BROWSE_SLOPE * browse
        + TRIAL_SIGNUP * signals.trial_signup
        + TRIAL_USE * trial_use
    )
    region = np.where(firm.country >= 0, COUNTRY_REGION_TERM[np.maximum(firm.country, 0)], 0.0)
    logit = (
        INTERCEPT
        + SOURCE_TERM[source]
        + FIT_MAIN * (fit - 0.5)
        + region
        + SOURCE_GAIN[source] * intent * (INTENT_FLOOR + fit)
        + UNSUBSCRIBED * signals.unsubscribed
    )
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
    has_email = leads[schema.EMAIL].notna().to_numpy()
    domain = leads[schema.EMAIL].str.rsplit("@", n=1).str[-1].str.lower()
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
        free_mail=domain.isin(schema.FREE_MAIL_DOMAINS).to_numpy() & has_email,
        has_email=has_email,
    )
    source = _codes(leads[schema.LEAD_SOURCE], schema.LEAD_SOURCES, schema.SOURCE_ALIASES)

    position = pd.Series(np.arange(len(leads)), index=leads[schema.LEAD_ID].to_numpy())
    known = events[schema.LEAD_ID].isin(position.index).to_numpy()
    lead = position.reindex(events.loc[known, schema.LEAD_ID].to_numpy()).to_numpy()
    types = events.loc[known, schema.EVENT_TYPE]
    code = np.asarray(types.map(TYPE_INDEX).fillna(-1), dtype=np.int64)
    seconds = _seconds(events.loc[known, schema.OCCURRED_AT])
    signals = cutoff_signals(lead, seconds, code, _seconds(leads[schema.CREATED_AT]))
    logit = true_log_odds(source, firm, signals)
    return pd.Series(1.0 / (1.0 + np.exp(-logit)), index=leads.index, name=schema.TRUE_PROBABILITY)
