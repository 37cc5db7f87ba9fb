"""The scoring thread: requests scored together get exactly the answers they get alone."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from serve.batching import Parsed, ScoringQueue, merge_columns, slice_scores
from serve.convert import to_columns
from serve.model_slot import LoadedModel
from serve.problems import ApiProblem
from serve.schemas import LeadIn

from leadml.bundle import load_bundle
from leadml.scoring import ScoredColumns, Scorer

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
    scoring = ScoringQueue(max_leads=1000, top_k=3)
    gate = threading.Event()

    def held() -> Parsed:
        gate.wait(10)  # keeps the thread busy while the others queue up
        return _parsed(model, [test_leads[0]])

    def bad() -> Parsed:
        raise ApiProblem(422, "Invalid lead", "lead 0: lead_id: a string")

    async def run() -> list[Any]:
        first = asyncio.ensure_future(scoring.score(held, model, explain=True))
        await asyncio.sleep(0.05)
        others = [
            asyncio.ensure_future(
                scoring.score(partial(_parsed, model, [test_leads[i]]), model, explain=True)
            )
            for i in range(1, 4)
        ]
        failing = asyncio.ensure_future(scoring.score(bad, model, explain=True))
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *others, failing, return_exceptions=True)

    model.scorer.passes.clear()  # type: ignore[attr-defined]
    try:
        answers = asyncio.run(run())
    finally:
        scoring.close()
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
    scoring = ScoringQueue(max_leads=5, top_k=3)
    gate = threading.Event()

    def held() -> Parsed:
        gate.wait(10)
        return _parsed(model, test_leads[:1])

    async def run() -> list[Any]:
        first = asyncio.ensure_future(scoring.score(held, model, explain=False))
        await asyncio.sleep(0.05)
        rest = [
            asyncio.ensure_future(
                scoring.score(
                    partial(_parsed, model, test_leads[3 * k : 3 * k + 3]), model, explain=False
                )
            )
            for k in range(3)
        ]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest)

    model.scorer.passes.clear()  # type: ignore[attr-defined]
    try:
        asyncio.run(run())
    finally:
        scoring.close()
    assert model.scorer.passes == [1, 3, 3, 3]  # type: ignore[attr-defined]


def _columns(parsed: Parsed) -> tuple[Any, Any, Any]:
    return parsed.columns.leads, parsed.columns.events, parsed.columns.cutoff
