"""The app factory. The model loads in the lifespan handler, never at import.

    create_app(config)    # in tests, in code, and in each worker of `leadml serve`

`leadml serve` (leadml_serve.server) builds the Config once and calls `create_app` in every
worker process after the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from leadml import __version__
from leadml.bundle import Bundle, load_bundle
from leadml.config import Config, ServeConfig
from leadml.tracking import registry
from leadml_serve.batching import ScoringQueue
from leadml_serve.contract import document_errors
from leadml_serve.model_slot import Loader, ModelSlot, ReloadError
from leadml_serve.observability import EdgeMiddleware, Metrics
from leadml_serve.problems import install_handlers
from leadml_serve.resolve import wait_for
from leadml_serve.routes import health, leads, model, predict, web
from leadml_serve.schemas import LeadIn
from leadml_serve.security import KeyRing
from leadml_serve.workers import announced, follow

RETRY_SECONDS = 5.0
log = logging.getLogger("serve")

DESCRIPTION = """
Scores marketing leads with the champion conversion model: a calibrated probability, a
1-99 score, an A-D grade and the reasons behind it.

Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` (create keys with
`leadml keys new NAME`). Errors are JSON problem bodies that name the field, its value and
what was expected.
"""


def create_app(
    config: Config, *, loader: Loader | None = None, sync_file: Path | None = None
) -> FastAPI:
    """Build the app for one Config.

    `loader` maps a model reference to a Bundle (default: the MLflow registry or a bundle
    folder, via `leadml.tracking.registry.load_model`). `sync_file`, shared by several worker
    processes, makes a reload in one worker reach the others (see `leadml_serve.workers`).
    """
    settings = config.serve
    registry.check_model_folder(settings.model, config)
    slot = ModelSlot(loader or (lambda ref: registry.load_model(ref, config)), settings.model)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warn_about_auth(settings)
        tasks = []
        if not await _load(slot, metrics, announced(sync_file) if sync_file else None):
            tasks.append(asyncio.create_task(_keep_trying(slot, metrics)))
        if sync_file is not None:
            tasks.append(asyncio.create_task(follow(sync_file, slot)))
        yield
        for task in tasks:
            task.cancel()
        await run_in_threadpool(app.state.scoring.close)  # finishes what is queued
        app.state.store.dispose()

    app = FastAPI(
        title="leadml",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # web.mount_docs, only with serve.docs = true
        redoc_url=None,
    )
    app.state.slot = slot
    app.state.model_roots = registry.model_roots(config)  # where a reload may load folders
    app.state.scoring = ScoringQueue(max_leads=settings.max_leads, top_k=settings.top_k)
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.keys = None if settings.auth == "none" else KeyRing(settings.api_keys)
    app.state.sync_file = sync_file
    app.state.store = leads.open_app_store(config)  # read by the lead routes and the page
    app.state.list_settings = config.score  # the CSV download's cells and column names
    install_handlers(app)
    for router in (health.router, model.router, predict.router, leads.router, web.router):
        app.include_router(router)
    web.mount_static(app)
    if settings.docs:
        web.mount_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    _add_middleware(app, settings, metrics)
    return app


def _warn_about_auth(settings: ServeConfig) -> None:
    """Say loudly at startup when nobody is checked (auth off) or everybody is refused (no keys)."""
    if settings.auth == "none":
        log.warning(
            "AUTHENTICATION IS OFF (serve.auth = 'none'): anyone who can reach this "
            "server can score leads and reload the model. Never expose it like this."
        )
    elif not settings.api_keys:
        log.warning(
            "no API keys configured: every request will get 401. Add one with "
            "`leadml keys new NAME` (leadml.toml or LEADML_API_KEYS)."
        )


def _add_middleware(app: FastAPI, settings: ServeConfig, metrics: Metrics) -> None:
    """CORS when origins are configured, then the edge middleware (metrics, body limit)."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(EdgeMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)


async def _load(slot: ModelSlot, metrics: Metrics, ref: str | None = None) -> bool:
    try:
        loaded, _ = await run_in_threadpool(slot.load, ref)
    except ReloadError as exc:  # the reason names server files: the log has it, not /readyz
        log.error("model not loaded: %s; /readyz answers 503 until one loads", exc)
        return False
    metrics.set_model(loaded.version, None)
    log.info("model loaded", extra={"model": loaded.ref, "model_version": loaded.version})
    return True


async def _keep_trying(slot: ModelSlot, metrics: Metrics) -> None:
    """Retry the initial load until a model is there (e.g. the champion gets promoted)."""
    while slot.current is None:
        await asyncio.sleep(RETRY_SECONDS)
        if slot.current is None:
            await _load(slot, metrics)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI with the request body's LeadIn schema: the contract's, or once a model is
    loaded, the served model's request model (each categorical field's known values)."""
    slot: ModelSlot = app.state.slot
    current = slot.current
    version = current.version if current else None
    cached = getattr(app.state, "openapi_cache", None)
    if cached is not None and cached[0] == version:
        return dict(cached[1])
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    template = "#/components/schemas/{model}"
    lead_schema = LeadIn.model_json_schema(ref_template=template)
    components.update(lead_schema.pop("$defs", {}))  # EventIn
    if current is not None:
        lead_schema = current.request_model.model_json_schema(ref_template=template)
        components.update(lead_schema.pop("$defs", {}))
    components["LeadIn"] = lead_schema
    if current is not None:
        spec = current.bundle.spec
        schema["info"]["x-leadml-model"] = {
            "version": version,
            "features": [
                {"name": c.name, "kind": c.kind, "field": c.field, "levels": list(c.levels)}
                for c in spec.columns
            ],
        }
    schema = document_errors(schema, max_leads=app.state.settings.max_leads)
    app.state.openapi_cache = (version, schema)
    return schema


def resolved_first(config: Config, resolved: Path) -> Loader:
    """Load the configured model from the folder `leadml_serve.resolve` found (in parallel
    with this process's start-up) if it is this worker's first load; every later load goes
    to the registry itself.

    Only the first load may use that folder, whatever it loads: a worker that gunicorn
    starts to replace one first loads the model a reload announced, and its first
    `@champion` reload must still ask the registry, not serve the start-up answer.
    """
    first = [True]

    def loader(ref: str) -> Bundle:
        use_resolved = first[0] and ref == config.serve.model
        first[0] = False
        if use_resolved:  # a registry download: its model file is checked in a child first
            return load_bundle(wait_for(resolved), trusted=False)
        return registry.load_model(ref, config)

    return loader
