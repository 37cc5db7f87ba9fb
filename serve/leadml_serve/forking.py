"""gunicorn, configured in code, forking uvicorn workers (used by `leadml_serve.server`).

Imported only once the registry lookup has started, so that it starts as early as it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

if TYPE_CHECKING:
    from fastapi import FastAPI

GRACEFUL_SECONDS = 10


class Worker(UvicornWorker):
    """gunicorn's uvicorn worker, pinned to uvloop and httptools (`mlflow models serve`
    uses the same pair, so the benchmark compares like with like)."""

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 (overrides the base class's dict)
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # leadml_serve.observability.EdgeMiddleware writes the JSON access log
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }


class SocketCloseFilter(logging.Filter):
    """Drop gunicorn's "Error while closing socket" at shutdown: uvloop has already closed
    the listening socket it was handed, so gunicorn's second close finds no descriptor."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error while closing socket")


class Gunicorn(BaseApplication):
    """gunicorn, configured in code: `build` runs in each worker after the fork."""

    def __init__(self, build: Callable[[], FastAPI], options: dict[str, Any]) -> None:
        self._build = build
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> FastAPI:
        return self._build()


def forget_worker_metrics(server: Any, worker: Any) -> None:
    """gunicorn hook: a dead worker's live gauges leave /metrics (prometheus_client docs)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
