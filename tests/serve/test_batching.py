"""The scoring thread: requests scored together get exactly the answers they get alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from leadml.bundle import load_bundle
from leadml.explain.reasons import _field_sums
from leadml.scoring import ScoredColumns, Scorer
from leadml_serve.batching import Parsed, ScoringQueue, merge_columns, slice_scores
from leadml_serve.convert import Columns, to_columns
from leadml_serve.model_slot import LoadedModel
from leadml_serve.problems import ApiProblem
from leadml_serve.schemas import LeadIn

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class CountingScorer(Scorer):
    """A real Scorer that also counts its passes."""

    passes: list[int]

    def score_columns(self, leads: Any, events: Any, cutoff: Any, **kw: Any) -> ScoredColumns:
        self.passes.append(len(cutoff))
        return super().score_columns(leads, events, cutoff, **kw)


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> LoadedModel:
    scorer = CountingScorer(load_bundle(bundle_dir))
    scorer.passes = []
    return LoadedModel(scorer, str(bundle_dir), NOW)


def _parsed(model: LoadedModel, payloads: list[dict[str, Any]]) -> Parsed:
    leads = [LeadIn.model_validate(p) for p in payloads]
    columns = to_columns(leads, model.bundle.spec, NOW)

    def answer(scored: ScoredColumns) -> bytes:
        return orjson.dumps(
            [
                {"lead_id": lead.lead_id, "p": float(scored.probability[i]), "r": scored.reasons}
                for i, lead in enumerate(leads)
            ]
        )

    return Parsed(columns, answer)


def test_leads_scored_together_get_the_bits_they_get_alone(
    model: LoadedModel, test_leads: list[dict[str, Any]]
) -> None:
    parts = [_parsed(model, [lead]).columns for lead in test_leads]
    merged = merge_columns(parts)
    together = model.scorer.score_columns(merged.leads, merged.events, merged.cutoff)
    for i, part in enumerate(parts):
        alone = model.scorer.score_columns(part.leads, part.events, part.cutoff)
        mine = slice_scores(together, i, i + 1)
        assert mine.probability.tolist() == alone.probability.tolist()  # exact, not close
        assert mine.reasons == alone.reasons
        assert mine.grade.tolist() == alone.grade.tolist()
    assert merged.warnings == [w for part in parts for w in part.warnings]


def test_the_same_lead_id_in_two_requests_keeps_its_own_events(
    model: LoadedModel, test_leads: list[dict[str, Any]]
) -> None:
    busy = max(test_leads, key=lambda lead: len(lead["events"]))
    quiet = busy | {"events": []}  # same id, no history
    parts = [_parsed(model, [busy]).columns, _parsed(model, [quiet]).columns]
    merged = merge_columns(parts)
    together = model.scorer.score_columns(merged.leads, merged.events, merged.cutoff)
    for i, part in enumerate(parts):
        alone = model.scorer.score_columns(part.leads, part.events, part.cutoff)
        assert together.probability[i] == alone.probability[0]
    assert together.probability[0] != together.probability[1]


def test_requests_that_queue_up_are_scored_in_one_pass_and_a_bad_one_fails_alone(
    model: LoadedModel, test_leads: list[dict[str, Any]]
) -> None:
    def bad() -> Parsed:
        raise ApiProblem(422, "Invalid lead", "lead 0: lead_id: a string")

    queued = [partial(_parsed, model, [test_leads[i]]) for i in range(1, 4)]
    answers = _queued_behind_one(
        ScoringQueue(max_leads=1000, top_k=3),
        model,
        _parsed(model, [test_leads[0]]),
        [*queued, bad],
        explain=True,
    )
    assert model.scorer.passes == [1, 3]  # type: ignore[attr-defined]
    assert isinstance(answers[-1], ApiProblem) and answers[-1].status == 422
    for i, body in enumerate(answers[:-1]):
        alone = model.scorer.score_columns(*_columns(_parsed(model, [test_leads[i]])), explain=True)
        got = orjson.loads(body)[0]
        assert got["lead_id"] == test_leads[i]["lead_id"]
        assert got["p"] == float(alone.probability[0])


def test_a_pass_holds_at_most_max_leads(
    model: LoadedModel, test_leads: list[dict[str, Any]]
) -> None:
    answers = _queued_behind_one(
        ScoringQueue(max_leads=5, top_k=3),
        model,
        _parsed(model, test_leads[:1]),
        [partial(_parsed, model, test_leads[3 * k : 3 * k + 3]) for k in range(3)],
        explain=False,
    )
    assert all(isinstance(answer, bytes) for answer in answers), answers
    assert model.scorer.passes == [1, 3, 3, 3]  # type: ignore[attr-defined]


def test_an_error_while_scoring_reaches_only_the_request_that_caused_it(
    model: LoadedModel, test_leads: list[dict[str, Any]]
) -> None:
    good = _parsed(model, [test_leads[1]])
    broken = _parsed(model, [test_leads[2]])
    broken.columns.leads.pop("created_at")  # passes parsing, fails in the feature code
    _, failed, answered = _queued_behind_one(
        ScoringQueue(max_leads=1000, top_k=3),
        model,
        _parsed(model, [test_leads[0]]),
        [_given(broken), _given(good)],
        explain=False,
    )
    assert model.scorer.passes == [1, 2, 1, 1]  # together, then each alone  # type: ignore[attr-defined]
    assert isinstance(failed, Exception)
    assert orjson.loads(answered)[0]["lead_id"] == test_leads[1]["lead_id"]


def _queued_behind_one(
    scoring: ScoringQueue,
    model: LoadedModel,
    first: Parsed,
    queued: list[Callable[[], Parsed]],
    *,
    explain: bool,
) -> list[Any]:
    """Score `first`; while its pass is held, queue `queued`. Each request's answer or error,
    in order (the model's pass log is cleared first)."""
    busy, gate = threading.Event(), threading.Event()

    def held() -> Parsed:
        busy.set()
        gate.wait(10)  # keeps the thread busy while the others queue up
        return first

    async def run() -> list[Any]:
        head = asyncio.ensure_future(scoring.score(held, model, explain=explain))
        await asyncio.to_thread(busy.wait, 10)
        rest = [asyncio.ensure_future(scoring.score(q, model, explain=explain)) for q in queued]
        await asyncio.sleep(0)  # each task runs up to its await: all of them are queued
        gate.set()
        return await asyncio.gather(head, *rest, return_exceptions=True)

    model.scorer.passes.clear()  # type: ignore[attr-defined]
    try:
        return asyncio.run(run())
    finally:
        scoring.close()


def test_merging_keeps_a_flat_exports_own_id_column() -> None:
    """A flat-export model's rows carry their own id column and no events."""
    empty = {"lead_id": [], "event_type": [], "occurred_at": np.empty(0, "datetime64[ns]")}
    nat = np.array(["NaT"], dtype="datetime64[ns]")
    parts = [
        Columns({"Lead Number": ["7"], "Source": ["Web"]}, empty, nat, [[]]),
        Columns({"Lead Number": ["7"], "Source": ["Ads"]}, empty, nat, [["note"]]),
    ]
    merged = merge_columns(parts)
    assert merged.leads == {"Lead Number": ["7", "7"], "Source": ["Web", "Ads"]}
    assert len(merged.events["lead_id"]) == 0 and len(merged.cutoff) == 2
    assert merged.warnings == [[], ["note"]]


def test_field_sums_do_not_depend_on_the_number_of_rows() -> None:
    """A BLAS product rounds differently for 1 row and for 1,000; these sums must not."""
    rng = np.random.default_rng(3)
    per_column = rng.normal(size=(1000, 40)) * 10 ** rng.uniform(-3, 1, size=(1000, 40))
    members = np.array([[0, 3, 7, 9, 12, 30], [1, 2, -1, -1, -1, -1], [4, 5, 6, 8, 10, 11]])
    together = _field_sums(per_column, members)
    for i in range(0, 1000, 37):
        alone = _field_sums(per_column[i : i + 1], members)
        assert alone.tobytes() == together[i : i + 1].tobytes()
        loop = [sum((per_column[i, j] for j in row if j >= 0), 0.0) for row in members]
        assert alone[0].tolist() == loop


def _given(parsed: Parsed) -> Callable[[], Parsed]:
    return lambda: parsed


def _columns(parsed: Parsed) -> tuple[Any, Any, Any]:
    return parsed.columns.leads, parsed.columns.events, parsed.columns.cutoff
