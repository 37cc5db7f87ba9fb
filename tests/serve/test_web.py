"""GET / and its assets: a public shell with no lead data, everything served locally."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape  # what the template escapes with (Jinja)

from leadml import vocabulary
from leadml_serve.app import create_app
from leadml_serve.routes.web import GLOSSARY
from tests.serve.test_leads import app_config, scored_store  # noqa: F401  (fixture)

ASSETS = ("/static/app.js", "/static/app.css")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def web(
    bundle_dir: Path,
    scored_store: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    app = create_app(app_config(tmp_path_factory.mktemp("project"), bundle_dir, scored_store))
    with TestClient(app) as test_client:
        yield test_client


def test_page_is_public_and_holds_no_lead_data(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'id="sign-in-form"' in html and 'type="password"' in html
    # the shell carries no scores: no lead ids, no companies, no score numbers in a table
    assert re.search(r"L\d{6}", html) is None
    assert "<tbody></tbody>" in html


def test_page_sends_a_strict_content_security_policy(web: TestClient) -> None:
    headers = web.get("/").headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_assets_are_served_locally_with_no_cdn(web: TestClient) -> None:
    html = web.get("/").text
    for asset in ASSETS:
        assert asset in html
        answer = web.get(asset)
        assert answer.status_code == 200
        text = answer.text.replace(SVG_NAMESPACE, "")
        assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text) is None, asset
    assert re.search(r"""(src|href)=["'](https?:)?//""", html) is None
    assert (
        web.get("/static/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_page_is_not_in_the_api_document(web: TestClient) -> None:
    paths = web.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert {"/v1/leads/ranked", "/v1/leads/{lead_id}", "/v1/leads/ranked/summary"} <= set(paths)


def test_interactive_controls_are_real_buttons_and_labelled(web: TestClient) -> None:
    html = web.get("/").text
    for control in ("download", "prev", "next", "clear-filters", "sign-out"):
        assert re.search(rf'<button id="{control}" type="button"', html), control
    for field in ("f-grade", "f-source", "f-stage", "f-q"):
        assert re.search(rf"<label>[^<]+\s*<(select|input) id=\"{field}\"", html), field
    assert 'for="api-key"' in html and 'role="search"' in html and 'aria-live="polite"' in html
    script = web.get("/static/app.js").text
    assert "aria-expanded" in script and "sessionStorage" in script and "innerHTML" not in script


class _FormControls(HTMLParser):
    """The id and name of every element inside <form id="filters">."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and found.get("id") == "filters":
            self.depth = 1
        elif self.depth:
            self.names += [v for k, v in attrs if k in ("id", "name") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.depth = 0


# Properties of an HTML form that a control named like them hides (form.reset() then
# throws "reset is not a function"): the methods and the attributes the page's script uses.
FORM_MEMBERS = {
    "reset", "submit", "requestSubmit", "checkValidity", "reportValidity", "elements",
    "length", "action", "method", "name", "id", "target", "encoding", "enctype",
}  # fmt: skip


def test_no_filter_control_hides_a_form_method(web: TestClient) -> None:
    parser = _FormControls()
    parser.feed(web.get("/").text)
    assert {"f-grade", "f-source", "f-stage", "f-q", "clear-filters"} <= set(parser.names)
    assert set(parser.names) & FORM_MEMBERS == set()


def test_page_explains_its_numbers_in_a_glossary(web: TestClient) -> None:
    html = web.get("/").text
    glossary = html[html.index('id="glossary"') :]
    for term, text in GLOSSARY.items():
        assert f"<dt>{escape(term.capitalize())}</dt><dd>{escape(text)}</dd>" in glossary, term
    for token, meaning in vocabulary.STAGE_MEANING.items():
        assert f"<strong>{vocabulary.label('stage', token)}</strong>: {meaning}" in glossary
    assert "probability points" in glossary and "half-life" in glossary
    assert re.search(r'<th scope="col"[^>]*>Trend</th>', html)
