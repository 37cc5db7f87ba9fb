"""`leadml serve`: build the Config once, import the scoring stack once, then fork workers.

On a small machine, start-up is mostly imports: LightGBM pulls in scikit-learn, SciPy and
pandas, and numba loads its compiled loops, about 2 s of CPU per process. So this process
pays it once, while the registry lookup runs in a subprocess on the other core, and then
gunicorn forks the workers, which inherit it. Each worker runs uvicorn (uvloop +
httptools) and builds its own app after the fork: its own store engine, metrics and model,
so no socket, thread or OpenMP pool is ever shared across a fork.

This is the server's entry point, so it is the one place that reads the environment
(LEADML_API_KEYS). It sets PROMETHEUS_MULTIPROC_DIR for several workers before
prometheus_client is imported.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadml_serve import resolve
from leadml_serve.env import MULTIPROC_ENV

if TYPE_CHECKING:
    from fastapi import FastAPI

    from leadml.config import Config

WORKER_TIMEOUT_SECONDS = 120  # above resolve.WAIT_SECONDS: a first load may wait that long
KEEPALIVE_SECONDS = 5  # uvicorn's own default


def server_config(
    config_path: Path | None,
    overrides: dict[str, dict[str, Any]],
    env: Mapping[str, str],
) -> Config:
    """leadml.toml + CLI flags + keys from LEADML_API_KEYS, as one Config."""
    from leadml.config import load_config
    from leadml_serve.security import ENV_KEYS, parse_env_keys

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
    """Run the API until interrupted (Ctrl-C or SIGTERM: requests in flight finish)."""
    scratch = Path(tempfile.mkdtemp(prefix="leadml-serve-"))  # removed when the server stops
    owner = os.getpid()  # workers are forks of this process: only it removes `scratch`
    try:
        # First of all, so the registry lookup runs on the other core for as long as can be.
        resolved = scratch / "resolved.json"
        resolve.start(config_path, overrides, resolved)
        config = server_config(config_path, overrides, env)
        from leadml.tracking.registry import check_model_folder

        check_model_folder(config.serve.model, config)  # a one-line error, before any fork
        check_bind(config.serve.host, config.serve.port)  # likewise, before gunicorn retries
        settings = config.serve
        # What a reload announced: workers follow it, and a worker that gunicorn forks to
        # replace one that died starts on it instead of the model found at start-up.
        sync_file = scratch / "model.json"
        multiprocess = settings.workers > 1
        if multiprocess:
            os.environ.setdefault(MULTIPROC_ENV, str(scratch / "metrics"))
            Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
        from leadml.tracking.registry import REF_PREFIX

        in_registry = settings.model.startswith(REF_PREFIX)
        _preload(config)

        def build() -> FastAPI:
            from leadml_serve.app import create_app, resolved_first

            loader = resolved_first(config, resolved) if in_registry else None
            return create_app(config, loader=loader, sync_file=sync_file)

        from leadml_serve.forking import Gunicorn

        Gunicorn(build, _gunicorn_options(config, multiprocess=multiprocess)).run()
    finally:
        if os.getpid() == owner:
            shutil.rmtree(scratch, ignore_errors=True)


def check_bind(host: str, port: int) -> None:
    """Raise a one-line InputError unless `host:port` can be bound now.

    gunicorn would otherwise retry a busy port for about 5 s, logging each attempt, and
    then exit without saying which setting to change. The socket is closed at once, so
    the port is free again for gunicorn (SO_REUSEADDR, as gunicorn binds it).
    """
    import errno
    import socket

    from leadml.errors import InputError

    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except socket.gaierror as exc:
        raise InputError(
            f"setting [serve] host: cannot find the interface {host!r} ({exc.strerror}); "
            "give an address of this machine with --host or [serve] host in leadml.toml, "
            "e.g. 127.0.0.1 or 0.0.0.0"
        ) from exc
    except OSError as exc:
        reasons = {
            errno.EADDRINUSE: f"port {port} is already in use on {host} (another server?)",
            errno.EACCES: f"port {port} is below 1024, which needs administrator rights",
            errno.EADDRNOTAVAIL: f"{host} is not an address of this machine",
        }
        reason = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise InputError(
            f"setting [serve] port: cannot listen on {where}: {reason}; choose a free port "
            "with --port (e.g. --port 8080) or [serve] port in leadml.toml"
            + (", or another address with --host" if exc.errno == errno.EADDRNOTAVAIL else "")
        ) from exc


def _preload(config: Config) -> None:
    """Import the scoring stack and load the compiled feature loops once, before the fork.

    Nothing here starts a thread or scores with LightGBM (whose OpenMP pool would not
    survive a fork): the model itself loads in each worker. The frozen heap keeps the
    workers' garbage collections from walking (and so copying) the inherited libraries.
    """
    _import_lightgbm_without_sklearn()
    import leadml_serve.app  # noqa: F401  (the import is the point)
    from leadml.scoring import warm_up
    from leadml_serve.observability import configure_logging

    configure_logging()
    warm_up(config.features)
    gc.freeze()


def _import_lightgbm_without_sklearn() -> None:
    """Import LightGBM with scikit-learn hidden, then unhide it.

    LightGBM imports scikit-learn (and through it SciPy's stats) only to define its
    scikit-learn estimators, which a server never uses: about 1 s of a 2.5 s start on
    two cores. The Booster does not depend on it. Should a LightGBM release need
    scikit-learn to import at all, this falls back to a plain import.
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # `import sklearn` now fails
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        for name in [m for m in sys.modules if m == "lightgbm" or m.startswith("lightgbm.")]:
            del sys.modules[name]
    finally:
        del sys.modules["sklearn"]
    import lightgbm  # noqa: F401, F811  (a no-op unless the first try failed)


def _gunicorn_options(config: Config, *, multiprocess: bool) -> dict[str, Any]:
    from leadml_serve.forking import GRACEFUL_SECONDS, Worker, forget_worker_metrics

    settings = config.serve
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    options: dict[str, Any] = {
        "bind": [f"{host}:{settings.port}"],
        "workers": settings.workers,
        "worker_class": Worker,
        "preload_app": False,  # the stack is imported above; each worker builds its own app
        "timeout": WORKER_TIMEOUT_SECONDS,
        # uvicorn drains connections for GRACEFUL_SECONDS, then runs the app's shutdown.
        "graceful_timeout": GRACEFUL_SECONDS + 10,
        "keepalive": KEEPALIVE_SECONDS,
        "proc_name": "leadml-serve",
        "control_socket_disable": True,  # no gunicornc socket under ~/.gunicorn
        "accesslog": None,
        "errorlog": "-",
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "leadml_serve.observability.JsonFormatter"}},
            "filters": {"socket_close": {"()": "leadml_serve.forking.SocketCloseFilter"}},
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
        options["child_exit"] = forget_worker_metrics
    return options
