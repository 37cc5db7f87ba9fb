"""The ground truth: each lead's true conversion probability from what is known at the cutoff.

The true log-odds are shaped like a real B2B funnel rather than a points sheet:

    logit = intercept + source + fit
            + source_gain * (buyer_share * sales_intent + user_share * product_intent)

- fit: industry; a mid-market sweet spot in company size; who the contact is, by company
  size (directors and VPs best; a founder signs in a small firm, the chief of a large one
  delegates and is slow; entry-level contacts are mostly students and researchers); a
  free-mail address is fine for an owner-operator and bad anywhere else.
- sales intent: hand-raises (demo, quote, consultation) fading with a 7-day half-life;
  pricing views and content with a 30-day half-life (a webinar counts when attended, not
  when registered; content without any buying signal is research and counts half);
  browsing; a trial signup. It counts in full only from a buyer (`BUYER`): an entry-level
  or free-mail hand-raise at a real company is mostly students, job seekers, competitors.
- product intent: trial use, from the third session on, from a user (`USER`):
  practitioners count even with a personal address; executives rarely try things out.
- the source scales intent: engagement of bought-list and cold-called leads means little;
  referred and trade-show leads buy with little of it (a high base instead).
So fit and intent multiply, seniority and size act non-monotonically, and the 14-day
decayed engagement score is not a sufficient statistic. Missing firmographics score as
"unknown", so the probability never peeks at hidden values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.synth.timeline import CUTOFF_SECONDS, DAY, BoolArray, FloatArray, IntArray

REGION_TERM: Final[dict[str, float]] = {
    "north_america": 0.1,
    "latin_america": -0.25,
    "emea": 0.0,
    "apac": -0.1,
}
COUNTRY_REGION_TERM: Final = np.array(
    [REGION_TERM[schema.COUNTRY_REGION[c]] for c in schema.COUNTRY_REGION], dtype=np.float64
)
"""By schema.COUNTRY_REGION order; shared by behaviour and truth."""

# --- truth: fit (log-odds, from the values as written) --------------------------------
INDUSTRY_FIT: Final = (0.6, 0.48, 0.06, 0.0, -0.18, -0.48, 0.36, -0.24, -0.42, -0.6, -0.3)
"""By schema.INDUSTRIES order: software and financial services are the target market."""
UNKNOWN_INDUSTRY: Final = -0.18
SIZE_PEAK: Final = 2.5
"""log10(employees) of the sweet spot (about 300 people)."""
SIZE_WIDTH: Final = (1.2, 2.2)
"""The size term falls from +SIZE_FIT to -SIZE_FIT this many decades below / above the peak."""
SIZE_FIT: Final = 0.6
UNKNOWN_SIZE: Final = -0.12
SIZE_BANDS: Final = (50.0, 1_000.0)
"""Company size bands for who holds the budget: small (< 50), mid-market, large (>= 1000)."""
ROLE_FIT: Final = (
    (-1.5, -1.5, -1.5, -1.5),
    (0.6, 0.6, 0.6, 0.6),
    (0.9, 0.9, 0.9, 0.9),
    (0.6, 0.8, 0.8, 0.7),
    (0.75, 0.0, -1.5, 0.0),
    (-0.3, -0.3, -0.3, -0.3),
)
"""Log-odds by seniority (entry .. c_level, then unknown) and size band (small, mid, large,
unknown): directors and VPs buy; in a small firm the founder signs, in a large one the chief
delegates and the deal is slow; entry-level contacts are mostly students and researchers."""
FREE_MAIL_FIT: Final = ((20.0, -0.1), (200.0, -1.2), (np.inf, -1.5))
"""(employees below, term) for a free-mail address: fine for an owner-operator, a student,
job seeker or competitor at a real company."""
FREE_MAIL_UNKNOWN_SIZE: Final = -0.8
NO_EMAIL: Final = -0.3

# --- truth: intent -----------------------------------------------------------------------
HAND_RAISE_WEIGHT: Final[dict[str, float]] = {
    "demo_request": 1.0,
    "quote_request": 1.1,
    "consultation_request": 0.8,
}
HAND_RAISE_HALF_LIFE: Final = 7.0
HAND_RAISE_SLOPE: Final = 2.7
"""Log-odds per unit of log(1 + decayed, weighted hand-raises), for a buyer from the web."""
PRICING_WEIGHT: Final[dict[str, float]] = {"pricing_page_view": 1.0}
PRICING_SLOPE: Final = 1.3
CONTENT_WEIGHT: Final[dict[str, float]] = {
    "webinar_attendance": 0.9,
    "whitepaper_download": 0.4,
    "ebook_download": 0.3,
    "webinar_registration": 0.05,
}
CONTENT_HALF_LIFE: Final = 30.0
CONTENT_SLOPE: Final = 1.3
RESEARCH_ONLY: Final = 0.5
"""Share of content's value without any buying signal (pricing, hand-raise, trial)."""
BROWSE_WEIGHT: Final[dict[str, float]] = {
    "page_view": 0.3,
    "blog_view": 0.2,
    "newsletter_signup": 0.5,
    "email_open": 0.1,
    "email_click": 0.5,
}
BROWSE_SLOPE: Final = 0.5
TRIAL_SIGNUP: Final = 0.6
TRIAL_SESSIONS: Final = (2, 6)
"""Trial use counts from the third session on and saturates at the sixth."""
TRIAL_USE: Final = 2.5


