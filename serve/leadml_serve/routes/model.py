"""What the served model is, and swapping in a new one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leadml.errors import ModelNotFoundError
from leadml.tracking.registry import REF_PREFIX, folder_allowed
from leadml_serve.deps import Admin, Authorized, Model
from leadml_serve.model_slot import LoadedModel, ModelSlot, ReloadError
from leadml_serve.observability import Metrics
from leadml_serve.problems import ApiProblem, validation_errors
from leadml_serve.schemas import ReloadRequest, ReloadResult
from leadml_serve.workers import announce

router = APIRouter(prefix="/v1", tags=["model"])
log = logging.getLogger("serve")


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


def failed_reload(exc: ReloadError, wanted: str, current: LoadedModel | None) -> str:
    """The 409 body's detail: what happened and what serves now, without server paths.

    Only the registry's own answer (no such alias or version) is passed on: it names
    models, aliases and versions, never a file."""
    cause = exc.__cause__
    why = f": {cause}" if isinstance(cause, ModelNotFoundError) and is_registry(wanted) else ""
    serving = f"still serving version {current.version}" if current else "no model is loaded"
    return f"could not load the model{why}; {serving}. The server log has the reason."


def is_registry(ref: str) -> bool:
    return ref.startswith(REF_PREFIX)


@router.get("/model", summary="The served model: version, window, metrics, features, grades")
async def get_model(_: Authorized, model: Model) -> dict[str, Any]:
    return describe_model(model)


@router.post(
    "/model/reload",
    summary="Load the current champion (admin key) and swap it in atomically",
    response_model=ReloadResult,
    responses={
        403: {"description": "Not an admin key, or a bundle folder outside [serve] model_roots."},
        409: {"description": "The new model failed; the old one keeps serving."},
    },
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
    wanted = body.model if body and body.model else slot.ref
    if not folder_allowed(wanted, request.app.state.model_roots):
        raise ApiProblem(
            403,
            "Forbidden",
            f"The bundle folder {wanted!r} is outside the folders [serve] model_roots allows "
            "(leadml.toml; default: the project's models/ folder). Add its parent folder there, "
            "or reload a registry reference such as models:/lead-conversion@champion.",
        )
    try:
        loaded, previous = await run_in_threadpool(slot.load, wanted)
    except ReloadError as exc:
        # The reason may name files on this server: it goes to the log, not to the caller.
        log.error("reload failed: %s", exc)
        raise ApiProblem(409, "Reload failed", failed_reload(exc, wanted, slot.current)) from exc
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
