"""The ranked lead list and one lead's detail, read from the scores store.

`leadml score` writes the store; these routes only read it, through `leadml.store`
(`ranked`, `lead_detail`, `batch_summary`). The order is the store's rank, set by
`leadml.ranked.rank_order` when the batch was scored. Routes are plain `def`: the queries block.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import orjson
import pandas as pd
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import StringConstraints
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.background import BackgroundTask

from leadml.config import Config, ScoreConfig
from leadml.errors import InputError
from leadml.ranked import Reasons, arrows, strength
from leadml.store import (
    StoreError,
    StoreMissing,
    WatchedStore,
    batch_summary,
    current_batch,
    labels,
    lead_detail,
    open_store,
    ranked,
    ranked_table,
)
from leadml_serve.deps import Authorized
from leadml_serve.problems import ApiProblem
from leadml_serve.schemas import LeadDetail, RankedPage, RankedSummary

router = APIRouter(prefix="/v1/leads", tags=["leads"])
log = logging.getLogger("serve.leads")

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000
"""Far past any ranked list; the stores' 64-bit OFFSET overflows at 2**63 (a 422 here)."""
NO_NUL = r"^[^\x00]*$"
"""Text the stores can compare: no NUL character (PostgreSQL refuses it)."""


def _listed(token: str) -> str:
    """A query value of one or several comma-separated `token`s, spaces and empty parts
    allowed, as `_split` reads it (the OpenAPI pattern and the server's check, in one)."""
    return rf"^\s*(?:{token})?\s*(?:,\s*(?:{token})?\s*)*$"


GRADE_VALUES = _listed("[AaBbCcDd]")
STAGE_VALUES = _listed("[Nn][Oo][Nn][Ee]|[IiMmSsPp][Qq][Ll]")
Grades = list[Annotated[str, StringConstraints(pattern=GRADE_VALUES)]]
Stages = list[Annotated[str, StringConstraints(pattern=STAGE_VALUES)]]
Sources = list[Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]]
CSV_CHUNK = 5000
"""Rows per store query while a CSV download streams (bounds the server's memory)."""
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
"""Row keys come from SQLAlchemy as str subclasses, which orjson only takes with this."""


def open_app_store(config: Config) -> WatchedStore:
    """The app's store (tables created when missing), watched for a replaced SQLite file.

    A store that cannot be reached at start does not stop the server: the engine is kept
    and the lead routes answer 503 with the reason until the store is back. A SQLite file
    removed while the server runs is a 503 too, and a file moved over it is read at once.
    """
    try:
        return WatchedStore(open_store(config.store_url))
    except StoreError as exc:
        log.error("scores store not ready: %s; the lead routes answer 503 until it is", exc)
        return WatchedStore(open_store(config.store_url, create=False))


def _engine(request: Request) -> Engine:
    store: WatchedStore = request.app.state.store
    replaced = store.replaced
    try:
        engine = store.engine()
    except StoreMissing as exc:
        log.error("%s; the lead routes answer 503 until it is back", exc)
        raise ApiProblem(
            503,
            "Scores store unavailable",
            "The scores store's SQLite file was removed or moved away. Put it back (or run "
            "`leadml score` to write a new one); the ranked list is served again as soon "
            "as the file is there.",
            headers={"Retry-After": "5"},
        ) from exc
    if store.replaced != replaced:
        log.warning("the scores store file %s was replaced: reading the new one", store.path)
    return engine


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated parameters and comma-separated lists: ?grade=A&grade=B or ?grade=A,B."""
    if not values:
        return None
    items = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return items or None


def _unavailable(engine: Engine, exc: Exception) -> ApiProblem:
    url = engine.url.render_as_string(hide_password=True)
    log.error("scores store error on %s: %s", url, exc)
    return ApiProblem(
        503,
        "Scores store unavailable",
        f"The scores store ({engine.url.get_backend_name()}) could not be read: "
        f"{type(exc).__name__}. Check [store] url and that the server is up; the ranked list "
        "is written by `leadml score`.",
        headers={"Retry-After": "5"},
    )


def _invalid(exc: InputError, where: str = "query") -> ApiProblem:
    field = exc.column or where
    return ApiProblem(
        422,
        "Invalid filter" if where == "query" else "Invalid lead id",
        str(exc),
        [
            {
                "field": f"{where}.{field}",
                "value": exc.value,
                "expected": exc.expected or exc.message,
            }
        ],
    )


def _refused(exc: DataError, field: str) -> ApiProblem:
    """The store refused a value it cannot hold (bad input, not an outage)."""
    cause = getattr(exc, "orig", None) or exc
    reason = (str(cause).strip().splitlines() or [""])[0]
    return ApiProblem(
        422,
        "Invalid filter" if field.startswith("query") else "Invalid lead id",
        f"The scores store cannot compare this value: {type(cause).__name__}: {reason}",
        [{"field": field, "value": None, "expected": "plain text"}],
    )


def _with_strength(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each reason's strength and arrows, as the sales page shows them."""
    reasons: Reasons = row["reasons"]
    sides: tuple[Literal["positive", "negative"], ...] = ("positive", "negative")
    for side in sides:
        for reason in reasons.get(side, []):
            reason["strength"] = strength(reason["contribution"])
            reason["arrows"] = arrows(side, reason["strength"])
    return row


