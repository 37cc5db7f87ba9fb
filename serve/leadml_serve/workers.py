"""Keep every worker process on the same model after a reload.

The workers are separate processes, and POST /v1/model/reload reaches only one of
them. That worker, once its new model has loaded and passed the smoke score, writes a
pinned reference of it (models:/name/version, or a folder) to a small shared file. Every
worker polls the file's modification time about once a second and loads what it names
if that differs from its own model. So a reload reaches all workers within about a
second; each swap is still atomic within its process. A worker that gunicorn forks to
replace one that died starts on the announced model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from leadml_serve.model_slot import LoadedModel, ModelSlot, ReloadError, pinned_ref

POLL_SECONDS = 1.0
log = logging.getLogger("serve")


def announce(path: Path, loaded: LoadedModel) -> None:
    """Tell the other workers which model to serve (atomic write)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"model": pinned_ref(loaded), "version": loaded.version}, out)
    os.replace(tmp, path)


def announced(path: Path) -> str | None:
    """The model the last reload announced, if any (a new worker starts on it)."""
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["model"])
    except (OSError, json.JSONDecodeError, KeyError):
        return None


async def follow(path: Path, slot: ModelSlot) -> None:
    """Poll the shared file and load what it names when it changes (runs for the app's life)."""
    seen = 0.0
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if mtime == seen:
            continue
        seen = mtime
        try:
            wanted = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        current = slot.current
        if current is not None and pinned_ref(current) == wanted.get("model"):
            continue
        try:
            await run_in_threadpool(slot.load, str(wanted["model"]))
            log.info("followed a reload", extra={"model": wanted["model"]})
        except (ReloadError, KeyError) as exc:
            log.error("could not follow a reload to %s: %s", wanted.get("model"), exc)
