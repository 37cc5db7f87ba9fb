"""Resolve a registry reference to a local bundle folder, in its own process.

Importing MLflow and opening its store takes about two seconds. `leadml serve` starts this
module as a subprocess before it does anything else (it builds its own Config from the
same file and flags), so that work happens on the other core while the server process
imports the scoring stack; the server's first load then reads the bundle folder written
here. Later reloads talk to the registry directly.

    python -m leadml_serve.resolve OUT.json '{"config": null, "overrides": {...}}'

It writes OUT.json with {"path", "version"} or {"error"}; for a model given as a folder
it writes nothing (there is nothing to look up).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadml.errors import ModelNotFoundError

if TYPE_CHECKING:
    from leadml.config import Config

WAIT_SECONDS = 60.0


def resolve(ref: str, config: Config) -> dict[str, Any]:
    """The registered version a reference names, exported to a local bundle folder."""
    from leadml.tracking.registry import fetch_bundle, reader_for, resolve_version

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


def start(config_path: Path | None, overrides: dict[str, dict[str, Any]], out: Path) -> None:
    """Start the lookup for the Config these arguments give, in a new process.

    Nothing waits for the process: `leadml serve` forks its workers next, and no thread
    may run beside a fork. gunicorn reaps it.
    """
    args = {"config": str(config_path) if config_path else None, "overrides": overrides}
    subprocess.Popen([sys.executable, "-m", "leadml_serve.resolve", str(out), json.dumps(args)])


def main() -> None:
    out, args = Path(sys.argv[1]), json.loads(sys.argv[2])
    try:
        from leadml.config import load_config
        from leadml.tracking.registry import REF_PREFIX

        path = Path(args["config"]) if args["config"] else None
        config = load_config(path, overrides=args["overrides"])
        if not config.serve.model.startswith(REF_PREFIX):
            return  # a bundle folder: nothing to look up
        result = resolve(config.serve.model, config)
    except Exception as exc:  # reported to the server, which keeps retrying
        result = {"error": f"{type(exc).__name__}: {exc}"}
    with contextlib.suppress(OSError):  # the server stopped first (say, a bad leadml.toml)
        write_result(out, result)


if __name__ == "__main__":
    main()
