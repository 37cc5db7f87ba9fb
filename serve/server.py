"""`leadml serve`: build the Config once, import the scoring stack once, then fork workers.

On a small machine, start-up is mostly imports: LightGBM pulls in scikit-learn, SciPy and
pandas, and numba loads its compiled loops, about 2 s of CPU per process. So this process
pays it once, while the registry lookup runs in a subprocess on the other core, and then
gunicorn forks the workers, which inherit it. Each worker runs uvicorn (uvloop +
httptools) and builds its own app after the fork: its own store engine, metrics and model,
so no socket, thread or OpenMP pool is ever shared across a fork.

This is the server's entry point, so it is the one place that reads the environment
(LEADML_API_KEYS). It sets PROMETHEUS_MULTIPROC_DIR for several workers before
prometheus_client is imported, and LEADML_SERVE_CONFIG for the registry lookup.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from leadml.config import Config, load_config
from leadml.registry import REF_PREFIX
from serve.env import CONFIG_ENV, MULTIPROC_ENV
from serve.security import ENV_KEYS, parse_env_keys

if TYPE_CHECKING:
    from fastapi import FastAPI

GRACEFUL_SECONDS = 10
WORKER_TIMEOUT_SECONDS = 120  # above serve.resolve.WAIT_SECONDS: a first load may wait that long
KEEPALIVE_SECONDS = 5  # uvicorn's own default


class Worker(UvicornWorker):
    """gunicorn's uvicorn worker, pinned to uvloop and httptools (`mlflow models serve`
    uses the same pair, so the benchmark compares like with like)."""

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 (overrides the base class's dict)
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # serve.observability.EdgeMiddleware writes the JSON access log
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }


class SocketCloseFilter(logging.Filter):
    """Drop gunicorn's "Error while closing socket" at shutdown: uvloop has already closed
    the listening socket it was handed, so gunicorn's second close finds no descriptor."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error while closing socket")


class _Gunicorn(BaseApplication):
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


def server_config(
    config_path: Path | None,
    overrides: dict[str, dict[str, Any]],
    env: Mapping[str, str],
) -> Config:
    """leadml.toml + CLI flags + keys from LEADML_API_KEYS, as one Config."""
    config = load_config(config_path, overrides=overrides)
    extra = parse_env_keys(env.get(ENV_KEYS, ""))
    if not extra:
        return config
    serve = config.serve.model_copy(update={"api_keys": (*config.serve.api_keys, *extra)})
    return config.model_copy(update={"serve": serve})


def run_server(
    config_path: Path | None,
    *,
    overrides: dict[str, dict[str, Any]],
    env: Mapping[str, str],
) -> None:
    """Run the API until interrupted (SIGINT or SIGTERM; both shut down gracefully)."""
    config = server_config(config_path, overrides, env)
    settings = config.serve
    scratch = Path(tempfile.mkdtemp(prefix="leadml-serve-"))  # removed when the server stops
    owner = os.getpid()  # workers are forks of this process: only it removes `scratch`
    try:
        sync_file = resolved = None
        if settings.workers > 1:
            os.environ.setdefault(MULTIPROC_ENV, str(scratch / "metrics"))
            Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
            sync_file = scratch / "model.json"
        if settings.model.startswith(REF_PREFIX):
            resolved = scratch / "resolved.json"
            _start_lookup(config, resolved)
        _preload(config)

        def build() -> FastAPI:
            from serve.app import create_app, resolved_first

            loader = resolved_first(config, resolved) if resolved else None
            return create_app(config, loader=loader, sync_file=sync_file)

        _Gunicorn(build, _gunicorn_options(config, multiprocess=sync_file is not None)).run()
    finally:
        if os.getpid() == owner:
            shutil.rmtree(scratch, ignore_errors=True)


def _start_lookup(config: Config, out: Path) -> None:
    """Look the model up in the registry on the other core while this process imports."""
    lookup = subprocess.Popen(
        [sys.executable, "-m", "serve.resolve", config.serve.model, str(out)],
        env=os.environ | {CONFIG_ENV: config.model_dump_json()},
    )
    threading.Thread(target=lookup.wait, daemon=True).start()  # reap it when done


def _preload(config: Config) -> None:
    """Import the scoring stack and load the compiled feature loops once, before the fork.

    Nothing here starts a thread or scores with LightGBM (whose OpenMP pool would not
    survive a fork): the model itself loads in each worker. The frozen heap keeps the
    workers' garbage collections from walking (and so copying) the inherited libraries.
    """
    import serve.app  # noqa: F401  (the import is the point)
    from leadml.features.build import warm_up
    from serve.observability import configure_logging

    configure_logging()
    warm_up(config.features)
    gc.freeze()


def _gunicorn_options(config: Config, *, multiprocess: bool) -> dict[str, Any]:
    settings = config.serve
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    options: dict[str, Any] = {
        "bind": [f"{host}:{settings.port}"],
        "workers": settings.workers,
        "worker_class": Worker,
        "preload_app": False,  # the stack is imported above; each worker builds its own app
        "timeout": WORKER_TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "proc_name": "leadml-serve",
        "control_socket_disable": True,  # no gunicornc socket under ~/.gunicorn
        "accesslog": None,
        "errorlog": "-",
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "serve.observability.JsonFormatter"}},
            "filters": {"socket_close": {"()": "serve.server.SocketCloseFilter"}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "filters": ["socket_close"],
                }
            },
            "root": {"level": "WARNING", "handlers": ["stderr"]},
            "loggers": {
                "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False}
            },
        },
    }
    if multiprocess:
        options["child_exit"] = _forget_worker_metrics
    return options


def _forget_worker_metrics(server: Any, worker: Any) -> None:
    """gunicorn hook: a dead worker's live gauges leave /metrics (prometheus_client docs)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
