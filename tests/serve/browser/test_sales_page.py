"""The sales page in a real browser: Debian's Chromium driven by Playwright (Python).

A real uvicorn server on 127.0.0.1 serves the app over a store filled by batch scoring.
The test signs in, filters to grade A, expands a row (with the keyboard too), downloads
the CSV and compares it with the API's CSV for the same filter, sets every filter and
presses Reset, reads a C or D lead, and checks the list on a 375 px phone (one page and
one sign-in for all of it: the browser test is the slowest of the suite). Screenshots go
to test-artifacts/: ranked-desktop.png, expanded-a-lead.png and mobile.png are the
README's (docs/screenshots/README.md says how to refresh them).

Without a browser the test does not pass silently: under CI (`CI=true`) it fails; elsewhere
it is reported as skipped with the reason (`make test` installs Chromium when it can).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import uvicorn

from leadml_serve.app import create_app
from tests.machine import did_not_run, free_port
from tests.serve.conftest import USER, USER_KEY
from tests.serve.test_leads import app_config, scored_store  # noqa: F401  (fixture)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
CHROMIUM_ENV = "LEADML_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def no_browser(reason: str) -> NoReturn:
    did_not_run("browser test", reason, missing="browser")


def chromium_path() -> str:
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        no_browser(
            f"no Chromium at {found}. Install Debian's chromium (`make test` does it as root "
            f"with apt), or point {CHROMIUM_ENV} at a Chromium binary"
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        no_browser(f"the playwright package is not installed ({exc}); run `make install`")
    with sync_playwright() as driver:
        try:
            launched = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # the browser's own start-up errors
            no_browser(f"Chromium at {executable} did not start: {exc}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def live_server(
    bundle_dir: Path,
    scored_store: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread, for the module."""
    app = create_app(app_config(tmp_path_factory.mktemp("project"), bundle_dir, scored_store))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


ESSENTIAL = ("Rank", "Company", "Score", "Trend")
"""Columns a phone must show whole (the grade is a badge in the score cell)."""
TREND_MARKS = {"improving": "▲", "declining": "▼", "steady": "▬", "new": "new"}


def test_sales_page_filters_expands_downloads_resets_and_fits_a_phone(
    browser: Any, live_server: str
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 860}, accept_downloads=True)
    page = context.new_page()
    errors = _watch(page)
    expected_401 = "the server responded with a status of 401"  # the wrong key, below
    page.goto(live_server + "/")

    # Not signed in: a form, and no scores anywhere on the page.
    page.wait_for_selector("#sign-in-form", state="visible")
    assert page.locator("#app").is_hidden()
    assert page.locator("tr.lead").count() == 0
    page.fill("#api-key", "lml_wrong")
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#sign-in-error').textContent.length > 0")
    assert page.locator("tr.lead").count() == 0

    page.fill("#api-key", USER_KEY)
    page.keyboard.press("Enter")
    page.wait_for_selector("tr.lead")
    assert "Model version 7" in page.inner_text("#batch-info")
    assert "last scored 2026-11-23 07:00 UTC" in page.inner_text("#batch-info")
    assert page.locator("#chart svg rect.bar").count() == 20
    assert page.locator("tr.lead").count() == 50
    assert page.inner_text("tr.lead >> nth=0 >> td >> nth=1") == "1"
    _check_rows(page, live_server, "")
    page.screenshot(path=str(_artifact("ranked-desktop.png")), full_page=False)

    # Filter to grade A: every row shown is an A.
    total_a = json.loads(_get(f"{live_server}/v1/leads/ranked?grade=A&limit=0"))["total"]
    page.select_option("#f-grade", "A")
    page.wait_for_function(
        "(text) => document.querySelector('#status').textContent.includes(text)",
        arg=f"{total_a:,} leads match",
    )
    grades = page.eval_on_selector_all("tr.lead", "rows => rows.map(r => r.dataset.grade)")
    badges = page.locator("tr.lead td.score .badge").all_inner_texts()
    assert set(grades) == set(badges) == {"A"}
    assert len(badges) == min(50, total_a) > 0

    # Expand the first row: reasons and score history; collapse it again with the keyboard.
    toggle = page.locator("tr.lead >> nth=0 >> button.expand")
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    detail = page.locator("tr.detail").first
    detail.locator("table.history").wait_for()
    headings = detail.locator("h3").all_inner_texts()
    assert headings[:2] == ["Why it ranks high", "What holds it back"]
    _check_reasons(detail)
    _check_history(page, detail, live_server)
    page.screenshot(path=str(_artifact("expanded-a-lead.png")), full_page=False)
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert detail.is_hidden()

    # Download the CSV: the same bytes as the API's CSV for the same filter.
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    saved = _artifact(download.suggested_filename)
    download.save_as(str(saved))
    expected = _get(f"{live_server}/v1/leads/ranked?grade=A&format=csv")
    assert download.suggested_filename == "ranked-leads-2026-11-23-grade-A.csv"
    assert saved.read_bytes() == expected
    assert len(expected.decode().splitlines()) == total_a + 1

    summary = json.loads(_get(f"{live_server}/v1/leads/ranked/summary"))
    _reset_clears_every_filter(page, live_server, summary)
    _low_grade_lead_leads_with_what_holds_it_back(page, summary)
    _fits_a_phone(page, summary)

    # Signing out forgets the key and hides the list.
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-form", state="visible")
    assert page.locator("tr.lead").count() == 0
    assert page.evaluate("sessionStorage.length") == 0
    context.close()
    assert [e for e in errors if expected_401 not in e] == [], errors
    assert sum(expected_401 in e for e in errors) == 1