def _page(
    engine: Engine,
    limit: int | None,
    offset: int,
    filters: dict[str, Any],
    bind: Engine | Connection | None = None,
) -> tuple[list[dict[str, Any]], int]:
    try:
        return ranked(engine if bind is None else bind, limit=limit, offset=offset, **filters)
    except InputError as exc:
        raise _invalid(exc) from exc
    except DataError as exc:
        raise _refused(exc, "query") from exc
    except SQLAlchemyError as exc:
        raise _unavailable(engine, exc) from exc


def csv_filename(scored_at: str | None, filters: dict[str, Any]) -> str:
    """ranked-leads-2026-11-23-grade-A.csv: the batch's day, then the filters applied."""
    parts = ["ranked-leads", (scored_at or "empty")[:10]]
    for key, label in (("grade", "grade"), ("source", "source"), ("stage", "stage")):
        if filters.get(key):
            parts.append(f"{label}-{'+'.join(filters[key])}")
    if filters.get("min_score") is not None:
        parts.append(f"min-score-{filters['min_score']}")
    if filters.get("q"):
        parts.append(f"company-{filters['q']}")
    name = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name)[:150] + ".csv"


@router.get(
    "/ranked",
    summary="The latest batch's ranked leads (JSON page or CSV download)",
    responses={
        200: {
            "model": RankedPage,
            "description": "JSON: {batch, total, limit, offset, count, results}; CSV: the "
            "filtered list.",
            "content": {"text/csv": {}},
        },
        401: {"description": "No valid API key."},
        422: {"description": "An unknown grade or stage, a min_score outside 1..99, ..."},
        503: {"description": "The scores store cannot be read."},
    },
)
def get_ranked(
    request: Request,
    _: Authorized,
    limit: int | None = Query(
        None,
        ge=0,
        le=MAX_LIMIT,
        description=f"Rows per page (JSON default 100, at most {MAX_LIMIT}). A CSV holds every "
        "matching row unless a limit is given.",
    ),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip (paging)."),
    # Plain arrays, not `| None`: a nullable array is an `anyOf` a query string cannot tell
    # apart from a one-item list.
    grade: Grades = Query([], description="A, B, C or D; repeat or comma-separate."),
    source: Sources = Query(
        [],
        description="Lead source(s) as the summary lists them, e.g. referral. An event "
        "model's sources are matched like a leads file's (Paid Search = paid_search); a flat "
        "export's exactly as the file writes them.",
    ),
    stage: Stages = Query([], description="none, IQL, MQL, SQL or PQL; repeat or comma-separate."),
    min_score: int | None = Query(None, ge=1, le=99, description="Lowest score shown."),
    q: str | None = Query(
        None, max_length=200, pattern=NO_NUL, description="Company name contains (any case)."
    ),
    format: Literal["json", "csv"] = Query("json", description="json (a page) or csv."),
) -> Response:
    engine = _engine(request)
    filters: dict[str, Any] = {
        "grade": _split(grade),
        "source": _split(source),
        "stage": _split(stage),
        "min_score": min_score,
        "q": q.strip() if q and q.strip() else None,
    }
    if format == "csv":
        return _csv(engine, request.app.state.list_settings, limit, offset, filters)
    rows, total = _page(engine, 100 if limit is None else limit, offset, filters)
    batch = _batch(engine)
    body = {
        "batch": batch,
        "total": total,
        "limit": 100 if limit is None else limit,
        "offset": offset,
        "count": len(rows),
        "results": [_with_strength(row) for row in rows],
    }
    return Response(orjson.dumps(body, option=JSON_OPTIONS), media_type="application/json")


