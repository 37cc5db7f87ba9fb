"""The data contract: table and column names, vocabularies and category aliases.

Everything that names a column or a category level lives here, so that the
generator, the validator, the features and the API agree by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

# --- tables -----------------------------------------------------------------
LEADS: Final = "leads"
EVENTS: Final = "events"
TRUTH: Final = "truth"
TABLE_FORMATS: Final = ("parquet", "csv")

# --- leads: one row per lead (each column described once in LEAD_COLUMNS, below) ---
LEAD_ID: Final = "lead_id"
CREATED_AT: Final = "created_at"
LEAD_SOURCE: Final = "lead_source"
CAMPAIGN: Final = "campaign"
COMPANY: Final = "company"
INDUSTRY: Final = "industry"
EMPLOYEES: Final = "employees"
ANNUAL_REVENUE: Final = "annual_revenue"
COUNTRY: Final = "country"
JOB_TITLE: Final = "job_title"
SENIORITY: Final = "seniority"
CONTACT_NAME: Final = "contact_name"
EMAIL: Final = "email"
PHONE: Final = "phone"
ACQUISITION_COST: Final = "acquisition_cost"
CONVERTED_AT: Final = "converted_at"

# --- events: one row per engagement -----------------------------------------
OCCURRED_AT: Final = "occurred_at"
EVENT_TYPE: Final = "event_type"
EVENT_REQUIRED: Final = (LEAD_ID, OCCURRED_AT, EVENT_TYPE)

# --- truth (synthetic data only; training never reads it) -------------------
TRUE_PROBABILITY: Final = "true_probability"
"""P(converted in (cutoff, cutoff + window] | everything known at the cutoff)."""
ELIGIBLE: Final = "eligible"
"""False when the lead converted before the standard cutoff (excluded from labels)."""

# --- funnel stages ----------------------------------------------------------
STAGES: Final = ("IQL", "MQL", "SQL", "PQL")
"""Funnel stages in order: information-, marketing-, sales-, product-qualified."""
NO_STAGE: Final = "none"

EVENT_STAGE: Final[dict[str, str]] = {
    "page_view": "IQL",
    "blog_view": "IQL",
    "newsletter_signup": "IQL",
    "email_open": "IQL",
    "email_click": "IQL",
    "ebook_download": "MQL",
    "whitepaper_download": "MQL",
    "webinar_registration": "MQL",
    "webinar_attendance": "MQL",
    "pricing_page_view": "MQL",
    "demo_request": "SQL",
    "quote_request": "SQL",
    "consultation_request": "SQL",
    "trial_signup": "PQL",
    "trial_activity": "PQL",
}
EVENT_TYPES: Final = (*EVENT_STAGE.keys(), "unsubscribe")
"""The engagement vocabulary, in funnel order. `unsubscribe` belongs to no stage."""
SALES_REQUEST_EVENTS: Final = ("demo_request", "quote_request", "consultation_request")
"""Hand-raisers: more of these never lowers a score (monotone constraint)."""
POST_CONVERSION_EVENTS: Final = ("onboarding", "invoice_paid")
"""Known to happen only after a conversion: kept, reported, never features (leakage)."""

# --- lead sources -----------------------------------------------------------
UNKNOWN: Final = "unknown"
"""The explicit level for a missing or unseen category."""

SOURCE_GROUP: Final[dict[str, str]] = {
    "organic_search": "organic",
    "direct": "organic",
    "email": "organic",
    "paid_search": "paid",
    "content_syndication": "paid",
    "social": "social",
    "referral": "referral",
    "review_site": "referral",
    "webinar": "events",
    "event": "events",
    "outbound_call": "outbound",
    "purchased_list": "outbound",
}
LEAD_SOURCES: Final = tuple(SOURCE_GROUP)
SOURCE_GROUPS: Final = ("organic", "paid", "social", "referral", "events", "outbound")
OUTBOUND_GROUP: Final = "outbound"

SOURCE_ALIASES: Final[dict[str, str]] = {
    "google_ads": "paid_search",
    "adwords": "paid_search",
    "ppc": "paid_search",
    "cpc": "paid_search",
    "sem": "paid_search",
    "bing_ads": "paid_search",
    "paid": "paid_search",
    "organic": "organic_search",
    "seo": "organic_search",
    "google": "organic_search",
    "google_organic": "organic_search",
    "search": "organic_search",
    "linkedin": "social",
    "facebook": "social",
    "twitter": "social",
    "x": "social",
    "social_media": "social",
    "newsletter": "email",
    "email_campaign": "email",
    "e_mail": "email",
    "word_of_mouth": "referral",
    "partner": "referral",
    "partner_referral": "referral",
    "customer_referral": "referral",
    "g2": "review_site",
    "capterra": "review_site",
    "reviews": "review_site",
    "webinars": "webinar",
    "events": "event",
    "trade_show": "event",
    "tradeshow": "event",
    "conference": "event",
    "syndication": "content_syndication",
    "cold_call": "outbound_call",
    "outbound": "outbound_call",
    "cold_calling": "outbound_call",
    "list_purchase": "purchased_list",
    "purchased_lists": "purchased_list",
    "bought_list": "purchased_list",
    "direct_traffic": "direct",
    "none": "direct",
}

# --- firmographic vocabularies ---------------------------------------------
INDUSTRIES: Final = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "professional_services",
    "media",
    "government",
    "nonprofit",
    "other",
)
INDUSTRY_ALIASES: Final[dict[str, str]] = {
    "saas": "software",
    "tech": "software",
    "technology": "software",
    "it": "software",
    "finance": "financial_services",
    "banking": "financial_services",
    "fintech": "financial_services",
    "insurance": "financial_services",
    "health": "healthcare",
    "health_care": "healthcare",
    "pharma": "healthcare",
    "ecommerce": "retail",
    "e_commerce": "retail",
    "consulting": "professional_services",
    "services": "professional_services",
    "public_sector": "government",
    "non_profit": "nonprofit",
    "ngo": "nonprofit",
}

SENIORITIES: Final = ("entry", "manager", "director", "vp", "c_level")
"""Seniority levels, lowest first."""
SENIORITY_ALIASES: Final[dict[str, str]] = {
    "intern": "entry",
    "junior": "entry",
    "individual_contributor": "entry",
    "ic": "entry",
    "staff": "entry",
    "senior_manager": "manager",
    "head_of": "director",
    "head": "director",
    "vice_president": "vp",
    "svp": "vp",
    "evp": "vp",
    "cxo": "c_level",
    "c_suite": "c_level",
    "executive": "c_level",
    "owner": "c_level",
    "founder": "c_level",
}

COUNTRY_REGION: Final[dict[str, str]] = {
    "US": "north_america",
    "CA": "north_america",
    "MX": "latin_america",
    "BR": "latin_america",
    "AR": "latin_america",
    "GB": "emea",
    "DE": "emea",
    "FR": "emea",
    "NL": "emea",
    "ES": "emea",
    "IT": "emea",
    "SE": "emea",
    "ZA": "emea",
    "AE": "emea",
    "IN": "apac",
    "AU": "apac",
    "JP": "apac",
    "SG": "apac",
}
REGIONS: Final = ("north_america", "latin_america", "emea", "apac")

FREE_MAIL_DOMAINS: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
    }
)

# --- the leads table, described once ------------------------------------------
ColumnKind: TypeAlias = Literal["text", "number", "timestamp"]
ColumnGroup: TypeAlias = Literal["lead", "source", "firmographic", "contact", "cost", "outcome"]


@dataclass(frozen=True)
class LeadColumn:
    """One column of the leads table, as every reader of leads sees it: the file validator,
    the API's generated request model and its conversion into the Scorer's arrays."""

    name: str
    kind: ColumnKind
    group: ColumnGroup
    """`contact`: PII, passed through, never a feature; `outcome`: known only after the
    fact, read for training labels and never accepted for scoring."""
    required: bool = False
    """A leads file must have it (the API needs only `lead_id`)."""
    non_negative: bool = False
    """Counts, sizes and money: a negative value is an error."""
    max_length: int | None = None
    """Text: the longest value the API accepts."""
    vocabulary: tuple[str, ...] | None = None
    """A closed list of canonical values: the features read any other value as missing."""
    description: str | None = None
    """What a caller should know about the column, shown in the API's OpenAPI document."""


