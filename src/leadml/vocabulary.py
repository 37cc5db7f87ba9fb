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

Kind = Literal["lead_source", "source_group", "stage", "industry", "region", "seniority"]

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
SENIORITY_LABELS: Final[dict[str, str]] = {
    "entry": "Entry level",
    "manager": "Manager",
    "director": "Director",
    "vp": "VP",
    "c_level": "C-level",
}

LABELS: Final[dict[str, dict[str, str]]] = {
    "lead_source": SOURCE_LABELS,
    "source_group": SOURCE_GROUP_LABELS,
    "stage": STAGE_LABELS,
    "industry": INDUSTRY_LABELS,
    "region": REGION_LABELS,
    "seniority": SENIORITY_LABELS,
}
"""kind -> canonical token -> label: the whole vocabulary, as data."""

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


def seniority_label(level: int) -> str:
    """A seniority ordinal (0 entry .. 4 C-level, as the features encode it) as words."""
    if 0 <= level < len(schema.SENIORITIES):
        return SENIORITY_LABELS[schema.SENIORITIES[level]]
    return str(level)
