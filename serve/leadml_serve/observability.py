"""Request ids, JSON access logs, Prometheus metrics, the request body limit, security
headers and the last-resort 500.

One pure ASGI middleware does all of it, so a request pays for one wrapper, not six.
Logs carry request ids, routes, status codes, timings and key names: never lead data or
contact details (lead ids only, where a route logs them).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "x-request-id"
ACCESS_LOGGER = "leadml.access"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    # An API answer is data, never a page: nothing in it may run, load or be framed. The
    # sales page and /docs send their own Content-Security-Policy, which is kept.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""Added to every HTTP response that does not set the header itself."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _standard = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._standard})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info") -> None:
    """JSON logs on stderr for leadml and uvicorn (called by the server entry point only)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("leadml", "serve", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


class Metrics:
    """The app's Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (several workers),
    /metrics aggregates every worker's values."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "leadml_request_duration_seconds",
            "HTTP request latency by route, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Counter(
            "leadml_scores",
            "Leads scored, by grade and model version.",
            ["grade", "model_version"],
            registry=self.registry,
        )
        self.model = Gauge(
            "leadml_model_loaded",
            "1 for the model version this process serves.",
            ["model_version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )

    def set_model(self, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            self.model.remove(previous)
        self.model.labels(model_version=version).set(1)

    def exposition(self) -> tuple[bytes, str]:
        """The /metrics body and content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


WORKER_PID_HEADER = b"x-worker-pid"


class EdgeMiddleware:
    """Request id, body size limit, security headers, access log and latency metric for
    every HTTP request; an unhandled error becomes a logged 500 problem body here."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            status = 413
            await _problem(send, request_id, _too_large(self.max_body), close=True)
            self._record(scope, status, start, request_id)
            return
        received = 0
        too_large = started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if too_large:  # a route (or FastAPI's body parser) answered the overflow itself
                if message["type"] == "http.response.start" and not started:
                    started, status = True, 413
                    await _problem(send, request_id, _too_large(self.max_body), close=True)
                return
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                    # Which worker answered: with several, logs and reload checks need it.
                    (WORKER_PID_HEADER, str(os.getpid()).encode()),
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if not started:
                status = 413
                await _problem(send, request_id, _too_large(self.max_body), close=True)
        except Exception:
            # Answered here rather than re-raised to the server, which would reset the
            # keep-alive connection after the 500.
            logging.getLogger("serve.errors").exception(
                "unhandled error", extra={"request_id": request_id}
            )
            if not started:
                status = 500
                await _problem(send, request_id, _INTERNAL)
        finally:
            self._record(scope, status, start, request_id)

    def _record(self, scope: Scope, status: int, start: float, request_id: str) -> None:
        elapsed = time.perf_counter() - start
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.latency.labels(route=path, method=scope["method"], status=str(status)).observe(
            elapsed
        )
        state = scope.get("state", {})
        self.log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "route": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "caller": state.get("caller"),
                "lead_ids": state.get("lead_ids"),
            },
        )


class BodyTooLarge(Exception):
    """Raised inside receive() when a streamed body passes the limit."""


_INTERNAL = {
    "status": 500,
    "title": "Internal error",
    "detail": "The server failed on this request. It keeps serving; the request id is in the "
    "logs with the details.",
}


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "status": 413,
        "title": "Request body too large",
        "detail": f"The body is larger than {limit:,} bytes. Send fewer leads per request "
        "or raise serve.max_body_bytes in leadml.toml.",
    }


async def _problem(
    send: Send, request_id: str, problem: dict[str, Any], *, close: bool = False
) -> None:
    """Answer with a problem body from the middleware itself. `close`: the body was not
    read to its end, so the connection cannot carry another request (said, not reset)."""
    body = json.dumps(
        {"type": "about:blank", **problem, "errors": [], "request_id": request_id}
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        (REQUEST_ID_HEADER.encode(), request_id.encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": problem["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})