LEAD_COLUMNS: Final[tuple[LeadColumn, ...]] = (
    LeadColumn(LEAD_ID, "text", "lead", required=True, max_length=200),
    LeadColumn(
        CREATED_AT,
        "timestamp",
        "lead",
        required=True,
        description="When the lead was created (ISO 8601). Missing: lead age unknown.",
    ),
    LeadColumn(LEAD_SOURCE, "text", "source", required=True, max_length=200),
    LeadColumn(CAMPAIGN, "text", "source", max_length=200),
    LeadColumn(COMPANY, "text", "firmographic", max_length=300),
    LeadColumn(INDUSTRY, "text", "firmographic", max_length=200),
    LeadColumn(EMPLOYEES, "number", "firmographic", non_negative=True),
    LeadColumn(ANNUAL_REVENUE, "number", "firmographic", non_negative=True),
    LeadColumn(COUNTRY, "text", "firmographic", max_length=100),
    LeadColumn(JOB_TITLE, "text", "firmographic", max_length=300),
    LeadColumn(
        SENIORITY,
        "text",
        "firmographic",
        max_length=100,
        vocabulary=SENIORITIES,
    ),
    LeadColumn(CONTACT_NAME, "text", "contact", max_length=300),
    LeadColumn(
        EMAIL,
        "text",
        "contact",
        max_length=320,
        description="Only its domain is used (free-mail or not).",
    ),
    LeadColumn(PHONE, "text", "contact", max_length=100),
    LeadColumn(ACQUISITION_COST, "number", "cost", non_negative=True),
    LeadColumn(CONVERTED_AT, "timestamp", "outcome"),
)
"""The leads table, in column order: the one list the lists below, the validator and the
API's request model are derived from. Add a column here and every reader knows it."""

