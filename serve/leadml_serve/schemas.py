"""Request and response models of the API (pydantic v2).

The request side follows the data contract (`leadml.schema`): one lead with its attributes
and its engagement events. Categories are free text here and canonicalised exactly as the
file loader does; the allowed values a model knows come from its feature spec and are
shown in GET /v1/model and in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from leadml.bundle import Bundle
from leadml.data.mapping.config import DatasetConfig
from leadml.features.flat import value_text
from leadml.features.spec import FeatureSpec

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


def _representable(value: datetime) -> datetime:
    """Timestamps become nanoseconds since 1970 (int64), which span 1678-2261."""
    if not 1678 <= value.year <= 2261:
        raise ValueError("a timestamp between the years 1678 and 2261")
    return value


Stamp = Annotated[datetime, AfterValidator(_representable)]
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


class LeadIn(BaseModel):
    """One lead: who it is, where it came from, and what it did before `as_of`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_LEAD]})

    lead_id: str = Field(min_length=1, max_length=200)
    created_at: Stamp | None = Field(
        None, description="When the lead was created (ISO 8601). Missing: lead age unknown."
    )
    lead_source: str | None = Field(None, max_length=200)
    campaign: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=300)
    industry: str | None = Field(None, max_length=200)
    employees: float | None = Field(None, ge=0)
    annual_revenue: float | None = Field(None, ge=0)
    country: str | None = Field(None, max_length=100)
    job_title: str | None = Field(None, max_length=300)
    seniority: str | None = Field(None, max_length=100)
    contact_name: str | None = Field(None, max_length=300)
    email: str | None = Field(
        None, max_length=320, description="Only its domain is used (free-mail or not)."
    )
    phone: str | None = Field(None, max_length=100)
    acquisition_cost: float | None = Field(None, ge=0)
    events: list[EventIn] = Field(default_factory=list, max_length=100_000)
    as_of: Stamp | None = Field(
        None,
        description="Score the lead as of this moment (default: now). Events at or after "
        "it are ignored, with a warning.",
    )


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
    """Scores of a list of leads, ranked: probability descending, ties by lead_id."""

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
        return value_text(value)
    return value


def _flat_text(value: Any) -> Any:
    """A categorical field: text, or a JSON number read the way the file path reads it
    (`features.flat.value_text`: 3 and 3.0 -> "3"). Booleans, lists and objects are refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value_text(value)
    raise ValueError("text, a number or null")


def _flat_number(tokens: frozenset[str], shown: str) -> Any:
    """A numeric field: a JSON number, null, or text that is a number or one of the
    mapping's missing tokens (e.g. "NA"). Text is passed on unchanged, so `flat_columns`
    reads it exactly as it reads the file (tokens -> missing, "12" -> 12.0)."""

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return value
        if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT:
            text = value.strip()
            if text.lower() in tokens:
                return value
            try:
                float(text)
            except ValueError:
                pass
            else:
                return value
        raise ValueError(f"a number, null or a missing-value token ({shown})")

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
    text = BeforeValidator(_flat_text, json_schema_input_type=str | float | None)
    for i, name in enumerate(dataset.feature_names):
        column = spec.column(name)
        role = dataset.columns[name].role
        if column.kind == "numeric":
            fields[f"f{i}"] = (
                Annotated[float | str | None, number],
                Field(
                    None,
                    alias=name,
                    description=f"{role} column, a number (or text holding one); null or a "
                    f"missing-value token ({token_text}) if missing.",
                ),
            )
        else:
            known = [v for v in column.levels if v not in ("unknown", "other")]
            shown = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
            fields[f"f{i}"] = (
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


def request_model(bundle: Bundle) -> type[BaseModel]:
    """The request model for a bundle: LeadIn, or the flat model's own from its mapping."""
    if bundle.flat is None:
        return LeadIn
    return flat_lead_model(bundle.flat, bundle.spec)
