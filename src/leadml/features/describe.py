"""One readable sentence per feature value, for a sales person reading a lead's reasons.

`describe` takes the raw (unencoded) value that `build_features` (or `features.flat`)
produced. A flat export's column reads "Label: value", with the column name in words
(`words.humanise`, or the mapping's `label`), numbers rounded with the mapping's `unit`
(`words.format_number`) and categories as their text. Any column it does not know still
gets a plain "Name: value" sentence, never an empty one.

A missing value says so in words ("Lead quality not recorded"). `unrecorded` tells which
values are missing data rather than facts: a reason built from one is never shown *for*
a lead (see `explain.reasons`). "Never requested a demo" is a fact, not missing data.
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
from leadml.features.words import format_number, humanise


class _Event(NamedTuple):
    one: str  # "Viewed 1 page"
    many: str  # "Viewed {n} pages"
    none: str  # "Viewed no pages"
    last: str  # "Last viewed a page"
    never: str  # "Never viewed a page"


def _things(verb: str, one: str, many: str, obj: str) -> _Event:
    """Phrases for countable things: 'Downloaded 2 whitepapers'."""
    past = verb.lower()
    return _Event(
        f"{verb} 1 {one}", f"{verb} {{n}} {many}", f"{verb} no {many}",
        f"Last {past} {obj}", f"Never {past} {obj}",
    )  # fmt: skip


def _times(past: str, base: str) -> _Event:
    """Phrases for repeatable actions: 'Viewed the pricing page 3 times'."""
    lower = past[0].lower() + past[1:]
    return _Event(
        f"{past} once", f"{past} {{n}} times", f"Did not {base}",
        f"Last {lower}", f"Never {lower}",
    )  # fmt: skip


EVENTS: Final[dict[str, _Event]] = {
    "page_view": _things("Viewed", "page", "pages", "a page"),
    "blog_view": _things("Read", "blog post", "blog posts", "a blog post"),
    "newsletter_signup": _times("Signed up for the newsletter", "sign up for the newsletter"),
    "email_open": _things("Opened", "email", "emails", "an email"),
    "email_click": _things("Clicked", "email link", "email links", "an email link"),
    "ebook_download": _things("Downloaded", "ebook", "ebooks", "an ebook"),
    "whitepaper_download": _things("Downloaded", "whitepaper", "whitepapers", "a whitepaper"),
    "webinar_registration": _things("Registered for", "webinar", "webinars", "a webinar"),
    "webinar_attendance": _things("Attended", "webinar", "webinars", "a webinar"),
    "pricing_page_view": _times("Viewed the pricing page", "view the pricing page"),
    "demo_request": _things("Requested", "demo", "demos", "a demo"),
    "quote_request": _things("Requested", "quote", "quotes", "a quote"),
    "consultation_request": _things("Requested", "consultation", "consultations", "a consultation"),
    "trial_signup": _times("Signed up for a trial", "sign up for a trial"),
    "trial_activity": _times("Used the trial", "use the trial"),
    "unsubscribe": _times("Unsubscribed", "unsubscribe"),
}
"""Phrases per event type; an event type missing here gets generic phrases."""

STAGE_TEXT: Final[dict[int, str]] = {
    0: "No funnel stage reached yet (no engagement before scoring)",
    1: "Reached IQL stage (read content or opened emails)",
    2: "Reached MQL stage (downloaded content, joined a webinar or viewed pricing)",
    3: "Reached SQL stage (asked for a demo, quote or consultation)",
    4: "Reached PQL stage (signed up for or used a trial)",
}
GROUP_TEXT: Final[dict[str, str]] = {
    "organic": "Came through an organic channel (search, direct or email)",
    "paid": "Came through a paid channel (ads or content syndication)",
    "social": "Came through social media",
    "referral": "Came through a referral or review site",
    "events": "Came through a webinar or event",
    "outbound": "Came through outbound prospecting",
}
REGION_TEXT: Final[dict[str, str]] = {
    "north_america": "North America",
    "latin_america": "Latin America",
    "emea": "Europe, Middle East and Africa",
    "apac": "Asia-Pacific",
}
SENIORITY_TEXT: Final = ("entry level", "manager", "director", "VP", "C-level")

_COUNT: Final = re.compile(r"^count_(?P<event>[a-z_]+)_(?P<window>\d+d|all)$")
_RECENCY: Final = re.compile(r"^days_since_last_(?P<event>[a-z_]+)$")


_MISSING_MEANS_NONE: Final = frozenset({"days_since_last_event", "email_click_through_rate"})
"""Event-model columns (besides the recencies) whose missing value is a fact: never engaged,
opened no emails."""


def describe(
    feature_name: str, value: object, spec: FeatureSpec, dataset: DatasetConfig | None = None
) -> str:
    """A short sentence about one raw feature value, e.g. 'Requested a demo 3 days before
    scoring', 'Company size 1,200 employees' or (a flat export's column, `dataset` its
    mapping) 'Total visits: 12'; missing values say what is not known."""
    missing = _missing(value)
    if dataset is not None and feature_name in dataset.columns:
        return _flat(feature_name, value, missing, dataset.columns[feature_name])
    if dataset is not None and feature_name in dataset.calendar_columns:
        return _calendar(feature_name, value, missing)
    if match := _COUNT.match(feature_name):
        return _count_sentence(_event(match["event"]), match["window"], value, missing)
    if match := _RECENCY.match(feature_name):
        event = _event(match["event"])
        return f"{event.never} before scoring" if missing else f"{event.last} {_ago(value)}"
    special = _SENTENCES.get(feature_name)
    if special is not None:
        return special(value, missing, spec)
    return _plain(humanise(feature_name), value, missing or value == schema.UNKNOWN, None)


def unrecorded(
    feature_name: str, values: np.ndarray, dataset: DatasetConfig | None = None
) -> np.ndarray:
    """Per value: is it missing data (None, NaN or the 'unknown' level), as opposed to a
    fact? A recency's NaN means "never did it" and is a fact; a flat export's missing
    value is always missing data."""
    values = np.asarray(values)
    flat = dataset is not None and feature_name in dataset.columns
    if not flat and (feature_name in _MISSING_MEANS_NONE or _RECENCY.match(feature_name)):
        return np.zeros(len(values), dtype=bool)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "US":
        return np.asarray(values == schema.UNKNOWN, dtype=bool)
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pd.isna(values), dtype=bool) | (values == schema.UNKNOWN)


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


def _event(event_type: str) -> _Event:
    name = event_type.replace("_", " ")
    return EVENTS.get(event_type) or _things("Had", f"{name} event", f"{name} events", name)


def _count_sentence(event: _Event, window: str, value: object, missing: bool) -> str:
    when = " before scoring" if window == ALL_TIME else f" in the last {window[:-1]} days"
    if missing:
        return event.many.format(n="an unknown number of") + when
    n = int(float(value))  # type: ignore[arg-type]
    text = event.none if n == 0 else event.one if n == 1 else event.many.format(n=f"{n:,}")
    return text + when


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _number(value: object) -> float:
    return float(value)  # type: ignore[arg-type]


def _ago(value: object) -> str:
    days = _number(value)
    if days < 1:
        return "less than a day before scoring"
    whole = round(days)
    return f"{whole:,} day{'s' if whole != 1 else ''} before scoring"


def _words(value: object) -> str:
    return str(value).replace("_", " ")


def _short_money(amount: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if amount >= size:
            return f"{amount / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{amount:,.0f}"


def _lead_source(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Lead source unknown"
    return f"Came from {_words(value)}"


def _source_group(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Source channel unknown"
    return GROUP_TEXT.get(str(value), f"Came through {_words(value)}")


def _is_inbound(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Unknown whether inbound or outbound"
    if _number(value) > 0:
        return "Inbound lead (came to us)"
    return "Outbound lead (we reached out)"


def _campaign(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "No campaign recorded"
    if value == OTHER:
        return "From a small campaign (grouped as other)"
    return f"From campaign {value}"


def _industry(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Industry unknown"
    return f"Industry: {_words(value)}"


def _country(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Country unknown"
    return f"Based in {value}"


def _region(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Region unknown"
    return f"Region: {REGION_TEXT.get(str(value), _words(value))}"


def _seniority(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Seniority unknown"
    if isinstance(value, str):
        return f"Seniority: {_words(value)}"
    level = int(_number(value))
    name = SENIORITY_TEXT[level] if 0 <= level < len(SENIORITY_TEXT) else str(level)
    return f"Seniority: {name}"


def _employees(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Company size unknown"
    count = round(math.expm1(_number(value)))
    return f"Company size {count:,} employee{'s' if count != 1 else ''}"


def _revenue(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Annual revenue unknown"
    return f"Annual revenue about {_short_money(math.expm1(_number(value)))}"


def _employees_band(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Company size unknown"
    return f"Company size band: {value} employees"


def _revenue_band(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing or value == schema.UNKNOWN:
        return "Annual revenue unknown"
    return f"Annual revenue band: {value}"


def _corporate_email(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Email address unknown"
    if _number(value) > 0:
        return "Uses a corporate email address"
    return "Uses a free-mail address"


def _total_events(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Number of engagements unknown"
    n = int(_number(value))
    if n == 0:
        return "No engagement before scoring"
    return f"Engaged {n:,} time{'s' if n != 1 else ''} before scoring"


def _distinct(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Kinds of engagement unknown"
    n = int(_number(value))
    if n == 0:
        return "No engagement before scoring"
    return f"Engaged in {n} different way{'s' if n != 1 else ''} (of {len(EVENTS)} tracked)"


def _stage(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Funnel stage unknown"
    if isinstance(value, str):
        value = STAGE_ORDINAL.get(value, 0)
    return STAGE_TEXT.get(int(_number(value)), f"Funnel stage {value}")


def _last_event(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Never engaged before scoring"
    return f"Last engaged {_ago(value)}"


def _score(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Engagement score unknown"
    half_life = f"{spec.config.half_life_days:g}"
    return (
        f"Engagement score {_number(value):.1f} (recent and sales-ready activity counts "
        f"more; weight halves every {half_life} days)"
    )


STAGE_ACTIVITY: Final[dict[str, str]] = {
    "IQL": "browsing and email activity",
    "MQL": "content, webinar and pricing activity",
    "SQL": "hand-raising (demo, quote or consultation requests)",
    "PQL": "trial activity",
}


def _stage_score(stage: str) -> Callable[[object, bool, FeatureSpec], str]:
    activity = STAGE_ACTIVITY[stage]

    def sentence(value: object, missing: bool, spec: FeatureSpec) -> str:
        if missing:
            return f"Recent {activity}: unknown"
        if _number(value) == 0:
            return f"No {activity} before scoring"
        half_life = f"{spec.config.half_life_days:g}"
        return (
            f"Recent {activity}: {_number(value):.1f} "
            f"(each event counts 1, halving every {half_life} days)"
        )

    return sentence


def _velocity(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Change in activity unknown"
    ratio = _number(value)
    pace = f"{ratio:.1f}x the weekly pace of the 3 weeks before"
    if ratio > 1.05:
        return f"Activity picking up in the last week ({pace})"
    if ratio < 0.95:
        return f"Activity slowing down in the last week ({pace})"
    return "Steady activity over the last 4 weeks"


def _click_rate(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Opened no emails before scoring"
    return f"Clicked through {_number(value):.0%} of opened emails"


def _age(value: object, missing: bool, spec: FeatureSpec) -> str:
    if missing:
        return "Lead creation date unknown"
    return f"Lead created {_ago(value)}"


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
