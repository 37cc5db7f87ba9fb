"""Delivering a stored batch to a CRM webhook: signed, retried, and refused when unsafe.

Each delivery is one POST of `payload.encode` bytes with these headers:

- `X-Leadml-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 over `t + "." + body`
  with the secret from the environment variable `[score] webhook_secret_env` names. A
  fresh `t` per attempt lets a receiver refuse old replays with a time tolerance.
- `X-Leadml-Delivery: batch-<id>-part-<k>`: the idempotency key; a retried delivery
  keeps it, so a receiver that saw it already can drop it.
- `X-Leadml-Event: leadml.batch.scored`.

Connection errors, timeouts, 429 and 5xx are retried with exponential back-off (a small
`Retry-After` is respected); any other answer below 200 or from 300 up is final.
Redirects are not followed, so a delivery never lands somewhere the check did not see.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from leadml import __version__
from leadml.batch import RankedBatch
from leadml.config import ScoreConfig
from leadml.errors import InputError, LeadmlError
from leadml.handoff.payload import EVENT, MAX_LEADS, build_payloads, encode

SIGNATURE_HEADER = "X-Leadml-Signature"
DELIVERY_HEADER = "X-Leadml-Delivery"
EVENT_HEADER = "X-Leadml-Event"
BACKOFF = 0.5
"""Seconds before the first retry; each next wait doubles (0.5, 1, 2, ...)."""
TIMEOUT = 10.0
"""Seconds one attempt may take to connect and answer."""
RETRY_AFTER_MAX = 30.0
"""A Retry-After up to this many seconds is waited; a longer one falls back to back-off."""
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


@dataclass(frozen=True)
class WebhookTarget:
    """Where and how to deliver: checked before any scoring work is done."""

    url: str
    secret: str
    attempts: int

    @property
    def shown(self) -> str:
        """The URL as printed (`shown_url`)."""
        return shown_url(self.url)

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"WebhookTarget(url={self.shown!r}, attempts={self.attempts})"


@dataclass
class WebhookError(LeadmlError):
    """The webhook was not delivered after every attempt; says what is safe anyway."""

    url: str
    attempts: int
    last: str
    note: str
    fix: str

    def __str__(self) -> str:
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        return (
            f"webhook {self.url} was not delivered after {tries} (last: {self.last}); "
            f"{self.note}; {self.fix}"
        )


def webhook_target(
    score: ScoreConfig, environ: Mapping[str, str], *, store: bool
) -> WebhookTarget | None:
    """The checked webhook of `[score] webhook` / `--webhook` (None: none asked for).

    Refused in one line: a plain http URL to a host other than this machine, no secret
    in the environment (unsigned score updates could be forged by anyone who learns the
    URL), or no scores store (its previous grades say which leads changed).
    """
    if not score.webhook:
        return None
    url = score.webhook.strip()
    check_url(url)
    if not store:
        raise InputError(
            "the webhook sends the leads whose grade changed since the stored batch, so it "
            "needs the scores store",
            option="--no-store",
            expected="no --no-store with --webhook (or no [score] webhook)",
        )
    name = score.webhook_secret_env
    secret = environ.get(name, "")
    if not secret.strip():
        raise InputError(
            f"the webhook signing secret is not set: the environment variable {name} is empty "
            "or missing, and leadml does not send unsigned score updates",
            setting="[score] webhook_secret_env",
            value=name,
            expected=f"export {name}=<the secret the receiver verifies with>, or name another "
            "variable in [score] webhook_secret_env",
        )
    return WebhookTarget(url, secret, score.webhook_attempts)


def shown_url(url: str) -> str:
    """A webhook URL as printed: scheme, host, port and path. A password in it
    (`https://user:pw@host`) is masked, and the query and fragment are left out: trigger
    URLs (Power Automate, Logic Apps, Zapier) carry their secret there."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    hidden = "?…" if parts.query or parts.fragment else ""
    return parts._replace(netloc=netloc, query="", fragment="").geturl() + hidden