@dataclass(frozen=True)
class Persona:
    """How much of one kind of intent counts (0..1), by who the contact is."""

    role: tuple[tuple[float, float, float, float], ...]
    """By seniority (entry .. c_level, then unknown) and size band, as ROLE_FIT."""
    outsider: float
    """A free-mail address at a company of OUTSIDER_SIZE people or more."""


OUTSIDER_SIZE: Final = 20.0
BUYER: Final = Persona(
    role=(
        (0.1, 0.1, 0.1, 0.1),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 0.6, 0.2, 0.7),
        (0.6, 0.6, 0.6, 0.6),
    ),
    outsider=0.1,
)
"""Sales-led intent (hand-raises, pricing, content): an entry-level or free-mail hand-raise
is mostly students, job seekers and competitors; big-company chiefs delegate, slowly."""
USER: Final = Persona(
    role=(
        (0.8, 0.8, 0.8, 0.8),
        (1.0, 1.0, 1.0, 1.0),
        (0.8, 0.8, 0.8, 0.8),
        (0.5, 0.5, 0.5, 0.5),
        (1.0, 0.4, 0.1, 0.6),
        (0.7, 0.7, 0.7, 0.7),
    ),
    outsider=0.8,
)
"""Product-led intent (trial use): practitioners adopt a product, often with a personal
address; executives rarely use a trial themselves, except founders."""
SOURCE_INTENT_GAIN: Final[dict[str, float]] = {
    "content_syndication": 0.55,
    "social": 0.75,
    "referral": 0.2,
    "webinar": 0.55,
    "event": 0.2,
    "outbound_call": 0.2,
    "purchased_list": 0.1,
}
"""How much a source's engagement is worth (1 when not listed): engagement of bought-list
and cold-called leads means little; referred and trade-show leads buy with little of it."""
SOURCE_BASE: Final[dict[str, float]] = {
    "direct": 0.15,
    "content_syndication": -0.4,
    "social": -0.3,
    "referral": 1.6,
    "review_site": 0.6,
    "webinar": 0.6,
    "event": 0.8,
    "outbound_call": -0.5,
    "purchased_list": -1.0,
}
"""Direct log-odds of each source (0 when not listed)."""
INTERCEPT: Final = -3.75
UNSUBSCRIBED: Final = -1.0

SOURCE_TERM: Final = np.array([SOURCE_BASE.get(s, 0.0) for s in schema.LEAD_SOURCES])
SOURCE_GAIN: Final = np.array([SOURCE_INTENT_GAIN.get(s, 1.0) for s in schema.LEAD_SOURCES])
TYPE_INDEX: Final = {t: i for i, t in enumerate(schema.EVENT_TYPES)}
"""Event type -> code (position in schema.EVENT_TYPES); other types are -1."""
_N_TYPES: Final = len(schema.EVENT_TYPES)


def _per_type(weights: dict[str, float]) -> FloatArray:
    out = np.zeros(_N_TYPES)
    for name, w in weights.items():
        out[TYPE_INDEX[name]] = w
    return out


