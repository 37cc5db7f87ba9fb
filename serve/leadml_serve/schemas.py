"""Request and response models of the API (pydantic v2).

The request models are generated, not written by hand: an event model's `LeadIn` has one
field per lead column of the data contract (`leadml.schema.LEAD_COLUMNS`, outcome left out)
plus its engagement events; a flat-export model's has one per column of its mapping. The
served bundle's spec adds the categories it knows to the field descriptions (OpenAPI).
Categories are free text here and canonicalised exactly as the file loader does.

What the models refuse is what their OpenAPI schema says (the schema is the contract):
numbers are JSON numbers, finite and within +-MAX_NUMBER (no booleans, no numeric text);
timestamps are ISO 8601 text with a year between 1678 and 2261 (never a number: `0` is not
read as 1970).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    create_model,
)

from leadml import schema
from leadml.bundle import Bundle
from leadml.schema import LeadColumn
from leadml.scoring import Category, DatasetConfig, FeatureSpec, categories, export_text

EXAMPLE_LEAD: dict[str, Any] = {
    "lead_id": "L-1001",
    "created_at": "2026-11-02T09:15:00Z",
    "lead_source": "webinar",
    "campaign": "q4_webinar_series",
    "company": "Acme Analytics",
    "industry": "software",
    "employees": 240,
    "annual_revenue": 38000000,
    "country": "DE",
    "seniority": "director",
    "email": "dana@acme-analytics.example",
    "events": [
        {"event_type": "webinar_attendance", "occurred_at": "2026-11-03T16:00:00Z"},
        {"event_type": "pricing_page_view", "occurred_at": "2026-11-09T10:12:00Z"},
        {"event_type": "demo_request", "occurred_at": "2026-11-12T08:40:00Z"},
    ],
    "as_of": "2026-11-16T00:00:00Z",
}


MAX_NUMBER = 1e15
"""The largest magnitude a number field takes: far above any real head count, revenue or
cost, far below what overflows the features and reason text (a larger one is a 422)."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A JSON number (an integer or a float), finite. Booleans and numeric text are refused."""

_YEAR = r"(?:16(?:7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])"
STAMP_PATTERN = rf"^{_YEAR}-"
"""ISO 8601 text starting with a year the feature code can represent (1678-2261)."""
_STAMP_START = re.compile(STAMP_PATTERN)


def _stamp_text(value: Any) -> Any:
    """Only text (or a datetime, from Python callers) is a timestamp: pydantic would read a
    number, or text of digits, as seconds since 1970, and `as_of: 0` would score as of 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(
            "an ISO 8601 timestamp as text, e.g. 2026-11-16T00:00:00Z (a number is not read "
            "as seconds since 1970)"
        )
    if not _STAMP_START.match(value):
        raise ValueError(
            "an ISO 8601 timestamp starting with a year between 1678 and 2261, e.g. "
            "2026-11-16T00:00:00Z"
        )
    return value


def _representable(value: datetime) -> datetime:
    """Timestamps become nanoseconds since 1970 (int64), which span 1678-2261."""
    if not 1678 <= value.year <= 2261:
        raise ValueError("a timestamp between the years 1678 and 2261")
    return value


Stamp = Annotated[
    datetime,
    BeforeValidator(_stamp_text),
    AfterValidator(_representable),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": STAMP_PATTERN}),
]
"""An ISO 8601 timestamp the feature code can represent."""


class EventIn(BaseModel):
    """One engagement event of the lead."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        min_length=1,
        max_length=100,
        description="One of leadml.schema.EVENT_TYPES, e.g. page_view, demo_request.",
    )
    occurred_at: Stamp = Field(
        description="ISO 8601. Without a time zone it is read as UTC (with a warning)."
    )


class ValidLead(Protocol):
    """A validated lead of any generated request model: its id, what it carries besides
    its fields, and (event models) its events and `as_of`. Columns are read by name."""

    lead_id: str
    events: list[EventIn]
    as_of: datetime | None
    model_extra: dict[str, Any] | None

    def model_dump(self, *, by_alias: bool | None = None) -> dict[str, Any]: ...


MAX_EVENTS = 100_000
_LEAD_DOC = "One lead: who it is, where it came from, and what it did before `as_of`."
_AS_OF_DOC = (
    "Score the lead as of this moment (default: now). Events at or after it are ignored, "
    "with a warning."
)
_TYPES: dict[str, Any] = {"text": str | None, "number": Number | None, "timestamp": Stamp | None}


