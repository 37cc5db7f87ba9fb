"""Labels, not slugs: the one vocabulary every list, page and reason shows.

The data speaks in canonical tokens (`paid_search`, `c_level`, `SQL`); people read
labels ("Paid search", "C-level", "SQL: asked for a demo, a quote or a consultation").
`label(kind, token)` is the only place a token becomes words. A token the vocabulary
does not know (a flat export's own source text, a new campaign) is shown as written,
with underscores read as spaces when it is a slug (`partner_portal` -> "Partner portal").

`LABELS` is plain data (kind -> token -> label), so the sales page receives the same
words as JSON and the CSV, the terminal and the API never disagree with it.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from leadml import schema

Kind = Literal[
    "lead_source",
    "source_group",
    "stage",
    "industry",
    "region",
    "seniority",
    "country",
    "trend",
    "trend_mark",
]

SOURCE_LABELS: Final[dict[str, str]] = {
    "organic_search": "Organic search",
    "direct": "Direct visit",
    "email": "Email",
    "paid_search": "Paid search",
    "content_syndication": "Content syndication",
    "social": "Social media",
    "referral": "Referral",
    "review_site": "Review site",
    "webinar": "Webinar",
    "event": "Event",
    "outbound_call": "Cold call",
    "purchased_list": "Purchased list",
}
SOURCE_GROUP_LABELS: Final[dict[str, str]] = {
    "organic": "Organic (search, direct or email)",
    "paid": "Paid (ads or content syndication)",
    "social": "Social media",
    "referral": "Referral or review site",
    "events": "Webinar or event",
    "outbound": "Outbound prospecting",
}
STAGE_LABELS: Final[dict[str, str]] = {
    "IQL": "IQL",
    "MQL": "MQL",
    "SQL": "SQL",
    "PQL": "PQL",
    schema.NO_STAGE: "No stage yet",
}
STAGE_MEANING: Final[dict[str, str]] = {
    "IQL": "reads blogs and newsletters",
    "MQL": "downloaded content, joined a webinar or viewed pricing",
    "SQL": "asked for a demo, a quote or a consultation",
    "PQL": "signed up for or used a free trial",
    schema.NO_STAGE: "no engagement yet",
}
"""What each stage means, for tooltips and the glossary."""
INDUSTRY_LABELS: Final[dict[str, str]] = {
    "software": "Software",
    "financial_services": "Financial services",
    "healthcare": "Healthcare",
    "manufacturing": "Manufacturing",
    "retail": "Retail",
    "education": "Education",
    "professional_services": "Professional services",
    "media": "Media",
    "government": "Government",
    "nonprofit": "Nonprofit",
    "other": "Other industry",
}
REGION_LABELS: Final[dict[str, str]] = {
    "north_america": "North America",
    "latin_america": "Latin America",
    "emea": "Europe, Middle East and Africa",
    "apac": "Asia-Pacific",
}
COUNTRY_LABELS: Final[dict[str, str]] = {
    "US": "the United States",
    "CA": "Canada",
    "MX": "Mexico",
    "BR": "Brazil",
    "AR": "Argentina",
    "GB": "the United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "NL": "the Netherlands",
    "ES": "Spain",
    "IT": "Italy",
    "SE": "Sweden",
    "ZA": "South Africa",
    "AE": "the United Arab Emirates",
    "IN": "India",
    "AU": "Australia",
    "JP": "Japan",
    "SG": "Singapore",
}
"""ISO country codes of `schema.COUNTRY_REGION` as a sentence names them ("Based in the
United Kingdom"); another code is shown as written."""
SENIORITY_LABELS: Final[dict[str, str]] = {
    "entry": "Entry level",
    "manager": "Manager",
    "director": "Director",
    "vp": "VP",
    "c_level": "C-level",
}

TREND_LABELS: Final[dict[str, str]] = {
    "new": "New: scored for the first time",
    "improving": "Improving",
    "steady": "Steady",
    "declining": "Declining",
}
"""A lead's trend (`leadml.ranked.trend_of`): its score against its previous score."""
TREND_MARKS: Final[dict[str, str]] = {
    "new": "new",
    "improving": "▲",
    "steady": "▬",
    "declining": "▼",
}
"""The trend as one mark, for tables (the terminal, the sales page)."""

LABELS: Final[dict[str, dict[str, str]]] = {
    "lead_source": SOURCE_LABELS,
    "source_group": SOURCE_GROUP_LABELS,
    "stage": STAGE_LABELS,
    "industry": INDUSTRY_LABELS,
    "region": REGION_LABELS,
    "seniority": SENIORITY_LABELS,
    "country": COUNTRY_LABELS,
    "trend": TREND_LABELS,
    "trend_mark": TREND_MARKS,
}
"""kind -> canonical token -> label: the whole vocabulary, as data."""

GLOSSARY: Final[dict[str, str]] = {
    "score": "1 to 99: the share of validation leads this lead ranks above. It is not a "
    "probability.",
    "grade": "A, B, C or D: the lead's band in the ranked list (shares set in leadml.toml, "
    "[grades] shares). Call A leads first.",
    "probability": "The model's chance that the lead converts, calibrated on past leads: of "
    "100 leads at 20%, about 20 converted.",
    "probability points": "How much one reason moves the lead's chance of converting, in "
    "percentage points (from 20% to 25% is 5 points). Not score points.",
    "reason": "A fact about the lead that moved its score. ▲ pushes the score up, ▼ pulls "
    "it down; three arrows are a strong push, one a slight one. Hover over the arrows for "
    "the change in probability points.",
    "trend": "▲ improving or ▼ declining: the score moved by at least a few points since the "
    "lead was last scored; ▬ steady: it moved less; new: scored for the first time. The "
    "number beside it is the previous score.",
    "engagement": "What the lead did. Recent and sales-ready actions count more: an "
    "action's weight halves every half-life (every 14 days unless leadml.toml sets "
    "[features] half_life_days).",
    "as of": "Data as of: the moment the scored data runs to. Scored: when the scoring job ran.",
}
"""Term -> one plain sentence or two: what the sales page's glossary, the README and the
CLI explain, so reasons stay short (the engagement half-life lives here, never in a
reason). The stages' meanings are `STAGE_MEANING`."""

UNKNOWN_LABEL: Final = "Unknown"
_SLUG: Final = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+|[a-z]+")


def label(kind: Kind, token: object) -> str:
    """The words for one token of a kind ("paid_search" -> "Paid search"). Missing values
    and the 'unknown' level read "Unknown"; a token outside the vocabulary is shown as
    written, or as words when it is a lower-case slug ("partner_portal" -> "Partner portal")."""
    if token is None or token != token or token == schema.UNKNOWN:  # None, NaN, unknown
        return UNKNOWN_LABEL
    text = str(token).strip()
    known = LABELS[kind].get(text)
    if known is not None:
        return known
    if _SLUG.fullmatch(text):
        words = text.replace("_", " ")
        return words[:1].upper() + words[1:]
    return text


def source_label(token: object, *, as_written: bool = False) -> str:
    """A lead source's words: a canonical token through the vocabulary, or, `as_written`,
    a flat export's own source text as the file has it (it is already words)."""
    return str(token) if as_written else label("lead_source", token)


def seniority_label(level: int) -> str:
    """A seniority ordinal (0 entry .. 4 C-level, as the features encode it) as words."""
    if 0 <= level < len(schema.SENIORITIES):
        return SENIORITY_LABELS[schema.SENIORITIES[level]]
    return str(level)
