"""Resolve a registry reference to a local bundle folder, in its own process.

Importing MLflow and opening its store takes over a second. `leadml serve` runs this module
as a subprocess the moment it starts, so that work happens on the other core while the
server process imports the scoring stack; the server's first load then reads the bundle
folder written here. Later reloads talk to the registry directly.

    python -m serve.resolve models:/lead-conversion@champion OUT.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from leadml.config import Config
from leadml.errors import ModelNotFoundError
from serve.env import CONFIG_ENV

WAIT_SECONDS = 60.0


def resolve(ref: str, config: Config) -> dict[str, Any]:
    """The registered version a reference names, exported to a local bundle folder."""
    from leadml.registry import fetch_bundle, reader_for, resolve_version

    client = reader_for(config)
    name, version = resolve_version(client, ref, config.mlflow.model_name)
    return {"path": str(fetch_bundle(client, config, name, version)), "version": version}


def write_result(out: Path, result: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(tmp, out)


def wait_for(out: Path, timeout: float = WAIT_SECONDS) -> Path:
    """The bundle folder the resolver found; raises ModelNotFoundError with its error."""
    deadline = time.monotonic() + timeout
    while not out.exists():
        if time.monotonic() > deadline:
            raise ModelNotFoundError(f"the registry lookup did not finish within {timeout:.0f} s")
        time.sleep(0.01)
    result = json.loads(out.read_text(encoding="utf-8"))
    if "error" in result:
        raise ModelNotFoundError(str(result["error"]))
    return Path(result["path"])


def main() -> None:
    ref, out = sys.argv[1], Path(sys.argv[2])
    try:
        config = Config.model_validate_json(os.environ[CONFIG_ENV])
        result = resolve(ref, config)
    except Exception as exc:  # reported to the server, which keeps retrying
        result = {"error": f"{type(exc).__name__}: {exc}"}
    write_result(out, result)


if __name__ == "__main__":
    main()