def lead_model(
    known: Mapping[str, Category] | None = None,
    version: str | None = None,
    columns: tuple[LeadColumn, ...] | None = None,
) -> type[BaseModel]:
    """The request model of an event model, generated from the data contract: one field
    per column a lead is scored with (`schema.scoring_columns`), its events and `as_of`.

    `known`: the served bundle's categories (`scoring.categories`), shown in the text
    fields' descriptions for model `version`; validation is the same with or without them.
    """
    fields: dict[str, Any] = {
        column.name: _lead_field(column, (known or {}).get(column.name), version)
        for column in schema.scoring_columns(columns)
    }
    fields["events"] = (list[EventIn], Field(default_factory=list, max_length=MAX_EVENTS))
    fields["as_of"] = (Stamp | None, Field(None, description=_AS_OF_DOC))
    model: type[BaseModel] = create_model(
        "LeadIn",
        __config__=ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_LEAD]}),
        __doc__=_LEAD_DOC,
        **fields,
    )
    return model


def _lead_field(
    column: LeadColumn, category: Category | None, version: str | None
) -> tuple[Any, Any]:
    """One contract column as a pydantic field: only the id is required, numbers may be
    bounded below, text is bounded in length."""
    if column.name == schema.LEAD_ID:
        return str, Field(min_length=1, max_length=column.max_length)
    description, examples = column.description, None
    if category is not None and column.kind == "text":
        description = (
            f"Known to model version {version}: {', '.join(category.known)}. Other values "
            "are scored as unknown, with a warning."
        )
        examples = list(category.known[:5])
    limits: dict[str, Any] = {}
    if column.kind == "text":
        limits["max_length"] = column.max_length
    elif column.kind == "number":
        limits["ge"] = 0 if column.non_negative else -MAX_NUMBER
        limits["le"] = MAX_NUMBER
    return _TYPES[column.kind], Field(None, description=description, examples=examples, **limits)


LeadIn = lead_model()
"""The request model before a model is loaded (and the type of a validated lead)."""


class Reason(BaseModel):
    """One reason: a business field and how much it moved this lead's score."""

    field: str = Field(description="The business field, e.g. 'demo_request events'.")
    feature: str = Field(description="The model feature that tells the story.")
    value: Any = Field(description="The feature's value for this lead (null: missing).")
    contribution: float = Field(description="Exact TreeSHAP contribution, in log-odds.")
    probability_delta: float = Field(
        description="Approximate change in probability this reason makes (not additive)."
    )
    text: str = Field(description="The reason as a sentence for a salesperson.")


class Reasons(BaseModel):
    positive: list[Reason]
    negative: list[Reason]


class Prediction(BaseModel):
    """The score of one lead."""

    lead_id: str
    model_version: str
    probability: float = Field(description="Calibrated probability of converting in the window.")
    score: int = Field(ge=1, le=99, description="Beats this % of validation leads.")
    grade: Literal["A", "B", "C", "D"]
    stage: str = Field(description="Funnel stage reached: none, IQL, MQL, SQL or PQL.")
    reasons: Reasons | None = Field(None, description="Absent with ?explain=false.")
    warnings: list[str]
    rank: int | None = Field(None, description="Position in the ranked list (lists only).")


class PredictionList(BaseModel):
    """Scores of a list of leads, in the ranked list's order (`leadml.ranked`)."""

    model_version: str
    count: int
    results: list[Prediction]


class Problem(BaseModel):
    """An error body (RFC 9457 style): what went wrong and how to fix it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)
    request_id: str | None = None


# --- the scores store's lists (GET /v1/leads/...): documented, served as stored ---------------

Trend = Literal["improving", "declining", "steady", "new"]


class StoredReason(Reason):
    """A reason as the lead routes give it: with its strength, for the page's arrows."""

    strength: Literal[1, 2, 3] = Field(
        description="3 strong, 2 clear, 1 slight (from the log-odds contribution)."
    )
    arrows: str = Field(
        description="The strength as shown: ▲▲▲, ▲▲ or ▲ for; ▼▼▼, ▼▼ or ▼ against."
    )


class StoredReasons(BaseModel):
    positive: list[StoredReason]
    negative: list[StoredReason]


class BatchOut(BaseModel):
    """The scoring batch a list comes from."""

    batch_id: int
    scored_at: str = Field(description="When `leadml score` ran (ISO 8601 UTC).")
    as_of: str = Field(description="The date the scored data runs to (ISO 8601 UTC).")
    model_version: str
    grade_mode: str
    n_leads: int
    pass_through: list[str]


