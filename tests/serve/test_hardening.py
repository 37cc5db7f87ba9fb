"""Issue 15, API side: no input yields a 500, the key is checked before the body is read,
body limits hold for chunked bodies, the OpenAPI document says what the server refuses,
and every answer carries the security headers."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient

from leadml_serve.app import create_app
from leadml_serve.routes.leads import GRADE_VALUES
from leadml_serve.schemas import MAX_NUMBER, STAMP_PATTERN
from tests.machine import free_port
from tests.serve.conftest import ADMIN, USER, serve_config

LEAD: dict[str, Any] = {"lead_id": "x", "lead_source": "webinar", "employees": 40}
PROBLEM = "application/problem+json"


def _refused(answer: Any, field: str, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert any(e["field"] == field for e in body["errors"]), body
    return body


@pytest.mark.parametrize("explain", ["true", "false"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("employees", "Infinity"),
        ("employees", "inf"),
        ("employees", "NaN"),
        ("employees", True),  # was read as 1
        ("employees", "240"),  # numeric text: the schema says number
        ("annual_revenue", 1e300),
        ("employees", -1),
        ("as_of", 0),  # was read as 1970-01-01
        ("as_of", "1700000000"),
        ("created_at", 1.5),
        ("as_of", "1500-01-01T00:00:00Z"),
    ],
)
def test_a_value_the_model_cannot_score_is_a_422_naming_the_field(
    client: TestClient, field: str, value: Any, explain: str
) -> None:
    body = {**LEAD, field: value}
    answer = client.post(f"/v1/predict?explain={explain}", json=body, headers=USER)
    _refused(answer, f"body.{field}")


def test_one_infinite_lead_in_a_list_of_1000_names_its_index(client: TestClient) -> None:
    leads = [{"lead_id": f"L{i}", "employees": 10} for i in range(1000)]
    leads[637]["employees"] = "Infinity"
    body = _refused(client.post("/v1/predict", json=leads, headers=USER), "body[637].employees")
    assert body["errors"][0]["lead_index"] == 637


def test_the_largest_numbers_allowed_score_with_reasons(client: TestClient) -> None:
    lead = {**LEAD, "employees": MAX_NUMBER, "annual_revenue": MAX_NUMBER}
    answer = client.post("/v1/predict", json=lead, headers=USER)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reasons"]["positive"] or answer.json()["reasons"]["negative"]


def test_an_event_older_than_the_features_can_tell_apart_is_warned_about(
    client: TestClient,
) -> None:
    lead = {
        **LEAD,
        "as_of": "2026-11-16T00:00:00Z",
        "events": [
            {"event_type": "page_view", "occurred_at": "1700-01-01T00:00:00Z"},
            {"event_type": "page_view", "occurred_at": "2026-11-01T00:00:00Z"},
        ],
    }
    answer = client.post("/v1/predict", json=lead, headers=USER)
    assert answer.status_code == 200, answer.text
    assert any("more than 136 years before as_of" in w for w in answer.json()["warnings"])


def test_an_empty_list_is_refused_and_the_schema_says_so(client: TestClient) -> None:
    _refused(client.post("/v1/predict", json=[], headers=USER), "body")
    body = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
    array = next(o for o in body["content"]["application/json"]["schema"]["oneOf"] if "items" in o)
    assert array["minItems"] == 1 and array["maxItems"] == 1000


@pytest.mark.parametrize("format_", ["json", "csv"])
@pytest.mark.parametrize(("name", "value"), [("offset", 2**63), ("limit", 2**63), ("offset", -1)])
def test_paging_beyond_the_bounds_is_a_422_not_a_store_overflow(
    client: TestClient, name: str, value: int, format_: str
) -> None:
    answer = client.get(f"/v1/leads/ranked?{name}={value}&format={format_}", headers=USER)
    _refused(answer, f"query.{name}")


def test_a_bad_grade_is_refused_and_the_schema_pattern_refuses_it_too(client: TestClient) -> None:
    _refused(client.get("/v1/leads/ranked?grade=E", headers=USER), "query.grade[0]")
    assert client.get("/v1/leads/ranked?grade=a,%20B", headers=USER).status_code == 200
    ranked = client.get("/openapi.json").json()["paths"]["/v1/leads/ranked"]["get"]
    grade = next(p for p in ranked["parameters"] if p["name"] == "grade")
    pattern = grade["schema"]["items"]["pattern"]
    assert pattern == GRADE_VALUES
    assert re.match(pattern, "a, B") and not re.match(pattern, "E")


def test_the_schema_says_what_a_timestamp_and_a_number_are(client: TestClient) -> None:
    lead = client.get("/openapi.json").json()["components"]["schemas"]["LeadIn"]["properties"]
    as_of = lead["as_of"]["anyOf"][0]
    assert as_of == {"type": "string", "format": "date-time", "pattern": STAMP_PATTERN}
    assert {"type": "number", "minimum": 0, "maximum": MAX_NUMBER} in lead["employees"]["anyOf"]


def test_every_documented_error_is_a_problem_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    seen = 0
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    seen += 1
                    assert list(response["content"]) == [PROBLEM], (status, operation)
            if operation.get("security"):
                assert "401" in operation["responses"]
    assert seen > 10


def test_no_key_and_malformed_json_on_reload_is_a_401(client: TestClient) -> None:
    answer = client.post(
        "/v1/model/reload", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    bad = client.post("/v1/model/reload", content=b"{not json", headers=ADMIN)
    _refused(bad, "body")


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


@pytest.mark.parametrize("path", ["/v1/model/reload", "/v1/predict"])
def test_a_chunked_50_mb_body_is_a_413(client: TestClient, path: str) -> None:
    answer = client.post(path, content=_chunks(50 << 20), headers=ADMIN)
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize("path", ["/", "/v1/model", "/openapi.json", "/healthz", "/nowhere"])
def test_security_headers_on_the_page_and_the_api(client: TestClient, path: str) -> None:
    answer = client.get(path, headers=USER)
    headers = answer.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    if path == "/":  # the page keeps its own policy: its script and styles from this server
        assert "script-src 'self'" in headers["content-security-policy"]
    else:
        assert headers["content-security-policy"].startswith("default-src 'none'")


def test_docs_are_off_by_default_and_on_with_their_own_policy(
    client: TestClient, bundle_dir: Path, tmp_path: Path
) -> None:
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    with TestClient(create_app(serve_config(tmp_path, bundle_dir, docs=True))) as docs:
        page = docs.get("/docs")
        assert page.status_code == 200
        assert "https://cdn.jsdelivr.net" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"


@pytest.fixture(scope="module")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The app behind uvicorn's real HTTP/1.1 protocol, in a thread of this process."""
    app = create_app(serve_config(tmp_path_factory.mktemp("project"), bundle_dir))
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(timeout=30)


def test_a_4xx_keeps_the_keep_alive_connection(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    key = {"Authorization": USER["Authorization"], "Content-Type": "application/json"}
    probes = [
        ("POST", "/v1/model/reload", b"{not json", {"Content-Type": "application/json"}, 401),
        ("POST", "/v1/predict", orjson.dumps({**LEAD, "employees": "Infinity"}), key, 422),
        ("POST", "/v1/predict", b"[]", key, 422),
        ("GET", f"/v1/leads/ranked?offset={2**63}", None, key, 422),
        ("GET", f"/v1/leads/ranked?offset={2**63}&format=csv", None, key, 422),
        ("GET", "/healthz", None, {}, 200),
    ]
    connection.connect()
    sock = connection.sock
    for method, path, body, headers, status in probes:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == status, (path, answer.status)
        assert answer.getheader("connection") != "close", path
        assert connection.sock is sock, f"{path}: the connection was dropped"
    connection.close()
