"""API keys: stored as SHA-256 digests, compared in constant time, minted with `secrets`.

A key is sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. The server only ever
holds digests, so a leaked config file does not leak a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from leadml.config import ApiKeyConfig
from leadml.errors import InputError

KEY_PREFIX = "lml_"
ENV_KEYS = "LEADML_API_KEYS"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name (safe to log) and whether it may use admin routes."""

    name: str
    admin: bool


def digest(key: str) -> str:
    """The SHA-256 hex digest of a key, as stored in the config."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key: 'lml_' + 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_env_keys(text: str) -> tuple[ApiKeyConfig, ...]:
    """Parse LEADML_API_KEYS: comma-separated `name:sha256hex` or `name:sha256hex:admin`."""
    keys = []
    for position, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        admin = len(parts) == 3 and parts[2] == "admin"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not admin):
            raise InputError(
                "malformed API key entry",
                column=f"{ENV_KEYS}[{position}]",
                value=_redact(item),
                expected="name:sha256hex or name:sha256hex:admin (see `leadml keys new`)",
            )
        try:
            keys.append(ApiKeyConfig(name=parts[0], sha256=parts[1].lower(), admin=admin))
        except ValueError as exc:
            raise InputError(
                "malformed API key entry",
                column=f"{ENV_KEYS}[{position}]",
                value=_redact(item),
                expected="a name of letters, digits, '.', '_' or '-', and a 64-digit hex SHA-256",
            ) from exc
    return tuple(keys)


def _redact(item: str) -> str:
    name = item.split(":", 1)[0]
    return f"{name}:…"


class KeyRing:
    """The configured keys. `check` hashes the presented key once and compares it with every
    stored digest using `hmac.compare_digest`, so timing reveals nothing about any key."""

    def __init__(self, keys: tuple[ApiKeyConfig, ...]) -> None:
        self._keys = tuple((bytes.fromhex(k.sha256), Caller(k.name, k.admin)) for k in keys)

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, presented: str | None) -> Caller | None:
        """The caller a presented key belongs to, or None."""
        if not presented:
            return None
        candidate = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Caller | None = None
        for stored, caller in self._keys:  # no early exit: every digest is compared
            if hmac.compare_digest(stored, candidate):
                found = caller
        return found


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key`, whichever is given."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return x_api_key.strip() if x_api_key else None
