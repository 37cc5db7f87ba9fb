"""Name hints for the leakage guard: a column name or values that look like an outcome or
a field filled in after contact (status, stage, deal, score, profile, duration, owner,
last activity, ...).

A hint is never a refusal on its own (`leakage` lowers its limits for hinted columns).
init-config sets outcome-like columns aside with `outcome_evidence`; the guard's wider
`name_hint` adds words that are only suspicious (score, index, profile, owner).
"""

from __future__ import annotations

import re
from typing import Final

import pandas as pd

from leadml.features.words import name_tokens

OUTCOME_NAME_WORDS: Final = frozenset(
    {"status", "stage", "tag", "tags", "quality", "won", "closed", "lost", "reason",
     "duration", "outcome", "result", "disposition", "converted", "conversion", "churn",
     "churned", "deal", "opportunity", "closing"}
)  # fmt: skip
OUTCOME_NAME_PHRASES: Final = (
    "last activity", "last action", "last contact", "last touch", "close date",
    "closed date", "closed at", "won date", "lost date", "call length", "talk time",
)  # fmt: skip
OUTCOME_VALUE_PATTERN: Final = re.compile(
    r"\b(closed[ _-]?(won|lost)|won|lost|converted|disqualified|unqualified|junk|"
    r"not interested|wrong number|already a customer|lost to|closed by)\b",
    re.IGNORECASE,
)
_PREVIOUS: Final = frozenset({"previous", "prior", "prev"})
_EARLIER_OUTCOME: Final = frozenset({"outcome", "outcomes", "result", "results"})
"""'previous_outcome' / 'prior result' (bank data's poutcome) describe an earlier campaign:
only these words are exempted by a previous/prior/prev token (a 'prev_stage' still leaks)."""
_POST_CONTACT_AFTER_LAST: Final = frozenset(
    {"activity", "activities", "status", "stage", "contact", "contacted", "action", "touch",
     "call", "interaction"}
)  # fmt: skip
"""'last' with one of these (last_status, "Last Notable Activity") is recorded after contact."""
_VALUE_SHARE: Final = 0.01
POST_CONTACT_WORDS: Final = frozenset({"score", "scores", "index", "profile", "owner"})
"""Name words that hint at a field a sales rep or tool fills in after contact; unlike the
outcome words they are hints to the guard only (init-config does not set them aside)."""


def outcome_evidence(name: str, values: pd.Series | None = None) -> str | None:
    """Why a column's name or values look like an outcome or post-contact field, or None."""
    tokens = name_tokens(name)
    joined = " ".join(tokens)
    for phrase in OUTCOME_NAME_PHRASES:
        if f" {phrase} " in f" {joined} ":
            return f"name {name!r} contains {phrase!r} (recorded after contact)"
    if "last" in tokens and set(tokens) & _POST_CONTACT_AFTER_LAST:
        return f"name {name!r} describes the last contact or status (recorded after contact)"
    hits = [t for t in tokens if t in OUTCOME_NAME_WORDS]
    if hits and set(tokens) & _PREVIOUS:  # an earlier campaign's outcome is known up front
        hits = [t for t in hits if t not in _EARLIER_OUTCOME]
    if hits:
        return f"name {name!r} contains {hits[0]!r} (looks like an outcome or post-contact field)"
    if values is None:
        return None
    present = values.dropna()
    if len(present) == 0 or pd.api.types.is_numeric_dtype(present):
        return None
    counts = present.astype(str).value_counts()
    matched = [v for v in counts.index if OUTCOME_VALUE_PATTERN.search(v)]
    share = float(counts[matched].sum() / len(present)) if matched else 0.0
    if matched and share >= _VALUE_SHARE:
        shown = ", ".join(repr(v) for v in matched[:3])
        return f"values look like outcomes: {shown} ({share:.0%} of rows)"
    return None


def name_hint(name: str, values: pd.Series | None = None) -> str | None:
    """The guard's name hint: an outcome-like name or values, or a post-contact word."""
    found = outcome_evidence(name, values)
    if found:
        return found
    words = [t for t in name_tokens(name) if t in POST_CONTACT_WORDS]
    if words:
        return f"name {name!r} contains {words[0]!r} (often filled in after contact)"
    return None