def _reset_clears_every_filter(page: Any, live_server: str, summary: dict[str, Any]) -> None:
    """Every filter set, then Reset: every filter empty and the whole list back."""
    page.select_option("#f-grade", "C")
    page.select_option("#f-source", next(iter(summary["sources"])))
    page.select_option("#f-stage", next(iter(summary["stages"])))
    page.fill("#f-q", "zz-no-such-company")
    page.click("#filters button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#status').textContent.startsWith('No leads')"
    )
    assert page.locator("tr.lead").count() == 0
    page.click("#clear-filters")
    _wait_for_everyone(page, summary)
    values = [page.input_value(f) for f in ("#f-grade", "#f-source", "#f-stage", "#f-q")]
    assert values == ["", "", "", ""]
    shown = page.eval_on_selector_all("tr.lead", "rows => rows.map(r => r.dataset.leadId)")
    first = json.loads(_get(f"{live_server}/v1/leads/ranked?limit=50"))["results"]
    assert shown == [r["lead_id"] for r in first] and len(shown) == 50


def _low_grade_lead_leads_with_what_holds_it_back(page: Any, summary: dict[str, Any]) -> None:
    """A grade-D lead (C when there is none) is not headed "Why it ranks high"."""
    low = "D" if summary["grade_counts"]["D"] else "C"
    page.select_option("#f-grade", low)
    # The status line names the filtered count once the filtered list is in (an empty
    # table while the list loads would satisfy "every row is D").
    page.wait_for_function(
        "([g, text]) => document.querySelector('#status').textContent === text"
        " && [...document.querySelectorAll('tr.lead')].every(r => r.dataset.grade === g)",
        arg=[low, f"{summary['grade_counts'][low]:,} leads match."],
    )
    page.locator("tr.lead >> nth=0 >> button.expand").click()
    detail = page.locator("tr.detail").first
    detail.locator("table.history").wait_for()
    assert detail.locator("h3").all_inner_texts()[:2] == ["What holds it back", "What works for it"]
    assert "Why it ranks high" not in detail.inner_text()
    _check_reasons(detail)


