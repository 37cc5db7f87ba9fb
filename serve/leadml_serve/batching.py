"""The scoring thread: requests that arrive while it is busy are scored in one pass.

Each worker process scores on one thread, off the event loop. One, because Python runs one
thread at a time anyway: several scoring threads handing the GIL back and forth made the
slowest requests slower (a thread that lets go of it inside LightGBM or numba can wait a
whole switch interval, 5 ms, to get it back). Requests queue in arrival order instead.

While a pass runs, new requests wait in the queue; the next pass takes all of them and
scores them together, up to `serve.max_leads` leads at a time. Most of the cost of scoring
one lead is fixed per call (numpy, the booster and the explainer each have a per-call
overhead), so under load a pass of four requests costs little more than a pass of one.
Every step works row by row, so a lead gets exactly the answer it would get alone (a test
holds batched answers equal to single ones). Parsing and validation stay per request, so
a bad request fails alone, with its own 422; if a pass fails while scoring, each of its
requests is scored again alone, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadml import schema
from leadml.scoring import ScoredColumns
from leadml_serve.convert import Columns
from leadml_serve.model_slot import LoadedModel


@dataclass(frozen=True)
class Parsed:
    """One request, validated: its leads as columns and how to answer it from its scores."""

    columns: Columns
    answer: Callable[[ScoredColumns], bytes]


@dataclass(frozen=True)
class _Job:
    parse: Callable[[], Parsed]
    """Runs on the scoring thread; raises (e.g. ApiProblem) to fail this request alone."""
    model: LoadedModel
    explain: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bytes]


class ScoringQueue:
    """One worker process's scoring thread and its queue. The thread starts on first use
    (never before a fork) and stops at `close`."""

    def __init__(self, *, max_leads: int, top_k: int) -> None:
        self._max_leads = max_leads
        self._top_k = top_k
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def score(
        self, parse: Callable[[], Parsed], model: LoadedModel, *, explain: bool
    ) -> bytes:
        """The response body for one request, scored on the scoring thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._ensure_started()
        self._queue.put(_Job(parse, model, explain, loop, future))
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name="leadml-score", daemon=True
                    )
                    self._thread.start()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = [first], False
            while True:  # everything that queued up while the last pass ran
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            try:
                self._score(jobs)
            except BaseException as exc:  # a bug here must not leave requests waiting forever
                for job in jobs:
                    _settle(job, exc=exc)
            if stop:
                return

    def _score(self, jobs: list[_Job]) -> None:
        groups: dict[tuple[int, bool], list[tuple[_Job, Parsed]]] = {}
        for job in jobs:
            try:
                parsed = job.parse()
            except Exception as exc:  # this request's own error (422, 413, ...)
                _settle(job, exc=exc)
                continue
            groups.setdefault((id(job.model), job.explain), []).append((job, parsed))
        for group in groups.values():
            for chunk in _chunks(group, self._max_leads):
                self._score_together(chunk)

    def _score_together(self, chunk: list[tuple[_Job, Parsed]]) -> None:
        first = chunk[0][0]
        try:
            columns = merge_columns([parsed.columns for _, parsed in chunk])
            scored = first.model.scorer.score_columns(
                columns.leads,
                columns.events,
                columns.cutoff,
                explain=first.explain,
                top_k=self._top_k,
            )
        except Exception as exc:
            if len(chunk) == 1:
                _settle(chunk[0][0], exc=exc)
            else:  # find whose request it was: each one alone gets its own answer or error
                for item in chunk:
                    self._score_together([item])
            return
        start = 0
        for job, parsed in chunk:
            stop = start + len(parsed.columns.cutoff)
            try:
                _settle(job, result=parsed.answer(slice_scores(scored, start, stop)))
            except Exception as exc:
                _settle(job, exc=exc)
            start = stop


def _chunks(
    group: list[tuple[_Job, Parsed]], max_leads: int
) -> Iterator[list[tuple[_Job, Parsed]]]:
    """Consecutive runs of requests holding at most `max_leads` leads (or one request)."""
    chunk: list[tuple[_Job, Parsed]] = []
    size = 0
    for item in group:
        n = len(item[1].columns.cutoff)
        if chunk and size + n > max_leads:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


def _settle(job: _Job, *, result: bytes | None = None, exc: BaseException | None = None) -> None:
    """Hand a result or an error to the request's coroutine, on its own event loop."""

    def settle() -> None:
        if job.future.done():  # the client went away and the request was cancelled
            return
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this any more
        job.loop.call_soon_threadsafe(settle)


def merge_columns(parts: list[Columns]) -> Columns:
    """Several requests' columns as one batch, in order.

    Lead ids are replaced by positions, so that the same id sent in two requests never
    shares events; the answers are built from each request's own ids.
    """
    if len(parts) == 1:
        return parts[0]
    leads: dict[str, Any] = {}
    events: dict[str, Any] = {}
    offset = 0
    renamed_leads: list[str] = []
    renamed_events: list[str] = []
    for part in parts:
        ids = part.leads.get(schema.LEAD_ID, ())
        position = {lead_id: str(offset + i) for i, lead_id in enumerate(ids)}
        renamed_leads += position.values()
        renamed_events += [position[e] for e in part.events.get(schema.LEAD_ID, ())]
        offset += len(part.cutoff)
    for name in parts[0].leads:
        leads[name] = _concat([part.leads[name] for part in parts])
    for name in parts[0].events:
        events[name] = _concat([part.events[name] for part in parts])
    if schema.LEAD_ID in leads:
        leads[schema.LEAD_ID] = renamed_leads
        events[schema.LEAD_ID] = renamed_events
    return Columns(
        leads,
        events,
        np.concatenate([part.cutoff for part in parts]),
        [w for part in parts for w in part.warnings],
    )


def _concat(values: list[Any]) -> Any:
    if isinstance(values[0], np.ndarray):
        return np.concatenate(values)
    return [v for value in values for v in value]


def slice_scores(scored: ScoredColumns, start: int, stop: int) -> ScoredColumns:
    """One request's rows of a pass's scores."""
    return ScoredColumns(
        probability=scored.probability[start:stop],
        score=scored.score[start:stop],
        grade=scored.grade[start:stop],
        raw_score=scored.raw_score[start:stop],
        stage=scored.stage[start:stop],
        reasons=None if scored.reasons is None else scored.reasons[start:stop],
        warnings=[],  # the pass's encoding notes are about every request in it
    )
