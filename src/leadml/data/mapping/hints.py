"""init-config's vocabulary: the names and values that hint at a column's meaning (pure
data plus two matchers). `mapping.guess` weighs them against what the values show."""

from __future__ import annotations

from typing import Final

from leadml.features.words import name_tokens

LABEL_WORDS: Final = (
    "converted", "conversion", "target", "label", "outcome", "y", "won", "closed won",
    "deal closed", "purchased", "purchase", "subscribed", "subscription", "enrolled",
    "signed", "bought", "paid", "sale", "sold", "customer", "success",
)  # fmt: skip
"""Names of an outcome flag, strongest first."""
CREATED_WORDS: Final = (
    "created", "create", "creation", "first contact", "lead date", "signup", "sign up",
    "registered", "registration", "date added", "added", "inquiry", "submitted",
    "timestamp",
)  # fmt: skip
"""Names of the created-at date, strongest first."""
CONVERTED_DATE_WORDS: Final = ("converted", "conversion", "won", "purchase", "purchased")
ID_WORDS: Final = (
    "id", "lead id", "prospect id", "record id", "uuid", "guid", "key", "lead number",
    "number", "no",
)  # fmt: skip
CONSENT_WORDS: Final = (
    "do not email", "do not call", "do not contact", "do not mail", "do not sms",
    "dont email", "dont call", "opt out", "optout", "opt in", "optin", "opted out",
    "opted in", "unsubscribed", "unsubscribe", "consent", "gdpr", "dnc",
    "marketing permission",
)  # fmt: skip
PII_NAMES: Final = (
    "name", "first name", "last name", "full name", "contact name", "lead name",
    "customer name", "person name", "surname", "given name", "family name",
)  # fmt: skip
"""Whole column names that are a person's name ("Campaign Name" is not)."""
PII_WORDS: Final = (
    "email", "e mail", "phone", "mobile", "telephone", "address", "street", "zip",
    "postcode", "postal code",
)  # fmt: skip
PASSTHROUGH_WORDS: Final = ("company", "account", "owner", "organisation", "organization")
SOURCE_WORDS: Final = (
    "lead source", "source", "channel", "utm", "medium", "campaign", "origin", "referrer",
    "contact",
)  # fmt: skip
"""Names of a lead source, strongest first: the best-named channel column is the source."""
ENGAGEMENT_WORDS: Final = (
    "visits", "views", "page", "pages", "time", "clicks", "click", "opens", "open",
    "calls", "emails", "count", "sessions", "downloads", "previous", "pdays", "days",
    "webinar", "activity", "score",
)  # fmt: skip
SPLIT_NAMES: Final = ("split", "fold")
FLAG_PREFIXES: Final = ("has", "is")

POSITIVE_VALUES: Final = frozenset(
    {"1", "yes", "y", "true", "t", "won", "converted", "success", "successful",
     "purchased", "subscribed", "closed won", "paid", "customer"}
)  # fmt: skip
NEGATIVE_VALUES: Final = frozenset(
    {"0", "no", "n", "false", "f", "lost", "not converted", "unconverted", "failure",
     "failed", "closed lost", "unpaid"}
)  # fmt: skip
OUTCOME_VALUES: Final = frozenset({"won", "converted", "purchased", "subscribed", "closed won"})


def name_hint(name: str, words: tuple[str, ...]) -> str | None:
    """The first of `words` the name holds (a whole word or phrase), or None."""
    joined = f" {' '.join(name_tokens(name))} "
    return next((w for w in words if f" {w} " in joined), None)
