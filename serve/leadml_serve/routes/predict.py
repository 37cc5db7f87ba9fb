"""POST /v1/predict: one lead or a list, scored by the same Scorer as batch and training.

The body is parsed here (not by a FastAPI body parameter) so that a list can be refused
with a 413 before any lead is validated, and so a bad lead's error names its index. The
blocking work (validation, features, the booster, reasons) runs on the worker's scoring
thread (serve.batching); the event loop only reads the body and writes the answer.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from leadml.config import ServeConfig
from leadml.ranked import rank_order
from leadml.scoring import ScoredColumns
from leadml_serve.batching import Parsed, ScoringQueue
from leadml_serve.convert import flat_to_columns, to_columns
from leadml_serve.deps import Authorized, Model
from leadml_serve.model_slot import LoadedModel
from leadml_serve.observability import Metrics
from leadml_serve.problems import ApiProblem, validation_errors
from leadml_serve.schemas import LeadIn, Prediction, PredictionList

router = APIRouter(prefix="/v1", tags=["predict"])
_LOGGED_IDS = 20


def request_body_schema() -> dict[str, Any]:
    """OpenAPI for the body: one LeadIn, or a list of them."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/LeadIn"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/LeadIn"}},
                    ]
                },
            }
        },
    }


@router.post(
    "/predict",
    summary="Score one lead or a list of leads, with reasons",
    response_model=Prediction | PredictionList,
    openapi_extra={"requestBody": request_body_schema()},
    responses={
        401: {"description": "No valid API key."},
        413: {"description": "Too many leads or too large a body."},
        422: {"description": "A field is invalid; the body names its path and lead index."},
        503: {"description": "No model loaded yet."},
    },
)
async def predict(
    request: Request,
    _: Authorized,
    model: Model,
    explain: bool = Query(True, description="false skips reasons: the fastest path."),
) -> Response:
    body = await request.body()
    state = request.app.state
    scoring: ScoringQueue = state.scoring

    def parse() -> Parsed:
        return parse_request(body, model, state.settings, state.metrics, request)

    content = await scoring.score(parse, model, explain=explain)
    return Response(content, media_type="application/json")


def parse_request(
    body: bytes,
    model: LoadedModel,
    settings: ServeConfig,
    metrics: Metrics,
    request: Request,
) -> Parsed:
    """Parse and validate one request body (raises ApiProblem: 422/413), and say how to
    answer it once its leads are scored (serve.batching scores several requests at once)."""
    flat = model.bundle.flat  # a flat-export model: its request schema comes from its mapping
    leads, batch = parse_leads(body, settings.max_leads, model.request_model)
    request.scope["state"]["lead_ids"] = [lead.lead_id for lead in leads[:_LOGGED_IDS]]
    if flat is None:
        columns = to_columns(
            leads, model.bundle.spec, datetime.now(UTC), max_age_days=model.bundle.max_age_days
        )
    else:
        columns = flat_to_columns(leads, flat, model.bundle.spec)

    def answer(scored: ScoredColumns) -> bytes:
        return render(leads, batch, columns.warnings, scored, model.version, metrics)

    return Parsed(columns, answer)


def render(
    leads: list[Any],
    batch: bool,
    warnings: list[list[str]],
    scored: ScoredColumns,
    version: str,
    metrics: Metrics,
) -> bytes:
    """The response body: one prediction, or the list in the ranked list's order (score,
    probability, raw score, then lead_id: `leadml.ranked.rank_order`, as batch and store)."""
    for grade, count in Counter(scored.grade.tolist()).items():
        metrics.scores.labels(grade=grade, model_version=version).inc(count)
    results = [
        {
            "lead_id": lead.lead_id,
            "model_version": version,
            "probability": float(scored.probability[i]),
            "score": int(scored.score[i]),
            "grade": str(scored.grade[i]),
            "stage": str(scored.stage[i]),
            "reasons": scored.reasons[i] if scored.reasons is not None else None,
            "warnings": warnings[i],
        }
        for i, lead in enumerate(leads)
    ]
    if not batch:
        return orjson.dumps(results[0], option=orjson.OPT_SERIALIZE_NUMPY)
    ids = np.array([r["lead_id"] for r in results])
    order = rank_order(scored.score, scored.probability, scored.raw_score, ids)
    ranked = []
    for rank, i in enumerate(order.tolist(), start=1):
        results[i]["rank"] = rank
        ranked.append(results[i])
    return orjson.dumps(
        {"model_version": version, "count": len(ranked), "results": ranked},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def parse_leads(
    body: bytes, max_leads: int, lead_model: type[BaseModel] = LeadIn
) -> tuple[list[Any], bool]:
    """The leads in a body and whether it was a list. Raises ApiProblem (422/413).

    `lead_model`: the served model's request model (`LoadedModel.request_model`)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(
            422,
            "Invalid JSON",
            f"The body is not valid JSON ({exc}). Send one lead object or a list of them.",
            [{"field": "body", "value": None, "expected": "JSON"}],
        ) from exc
    if isinstance(data, list):
        if not data:
            raise ApiProblem(
                422,
                "Empty list",
                "The list holds no leads. Send at least one.",
                [{"field": "body", "value": "[]", "expected": "at least one lead"}],
            )
        if len(data) > max_leads:
            raise ApiProblem(
                413,
                "Too many leads",
                f"{len(data):,} leads in one request; the limit is {max_leads:,}. Split the "
                "list, or raise serve.max_leads in leadml.toml.",
            )
        adapter = _adapter(lead_model)
        try:
            leads = adapter.validate_python(data)
        except ValidationError as exc:
            raise _invalid(exc, batch=True) from exc
        _refuse_duplicates(leads)
        return leads, True
    if not isinstance(data, dict):
        raise ApiProblem(
            422,
            "Invalid request",
            "The body must be one lead (a JSON object) or a list of leads.",
            [{"field": "body", "value": type(data).__name__, "expected": "object or array"}],
        )
    try:
        return [lead_model.model_validate(data)], False
    except ValidationError as exc:
        raise _invalid(exc, batch=False) from exc


_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def _adapter(lead_model: type[BaseModel]) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(lead_model)
    if found is None:
        found = _ADAPTERS[lead_model] = TypeAdapter(list[lead_model])  # type: ignore[valid-type]
    return found


def _invalid(exc: ValidationError, *, batch: bool) -> ApiProblem:
    errors = validation_errors(list(exc.errors()), ("body",), batch=batch)
    first = errors[0]
    where = f"lead {first['lead_index']}: " if "lead_index" in first else ""
    detail = f"{where}{first['field']}: {first['expected']} (got {first['value']!r})"
    if len(errors) > 1:
        detail += f"; and {len(errors) - 1} more error(s)"
    return ApiProblem(422, "Invalid lead", detail, errors)


def _refuse_duplicates(leads: list[Any]) -> None:
    seen: dict[str, int] = {}
    errors = []
    for i, lead in enumerate(leads):
        if lead.lead_id in seen:
            errors.append(
                {
                    "field": f"body[{i}].lead_id",
                    "lead_index": i,
                    "value": lead.lead_id,
                    "expected": f"a lead_id not already used by lead {seen[lead.lead_id]}",
                }
            )
        else:
            seen[lead.lead_id] = i
    if errors:
        raise ApiProblem(
            422,
            "Duplicate lead ids",
            f"lead {errors[0]['lead_index']}: lead_id {errors[0]['value']!r} appears more than "
            "once. Send each lead once.",
            errors,
        )
