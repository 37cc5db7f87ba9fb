"""The webhook's JSON: which leads are sent, the summary, and the bound per delivery."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from leadml.handoff.payload import (
    EVENT,
    LEAD_FIELDS,
    build_payloads,
    changed_leads,
    delivery_id,
    encode,
)
from tests.handoff.batches import MIXED, stored_batch


def test_changed_leads_are_grade_moves_and_new_a_leads_in_rank_order() -> None:
    batch = stored_batch(MIXED)
    assert changed_leads(batch.frame)["lead_id"].tolist() == ["L2", "L3", "L4"]


@pytest.mark.parametrize(
    ("previous_grade", "grade", "sent"),
    [("A", "A", False), ("B", "B", False), ("B", "A", True), ("A", "D", True),
     (None, "A", True), (None, "B", False), (None, "D", False)],
)  # fmt: skip
def test_a_lead_is_sent_only_when_its_grade_moved_or_it_is_newly_a(
    previous_grade: str | None, grade: str, sent: bool
) -> None:
    previous_score = None if previous_grade is None else 50
    batch = stored_batch([("L1", 50, grade, previous_score, previous_grade)])
    assert len(changed_leads(batch.frame)) == int(sent)


def test_one_payload_holds_the_summary_and_each_changed_lead_as_plain_json() -> None:
    batch = stored_batch(MIXED)
    (payload,) = build_payloads(batch, 12)
    assert payload["event"] == EVENT
    assert payload["batch_id"] == 12 and payload["delivery_id"] == "batch-12-part-1"
    assert payload["as_of"] == "2025-06-30T00:00:00Z"
    assert payload["scored_at"] == "2025-06-30T06:15:00Z"
    assert payload["model_version"] == "7" and payload["grade_mode"] == "model"
    assert payload["leads_scored"] == 6
    assert payload["grade_counts"] == {"A": 3, "B": 1, "C": 2, "D": 0}
    assert payload["excluded"] == {"converted": 3, "not_created": 2, "stale": 4}
    assert (payload["part"], payload["parts"], payload["changed_total"]) == (1, 1, 3)
    moved_up, newly_a, moved_down = payload["changed_leads"]
    assert list(moved_up) == list(LEAD_FIELDS)
    assert moved_up == {
        "lead_id": "L2",
        "company": "Company L2",
        "lead_source": "paid_search",
        "stage": "MQL",
        "score": 91,
        "previous_score": 70,
        "grade": "A",
        "previous_grade": "B",
        "trend": "improving",
        "reasons": "+ demo requested (L2)",
    }
    assert newly_a["previous_score"] is None and newly_a["previous_grade"] is None
    assert newly_a["trend"] == "new"
    assert (moved_down["grade"], moved_down["previous_grade"]) == ("B", "A")
    # The bytes sent round-trip to the same payload: no numpy scalar or NaN leaks out.
    assert json.loads(encode(payload)) == payload


def test_many_changed_leads_are_split_into_numbered_parts() -> None:
    rows = [(f"L{i:02d}", 90, "A", None, None) for i in range(7)]
    payloads = build_payloads(stored_batch(rows), 3, max_leads=3)
    assert [p["part"] for p in payloads] == [1, 2, 3]
    assert {p["parts"] for p in payloads} == {3} and {p["changed_total"] for p in payloads} == {7}
    assert [len(p["changed_leads"]) for p in payloads] == [3, 3, 1]
    assert [p["delivery_id"] for p in payloads] == [delivery_id(3, k) for k in (1, 2, 3)]
    sent = [lead["lead_id"] for p in payloads for lead in p["changed_leads"]]
    assert sent == [r[0] for r in rows]
    assert all(p["leads_scored"] == 7 for p in payloads)


def test_a_batch_with_no_change_still_sends_its_summary() -> None:
    rows = [("L1", 95, "A", 94, "A"), ("L2", 30, "D", None, None)]
    (payload,) = build_payloads(stored_batch(rows), 4)
    assert payload["changed_leads"] == [] and payload["changed_total"] == 0
    assert payload["leads_scored"] == 2


def test_numpy_and_missing_values_become_json_numbers_and_null() -> None:
    batch = stored_batch([("L1", 90, "A", 60, "C")])
    frame = batch.frame.assign(score=np.int64(90), company=[np.nan], previous_score=[pd.NA])
    (payload,) = build_payloads(replace(batch, frame=frame), 1)
    (lead,) = payload["changed_leads"]
    assert lead["score"] == 90 and type(lead["score"]) is int
    assert lead["company"] is None and lead["previous_score"] is None


def test_a_batch_without_previous_grades_is_refused_by_name() -> None:
    frame = stored_batch(MIXED).frame.drop(columns=["previous_grade"])
    with pytest.raises(ValueError, match="previous_grade"):
        changed_leads(frame)