def check_url(url: str) -> None:
    """Refuse a URL that is not https, or http to this machine (loopback) only."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    expected = "an https:// URL, or http:// to 127.0.0.1, ::1 or localhost only"
    if parts.scheme not in ("http", "https") or not host:
        raise InputError(
            "not a webhook URL", option="--webhook", value=shown_url(url), expected=expected
        )
    if parts.scheme == "http" and not _loopback(host):
        raise InputError(
            f"plain http to the remote host {host} would send scores unencrypted",
            option="--webhook",
            value=shown_url(url),
            expected=expected,
        )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Leadml-Signature` value: `t=<timestamp>,v1=<HMAC-SHA256 hex>`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def hand_back(
    target: WebhookTarget,
    batch: RankedBatch,
    batch_id: int,
    *,
    out_path: Path | None,
    backoff: float = BACKOFF,
    timeout: float = TIMEOUT,
    max_leads: int = MAX_LEADS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST a stored batch's summary and changed leads (in parts); returns the parts sent.
    `sleep` waits between attempts (a caller may record the waits it is asked for).

    Runs after the store commit and the list's rename, so a failure loses nothing: the
    one-line WebhookError says the batch is stored, the list written, and how to fix it.
    """
    payloads = build_payloads(batch, batch_id, max_leads=max_leads)
    for sent, payload in enumerate(payloads):
        try:
            delivery = str(payload["delivery_id"])
            deliver(target, encode(payload), delivery, backoff, timeout, sleep)
        except _Undelivered as exc:
            listed = f" and the ranked list {out_path} is written" if out_path else ""
            done = f" ({sent} of {len(payloads)} parts were delivered)" if sent else ""
            raise WebhookError(
                target.shown,
                target.attempts,
                exc.last,
                f"batch {batch_id} is in the scores store{listed}, so no score is lost{done}",
                "make the receiver answer 2xx (or fix --webhook / [score] webhook); a new "
                f"`leadml score` compares with batch {batch_id}, so the receiver should read "
                f"this batch from the API (/v1/leads/ranked) or the store",
            ) from None
    return len(payloads)


class _Undelivered(Exception):
    """Every attempt failed; `last` is the final status or error, in words."""

    def __init__(self, last: str) -> None:
        super().__init__(last)
        self.last = last


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not an instruction: never re-send the scores elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def deliver(
    target: WebhookTarget,
    body: bytes,
    delivery: str,
    backoff: float = BACKOFF,
    timeout: float = TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST `body` signed, retrying what may pass later (`sleep` waits between attempts:
    the back-off, or a small Retry-After); returns the 2xx status."""
    opener = urllib.request.build_opener(_NoRedirect())
    last = "not tried"
    for attempt in range(1, target.attempts + 1):
        request = urllib.request.Request(
            target.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"leadml/{__version__}",
                EVENT_HEADER: EVENT,
                DELIVERY_HEADER: delivery,
                SIGNATURE_HEADER: sign(target.secret, int(time.time()), body),
            },
        )
        wait = backoff * 2 ** (attempt - 1)
        try:
            with opener.open(request, timeout=timeout) as answer:
                answer.read(1024)
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}".strip()
            if exc.code != 429 and exc.code < 500:
                break  # the receiver refused this delivery: another try gets the same
            wait = _retry_after(exc.headers, wait)
        except urllib.error.URLError as exc:
            last = _words(exc.reason, timeout)
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            last = _words(exc, timeout)
        if attempt < target.attempts:
            sleep(wait)
    raise _Undelivered(last)


def _retry_after(headers: Message, default: float) -> float:
    """The server's Retry-After seconds when given and small, else the back-off wait."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit() and float(value) <= RETRY_AFTER_MAX:
        return float(value)
    return default


def _words(reason: object, timeout: float) -> str:
    """A network failure in words (no traceback, no headers: the secret never shows)."""
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
