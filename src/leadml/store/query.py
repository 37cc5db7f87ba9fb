"""Reading the store: the ranked list, one lead's detail, and the latest batch's summary.

These are the functions the API and the sales page call. The ranked list is the latest
batch in a stable order: its stored rank, given by the ranked list's one rule
(`leadml.ranked.rank_order`: score, probability, raw score descending, then lead_id).
Totals come from the facet counts unless a company search is given, so a page of 100
leads costs three indexed queries however many leads are stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, func, select

from leadml import schema, vocabulary
from leadml.bundle import GRADES
from leadml.errors import InputError
from leadml.ranked import (
    RANKED_COLUMNS,
    REASON_COLUMNS,
    csv_cells,
    decode_reasons,
    reason_columns,
    reasons_text,
    top_reason,
)
from leadml.store.tables import SOURCE_MATCH, batches, facets, history, latest

Filter = str | Sequence[str] | None
Bind = Engine | Connection
"""An engine, or one open connection: every query through it reads the same snapshot."""
STAGES = (schema.NO_STAGE, *schema.STAGES)


@dataclass(frozen=True)
class BatchInfo:
    """The latest committed scoring batch."""

    batch_id: int
    scored_at: str
    """ISO 8601 UTC, e.g. 2025-06-30T07:12:03Z."""
    as_of: str
    model_version: str
    grade_mode: str
    n_leads: int
    pass_through: tuple[str, ...]
    source_match: str = "canonical"
    """How `ranked(source=...)` compares: "canonical" cleans the filter like a lead source
    in a leads file ("Paid Search" -> paid_search); "exact" (a flat export) takes the
    file's own text as it is."""


