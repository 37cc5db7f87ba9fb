"""Batch scoring of a flat export: one row per lead, scored with a flat model.

The same steps as `leadml.batch.score_open_leads` (chunks, assembly, ranking by the one
rule), on the export's rows instead of leads and events: open rows are those the file
does not already mark as converted, and the list is as of the day of the export.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadml import schema
from leadml.batch import GradeMode, RankedBatch, check_grade_mode, rank_batch
from leadml.batch_rows import Progress, assemble, attach_pass_through, score_in_chunks
from leadml.bundle import DEFAULT_GRADE_SHARES
from leadml.errors import InputError
from leadml.ranked import NO_SOURCE
from leadml.scoring import Scorer

_COMPANY_WORDS = ("company", "account", "organisation", "organization", "business")


def score_flat_rows(
    rows: pd.DataFrame,
    scorer: Scorer,
    *,
    grade_mode: GradeMode = "model",
    grade_shares: dict[str, float] = DEFAULT_GRADE_SHARES,
    pass_through: Sequence[str] = (),
    chunk_size: int = 50_000,
    on_progress: Progress | None = None,
    scored_at: pd.Timestamp | None = None,
    source: str = "",
) -> RankedBatch:
    """Rank a flat export's open rows with a flat model (`read_flat` frame, index lead id).

    Open rows: those not already converted by the export's own label (positive value or a
    converted-at date), when the file carries it. The list is as of `scored_at`: a flat
    export's columns are as of the day it was exported.
    """
    flat = scorer.bundle.flat
    if flat is None:
        raise InputError("not a flat model", expected="a model trained on a [dataset] export")
    check_grade_mode(grade_mode)
    scored_at = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
    converted = np.zeros(len(rows), dtype=bool)
    if flat.label and flat.label in rows.columns:
        positive = {p.strip().lower() for p in flat.positive}
        label = rows[flat.label].to_numpy(dtype=object)
        converted = np.array([v is not None and str(v).lower() in positive for v in label], bool)
    elif flat.converted_at and flat.converted_at in rows.columns:
        converted = rows[flat.converted_at].notna().to_numpy(dtype=bool)
    todo = rows.loc[~converted]
    warnings = [
        f"column {name!r} of the model is not in the file: scored as missing"
        for name in flat.feature_names
        if name not in rows.columns or rows[name].isna().all()
    ]
    raw = scorer.flat_features(todo)
    parts = score_in_chunks(scorer, raw, chunk_size, warnings, on_progress)
    candidates = flat.names_with("passthrough") + list(pass_through)
    leads = _flat_leads(todo, raw, candidates, flat.source_column)
    frame = assemble(parts, leads, raw.index, scorer.model_version, scored_at)
    attach_pass_through(frame, todo, pass_through)
    return RankedBatch(
        frame=rank_batch(frame, grade_mode, grade_shares, pass_through),
        as_of=scored_at,
        scored_at=scored_at,
        model_version=scorer.model_version,
        grade_mode=grade_mode,
        pass_through=tuple(pass_through),
        warnings=tuple(warnings),
        excluded_converted=int(converted.sum()),
        excluded_not_created=0,
        source=source,
        flat=True,
    )


def _flat_leads(
    todo: pd.DataFrame, raw: pd.DataFrame, candidates: list[str], source_col: str | None
) -> pd.DataFrame:
    """Lead columns for flat rows: id, the first company-like candidate column, the source
    (the mapping's first source column; training set aside any id-like one, so it is a
    low-cardinality column; NO_SOURCE for every lead when there is none)."""
    company = next((c for c in candidates if c in todo.columns
                    and any(w in c.lower() for w in _COMPANY_WORDS)), None)  # fmt: skip
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: todo.index.to_numpy(dtype=object),
            schema.COMPANY: todo[company].to_numpy(dtype=object) if company else None,
            schema.LEAD_SOURCE: raw[source_col].to_numpy(dtype=object)
            if source_col and source_col in raw.columns
            else None,
        }
    )
    source = leads[schema.LEAD_SOURCE]
    missing = NO_SOURCE if source_col is None or source_col not in raw.columns else schema.UNKNOWN
    leads[schema.LEAD_SOURCE] = source.astype(object).where(source.notna(), missing)
    return leads
