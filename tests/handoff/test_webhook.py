"""Delivering a batch to a real local receiver: signatures, retries, refusals."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest

from leadml.config import ScoreConfig
from leadml.errors import InputError
from leadml.handoff.payload import MAX_LEADS
from leadml.handoff.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookError,
    WebhookTarget,
    _retry_after,
    check_url,
    hand_back,
    webhook_target,
)
from tests.handoff.batches import MIXED, stored_batch
from tests.handoff.receiver import Receiver

SECRET = "whsec-test-0123456789"
TINY = 0.001
"""Back-off for tests: the retries are real, the waits are milliseconds."""
README = Path(__file__).parents[2] / "README.md"


def readme_verify() -> Callable[..., bool]:
    """The receiver's `verify` exactly as the README shows it."""
    section = README.read_text(encoding="utf-8").split("## Hand scores back to your CRM")[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the README's webhook section has no Python snippet"
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    return verify


def send(
    hook: Receiver,
    attempts: int = 4,
    max_leads: int = MAX_LEADS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Hand the MIXED batch (as batch 7) to the receiver; the parts delivered."""
    target = WebhookTarget(hook.url, SECRET, attempts)
    batch = stored_batch(MIXED)
    out = Path("ranked.csv")
    return hand_back(target, batch, 7, out_path=out, backoff=TINY, max_leads=max_leads, sleep=sleep)


def waited(waits: list[float]) -> Callable[[float], None]:
    """Sleeps as asked (really), recording each wait."""

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    return sleep


def test_a_delivery_is_signed_and_the_readme_snippet_verifies_it(hook: Receiver) -> None:
    assert send(hook) == 1
    (got,) = hook.received
    assert got.path == "/hooks/leadml"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers[EVENT_HEADER] == "leadml.batch.scored"
    assert got.headers[DELIVERY_HEADER] == "batch-7-part-1"
    verify = readme_verify()
    header = got.headers[SIGNATURE_HEADER]
    assert verify(SECRET, header, got.body)
    assert not verify("another secret", header, got.body)
    assert not verify(SECRET, header, got.body.replace(b'"L2"', b'"L9"'))
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert not verify(SECRET, header.replace(f"t={stamp}", f"t={stamp - 3600}"), got.body)
    assert SECRET.encode() not in got.body


def test_unchanged_leads_are_not_sent_and_newly_a_leads_are(hook: Receiver) -> None:
    send(hook)
    body = json.loads(hook.received[0].body)
    sent = {lead["lead_id"]: lead for lead in body["changed_leads"]}
    assert sorted(sent) == ["L2", "L3", "L4"]  # moved up, newly A, moved down
    assert sent["L3"]["previous_grade"] is None and sent["L3"]["grade"] == "A"
    assert body["leads_scored"] == 6 and body["grade_counts"]["A"] == 3


def test_two_503s_are_retried_then_the_delivery_succeeds(hook: Receiver) -> None:
    hook.answer(503, 503, 200)
    assert send(hook) == 1
    assert len(hook.received) == 3
    assert {r.headers[DELIVERY_HEADER] for r in hook.received} == {"batch-7-part-1"}
    assert len({r.body for r in hook.received}) == 1
    verify = readme_verify()
    assert all(verify(SECRET, r.headers[SIGNATURE_HEADER], r.body) for r in hook.received)


def test_a_400_is_final_at_once(hook: Receiver) -> None:
    hook.answer(400)
    with pytest.raises(WebhookError) as raised:
        send(hook)
    assert len(hook.received) == 1
    assert "last: HTTP 400 Bad Request" in str(raised.value)


def test_after_the_configured_attempts_one_line_says_the_batch_is_safe(hook: Receiver) -> None:
    hook.answer(503)
    with pytest.raises(WebhookError) as raised:
        send(hook, attempts=3)
    assert len(hook.received) == 3
    message = str(raised.value)
    assert "\n" not in message and raised.value.exit_code == 1
    assert hook.url in message and "after 3 attempts" in message
    assert "HTTP 503" in message
    assert "batch 7 is in the scores store and the ranked list ranked.csv is written" in message
    assert "make the receiver answer 2xx" in message
    assert SECRET not in message and SECRET not in repr(raised.value)


def test_a_later_part_failing_says_how_many_parts_went_out(hook: Receiver) -> None:
    hook.answer(200, 200, 400)
    with pytest.raises(WebhookError, match=r"2 of 3 parts were delivered"):
        send(hook, max_leads=1)
    assert [r.headers[DELIVERY_HEADER] for r in hook.received] == [
        f"batch-7-part-{k}" for k in (1, 2, 3)
    ]


def test_a_refused_connection_is_retried_and_named() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = WebhookTarget(f"http://127.0.0.1:{port}/hook", SECRET, 2)
    waits: list[float] = []
    with pytest.raises(WebhookError, match=r"after 2 attempts \(last: .*Connection ?refused"):
        hand_back(target, stored_batch(MIXED), 1, out_path=None, backoff=TINY, sleep=waited(waits))
    assert waits == [TINY]  # one back-off between the two attempts


def test_a_timed_out_attempt_is_retried_and_named(hook: Receiver) -> None:
    hook.delay = 0.3
    target = WebhookTarget(hook.url, SECRET, 2)
    with pytest.raises(WebhookError, match=r"after 2 attempts \(last: no answer within 0.1 s\)"):
        hand_back(target, stored_batch(MIXED), 1, out_path=None, backoff=TINY, timeout=0.1)
    assert len(hook.received) == 2


def test_a_redirect_is_an_answer_not_followed(hook: Receiver) -> None:
    hook.answer((302, {"Location": "http://crm.example.com/elsewhere"}), 200)
    with pytest.raises(WebhookError, match="last: HTTP 302"):
        send(hook)
    assert len(hook.received) == 1


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, 0.5), ("0", 0.0), ("7", 7.0), ("30", 30.0), ("31", 0.5), ("3600", 0.5),
     ("Wed, 21 Oct 2026 07:28:00 GMT", 0.5), ("-1", 0.5)],
)  # fmt: skip
def test_retry_after_is_waited_only_when_small(retry_after: str | None, wait: float) -> None:
    headers = Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    assert _retry_after(headers, 0.5) == wait


def test_429_is_retried_and_a_long_retry_after_is_not_waited(hook: Receiver) -> None:
    hook.answer((429, {"Retry-After": "0"}), (503, {"Retry-After": "3600"}), 200)
    waits: list[float] = []
    assert send(hook, sleep=waited(waits)) == 1
    # Retry-After 0 is waited; 3600 is too long, so the second wait is the back-off.
    assert len(hook.received) == 3 and waits == [0.0, 2 * TINY]


@pytest.mark.parametrize(
    "url",
    ["https://crm.example.com/hooks", "http://127.0.0.1:8080/x", "http://localhost/x",
     "http://[::1]:9000/x", "HTTP://127.0.0.2/x"],
)  # fmt: skip
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://crm.example.com/hooks", "http://10.0.0.5/x", "http://127.0.0.1.evil.example/x",
     "ftp://127.0.0.1/x", "crm.example.com/hooks", "https:///nohost"],
)  # fmt: skip
def test_plain_http_to_another_host_and_non_urls_are_refused(url: str) -> None:
    with pytest.raises(InputError) as raised:
        check_url(url)
    message = str(raised.value)
    assert "option --webhook:" in message and "https://" in message and "\n" not in message


def test_no_secret_is_refused_by_the_variable_name() -> None:
    score = ScoreConfig(webhook="https://crm.example.com/h", webhook_secret_env="CRM_HOOK_KEY")
    for environ in ({}, {"CRM_HOOK_KEY": "  "}, {"LEADML_WEBHOOK_SECRET": SECRET}):
        with pytest.raises(InputError, match="CRM_HOOK_KEY") as raised:
            webhook_target(score, environ, store=True)
        assert "\n" not in str(raised.value)
    target = webhook_target(score, {"CRM_HOOK_KEY": SECRET}, store=True)
    assert target is not None and (target.url, target.attempts) == ("https://crm.example.com/h", 4)
    assert SECRET not in repr(target)


def test_a_password_and_the_query_are_never_shown() -> None:
    """Trigger URLs (Power Automate, Logic Apps) carry their secret in the query."""
    target = WebhookTarget("https://leadml:pa55@crm.example.com/h?sig=s3cr3t#frag", SECRET, 1)
    assert target.shown == "https://leadml:***@crm.example.com/h?…"
    assert "pa55" not in repr(target) and "s3cr3t" not in repr(target)
    assert SECRET not in repr(target)
    assert (
        WebhookTarget("https://crm.example.com/h", SECRET, 1).shown == "https://crm.example.com/h"
    )


def test_no_webhook_is_nothing_and_no_store_is_refused() -> None:
    assert webhook_target(ScoreConfig(), {}, store=False) is None
    score = ScoreConfig(webhook="http://127.0.0.1:1/h")
    with pytest.raises(InputError, match="--no-store"):
        webhook_target(score, {"LEADML_WEBHOOK_SECRET": SECRET}, store=False)
