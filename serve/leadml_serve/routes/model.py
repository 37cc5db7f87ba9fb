"""What the served model is, and swapping in a new one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leadml_serve.deps import Admin, Authorized, Model
from leadml_serve.model_slot import LoadedModel, ModelSlot, ReloadError
from leadml_serve.observability import Metrics
from leadml_serve.problems import ApiProblem, validation_errors
from leadml_serve.schemas import ReloadRequest, ReloadResult
from leadml_serve.workers import announce

router = APIRouter(prefix="/v1", tags=["model"])


def describe_model(model: LoadedModel) -> dict[str, Any]:
    """The served model as GET /v1/model shows it."""
    bundle = model.bundle
    return {
        "name": bundle.name,
        "version": model.version,
        "model": model.ref,
        "alias": model.ref.rsplit("@", 1)[1] if "@" in model.ref else None,
        "loaded_at": model.loaded_at.isoformat(),
        "trained_at": bundle.trained_at,
        "training_window": bundle.training_window,
        "labels": bundle.labels.model_dump(mode="json"),
        "metrics": bundle.metrics,
        "grade_thresholds": bundle.grade_thresholds,
        "features": [
            {
                "name": column.name,
                "kind": column.kind,
                "family": column.family,
                "field": column.field,
                "levels": list(column.levels),
                "monotone": column.monotone,
            }
            for column in bundle.spec.columns
        ],
        "leadml_version": bundle.leadml_version,
    }


@router.get("/model", summary="The served model: version, window, metrics, features, grades")
async def get_model(_: Authorized, model: Model) -> dict[str, Any]:
    return describe_model(model)


@router.post(
    "/model/reload",
    summary="Load the current champion (admin key) and swap it in atomically",
    response_model=ReloadResult,
    responses={409: {"description": "The new model failed; the old one keeps serving."}},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": ReloadRequest.model_json_schema()}},
        }
    },
)
async def reload(request: Request, _: Admin) -> ReloadResult:
    body = await reload_request(request)
    slot: ModelSlot = request.app.state.slot
    try:
        loaded, previous = await run_in_threadpool(slot.load, body.model if body else None)
    except ReloadError as exc:
        raise ApiProblem(409, "Reload failed", str(exc)) from exc
    metrics: Metrics = request.app.state.metrics
    metrics.set_model(loaded.version, previous.version if previous else None)
    if request.app.state.sync_file is not None:
        announce(request.app.state.sync_file, loaded)
    return ReloadResult(
        model_version=loaded.version,
        previous_version=previous.version if previous else None,
        model=loaded.ref,
    )


async def reload_request(request: Request) -> ReloadRequest | None:
    """The optional body, read only once the admin key is checked: a caller without a key
    gets 401 whatever it sends, and its body is never parsed (FastAPI parses a declared
    body parameter before any dependency runs)."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        return ReloadRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = validation_errors(list(exc.errors()), ("body",))
        first = errors[0]
        raise ApiProblem(
            422, "Invalid request", f"{first['field']}: {first['expected']}", errors
        ) from exc