GROUPS: Final = ("hand_raise", "pricing", "content", "browse")
GROUP_WEIGHT: Final = np.stack(
    [
        _per_type(HAND_RAISE_WEIGHT),
        _per_type(PRICING_WEIGHT),
        _per_type(CONTENT_WEIGHT),
        _per_type(BROWSE_WEIGHT),
    ]
)
GROUP_HALF_LIFE: Final = np.array(
    [HAND_RAISE_HALF_LIFE, CONTENT_HALF_LIFE, CONTENT_HALF_LIFE, CONTENT_HALF_LIFE]
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


@dataclass(frozen=True)
class Signals:
    """What each lead did before its cutoff, as the truth reads it."""

    decayed: FloatArray
    """(n, len(GROUPS)) weighted, decayed sums per GROUPS entry."""
    trial_signup: BoolArray
    trial_sessions: IntArray
    unsubscribed: BoolArray


def _by_size(
    employees: FloatArray, steps: tuple[tuple[float, float], ...], unknown: float
) -> FloatArray:
    """A value per lead from (employees below, value) steps; `unknown` without a size."""
    out = np.full(len(employees), unknown)
    for below, value in reversed(steps):
        out = np.where(employees < below, value, out)  # NaN compares False: stays unknown
    return out


def fit_terms(f: Firmographics) -> FloatArray:
    """Truth: the fit part of the log-odds, from the firmographics as written."""
    industry = np.asarray(INDUSTRY_FIT)[np.maximum(f.industry, 0)]
    industry = np.where(f.industry >= 0, industry, UNKNOWN_INDUSTRY)
    x = np.log10(np.maximum(np.nan_to_num(f.employees, nan=1.0), 1.0)) - SIZE_PEAK
    width = np.where(x < 0, SIZE_WIDTH[0], SIZE_WIDTH[1])
    size = SIZE_FIT * (1.0 - 2.0 * np.minimum((x / width) ** 2, 1.0))
    size = np.where(np.isnan(f.employees), UNKNOWN_SIZE, size)
    role = _by_role(f, ROLE_FIT)
    free = _by_size(f.employees, FREE_MAIL_FIT, FREE_MAIL_UNKNOWN_SIZE)
    email = np.where(f.has_email, np.where(f.free_mail, free, 0.0), NO_EMAIL)
    region = np.where(f.country >= 0, COUNTRY_REGION_TERM[np.maximum(f.country, 0)], 0.0)
    return np.asarray(industry + size + role + email + region, dtype=np.float64)


def _by_role(f: Firmographics, table: tuple[tuple[float, ...], ...]) -> FloatArray:
    """A value per lead from a (seniority or unknown) x (size band or unknown) table."""
    band = np.searchsorted(np.asarray(SIZE_BANDS), f.employees, side="right")
    band = np.where(np.isnan(f.employees), len(SIZE_BANDS) + 1, band)
    level = np.where(f.seniority >= 0, f.seniority, len(table) - 1)
    return np.asarray(np.asarray(table)[level, band], dtype=np.float64)


def persona_share(f: Firmographics, persona: Persona) -> FloatArray:
    """Truth: the share of a lead's intent of one kind that counts, by who the contact is."""
    outsider = f.free_mail & (f.employees >= OUTSIDER_SIZE)
    share = _by_role(f, persona.role) * np.where(outsider, persona.outsider, 1.0)
    return np.asarray(share, dtype=np.float64)


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


def sales_intent(signals: Signals) -> FloatArray:
    """Truth: hand-raises, content and browsing before the cutoff, in buyer log-odds."""
    hand, pricing, content, browse = np.log1p(signals.decayed).T
    buying = (hand > 0) | (pricing > 0) | signals.trial_signup
    return np.asarray(
        HAND_RAISE_SLOPE * hand
        + PRICING_SLOPE * pricing
        + CONTENT_SLOPE * content * np.where(buying, 1.0, RESEARCH_ONLY)
        + BROWSE_SLOPE * browse
        + TRIAL_SIGNUP * signals.trial_signup,
        dtype=np.float64,
    )


def product_intent(signals: Signals) -> FloatArray:
    """Truth: trial use before the cutoff; it counts from the third session on."""
    low, high = TRIAL_SESSIONS
    return np.asarray(TRIAL_USE * np.clip((signals.trial_sessions - low) / (high - low), 0, 1))


def true_log_odds(source: IntArray, firm: Firmographics, signals: Signals) -> FloatArray:
    """The true log-odds of converting in the window, from observables at the cutoff only."""
    intent = persona_share(firm, BUYER) * sales_intent(signals)
    intent += persona_share(firm, USER) * product_intent(signals)
    logit = (
        INTERCEPT
        + SOURCE_TERM[source]
        + fit_terms(firm)
        + SOURCE_GAIN[source] * intent
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