class RankedLead(BaseModel):
    """One row of the ranked list; the batch's pass-through columns follow these fields."""

    model_config = ConfigDict(extra="allow")

    rank: int
    lead_id: str
    company: str | None
    lead_source: str = Field(description="The source token (the summary's `labels` has words).")
    stage: str = Field(description="none, IQL, MQL, SQL or PQL.")
    probability: float
    score: int = Field(ge=1, le=99)
    grade: Literal["A", "B", "C", "D"]
    trend: Trend = Field(description="Against the lead's score in the batch before: new if none.")
    previous_score: int | None = Field(description="That score (null for a new lead).")
    top_reason: str
    reasons_text: str
    reasons: StoredReasons
    model_version: str
    scored_at: str


class RankedPage(BaseModel):
    """A page of the latest batch's ranked list."""

    batch: BatchOut | None
    total: int
    limit: int
    offset: int
    count: int
    results: list[RankedLead]


class HistoryPoint(BaseModel):
    """One past score of a lead, with the run that made it and the date its data ran to."""

    batch_id: int
    scored_at: str
    as_of: str
    model_version: str
    probability: float
    score: int
    grade: Literal["A", "B", "C", "D"]


class LeadDetail(RankedLead):
    """One lead's latest score (a ranked row), its batch and its score history."""

    batch_id: int
    as_of: str
    current: bool = Field(description="False when the latest batch no longer lists the lead.")
    history: list[HistoryPoint] = Field(description="Oldest first.")


class RankedSummary(BaseModel):
    """The latest batch for the sales page: counts, histogram and the words for its tokens."""

    batch: BatchOut | None
    grade_counts: dict[str, int]
    score_histogram: list[int] = Field(description="Leads per score, 1 to 99.")
    sources: dict[str, int]
    stages: dict[str, int]
    labels: dict[str, dict[str, str]] = Field(
        description="lead_source and stage token -> label (`leadml.vocabulary`)."
    )


class ReloadRequest(BaseModel):
    """Optional body of POST /v1/model/reload."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="Model to load instead of the configured reference: models:/name@alias, "
        "models:/name/3 or a bundle folder.",
    )


class ReloadResult(BaseModel):
    model_version: str
    previous_version: str | None
    model: str


# --- flat-export models: the request schema comes from the mapping ---------------------------

_FLAT_MODELS: dict[str, type[BaseModel]] = {}
_MAX_NUMBER_TEXT = 100


def _flat_id(value: Any) -> Any:
    """A JSON number id is read as text, as the export's id column is ("12", 12 and 12.0
    name the same lead)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return export_text(value)
    return value


