"""Liveness, readiness and metrics: no API key needed, no lead data exposed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadml_serve.model_slot import ModelSlot
from leadml_serve.observability import Metrics
from leadml_serve.problems import ApiProblem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: 200 once a model is loaded, 503 before")
async def readyz(request: Request) -> dict[str, str]:
    slot: ModelSlot = request.app.state.slot
    current = slot.current
    if current is None:
        raise ApiProblem(
            503,
            "Not ready",
            f"No model loaded yet: {slot.unavailable()}.",
            headers={"Retry-After": "5"},
        )
    return {"status": "ready", "model_version": current.version}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    collector: Metrics = request.app.state.metrics
    body, content_type = collector.exposition()
    return Response(body, media_type=content_type)
