"""Error bodies (RFC 9457 "problem details") and the handlers that produce them.

Every error the API returns is JSON with a title, a detail that says how to fix it, and,
for validation errors, one entry per bad field: its path, the value and what was expected.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadml.errors import LeadmlError

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """Raise from a route to answer with a problem body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.headers = headers


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """('body', 3, 'events', 0, 'occurred_at') -> 'body[3].events[0].occurred_at'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_errors(
    errors: list[Any], prefix: tuple[int | str, ...] = (), *, batch: bool = False
) -> list[dict[str, Any]]:
    """Pydantic errors as problem entries: field path, bad value, what was expected.

    With `batch`, the first position of each error's location is the lead's index in the
    list, reported as `lead_index`.
    """
    out = []
    for error in errors:
        loc = tuple(error["loc"])
        entry: dict[str, Any] = {
            "field": field_path((*prefix, *loc)),
            "value": _shown(error.get("input")),
            "expected": error["msg"],
        }
        if batch and loc and isinstance(loc[0], int):
            entry["lead_index"] = loc[0]
        out.append(entry)
    return out


def _shown(value: Any) -> Any:
    """The offending value, shortened when it is a whole object or list."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)  # JSON allows it, but orjson writes 64-bit integers only
    return value


def install_handlers(app: FastAPI) -> None:
    """Turn every error into a problem body. An unexpected one becomes a logged 500 in
    `observability.EdgeMiddleware`, which answers it without resetting the connection."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(request, exc.status, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(list(exc.errors()))
        first = errors[0] if errors else {"field": "request", "expected": "a valid request"}
        return problem_response(
            request,
            422,
            "Invalid request",
            f"{first['field']}: {first['expected']}",
            errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(
            request,
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(LeadmlError)
    async def _leadml(request: Request, exc: LeadmlError) -> Response:
        return problem_response(request, 422, "Cannot score this input", str(exc))
