"""API keys: digests only, constant-time comparison, the env format, minted keys."""

from __future__ import annotations

import hmac

import pytest

from leadml.config import ApiKeyConfig
from leadml.errors import InputError
from leadml_serve.security import KeyRing, digest, new_key, parse_env_keys, presented_key


def test_new_keys_are_random_and_long() -> None:
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(k.startswith("lml_") and len(k) >= 40 for k in keys)


def test_the_ring_finds_the_caller_by_digest() -> None:
    ring = KeyRing(
        (
            ApiKeyConfig(name="crm", sha256=digest("k1")),
            ApiKeyConfig(name="ops", sha256=digest("k2"), admin=True),
        )
    )
    crm, ops = ring.check("k1"), ring.check("k2")
    assert crm is not None and (crm.name, crm.admin) == ("crm", False)
    assert ops is not None and (ops.name, ops.admin) == ("ops", True)
    assert ring.check("k3") is None and ring.check("") is None and ring.check(None) is None


def test_every_stored_digest_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wherever the matching key sits, hmac.compare_digest runs once per stored key."""
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    ring = KeyRing(tuple(ApiKeyConfig(name=f"k{i}", sha256=digest(f"key{i}")) for i in range(5)))
    for presented in ("key0", "key4", "nope"):
        calls.clear()
        ring.check(presented)
        assert len(calls) == 5


def test_env_keys_parse_names_digests_and_admin() -> None:
    d1, d2 = digest("a"), digest("b")
    keys = parse_env_keys(f"crm:{d1}, ops:{d2.upper()}:admin,")
    assert [(k.name, k.sha256, k.admin) for k in keys] == [("crm", d1, False), ("ops", d2, True)]


@pytest.mark.parametrize("text", ["crm", "crm:abc", "crm:" + "0" * 64 + ":root", ":" + "0" * 64])
def test_bad_env_keys_are_refused_without_echoing_the_digest(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_env_keys(text)
    message = str(caught.value)
    assert "LEADML_API_KEYS[0]" in message
    assert "0" * 64 not in message


def test_the_presented_key_comes_from_bearer_or_x_api_key() -> None:
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key(None, "xyz") == "xyz"
    assert presented_key("Basic abc", None) is None
