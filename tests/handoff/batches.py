"""Stored batches built in code, with the columns the store write adds (the contract the
webhook reads: trend, previous_score, previous_grade)."""

from __future__ import annotations

import pandas as pd

from leadml.batch import RankedBatch

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")
SCORED_AT = pd.Timestamp("2025-06-30T06:15:00", tz="UTC")


def stored_batch(rows: list[tuple[str, int, str, int | None, str | None]]) -> RankedBatch:
    """A batch from (lead_id, score, grade, previous_score, previous_grade), best first."""
    records = []
    for rank, (lead_id, score, grade, previous_score, previous_grade) in enumerate(rows, 1):
        if previous_score is None:
            trend = "new"
        else:
            moved = score - previous_score
            trend = "improving" if moved >= 5 else "declining" if moved <= -5 else "steady"
        records.append(
            {
                "rank": rank,
                "lead_id": lead_id,
                "company": f"Company {lead_id}",
                "lead_source": "paid_search",
                "stage": "MQL",
                "probability": score / 100,
                "score": score,
                "grade": grade,
                "reasons": f"+ demo requested ({lead_id})",
                "trend": trend,
                "previous_score": previous_score,
                "previous_grade": previous_grade,
            }
        )
    frame = pd.DataFrame.from_records(records)
    # As the store write leaves them: an integer column with missing values, objects.
    frame["previous_score"] = frame["previous_score"].astype("Int64")
    return RankedBatch(
        frame=frame,
        as_of=AS_OF,
        scored_at=SCORED_AT,
        model_version="7",
        grade_mode="model",
        pass_through=(),
        excluded_converted=3,
        excluded_not_created=2,
        excluded_stale=4,
    )


MIXED = [
    ("L1", 95, "A", 90, "A"),  # steady A: unchanged, not sent
    ("L2", 91, "A", 70, "B"),  # moved up to A
    ("L3", 88, "A", None, None),  # newly A: first score
    ("L4", 60, "B", 92, "A"),  # moved down from A
    ("L5", 55, "C", None, None),  # first score, not A: not sent
    ("L6", 40, "C", 41, "C"),  # unchanged
]
