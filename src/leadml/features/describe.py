"""One readable sentence per feature value, for a sales person reading a lead's reasons.

A reason's sentence is usually about its whole business field, read from the lead's own
columns (`features.field_words`: "Requested a demo 3 days ago"); this module holds the
phrases it is made of and the sentence of one column, which fields without a sentence of
their own (a flat export's columns, unknown columns) use. Times are "ago", relative to the
scoring moment; no sentence contains a formula (those live in `vocabulary.GLOSSARY`).

`describe` takes the raw (unencoded) value that `build_features` (or `features.flat`)
produced. A flat export's column reads "Label: value", with the column name in words
(`words.humanise`, or the mapping's `label`), numbers rounded with the mapping's `unit`
(`words.format_number`) and categories as their text. Any column it does not know still
gets a plain "Name: value" sentence, never an empty one.

A missing value says so in words ("Lead quality not recorded"). `absent` tells which
values say that something is *not* there: missing data, the 'unknown' level, and absence
facts (never did it, a zero count, no campaign). Such a value may count against a lead
but is never a reason *for* one (see `explain.reasons`): "we do not know" and "never
unsubscribed" are no selling points.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.mapping.config import DatasetConfig, FlatColumn
from leadml.features.engagement import ALL_TIME, STAGE_ORDINAL, score_column
from leadml.features.flat import value_text
from leadml.features.spec import OTHER, FeatureSpec
from leadml.features.words import format_number, humanise, short_money
from leadml.vocabulary import STAGE_LABELS, STAGE_MEANING, label, seniority_label


class Action(NamedTuple):
    """Phrases for one event type, each a sentence start."""

    one: str  # "Requested a demo"
    many: str  # "Requested {n} demos"
    last: str  # "Last requested a demo"
    never: str  # "Has not requested a demo"


def _things(verb: str, base: str, one: str, many: str) -> Action:
    """Phrases for countable things: 'Downloaded 2 whitepapers'."""
    return Action(f"{verb} {one}", f"{verb} {{n}} {many}", f"Last {verb.lower()} {one}",
                  f"Has not {base} {one}")  # fmt: skip


def _times(past: str, base: str) -> Action:
    """Phrases for repeatable actions: 'Viewed pricing 3 times'."""
    lower = past[0].lower() + past[1:]
    return Action(past, f"{past} {{n}} times", f"Last {lower}", f"Has not {base}")


EVENTS: Final[dict[str, Action]] = {
    "page_view": _things("Viewed", "viewed", "a page", "pages"),
    "blog_view": _things("Read", "read", "a blog post", "blog posts"),
    "newsletter_signup": _times("Signed up for the newsletter", "signed up for the newsletter"),
    "email_open": _things("Opened", "opened", "an email", "emails"),
    "email_click": _things("Clicked", "clicked", "an email link", "email links"),
    "ebook_download": _things("Downloaded", "downloaded", "an ebook", "ebooks"),
    "whitepaper_download": _things("Downloaded", "downloaded", "a whitepaper", "whitepapers"),
    "webinar_registration": _things("Registered for", "registered for", "a webinar", "webinars"),
    "webinar_attendance": _things("Attended", "attended", "a webinar", "webinars"),
    "pricing_page_view": _times("Viewed pricing", "viewed pricing"),
    "demo_request": _things("Requested", "requested", "a demo", "demos"),
    "quote_request": _things("Requested", "requested", "a quote", "quotes"),
    "consultation_request": _things("Requested", "requested", "a consultation", "consultations"),
    "trial_signup": _times("Signed up for a trial", "signed up for a trial"),
    "trial_activity": _times("Used the trial", "used the trial"),
    "unsubscribe": _times("Unsubscribed", "unsubscribed"),
}
"""Phrases per event type; an event type missing here gets generic phrases (`action`)."""

_COUNT: Final = re.compile(r"^count_(?P<event>[a-z_]+)_(?P<window>\d+d|all)$")
_RECENCY: Final = re.compile(r"^days_since_last_(?P<event>[a-z_]+)$")

_ABSENT_AT_ZERO: Final = frozenset(
    {"total_events", "distinct_event_types", "stage_reached", "engagement_score",
     "email_click_through_rate", *(score_column(stage) for stage in schema.STAGES)}
)  # fmt: skip
"""Event-model columns whose zero says that something is not there: no engagement, no
stage, no clicks."""
_MISSING_MEANS_NONE: Final = frozenset({"days_since_last_event", "email_click_through_rate"})
"""Event-model columns (besides the recencies) whose missing value is the fact "never":
never engaged, opened no emails."""


def describe(
    feature_name: str, value: object, spec: FeatureSpec, dataset: DatasetConfig | None = None
) -> str:
    """A short sentence about one raw feature value, e.g. 'Last requested a demo 3 days
    ago', 'Company of 1,200 people' or (a flat export's column, `dataset` its mapping)
    'Total visits: 12'; missing values say what is not known."""
    missing = _missing(value)
    if dataset is not None and feature_name in dataset.columns:
        return _flat(feature_name, value, missing, dataset.columns[feature_name])
    if dataset is not None and feature_name in dataset.calendar_columns:
        return _calendar(feature_name, value, missing)
    special = _SENTENCES.get(feature_name)
    if special is not None:
        return special(value, missing, spec)
    if match := _COUNT.match(feature_name):
        return _count_sentence(action(match["event"]), match["window"], value, missing)
    if match := _RECENCY.match(feature_name):
        event = action(match["event"])
        return event.never if missing else f"{event.last} {ago(_number(value))}"
    return _plain(humanise(feature_name), value, missing or value == schema.UNKNOWN, None)


def absent(
    feature_name: str, values: np.ndarray, dataset: DatasetConfig | None = None
) -> np.ndarray:
    """Per value: does it say that something is *not* there? Missing data (None, NaN, the
    'unknown' level; a flat export's missing value) and absence facts: a recency's NaN
    (never did it), a zero count or score, no campaign, no stage. The one rule for what is
    never a reason for a lead; a flat export's engagement column at 0 is a zero count."""
    values = np.asarray(values)
    flat = dataset is not None and feature_name in dataset.columns
    out = _unrecorded(values)
    if flat:
        column = dataset.columns[feature_name]  # type: ignore[union-attr]
        if column.role == "engagement" and values.dtype.kind in "fiub":
            out |= values == 0
        return out
    if values.dtype.kind not in "fiub":
        return out
    if _COUNT.match(feature_name) or feature_name in _ABSENT_AT_ZERO:
        out = out | (values == 0)
    return out


def _unrecorded(values: np.ndarray) -> np.ndarray:
    """Per value: None, NaN or the 'unknown' level."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "US":
        return np.asarray(values == schema.UNKNOWN, dtype=bool)
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pd.isna(values), dtype=bool) | (values == schema.UNKNOWN)


def action(event_type: str) -> Action:
    """The phrases of one event type; generic ones for a type `EVENTS` does not know."""
    found = EVENTS.get(event_type)
    if found is not None:
        return found
    name = event_type.replace("_", " ")
    return _things("Had", "had", f"a {name} event", f"{name} events")


def window_words(window: str) -> str:
    """A count window as a sentence ends: '7d' -> 'this week', '30d' -> 'in the last 30
    days', 'all' -> '' (ever)."""
    if window == ALL_TIME:
        return ""
    if window == "7d":
        return " this week"
    return f" in the last {window[:-1]} days"


def ago(days: float) -> str:
    """Days before the scoring moment as a person says it: '3 days ago'."""
    if days < 1:
        return "in the last 24 hours"
    whole = round(days)
    return f"{whole:,} day{'s' if whole != 1 else ''} ago"


def did(event: Action, n: int) -> str:
    """'Requested a demo' (n = 1) or 'Requested 3 demos'."""
    return event.one if n == 1 else event.many.format(n=f"{n:,}")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _calendar(name: str, value: object, missing: bool) -> str:
    """A calendar feature of created-at (`features.flat.CALENDAR`) as a person says it."""
    if missing:
        return "Created date not recorded"
    number = int(float(value))  # type: ignore[arg-type]
    if name == "created_month":
        return f"Created in {_MONTHS[number - 1]}"
    if name == "created_weekday":
        return f"Created on a {_WEEKDAYS[number]}"
    if name == "created_hour":
        return f"Created at {number:02d}:00-{number:02d}:59"
    day = np.datetime64(number, "D").astype(object)  # created_day: days since 1970-01-01
    return f"Created on {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _flat(name: str, value: object, missing: bool, column: FlatColumn) -> str:
    """A flat export column's sentence: its label (or name in words), then the value."""
    label = column.label or humanise(name)
    unknown = missing or (column.type == "categorical" and value == schema.UNKNOWN)
    return _plain(label, value, unknown, column.unit if column.type != "categorical" else None)


def _plain(label: str, value: object, missing: bool, unit: str | None) -> str:
    """'Label: value' with numbers rounded and text as written; 'Label not recorded'."""
    if missing:
        return f"{label} not recorded"
    if isinstance(value, str):
        return f"{label}: {value.strip()}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{label}: {value_text(value)}"
    return f"{label}: {format_number(number, unit)}"


def _count_sentence(event: Action, window: str, value: object, missing: bool) -> str:
    when = window_words(window)
    if missing:
        return event.many.format(n="an unknown number of") + when
    n = int(float(value))  # type: ignore[arg-type]
    return (event.never if n == 0 else did(event, n)) + when


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _number(value: object) -> float:
    return float(value)  # type: ignore[arg-type]


def _lead_source(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Lead source unknown"
    return came_in_through(value)


def came_in_through(source: object) -> str:
    """'Came in through a referral', 'Came in through paid search'."""
    text = label("lead_source", source)
    if str(source) in SOURCE_ARTICLE:
        return f"Came in through {SOURCE_ARTICLE[str(source)]} {text.lower()}"
    if str(source) in schema.LEAD_SOURCES:
        return f"Came in through {text.lower()}"
    return f"Came in through {text}"


SOURCE_ARTICLE: Final[dict[str, str]] = {
    "direct": "a",
    "referral": "a",
    "review_site": "a",
    "webinar": "a",
    "event": "an",
    "outbound_call": "a",
    "purchased_list": "a",
}
"""Sources that read as one thing ("a referral"); the others are channels ("paid search")."""


def _source_group(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Source channel unknown"
    return f"Came in through: {label('source_group', value)}"


def _is_inbound(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Unknown whether inbound or outbound"
    if _number(value) > 0:
        return "Came to us on their own (inbound)"
    return "We reached out first (outbound)"


def _campaign(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "No campaign recorded"
    if value == OTHER:
        return "From a small campaign"
    return f"From campaign {value}"


def _industry(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Industry unknown"
    return first_upper(company(value, None))


def _country(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Country unknown"
    return f"Based in {label('country', value)}"


def _region(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Region unknown"
    return f"Based in {label('region', value)}"


def _seniority(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Seniority unknown"
    who = seniority_words(value)
    return {"Entry level": "Entry-level contact", "C-level": "C-level executive"}.get(
        who, f"{who}-level contact"
    )


def seniority_words(value: object) -> str:
    """A seniority, an ordinal (0 entry .. 4 C-level) or a token, as its label."""
    if isinstance(value, str):
        return label("seniority", value)
    return seniority_label(int(_number(value)))


def company(industry: object, employees: int | None) -> str:
    """'240-person software company', 'software company', '240-person company' (None
    or the 'unknown' level: not said)."""
    size = f"{employees:,}-person " if employees is not None else ""
    if industry is None or industry != industry or industry == schema.UNKNOWN:
        return f"{size}company"
    if industry == "other":
        return f"{size}company in a less common industry"
    noun = "organisation" if industry in _ORGANISATIONS else "company"
    kind = label("industry", industry)
    kind = kind if kind.isupper() else kind[:1].lower() + kind[1:]
    return f"{size}{kind} {noun}"


_ORGANISATIONS: Final = frozenset({"government", "nonprofit", "education"})


def employee_count(value: object) -> int | None:
    """The head count of an `employees_log` value (None when missing)."""
    return None if _missing(value) else round(math.expm1(_number(value)))


def first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _employees(value: object, missing: bool, spec: FeatureSpec) -> str:
    count = employee_count(value)
    if count is None:
        return "Company size unknown"
    return first_upper(company(None, count))


def _revenue(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Annual revenue unknown"
    return f"Annual revenue about {short_money(math.expm1(_number(value)))}"


def _employees_band(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Company size unknown"
    return f"Company of {value} people"


def _revenue_band(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Annual revenue unknown"
    return f"Annual revenue {value}"


def _corporate_email(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Email address unknown"
    if _number(value) > 0:
        return "Uses a company email address"
    return "Uses a free email address (such as Gmail)"


def _total_events(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Number of actions unknown"
    n = int(_number(value))
    if n == 0:
        return "No activity yet"
    return f"{n:,} action{'s' if n != 1 else ''} so far"


def _distinct(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Kinds of activity unknown"
    n = int(_number(value))
    if n == 0:
        return "No activity yet"
    return f"Active in {n} different way{'s' if n != 1 else ''}"


def stage_token(stage: object) -> str:
    """A funnel stage, a name or its ordinal (0..4), as its name ('SQL')."""
    if isinstance(stage, str):
        return stage
    ordinal = int(_number(stage))
    return next((s for s, o in STAGE_ORDINAL.items() if o == ordinal), schema.NO_STAGE)


def stage_sentence(stage: object) -> str:
    """'Reached SQL: asked for a demo, a quote or a consultation' (stage: a name or 0..4)."""
    name = stage_token(stage)
    if name == schema.NO_STAGE or name not in STAGE_MEANING:
        return "No funnel stage reached yet"
    return f"Reached {STAGE_LABELS[name]}: {STAGE_MEANING[name]}"


def _stage(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Funnel stage unknown"
    return stage_sentence(value)


def _last_event(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "No activity yet"
    return f"Last active {ago(_number(value))}"


def _score(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Engagement unknown"
    if _number(value) == 0:
        return "No activity yet"
    return f"Engagement score {_number(value):.1f}"


STAGE_ACTIVITY: Final[dict[str, str]] = {
    "IQL": "browsing and email activity",
    "MQL": "content, webinar and pricing activity",
    "SQL": "demo, quote or consultation requests",
    "PQL": "trial activity",
}


def _stage_score(stage: str) -> Callable[[object, bool, FeatureSpec], str]:
    activity = STAGE_ACTIVITY[stage]

    def sentence(value: object, missing: bool, spec: FeatureSpec) -> str:
        if missing:
            return f"Recent {activity} unknown"
        if _number(value) == 0:
            return f"No {activity}"
        return f"Recent {activity}"

    return sentence


def _velocity(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Trend in activity unknown"
    ratio = _number(value)
    if ratio > 1.05:
        return "Activity picking up this week"
    if ratio < 0.95:
        return "Activity slowing down this week"
    return "Steady activity over the last 4 weeks"


def _click_rate(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Has not opened an email"
    if _number(value) == 0:
        return "Opened emails but clicked no links"
    return f"Clicked links in {_number(value):.0%} of opened emails"


def _age(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Lead creation date unknown"
    return f"Became a lead {ago(_number(value))}"


_SENTENCES: Final = {
    "lead_source": _lead_source,
    "source_group": _source_group,
    "is_inbound": _is_inbound,
    "campaign": _campaign,
    "industry": _industry,
    "country": _country,
    "region": _region,
    "seniority": _seniority,
    "employees_log": _employees,
    "employees_band": _employees_band,
    "annual_revenue_log": _revenue,
    "revenue_band": _revenue_band,
    "is_corporate_email": _corporate_email,
    "total_events": _total_events,
    "distinct_event_types": _distinct,
    "stage_reached": _stage,
    "days_since_last_event": _last_event,
    "engagement_score": _score,
    **{score_column(stage): _stage_score(stage) for stage in STAGE_ACTIVITY},
    "engagement_velocity": _velocity,
    "email_click_through_rate": _click_rate,
    "days_since_created": _age,
}