def _flat_text(value: Any) -> Any:
    """A categorical field: text, or a JSON number read the way the file path reads it
    (`scoring.export_text`: 3 and 3.0 -> "3"). Booleans, lists and objects are refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return export_text(value)
    raise ValueError("text, a number or null")


_NUMBER_TEXT = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?"
"""Text holding a number, as a flat model's number field takes it: within 100 characters
and with an exponent of at most two digits it is always finite (no inf, nan or '1_0')."""


def _any_case(token: str) -> str:
    """A token as a case-blind regular expression (JSON Schema patterns have no flags)."""
    return "".join(
        f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else re.escape(c) for c in token
    )


def _flat_number_pattern(tokens: frozenset[str]) -> str:
    """What a flat model's number field takes as text: a number or a missing-value token,
    with spaces around it."""
    alternatives = [_NUMBER_TEXT, *(_any_case(t) for t in sorted(tokens) if t)]
    optional = "?" if "" in tokens else ""
    return rf"^\s*(?:{'|'.join(alternatives)}){optional}\s*$"


def _flat_number(tokens: frozenset[str], shown: str) -> Any:
    """A numeric field: a JSON number within +-MAX_NUMBER, null, or text that is a number
    (`_NUMBER_TEXT`: finite, as a file could hold it) or one of the mapping's missing
    tokens (e.g. "NA"). Text is passed on unchanged, so `flat_columns` reads it exactly as
    it reads the file (tokens -> missing, "12" -> 12.0)."""
    number_text = re.compile(_NUMBER_TEXT)
    expected = f"a finite number within +-{MAX_NUMBER:.0e}, null or a missing-value token ({shown})"

    def check(value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if abs(value) <= MAX_NUMBER:  # False for nan
                return value
        elif isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT:
            text = value.strip()
            if text.lower() in tokens:
                return value
            if number_text.fullmatch(text):
                return value
        raise ValueError(expected)

    return check


def flat_lead_model(dataset: DatasetConfig, spec: FeatureSpec) -> type[BaseModel]:
    """The request model of a flat model, built from its mapping (pydantic.create_model).

    One field per export column the model reads (numbers as numbers, categories as text,
    both optional: missing is allowed), the id field (required), and the pass-through and
    PII columns (accepted, never features). Field names are the export's column names, so
    OpenAPI shows them and a 422 names them. Cached per mapping and spec.
    """
    key = orjson.dumps([dataset.to_dict(), spec.to_dict()], option=orjson.OPT_SORT_KEYS).decode()
    found = _FLAT_MODELS.get(key)
    if found is not None:
        return found
    tokens = frozenset(t.strip().lower() for t in dataset.missing)
    token_text = ", ".join(repr(t) for t in dataset.missing)
    fields: dict[str, Any] = {
        "lead_id": (
            Annotated[str, BeforeValidator(_flat_id, json_schema_input_type=str | int)],
            Field(
                alias=dataset.id_name,
                min_length=1,
                max_length=200,
                description="The lead's id (the export's id column); a number is read as text.",
            ),
        )
    }
    number = BeforeValidator(_flat_number(tokens, token_text))
    number_schema = WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
                {
                    "type": "string",
                    "maxLength": _MAX_NUMBER_TEXT,
                    "pattern": _flat_number_pattern(tokens),
                },
                {"type": "null"},
            ]
        }
    )
    text = BeforeValidator(_flat_text, json_schema_input_type=str | float | None)
    known_to_model = categories(spec)
    for i, name in enumerate(dataset.feature_names):
        role = dataset.columns[name].role
        category = known_to_model.get(name)
        fields[f"f{i}"] = _flat_feature_field(
            name, role, category, number, number_schema, text, token_text
        )
    if dataset.calendar_columns and dataset.created_at:
        fields["created"] = (
            str | None,
            Field(
                None,
                alias=dataset.created_at,
                max_length=100,
                description="When the lead was created (ISO 8601 date or time): the model "
                f"reads {', '.join(dataset.calendar_columns)} from it.",
                examples=["2025-03-31", "2025-03-31T14:05:00Z"],
            ),
        )
    for j, name in enumerate(dataset.names_with("passthrough", "pii")):
        fields[f"p{j}"] = (
            str | float | None,
            Field(None, alias=name, description="Accepted and ignored: never a feature."),
        )
    model: type[BaseModel] = create_model(
        "FlatLeadIn",
        __config__=ConfigDict(extra="allow", populate_by_name=False),
        __doc__=f"One row of the flat export the model was trained on ({len(fields) - 1} "
        "columns); unknown fields are ignored with a warning.",
        **fields,
    )
    _FLAT_MODELS[key] = model
    return model


def _flat_feature_field(
    name: str,
    role: str,
    category: Category | None,
    number: BeforeValidator,
    number_schema: WithJsonSchema,
    text: BeforeValidator,
    token_text: str,
) -> tuple[Any, Any]:
    """One feature column's request field: a number field, or a category field listing the
    values the model knows."""
    if category is None:
        return (
            Annotated[float | str | None, number, number_schema],
            Field(
                None,
                alias=name,
                description=f"{role} column, a number (or text holding one); null or a "
                f"missing-value token ({token_text}) if missing.",
            ),
        )
    known = list(category.known)
    shown = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
    return (
        Annotated[str | None, text],
        Field(
            None,
            alias=name,
            max_length=500,
            description=f"{role} column, text (a number is read as text, 3.0 as "
            f'"3"). Known to the model: {shown}. Other values are scored as unknown, '
            f"with a warning; null or a missing-value token ({token_text}) if missing.",
            examples=known[:5] or None,
        ),
    )


_EventKey = tuple[tuple[LeadColumn, ...], str, tuple[tuple[str, tuple[str, ...]], ...]]
_EVENT_MODELS: dict[_EventKey, type[BaseModel]] = {}


def request_model(bundle: Bundle, version: str) -> type[BaseModel]:
    """The request model for a bundle (served as model `version`): the contract's LeadIn
    with the categories its spec knows, or a flat model's own from its mapping. Built once
    per distinct bundle: `LoadedModel.request_model` keeps it for the requests."""
    if bundle.flat is not None:
        return flat_lead_model(bundle.flat, bundle.spec)
    known = categories(bundle.spec)
    columns = schema.scoring_columns()
    key = (columns, version, tuple((name, c.known) for name, c in known.items()))
    found = _EVENT_MODELS.get(key)
    if found is None:
        found = _EVENT_MODELS[key] = lead_model(known, version, columns)
    return found
