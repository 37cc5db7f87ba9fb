"""The booster's text file (`model.txt`): its digest, and a safe first parse.

LightGBM's native parser does not raise on a truncated or garbled model file: it aborts
the whole process (SIGABRT or SIGSEGV), which Python cannot catch. So a bundle records the
SHA-256 and size of its `model.txt` when it is saved, and loading refuses a file that does
not match. A file nobody vouches for (an older bundle without a digest, a registry
download, a file another LightGBM version wrote) is first parsed in a child process, where
a crash kills the child and becomes a clear error here. The verdict is cached by digest, so
each file costs one child (about 30 ms: a bare interpreter and LightGBM's C library) per
process.

The bytes that were hashed and checked are the bytes parsed: the file is read once.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb

from leadml.errors import InputError

DIGEST_KEY = "model_file"
"""bundle.json key of the record: {"sha256", "bytes", "lightgbm"}."""
CHILD_SECONDS = 120.0
FIX = (
    "re-export the bundle (for a registry model, delete its folder under models/ to "
    "fetch it again) or retrain with `leadml train`"
)

_CHILD = """
import ctypes, sys
lib = ctypes.cdll.LoadLibrary(sys.argv[1])
lib.LGBM_GetLastError.restype = ctypes.c_char_p
text = sys.stdin.buffer.read()
iterations, handle = ctypes.c_int(), ctypes.c_void_p()
out = (ctypes.byref(iterations), ctypes.byref(handle))
if lib.LGBM_BoosterLoadModelFromString(ctypes.c_char_p(text), *out):
    sys.stderr.write("[LightGBM] [Fatal] " + lib.LGBM_GetLastError().decode("utf-8", "replace"))
    sys.exit(1)
lib.LGBM_BoosterFree(handle)
"""
"""Parse stdin with LightGBM's C library only: no numpy, no lightgbm package, no site."""

_verdicts: dict[str, str | None] = {}
"""sha256 -> None (LightGBM parses it) or why it does not. Per process."""


def record(raw: bytes) -> dict[str, Any]:
    """What bundle.json keeps about a model file written by this LightGBM."""
    return {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "bytes": len(raw),
        "lightgbm": lgb.__version__,
    }


def read_booster(path: Path, recorded: dict[str, Any] | None, *, trusted: bool) -> lgb.Booster:
    """The booster in `path`, refusing a file that differs from `recorded` (bundle.json's
    record) or that LightGBM cannot parse, with an InputError instead of a crash.

    A file that matches its record and was written by this LightGBM version is parsed here
    directly when `trusted` (a bundle folder `leadml train` wrote); anything else is parsed
    in a child process first.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the model file: {exc.strerror or exc}", file=path, expected=FIX
        ) from exc
    found = record(raw)
    if recorded is not None:
        _check_digest(path, found, recorded)
    vouched = trusted and recorded is not None and recorded.get("lightgbm") == lgb.__version__
    if not vouched:
        problem = parse_verdict(raw, found["sha256"])
        if problem is not None:
            raise InputError(
                f"LightGBM cannot parse the model file: {problem}",
                file=path,
                expected=f"a {path.name} written by `leadml train`; {FIX}",
            )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # the child parsed it, so this is unlikely
        raise InputError(
            f"the model file is not UTF-8 text: {exc}", file=path, expected=FIX
        ) from exc
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise InputError(
            f"LightGBM cannot parse the model file: {exc}", file=path, expected=FIX
        ) from exc


def _check_digest(path: Path, found: dict[str, Any], recorded: dict[str, Any]) -> None:
    want_bytes, want_sha = recorded.get("bytes"), str(recorded.get("sha256", ""))
    if found["bytes"] != want_bytes or found["sha256"] != want_sha:
        raise InputError(
            "the model file does not match the digest bundle.json recorded "
            "(truncated or changed since it was saved)",
            file=path,
            value=f"{found['bytes']} bytes, sha256 {found['sha256'][:12]}",
            expected=f"{want_bytes} bytes, sha256 {want_sha[:12]}; {FIX}",
        )


def parse_verdict(raw: bytes, sha256: str) -> str | None:
    """None when LightGBM parses `raw` in a child process, else why not (cached by digest)."""
    if sha256 not in _verdicts:
        _verdicts[sha256] = _parse_in_child(raw)
    return _verdicts[sha256]


def _parse_in_child(raw: bytes) -> str | None:
    if b"\x00" in raw:  # C reads the text up to the first NUL: never a model file
        return "the file holds NUL bytes (binary data, not LightGBM's text format)"
    command = [sys.executable, "-I", "-S", "-c", _CHILD, _library()]
    try:
        done = subprocess.run(command, input=raw, capture_output=True, timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        return f"LightGBM did not finish parsing it within {CHILD_SECONDS:.0f} s"
    if done.returncode == 0:
        return None
    said = _fatal_line(done.stderr.decode("utf-8", "replace"))
    if done.returncode < 0:
        try:
            crash = signal.Signals(-done.returncode).name
        except ValueError:
            crash = f"signal {-done.returncode}"
        return f"LightGBM's parser crashed ({crash})" + (f": {said}" if said else "")
    return said or f"LightGBM's parser failed (exit {done.returncode})"


def _fatal_line(stderr: str) -> str:
    """LightGBM's first fatal message, on one line."""
    for line in stderr.splitlines():
        if "[Fatal]" in line:
            return line.split("[Fatal]", 1)[1].strip()
    return ""


def _library() -> str:
    """The path of the lib_lightgbm this process loaded (the child loads the same one).
    `_LIB` is LightGBM's private handle; tests/test_bundle.py fails if it ever moves."""
    return str(lgb.basic._LIB._name)
