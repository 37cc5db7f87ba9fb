"""POST /v1/predict: answers, ranking, warnings and every error path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadml_serve.app import create_app
from tests.serve.conftest import USER, serve_config


def _one(test_leads: list[dict[str, Any]], i: int = 0) -> dict[str, Any]:
    return copy.deepcopy(test_leads[i])


def test_one_lead_gets_probability_score_grade_and_reasons(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    response = client.post("/v1/predict", json=_one(test_leads), headers=USER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lead_id"] == test_leads[0]["lead_id"]
    assert body["model_version"] == "7"
    assert 0.0 < body["probability"] < 1.0
    assert 1 <= body["score"] <= 99
    assert body["grade"] in {"A", "B", "C", "D"}
    reasons = body["reasons"]
    assert len(reasons["positive"]) + len(reasons["negative"]) > 0
    assert len(reasons["positive"]) <= 3 and len(reasons["negative"]) <= 3
    for reason in reasons["positive"]:
        assert reason["contribution"] > 0 and reason["probability_delta"] > 0
        assert {"field", "feature", "value", "text"} <= set(reason)
    for reason in reasons["negative"]:
        assert reason["contribution"] < 0 and reason["probability_delta"] < 0
    assert isinstance(body["warnings"], list)
    assert "x-request-id" in response.headers


def test_explain_false_skips_reasons_and_keeps_the_score(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    full = client.post("/v1/predict", json=_one(test_leads), headers=USER).json()
    fast = client.post("/v1/predict?explain=false", json=_one(test_leads), headers=USER).json()
    assert fast["reasons"] is None
    assert fast["probability"] == full["probability"]


def test_a_list_comes_back_ranked_with_ties_broken_by_lead_id(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    twin = _one(test_leads, 3)
    twin["lead_id"] = "AAA-twin"  # same lead, so the same probability
    leads = [_one(test_leads, i) for i in range(10)] + [twin]
    body = client.post("/v1/predict", json=leads, headers=USER).json()
    assert body["count"] == 11
    results = body["results"]
    assert [r["rank"] for r in results] == list(range(1, 12))
    keys = [(-r["probability"], r["lead_id"]) for r in results]
    assert keys == sorted(keys)
    ids = [r["lead_id"] for r in results]
    assert ids.index("AAA-twin") == ids.index(test_leads[3]["lead_id"]) - 1


def test_an_alias_scores_like_its_canonical_value(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    lead = _one(test_leads)
    lead["lead_source"] = "paid_search"
    canonical = client.post("/v1/predict", json=lead, headers=USER).json()
    lead["lead_source"] = "  Paid Search "
    messy = client.post("/v1/predict", json=lead, headers=USER).json()
    assert messy["probability"] == canonical["probability"]
    assert not any("lead_source" in w for w in messy["warnings"])


def test_an_unseen_source_is_scored_as_unknown_with_a_warning(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    lead = _one(test_leads)
    lead["lead_source"] = "carrier_pigeon"
    unseen = client.post("/v1/predict", json=lead, headers=USER).json()
    lead["lead_source"] = "unknown"
    unknown = client.post("/v1/predict", json=lead, headers=USER).json()
    assert any("carrier_pigeon" in w and "unknown" in w for w in unseen["warnings"])
    assert unseen["probability"] == unknown["probability"]


def test_events_after_as_of_are_ignored_with_a_warning(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    lead = _one(test_leads)
    lead["events"] = [e for e in lead["events"] if e["occurred_at"] < lead["as_of"]]
    before = client.post("/v1/predict", json=lead, headers=USER).json()
    lead["events"].append({"event_type": "demo_request", "occurred_at": "2099-01-01T00:00:00Z"})
    after = client.post("/v1/predict", json=lead, headers=USER).json()
    assert after["probability"] == before["probability"]
    assert any("after as_of" in w for w in after["warnings"])
    assert not any("after as_of" in w for w in before["warnings"])


def test_naive_timestamps_unknown_fields_and_events_are_warned_about(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    lead = _one(test_leads)
    lead["as_of"] = lead["as_of"][:19]  # drop the zone
    lead["favourite_colour"] = "teal"
    lead["events"].append({"event_type": "telepathy", "occurred_at": "2020-01-01T00:00:00Z"})
    body = client.post("/v1/predict", json=lead, headers=USER).json()
    text = " | ".join(body["warnings"])
    assert "as_of has no time zone: read as UTC" in text
    assert "favourite_colour" in text
    assert "telepathy" in text


def test_missing_optional_fields_are_fine(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"lead_id": "bare"}, headers=USER)
    assert response.status_code == 200, response.text
    assert response.json()["lead_id"] == "bare"


@pytest.mark.parametrize(
    ("body", "field", "lead_index"),
    [
        ([{"lead_id": "a"}, {"lead_id": "b", "employees": -3}], "body[1].employees", 1),
        (
            [
                {"lead_id": "a"},
                {"lead_id": "b"},
                {"lead_id": "c", "events": [{"event_type": "x", "occurred_at": "yesterday"}]},
            ],
            "body[2].events[0].occurred_at",
            2,
        ),
        ([{"lead_id": "a"}, {"created_at": "2026-01-01T00:00:00Z"}], "body[1].lead_id", 1),
        ([{"lead_id": "a"}, {"lead_id": "a"}], "body[1].lead_id", 1),
        (
            {"lead_id": "a", "events": [{"event_type": "page_view"}]},
            "body.events[0].occurred_at",
            None,
        ),
        (  # beyond what int64 nanoseconds hold: a 422, never a 500
            [{"lead_id": "a"}, {"lead_id": "b", "as_of": "9999-01-01T00:00:00Z"}],
            "body[1].as_of",
            1,
        ),
        ({"lead_id": "a", "created_at": "1600-01-01T00:00:00Z"}, "body.created_at", None),
        (
            {"lead_id": "a", "events": [{"event_type": "x", "occurred_at": "2300-01-01T00:00Z"}]},
            "body.events[0].occurred_at",
            None,
        ),
    ],
)
def test_a_malformed_lead_gets_a_422_naming_its_field_and_index(
    client: TestClient, body: Any, field: str, lead_index: int | None
) -> None:
    response = client.post("/v1/predict", json=body, headers=USER)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0].get("lead_index") == lead_index
    assert problem["errors"][0]["expected"]


@pytest.mark.parametrize("content", [b"{not json", b"[]", b"42", b'"a lead"', b"null"], ids=str)
def test_a_body_that_is_not_leads_gets_a_422(client: TestClient, content: bytes) -> None:
    response = client.post(
        "/v1/predict", content=content, headers=USER | {"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_a_bad_query_parameter_gets_a_422_problem(client: TestClient) -> None:
    response = client.post("/v1/predict?explain=maybe", json={"lead_id": "a"}, headers=USER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.explain"


def test_too_many_leads_or_too_large_a_body_gets_a_413(bundle_dir: Path, tmp_path: Path) -> None:
    config = serve_config(tmp_path, bundle_dir, max_leads=3, max_body_bytes=2048)
    with TestClient(create_app(config)) as small:
        many = [{"lead_id": str(i)} for i in range(4)]
        response = small.post("/v1/predict", json=many, headers=USER)
        assert response.status_code == 413
        assert "limit is 3" in response.json()["detail"]
        big = {"lead_id": "x", "company": "y" * 3000}
        response = small.post("/v1/predict", json=big, headers=USER)
        assert response.status_code == 413
        assert "2,048 bytes" in response.json()["detail"]
        ok = small.post("/v1/predict", json=many[:3], headers=USER)
        assert ok.status_code == 200
