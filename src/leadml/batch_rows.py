"""A batch's scored rows: chunks scored and explained by the Scorer, then assembled into
the list's columns (reasons as JSON, text and one per column; pass-through columns).

Shared by the event batch (`leadml.batch`, per partition on the Dask engine) and the
flat one (`leadml.batch_flat`), so both lists are built the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from leadml import schema
from leadml.ranked import (
    PREVIOUS_GRADE,
    REASON_COLUMNS,
    REASONS_JSON,
    TOP_REASON,
    encode_reasons,
    reason_columns,
    reasons_text,
    top_reason,
)
from leadml.scoring import Scorer
from leadml.warning_lines import merge_warnings

Progress = Callable[[int, int], None]
"""`on_progress(done, total)`: leads scored so far, of all."""


def score_in_chunks(
    scorer: Scorer,
    raw: pd.DataFrame,
    chunk_size: int,
    warnings: list[str],
    on_progress: Progress | None,
) -> list[pd.DataFrame]:
    """Score and explain `raw` chunk by chunk, collecting new warnings and reporting progress."""
    total = len(raw)
    parts: list[pd.DataFrame] = []
    if on_progress is not None:
        on_progress(0, total)
    for start in range(0, total, chunk_size):
        scored = scorer.score_features(raw.iloc[start : start + chunk_size], explain=True)
        warnings[:] = merge_warnings([warnings, scored.warnings])
        parts.append(_compact(scored.frame))
        if on_progress is not None:
            on_progress(min(start + chunk_size, total), total)
    return parts


def attach_pass_through(
    frame: pd.DataFrame, by_id: pd.DataFrame, pass_through: Sequence[str]
) -> None:
    """Attach the pass-through columns to `frame`, looked up by lead id (None when absent)."""
    for name in pass_through:
        values = (
            np.array(by_id[name].reindex(frame["lead_id"]).to_numpy(dtype=object), dtype=object)
            if name in by_id.columns
            else np.full(len(frame), None, dtype=object)
        )
        values[pd.isna(values)] = None
        frame[name] = values


def _compact(scored: pd.DataFrame) -> pd.DataFrame:
    """One chunk's scores with reasons turned into JSON and text (dicts are heavy)."""
    reasons = scored["reasons"].tolist() if "reasons" in scored else [{}] * len(scored)
    out = scored[["probability", "score", "grade", "raw_score", "stage"]].copy()
    out[REASONS_JSON] = [encode_reasons(r) for r in reasons]
    out["reasons"] = [reasons_text(r) for r in reasons]
    cells = [reason_columns(r) for r in reasons]
    for i, name in enumerate(REASON_COLUMNS):
        out[name] = [c[i] for c in cells]
    out[TOP_REASON] = [top_reason(r) for r in reasons]
    return out


def assemble(
    parts: list[pd.DataFrame],
    leads: pd.DataFrame,
    index: pd.Index,
    model_version: str,
    scored_at: pd.Timestamp,
) -> pd.DataFrame:
    columns = ["probability", "score", "grade", "raw_score", "stage", REASONS_JSON]
    columns += ["reasons", *REASON_COLUMNS, TOP_REASON]
    scores = pd.concat(parts) if parts else pd.DataFrame(columns=columns, index=index)
    by_id = leads.set_index(schema.LEAD_ID)
    company = (
        by_id[schema.COMPANY].reindex(scores.index).to_numpy(dtype=object)
        if schema.COMPANY in by_id
        else np.full(len(scores), None, dtype=object)
    )
    frame = pd.DataFrame(
        {
            "lead_id": scores.index.to_numpy(dtype=object),
            "company": pd.Series(company, dtype=object).where(pd.notna(company), None).to_numpy(),
            "lead_source": by_id[schema.LEAD_SOURCE].reindex(scores.index).to_numpy(dtype=object),
            "stage": scores["stage"].to_numpy(dtype=object),
            "probability": scores["probability"].to_numpy(dtype=np.float64),
            "score": scores["score"].to_numpy(dtype=np.int64),
            "grade": scores["grade"].to_numpy(dtype=object),
            "trend": "new",
            "previous_score": pd.array([None] * len(scores), dtype="Int64"),
            PREVIOUS_GRADE: None,
            "raw_score": scores["raw_score"].to_numpy(dtype=np.float64),
            "reasons": scores["reasons"].to_numpy(dtype=object),
            **{name: scores[name].to_numpy(dtype=object) for name in REASON_COLUMNS},
            "model_version": model_version,
            "scored_at": scored_at.isoformat().replace("+00:00", "Z"),
            REASONS_JSON: scores[REASONS_JSON].to_numpy(dtype=object),
            TOP_REASON: scores[TOP_REASON].to_numpy(dtype=object),
        }
    )
    return frame
