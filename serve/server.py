"""`leadml serve`: build the Config once, then run uvicorn (uvloop + httptools).

This is the server's entry point, so it is the one place that reads the environment:
LEADML_API_KEYS for keys, and it sets LEADML_SERVE_CONFIG (the final Config as JSON) for
uvicorn's worker processes, plus PROMETHEUS_MULTIPROC_DIR when there are several workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from leadml.config import Config, load_config
from leadml.registry import REF_PREFIX
from serve.env import CONFIG_ENV, MULTIPROC_ENV, RESOLVED_ENV, SYNC_ENV
from serve.observability import configure_logging
from serve.security import ENV_KEYS, parse_env_keys


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
    """Run the API until interrupted."""
    config = server_config(config_path, overrides, env)
    settings = config.serve
    configure_logging()
    os.environ[CONFIG_ENV] = config.model_dump_json()
    scratch = Path(tempfile.mkdtemp(prefix="leadml-serve-"))  # removed when the server stops
    try:
        if settings.workers > 1:
            os.environ.setdefault(MULTIPROC_ENV, str(scratch / "metrics"))
            Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
            os.environ[SYNC_ENV] = str(scratch / "model.json")
        if settings.model.startswith(REF_PREFIX):
            # Look the model up in the registry on the other core while the server imports.
            resolved = scratch / "resolved.json"
            lookup = subprocess.Popen(
                [sys.executable, "-m", "serve.resolve", settings.model, str(resolved)]
            )
            threading.Thread(target=lookup.wait, daemon=True).start()  # reap it when done
            os.environ[RESOLVED_ENV] = str(resolved)
        uvicorn.run(
            "serve.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,  # EdgeMiddleware writes the JSON access log
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