@contextmanager
def _connected(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def current_batch(engine: Bind) -> BatchInfo | None:
    """The latest batch, or None when nothing has been scored yet."""
    with _connected(engine) as conn:
        return _current(conn)


def ranked(
    engine: Bind,
    *,
    limit: int | None = 100,
    offset: int = 0,
    grade: Filter = None,
    source: Filter = None,
    stage: Filter = None,
    min_score: int | None = None,
    q: str | None = None,
    batch_id: int | None = None,
    after_rank: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the latest batch's ranked list, and how many leads match in total.

    Filters combine with AND; `grade`, `source` and `stage` take one value or several.
    `q` is a case-insensitive substring of the company name. `limit=None` returns every
    matching row (for a CSV download). Rows are dicts: rank, lead_id, company,
    lead_source, stage, probability, score, grade, trend, previous_score, top_reason,
    reasons_text, reasons (structured), model_version, scored_at, then the batch's
    pass-through columns.

    `source` is compared as the batch stored it: cleaned like a leads file's lead source
    for an event model (?source=Paid Search finds paid_search), exactly for a flat export.

    For a download read in pages, pass one open Connection as `engine` (every page then
    reads one snapshot), the first page's `batch_id` (rows of any other batch are never
    returned; an unknown batch gives no rows) and `after_rank` = the last rank received
    (keyset paging: the total still counts every matching row).
    """
    if limit is not None and limit < 0:
        raise InputError("limit must not be negative", column="limit", value=limit)
    if offset < 0:
        raise InputError("offset must not be negative", column="offset", value=offset)
    grades = _values(grade, "grade", GRADES, str.upper)
    sources = _values(source, "source", None, str)
    stages = _values(stage, "stage", STAGES, _stage_name)
    if min_score is not None and not 1 <= int(min_score) <= 99:
        raise InputError(
            "score filter out of range", column="min_score", value=min_score, expected="1..99"
        )
    _printable(q or "", "q")
    for value in sources or []:
        _printable(value, "source")
    with _connected(engine) as conn:
        batch = _current(conn) if batch_id is None else _batch(conn, batch_id)
        if batch is None:
            return [], 0
        if sources is not None and batch.source_match != "exact":
            sources = [schema.CANONICAL_FORM[schema.LEAD_SOURCE](s) for s in sources]
        keep = _where(latest, batch.batch_id, grades, sources, stages, min_score)
        if not q and grades is None and sources is None and stages is None and min_score is None:
            count = batch.n_leads
        elif q:
            keep.append(latest.c.company.icontains(q.strip(), autoescape=True))
            total = conn.execute(select(func.count()).select_from(latest).where(*keep))
            count = int(total.scalar_one())
        else:
            where = _where(facets, batch.batch_id, grades, sources, stages, min_score)
            total = conn.execute(select(func.coalesce(func.sum(facets.c.n), 0)).where(*where))
            count = int(total.scalar_one())
        if after_rank is not None:
            keep.append(latest.c.rank > int(after_rank))
        query = select(latest).where(*keep).order_by(latest.c.rank).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = [_row(dict(r), batch) for r in conn.execute(query).mappings()]
    return rows, count


def lead_detail(engine: Engine, lead_id: str) -> dict[str, Any] | None:
    """A lead's latest score, grade, reasons and trend, with its score history.

    `current` says whether the latest score is from the latest batch (a lead that has
    converted or left the list keeps its last score). History is oldest first. None when
    the lead has never been scored.
    """
    _printable(lead_id, "lead_id")
    with engine.connect() as conn:
        found = conn.execute(select(latest).where(latest.c.lead_id == lead_id)).mappings().first()
        if found is None:
            return None
        own = conn.execute(select(batches).where(batches.c.batch_id == found["batch_id"])).one()
        batch = _info(own._mapping)
        newest = _current(conn)
        past = conn.execute(
            select(
                history.c.batch_id,
                batches.c.scored_at,
                batches.c.as_of,
                batches.c.model_version,
                history.c.probability,
                history.c.score,
                history.c.grade,
            )
            .join(batches, batches.c.batch_id == history.c.batch_id)
            .where(history.c.lead_id == lead_id)
            .order_by(history.c.batch_id)
        ).mappings()
        trail = [
            {
                "batch_id": int(h["batch_id"]),
                "scored_at": _iso(h["scored_at"]),
                "as_of": _iso(h["as_of"]),
                "model_version": h["model_version"],
                "probability": float(h["probability"]),
                "score": int(h["score"]),
                "grade": h["grade"],
            }
            for h in past
        ]
    detail = _row(dict(found), batch)
    detail["batch_id"] = batch.batch_id
    detail["as_of"] = batch.as_of
    detail["current"] = newest is not None and newest.batch_id == batch.batch_id
    detail["history"] = trail
    return detail


def batch_summary(engine: Bind) -> dict[str, Any] | None:
    """The latest batch for the page header and chart: when, which model, and counts.

    Keys: batch (BatchInfo fields), grade_counts {A..D}, score_histogram (99 counts,
    scores 1..99), sources and stages ({name: count}, largest first), and labels: the
    words for the batch's sources, stages and trends (`leadml.vocabulary`; a flat
    export's own source text is shown as written, as the terminal shows it). None when
    empty.
    """
    with _connected(engine) as conn:
        found = conn.execute(select(batches).order_by(batches.c.batch_id.desc()).limit(1)).first()
    if found is None:
        return None
    batch = _info(found._mapping)
    counts = json.loads(found._mapping["summary"])
    counts.pop(SOURCE_MATCH, None)
    public = {k: v for k, v in batch.__dict__.items() if k != "source_match"}
    summary = {"batch": public | {"pass_through": list(batch.pass_through)}, **counts}
    return summary | {"labels": labels(summary, exact=batch.source_match == "exact")}


def labels(summary: dict[str, Any], *, exact: bool = False) -> dict[str, dict[str, str]]:
    """The words for a summary's sources and stages, and for every trend (kind -> token
    -> words): what the sales page shows instead of tokens. `exact`: a flat export's
    sources, whose own text is already the words."""
    sources = summary.get("sources", {})
    return {
        "lead_source": {t: vocabulary.source_label(t, as_written=exact) for t in sources},
        "stage": {t: vocabulary.label("stage", t) for t in summary.get("stages", {})},
        "trend": dict(vocabulary.TREND_LABELS),
        "trend_mark": dict(vocabulary.TREND_MARKS),
    }


def ranked_table(
    rows: list[dict[str, Any]],
    pass_through: Sequence[str] = (),
    renames: Mapping[str, str] | None = None,
    *,
    formula_guard: bool = True,
) -> pd.DataFrame:
    """Rows from `ranked` as the ranked list's CSV: the same columns and cells as `leadml
    score` writes with the same `[score]` settings (`ranked.csv_cells`: the formula guard
    and the `[score.columns]` names)."""
    columns = [*RANKED_COLUMNS, *pass_through]
    records = [
        {
            **row,
            "reasons": row["reasons_text"],
            **dict(zip(REASON_COLUMNS, reason_columns(row["reasons"]), strict=True)),
        }
        for row in rows
    ]
    table = pd.DataFrame.from_records(records, columns=columns)
    # Whole numbers in every chunk of a download, also when a chunk has an empty one.
    table["previous_score"] = table["previous_score"].astype("Int64")
    return csv_cells(table, renames or {}, formula_guard=formula_guard)


def _current(conn: Connection) -> BatchInfo | None:
    found = conn.execute(select(batches).order_by(batches.c.batch_id.desc()).limit(1)).first()
    return None if found is None else _info(found._mapping)


def _batch(conn: Connection, batch_id: int) -> BatchInfo | None:
    found = conn.execute(select(batches).where(batches.c.batch_id == int(batch_id))).first()
    return None if found is None else _info(found._mapping)


def _info(row: Any) -> BatchInfo:
    summary = json.loads(row["summary"] or "{}")
    return BatchInfo(
        batch_id=int(row["batch_id"]),
        scored_at=_iso(row["scored_at"]),
        as_of=_iso(row["as_of"]),
        model_version=str(row["model_version"]),
        grade_mode=str(row["grade_mode"]),
        n_leads=int(row["n_leads"]),
        pass_through=tuple(json.loads(row["pass_through"])),
        source_match=summary.get(SOURCE_MATCH) or _guess_source_match(summary),
    )


def _guess_source_match(summary: dict[str, Any]) -> str:
    """For batches stored before the summary recorded it: an event model's sources are
    all canonical tokens already; a flat export's text usually is not."""
    form = schema.CANONICAL_FORM[schema.LEAD_SOURCE]
    sources = summary.get("sources", {})
    return "canonical" if all(form(s) == s for s in sources) else "exact"


def _printable(value: str, column: str) -> None:
    """Text a store can hold: PostgreSQL refuses NUL characters (a DataError), so both
    back-ends refuse them here, as bad input."""
    if "\x00" in value:
        raise InputError(
            "text contains a NUL character",
            column=column,
            value=value.replace("\x00", "\\x00"),
            expected="text without NUL (\\x00) characters",
        )


def _iso(stamp: datetime) -> str:
    """Stored naive UTC -> ISO 8601 with a Z."""
    return stamp.replace(tzinfo=None).isoformat() + "Z"


def _row(found: dict[str, Any], batch: BatchInfo) -> dict[str, Any]:
    extra = json.loads(found.pop("extra") or "{}")
    found.pop("batch_id", None)
    reasons = decode_reasons(found["reasons"])
    found["reasons"] = reasons
    found["reasons_text"] = reasons_text(reasons)
    found["top_reason"] = top_reason(reasons)
    found["model_version"] = batch.model_version
    found["scored_at"] = batch.scored_at
    for name in batch.pass_through:
        found[name] = extra.get(name)
    return found


def _stage_name(value: str) -> str:
    text = value.strip()
    return text.lower() if text.lower() == schema.NO_STAGE else text.upper()


def _values(
    value: Filter, name: str, allowed: Sequence[str] | None, normalise: Any
) -> list[str] | None:
    """A filter as a list of normalised values (None when not filtering)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    items = [normalise(str(v)) for v in items if str(v).strip()]
    if not items:
        return None
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise InputError(
                f"unknown {name}", column=name, value=bad[0], expected=", ".join(allowed)
            )
    return items


def _where(
    table: Any,
    batch_id: int,
    grades: list[str] | None,
    sources: list[str] | None,
    stages: list[str] | None,
    min_score: int | None,
) -> list[ColumnElement[bool]]:
    keep: list[ColumnElement[bool]] = [table.c.batch_id == batch_id]
    for column, values in (("grade", grades), ("lead_source", sources), ("stage", stages)):
        if values is not None and len(values) == 1:
            keep.append(table.c[column] == values[0])  # equality keeps the index's order
        elif values is not None:
            keep.append(table.c[column].in_(values))
    if min_score is not None:
        keep.append(table.c.score >= int(min_score))
    return keep
