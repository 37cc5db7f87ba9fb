"""Problems found while reading a file that do not stop the read, and the UTF-8 scan.

A `ReadIssue` is a bad byte or a bad line: the read goes on and the validator reports
it with its line. `first_non_utf8` finds the first byte that is not UTF-8, reading in
16 MB chunks so the scan never holds a large export in memory.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from io import BufferedIOBase
from pathlib import Path

_CHUNK_BYTES = 1 << 24


@dataclass(frozen=True)
class ReadIssue:
    """A problem found while reading a file that did not stop the read (bad byte, bad line)."""

    code: str
    row: int | None
    value: object
    expected: str


def open_bytes(path: Path) -> BufferedIOBase:
    """The file's bytes, decompressed when it is a .gz file."""
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")


def first_non_utf8(path: Path) -> ReadIssue | None:
    """Find the first byte that is not valid UTF-8, scanning in chunks."""
    offset, line, carry = 0, 1, b""
    with open_bytes(path) as fh:
        while True:
            block = fh.read(_CHUNK_BYTES)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                truncated = exc.reason == "unexpected end of data" and len(data) - exc.start < 4
                if not (truncated and block):
                    return _encoding_issue(data, exc.start, offset, line)
                good = exc.start  # a character split across two chunks
            line += data.count(b"\n", 0, good)
            offset += good
            carry = data[good:]
            if not block:
                return None


def _encoding_issue(data: bytes, start: int, offset: int, line: int) -> ReadIssue:
    line += data.count(b"\n", 0, start)
    newline = data.rfind(b"\n", 0, start)
    in_line = f"byte {start - newline} of the line, " if newline >= 0 or offset == 0 else ""
    bad = data[start : start + 1]
    guess = bad.decode("cp1252", errors="replace")
    return ReadIssue(
        code="bad_encoding",
        row=line,
        value=f"0x{bad.hex().upper()}",
        expected=(
            f"UTF-8 text: byte 0x{bad.hex().upper()} on line {line} ({in_line}file offset "
            f"{offset + start:,}) is not UTF-8 (in latin-1/cp1252 it would be {guess!r}); "
            "re-save the file as UTF-8 ('CSV UTF-8' in Excel)"
        ),
    )
