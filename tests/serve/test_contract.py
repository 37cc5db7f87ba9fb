"""The request contract has one home: every lead column of `leadml.schema.LEAD_COLUMNS` is
accepted by /v1/predict and reaches the Scorer, and a column added to the description is
in the generated request model and in the Scorer's columns without another edit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from leadml import schema
from leadml.features.build import feature_columns
from leadml.model.pipeline import TrainedModel
from leadml.schema import LeadColumn
from leadml.scoring import Scorer
from leadml_serve.app import create_app
from leadml_serve.convert import to_columns
from leadml_serve.schemas import EXAMPLE_LEAD, MAX_NUMBER, lead_model
from tests.serve.conftest import USER, serve_config

AS_OF = "2026-11-16T00:00:00Z"
_FALLBACK: dict[str, Any] = {
    "text": " Some Value ",
    "number": 42.5,
    "timestamp": "2026-11-01T08:00:00Z",
}


def _sent(column: LeadColumn) -> Any:
    """A value for the column: the documented example lead's, else one of its kind."""
    return EXAMPLE_LEAD.get(column.name, _FALLBACK[column.kind])


def _expected(column: LeadColumn, value: Any) -> Any:
    """What the Scorer should receive for `value`: text in the contract's canonical form,
    timestamps as naive UTC datetime64[ns], numbers as they are."""
    if column.kind == "text":
        canonical = schema.CANONICAL_FORM.get(column.name, str.strip)
        return canonical(value)
    if column.kind == "timestamp":
        return np.datetime64(value.replace("Z", ""), "ns")
    return float(value)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _same(a: Any, b: Any) -> bool:
    return (_missing(a) and _missing(b)) or (not _missing(a) and not _missing(b) and a == b)


class Recorder:
    """Keeps what the served Scorer is asked to score, and lets the real Scorer score it."""

    def __init__(self, scorer: Scorer) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, Any], np.ndarray]] = []
        self._score_columns = scorer.score_columns

    def __call__(self, leads: Any, events: Any, cutoff: np.ndarray, **kwargs: Any) -> Any:
        self.calls.append((dict(leads), dict(events), cutoff))
        return self._score_columns(leads, events, cutoff, **kwargs)


@pytest.fixture
def recorded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    scorer = client.app.state.slot.current.scorer
    recorder = Recorder(scorer)
    monkeypatch.setattr(scorer, "score_columns", recorder)
    yield recorder


def test_every_contract_column_is_accepted_and_reaches_the_scorer(
    client: TestClient, recorded: Recorder, trained: TrainedModel
) -> None:
    columns = [c for c in schema.scoring_columns() if c.name != schema.LEAD_ID]
    assert len(columns) == len(schema.LEAD_COLUMNS) - 2  # all but the id and the outcome
    leads = [{"lead_id": "bare", "as_of": AS_OF}] + [
        {"lead_id": f"with-{c.name}", c.name: _sent(c), "as_of": AS_OF} for c in columns
    ]
    response = client.post("/v1/predict", json=leads, headers=USER)
    assert response.status_code == 200, response.text
    for result in response.json()["results"]:
        assert not any("unknown field" in w for w in result["warnings"]), result

    assert len(recorded.calls) == 1
    lead_columns, events, cutoff = recorded.calls[0]
    position = {lead_id: i for i, lead_id in enumerate(lead_columns[schema.LEAD_ID])}
    bare = position["bare"]
    raw = feature_columns(lead_columns, events, cutoff, trained.bundle.spec.config)
    fields = {c.field for c in trained.bundle.spec.columns}
    for column in columns:
        assert column.name in lead_columns, f"{column.name} never reaches the Scorer"
        i = position[f"with-{column.name}"]
        got = lead_columns[column.name][i]
        assert _same(got, _expected(column, _sent(column))), (column.name, got)
        assert _missing(lead_columns[column.name][bare]), column.name
        if column.name in fields:  # a feature's business field: the features see it too
            features = [c.name for c in trained.bundle.spec.columns if c.field == column.name]
            assert any(not _same(raw[f][i], raw[f][bare]) for f in features), column.name


def test_the_outcome_column_is_never_sent_to_the_scorer(
    client: TestClient, recorded: Recorder
) -> None:
    lead = {"lead_id": "converted", "converted_at": "2026-11-10T00:00:00Z", "as_of": AS_OF}
    body = client.post("/v1/predict", json=lead, headers=USER).json()
    assert "unknown field(s) ignored: converted_at" in body["warnings"]
    assert schema.CONVERTED_AT not in recorded.calls[0][0]


def _grown(monkeypatch: pytest.MonkeyPatch) -> tuple[LeadColumn, LeadColumn]:
    budget = LeadColumn("budget", "number", "firmographic", non_negative=True)
    territory = LeadColumn("territory", "text", "firmographic", max_length=50)
    monkeypatch.setattr(schema, "LEAD_COLUMNS", (*schema.LEAD_COLUMNS, budget, territory))
    return budget, territory


def test_a_column_added_to_the_contract_is_in_the_generated_model_and_columns(
    monkeypatch: pytest.MonkeyPatch, trained: TrainedModel
) -> None:
    before = lead_model()
    _grown(monkeypatch)
    model = lead_model()
    assert {"budget", "territory"} <= set(model.model_fields)
    assert not {"budget", "territory"} & set(before.model_fields)
    properties = model.model_json_schema()["properties"]
    number = {"type": "number", "minimum": 0, "maximum": MAX_NUMBER}
    assert number in properties["budget"]["anyOf"]
    assert {"type": "string", "maxLength": 50} in properties["territory"]["anyOf"]
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"lead_id": "a", "budget": -1})
    assert refused.value.errors()[0]["loc"] == ("budget",)

    lead = model.model_validate({"lead_id": "a", "budget": 1200, "territory": " North "})
    columns = to_columns([lead], trained.bundle.spec, datetime.now(UTC))
    assert columns.leads["budget"][0] == 1200.0
    assert columns.leads["territory"] == ["North"]
    assert columns.warnings == [[]]  # not an "unknown field" any more
    stale = before.model_validate({"lead_id": "a", "budget": 1})
    assert stale.model_extra == {"budget": 1}  # the model built before: an unknown field


def test_a_served_model_loaded_after_the_contract_grew_takes_the_new_column(
    monkeypatch: pytest.MonkeyPatch, bundle_dir: Path, tmp_path: Path
) -> None:
    _grown(monkeypatch)
    app = create_app(serve_config(tmp_path, bundle_dir))
    with TestClient(app) as grown:
        scorer = app.state.slot.current.scorer
        recorder = Recorder(scorer)
        monkeypatch.setattr(scorer, "score_columns", recorder)
        lead = {"lead_id": "a", "budget": 5, "territory": "South", "as_of": AS_OF}
        answer = grown.post("/v1/predict", json=lead, headers=USER)
        assert answer.status_code == 200 and answer.json()["warnings"] == [], answer.text
        refused = grown.post("/v1/predict", json=lead | {"budget": -5}, headers=USER)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "body.budget"
        lead_schema = grown.get("/openapi.json").json()["components"]["schemas"]["LeadIn"]
    assert "budget" in lead_schema["properties"] and "territory" in lead_schema["properties"]
    sent = recorder.calls[0][0]
    assert sent["budget"][0] == 5.0 and sent["territory"] == ["South"]