def _fits_a_phone(page: Any, summary: dict[str, Any]) -> None:
    """At 375 px the essential columns are whole inside the screen, nothing cut off."""
    page.set_viewport_size({"width": 375, "height": 780})
    page.click("#clear-filters")
    _wait_for_everyone(page, summary)
    page.locator("#ranked").scroll_into_view_if_needed()
    page.screenshot(path=str(_artifact("mobile.png")), full_page=False)
    boxes = page.eval_on_selector_all(
        "#ranked thead th",
        "cells => cells.map(c => [c.textContent.trim(), c.getBoundingClientRect().left,"
        " c.getBoundingClientRect().right, c.offsetParent !== null])",
    )
    width = page.evaluate("document.documentElement.clientWidth")
    shown_columns = {text: (left, right) for text, left, right, visible in boxes if visible}
    for name in ESSENTIAL:
        left, right = shown_columns[name]
        assert 0 <= left < right <= width, (name, left, right, width)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    grade_box = page.locator("tr.lead >> nth=0 >> td.score .badge").bounding_box()
    assert grade_box is not None and grade_box["x"] + grade_box["width"] <= width


def _wait_for_everyone(page: Any, summary: dict[str, Any]) -> None:
    """Until the status line says the whole batch matches (no filter left)."""
    page.wait_for_function(
        "(text) => document.querySelector('#status').textContent === text",
        arg=f"{summary['batch']['n_leads']:,} leads match.",
    )


def _watch(page: Any) -> list[str]:
    """Script errors and console errors of the page, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _check_rows(page: Any, live_server: str, query: str) -> None:
    """The shown rows: sources and stages in words, trend arrow and previous score as the
    API has them."""
    body = json.loads(_get(f"{live_server}/v1/leads/ranked?limit=50{query}"))
    labels = json.loads(_get(f"{live_server}/v1/leads/ranked/summary"))["labels"]
    cells = page.eval_on_selector_all(
        "tr.lead",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    assert len(cells) == len(body["results"])
    for shown, lead in zip(cells, body["results"], strict=True):
        _, rank, _, source, stage, _, trend, _ = shown
        assert rank == str(lead["rank"])
        assert source == labels["lead_source"][lead["lead_source"]]
        assert stage == labels["stage"][lead["stage"]]
        assert trend.startswith(TREND_MARKS[lead["trend"]])
        if lead["previous_score"] is not None:
            assert f" {lead['previous_score']}" in trend
    assert any(r["lead_source"] != labels["lead_source"][r["lead_source"]] for r in body["results"])
    assert {r["trend"] for r in body["results"]} - {"new"}, "no lead has a previous score"


def _check_reasons(detail: Any) -> None:
    """Arrows for strength, the exact change in probability points on hover."""
    arrows = detail.locator("ul.reasons .arrows")
    assert arrows.count() >= 1
    for i in range(arrows.count()):
        mark = arrows.nth(i)
        assert set(mark.inner_text()) in ({"▲"}, {"▼"}) and len(mark.inner_text()) <= 3
        assert re.fullmatch(r"[+−]\d+\.\d probability points", mark.get_attribute("title") or "")
    assert " pts" not in detail.inner_text()


def _check_history(page: Any, detail: Any, live_server: str) -> None:
    """History rows name the as-of date of the data as well as when the job ran."""
    lead_id = page.eval_on_selector("tr.lead", "r => r.dataset.leadId")
    lead = json.loads(_get(f"{live_server}/v1/leads/{lead_id}"))
    heads = detail.locator("table.history thead th").all_inner_texts()
    assert heads[:2] == ["Data as of", "Scored"]
    rows = detail.locator("table.history tbody tr")
    assert rows.count() == len(lead["history"]) >= 1
    newest = lead["history"][-1]
    first = rows.first.locator("td").all_inner_texts()
    assert first[0] == newest["as_of"].replace("T", " ")[:16] + " UTC" != first[1]


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _get(url: str) -> bytes:
    """GET with the test key, straight from the API (no browser)."""
    request = urllib.request.Request(url, headers=USER)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
        return bytes(answer.read())