LEAD_REQUIRED: Final = tuple(c.name for c in LEAD_COLUMNS if c.required)
"""Columns a leads table must have. `converted_at` is required for training only."""
LEAD_OPTIONAL: Final = tuple(c.name for c in LEAD_COLUMNS if not c.required)
FIRMOGRAPHIC_COLUMNS: Final = tuple(c.name for c in LEAD_COLUMNS if c.group == "firmographic")
PII_COLUMNS: Final = tuple(c.name for c in LEAD_COLUMNS if c.group == "contact")
"""Contact details: passed through to sales lists, never used as features."""
LEAD_TIMESTAMPS: Final = tuple(c.name for c in LEAD_COLUMNS if c.kind == "timestamp")
LEAD_NON_NEGATIVE: Final = tuple(c.name for c in LEAD_COLUMNS if c.non_negative)
"""Counts, sizes and money: a negative value is an error."""


def scoring_columns(columns: tuple[LeadColumn, ...] | None = None) -> tuple[LeadColumn, ...]:
    """The lead columns a lead is scored with: all but the outcome (`LEAD_COLUMNS` now when
    `columns` is None, so a reader built later sees the contract as it is then)."""
    return tuple(c for c in (LEAD_COLUMNS if columns is None else columns) if c.group != "outcome")


_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_token(value: str) -> str:
    """Lower-case, trim, and join words with underscores: ' Google  Ads' -> 'google_ads'."""
    return _NON_WORD.sub("_", value.strip().lower()).strip("_")


def canonical_category(value: str, aliases: dict[str, str]) -> str:
    """Normalise a messy category and resolve known aliases."""
    token = normalise_token(value)
    return aliases.get(token, token)


def canonical_country(value: str) -> str:
    """Country codes are trimmed and upper-cased: ' us' -> 'US'."""
    return value.strip().upper()


CANONICAL_FORM: Final[dict[str, Callable[[str], str]]] = {
    LEAD_SOURCE: lambda v: canonical_category(v, SOURCE_ALIASES),
    INDUSTRY: lambda v: canonical_category(v, INDUSTRY_ALIASES),
    SENIORITY: lambda v: canonical_category(v, SENIORITY_ALIASES),
    COUNTRY: canonical_country,
    EVENT_TYPE: normalise_token,
}
"""How each categorical input column is cleaned, for files (validate) and API requests alike."""


# --- the standard scoring moment -------------------------------------------
STANDARD_OBSERVATION_DAYS: Final = 14
"""Default cutoff: this many days after `created_at`. The synthetic truth uses it."""
STANDARD_WINDOW_DAYS: Final = 90
"""Default label window: converted in (cutoff, cutoff + this many days]."""