def _batch(engine: Engine) -> dict[str, Any] | None:
    try:
        summary = batch_summary(engine)
    except SQLAlchemyError as exc:
        raise _unavailable(engine, exc) from exc
    return None if summary is None else summary["batch"]


def _csv(
    engine: Engine,
    listed: ScoreConfig,
    limit: int | None,
    offset: int,
    filters: dict[str, Any],
) -> Response:
    """Stream the filtered list as CSV, in chunks of CSV_CHUNK rows, with the cells and
    column names `leadml score` writes under the same `[score]` settings (`listed`).

    The whole download reads one batch, fixed when it starts: every chunk is a query on
    the same connection (one snapshot), filtered on that batch id and paged by rank. A
    batch committed meanwhile shows up in the next download, never inside this one.
    """
    first_size = CSV_CHUNK if limit is None else min(limit, CSV_CHUNK)
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise _unavailable(engine, exc) from exc
    try:
        rows, total = _page(engine, first_size, offset, filters, conn)
        batch = current_batch(conn)
    except SQLAlchemyError as exc:
        conn.close()
        raise _unavailable(engine, exc) from exc
    except BaseException:
        conn.close()
        raise
    pass_through = batch.pass_through if batch else ()

    def table(page: list[dict[str, Any]]) -> pd.DataFrame:
        return ranked_table(
            page, pass_through, listed.columns, formula_guard=listed.csv_formula_guard
        )

    wanted = max(total - offset, 0) if limit is None else min(limit, max(total - offset, 0))
    scored_at = batch.scored_at if batch else None
    pinned = {**filters, "batch_id": batch.batch_id if batch else -1}
    busy = threading.Lock()

    def release() -> None:
        with busy:  # never while a chunk's query runs in another thread
            conn.close()

    def chunks() -> Iterator[bytes]:
        try:
            page = rows[:wanted]
            yield table(page).to_csv(index=False).encode()
            done = len(page)
            while done < wanted and page:
                after = {**pinned, "after_rank": page[-1]["rank"]}
                with busy:
                    page, _ = _page(engine, min(CSV_CHUNK, wanted - done), 0, after, conn)
                if page:
                    yield (table(page).to_csv(index=False, header=False).encode())
                    done += len(page)
        finally:
            release()

    name = csv_filename(scored_at, filters)
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Total-Count": str(wanted),
        },
        background=BackgroundTask(release),  # also when the body is never read
    )


@router.get(
    "/ranked/summary",
    summary="The latest batch: model version, scoring time, grade counts, score histogram",
    responses={
        200: {"model": RankedSummary, "description": "The latest batch."},
        401: {"description": "No valid API key."},
        503: {"description": "Store down."},
    },
)
def get_summary(request: Request, _: Authorized) -> Response:
    """What the sales page's header, filters and chart show. `batch` is null before the
    first `leadml score` run. `labels` gives the words for the batch's sources, stages and
    trends (`leadml.store.labels`), so the page shows no slugs and keeps no copy of them."""
    engine = _engine(request)
    try:
        summary = batch_summary(engine)
    except SQLAlchemyError as exc:
        raise _unavailable(engine, exc) from exc
    body = summary or {"batch": None, "grade_counts": {}, "score_histogram": [], "sources": {}}
    body.setdefault("stages", {})
    body.setdefault("labels", labels(body))
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/{lead_id}",
    summary="One lead: latest score, grade, reasons, trend and score history",
    responses={
        200: {"model": LeadDetail, "description": "The lead's latest score and its history."},
        401: {"description": "No valid API key."},
        404: {"description": "The lead has never been scored."},
        503: {"description": "The scores store cannot be read."},
    },
)
def get_lead(
    request: Request,
    _: Authorized,
    lead_id: str = Path(pattern=NO_NUL, description="The lead's id."),
) -> Response:
    engine = _engine(request)
    try:
        detail = lead_detail(engine, lead_id)
    except InputError as exc:
        raise _invalid(exc, "path") from exc
    except DataError as exc:
        raise _refused(exc, "path.lead_id") from exc
    except SQLAlchemyError as exc:
        raise _unavailable(engine, exc) from exc
    if detail is None:
        raise ApiProblem(
            404,
            "Lead not found",
            f"Lead {lead_id!r} has no score in the store. Leads are scored by `leadml score`; "
            "a lead that was never open at a scoring run has none.",
            [{"field": "path.lead_id", "value": lead_id, "expected": "a scored lead id"}],
        )
    return Response(
        orjson.dumps(_with_strength(detail), option=JSON_OPTIONS), media_type="application/json"
    )
