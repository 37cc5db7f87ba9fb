"""Request dependencies: the caller's key, admin rights and the model being served.

They are `async def` on purpose: each is a few microseconds of non-blocking work, and a
plain `def` dependency would cost a thread-pool hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from leadml_serve.model_slot import LoadedModel, ModelSlot
from leadml_serve.problems import ApiProblem
from leadml_serve.security import Caller, KeyRing

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")
_ANONYMOUS = Caller("anonymous", admin=True)


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> Caller:
    """The calling key's owner; 401 without a valid key (unless auth is "none")."""
    keys: KeyRing | None = request.app.state.keys
    if keys is None:
        return _ANONYMOUS
    presented = bearer.credentials if bearer else header
    found = keys.check(presented)
    if found is None:
        raise ApiProblem(
            401,
            "Unauthorized",
            "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'. "
            "Create one with `leadml keys new NAME`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.scope.setdefault("state", {})["caller"] = found.name
    return found


async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """403 unless the key is an admin key."""
    if not who.admin:
        raise ApiProblem(
            403,
            "Forbidden",
            f"Key {who.name!r} is not an admin key. Admin routes need a key created with "
            "`leadml keys new NAME --admin`.",
        )
    return who


async def model(request: Request) -> LoadedModel:
    """The model serving this request (read once, so a reload cannot change it midway)."""
    slot: ModelSlot = request.app.state.slot
    current = slot.current
    if current is None:
        raise ApiProblem(
            503,
            "No model loaded",
            f"No model loaded yet: {slot.unavailable()}. Train and promote one "
            "(`leadml train`, `leadml promote`), then POST /v1/model/reload.",
            headers={"Retry-After": "5"},
        )
    return current


Authorized = Annotated[Caller, Depends(caller)]
Admin = Annotated[Caller, Depends(admin)]
Model = Annotated[LoadedModel, Depends(model)]
