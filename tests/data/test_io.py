"""Tests for leadml.data.io: finding and reading tables raw, and atomic writes."""

from __future__ import annotations

import errno
import gzip
import os
import stat
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pytest

from leadml.data.io import (
    RawTable,
    TableReadError,
    atomic_write_table,
    atomic_write_text,
    find_table,
    read_raw,
    read_table,
    stage_table,
)
from leadml.errors import InputError, WriteError
from tests.machine import small_disk


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_find_table_reports_a_missing_table(tmp_path: Path) -> None:
    with pytest.raises(TableReadError) as info:
        find_table(tmp_path, "leads")
    assert info.value.code == "missing_file"
    assert "leads.parquet" in str(info.value)


def test_find_table_refuses_ambiguous_folder(tmp_path: Path) -> None:
    _write(tmp_path / "leads.csv", "lead_id\nL1\n")
    pd.DataFrame({"lead_id": ["L1"]}).to_parquet(tmp_path / "leads.parquet")
    with pytest.raises(TableReadError) as info:
        find_table(tmp_path, "leads")
    assert info.value.code == "missing_file"
    assert "leads.parquet" in str(info.value) and "leads.csv" in str(info.value)


def test_find_table_finds_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(b"lead_id,event_type\nL1,page_view\n"))
    assert find_table(tmp_path, "events") == path
    assert read_table(tmp_path, "events")["event_type"].tolist() == ["page_view"]


def test_read_table_keeps_csv_values_as_text(tmp_path: Path) -> None:
    _write(tmp_path / "leads.csv", "lead_id,employees,lead_source\n007,12,None\nL2,NA, \n")
    frame = read_table(tmp_path, "leads")
    assert frame["lead_id"].tolist() == ["007", "L2"]  # leading zeros survive: read as text
    assert frame["employees"].iloc[0] == "12"
    assert pd.isna(frame["employees"].iloc[1])  # 'NA' is a missing marker
    assert frame["lead_source"].iloc[0] == "None"  # 'None' is a source label, not missing
    assert all(isinstance(dtype, pd.StringDtype) for dtype in frame.dtypes)


def test_read_table_strips_utf8_bom(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes(b"\xef\xbb\xbflead_id,created_at\nL1,2024-01-01\n")
    assert list(read_table(tmp_path, "leads").columns) == ["lead_id", "created_at"]


def test_read_table_raises_on_non_utf8_bytes(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes("lead_id,company\nL1,Café\n".encode("latin-1"))
    with pytest.raises(TableReadError) as info:
        read_table(tmp_path, "leads")
    assert info.value.code == "bad_encoding"
    assert info.value.row == 2


def test_read_raw_zero_bytes_is_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "")
    with pytest.raises(TableReadError) as info:
        read_raw(path)
    assert info.value.code == "empty_file"


def test_read_raw_damaged_parquet_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "leads.parquet", "this is not parquet")
    with pytest.raises(TableReadError) as info:
        read_raw(path)
    assert info.value.code == "bad_encoding"


def test_read_raw_parquet_keeps_types(tmp_path: Path) -> None:
    frame = pd.DataFrame({"lead_id": [1, 2], "employees": [3.0, np.nan]})
    frame.to_parquet(tmp_path / "leads.parquet")
    raw = read_raw(tmp_path / "leads.parquet")
    assert raw.file_format == "parquet"
    assert raw.frame["lead_id"].dtype == np.int64
    assert raw.row_numbers(np.array([0, 1])).tolist() == [1, 2]


def test_blank_and_bad_lines_keep_line_numbers(tmp_path: Path) -> None:
    text = "lead_id,x\nL1,a\n\nL2,b\nL3,c,extra\nL4,d\n"
    raw = read_raw(_write(tmp_path / "leads.csv", text))
    assert raw.frame["lead_id"].tolist() == ["L1", "L2", "L4"]
    assert raw.skipped_lines == (3, 5)
    assert raw.row_numbers(np.arange(3)).tolist() == [2, 4, 6]
    assert [(i.code, i.row) for i in raw.issues] == [("bad_delimiter", 5)]


def test_row_numbers_without_skips_are_line_numbers(tmp_path: Path) -> None:
    raw = RawTable(tmp_path / "leads.csv", pd.DataFrame({"a": ["x", "y"]}), "csv")
    assert raw.row_numbers(np.array([0, 1])).tolist() == [2, 3]


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_atomic_write_table_round_trips(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"lead_id": ["L1", "L2"], "employees": ["3", "4"]})
    path = atomic_write_table(frame, tmp_path / "sub" / name)
    assert [p.name for p in path.parent.iterdir()] == [name]
    back = read_raw(path).frame
    assert back["lead_id"].tolist() == ["L1", "L2"]
    assert back["employees"].astype(str).tolist() == ["3", "4"]


def test_atomic_write_table_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        atomic_write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_table_cleans_up_after_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "scores.parquet"
    atomic_write_table(pd.DataFrame({"a": [1]}), target)
    before = target.read_bytes()

    def half_write(self: pd.DataFrame, fh: BinaryIO, **kwargs: object) -> None:
        fh.write(b"PAR1 partial")
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(WriteError, match="Input/output error"):
        atomic_write_table(pd.DataFrame({"a": [2]}), target)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]
    assert target.read_bytes() == before


def test_atomic_write_text_replaces_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.md"
    atomic_write_text("first\n", target)
    atomic_write_text("second\n", target)
    assert target.read_text(encoding="utf-8") == "second\n"

    def no_sync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(WriteError, match="Input/output error"):
        atomic_write_text("third\n", target)
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    assert target.read_bytes() == b"second\n"


BIG = pd.DataFrame({"email": [f"lead{i}@example.com" for i in range(20_000)]})
"""About 450 KB of CSV: more than the 64 KB test disk holds."""


def test_a_full_disk_is_one_line_and_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk) as mounted:
        target = disk / "ranked.csv"
        atomic_write_table(pd.DataFrame({"email": ["a@example.com"]}), target)
        before = target.read_bytes()
        if not mounted:  # no tmpfs for this user: the write itself reports ENOSPC
            real = pd.DataFrame.to_csv

            def full(self: pd.DataFrame, fh: BinaryIO, **kwargs: object) -> None:
                real(self.head(10), fh, **kwargs)  # type: ignore[arg-type]
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(pd.DataFrame, "to_csv", full)
        with pytest.raises(WriteError) as info:
            atomic_write_table(BIG, target, "the ranked list")
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"cannot write the ranked list {target}: the disk is full;")
        assert "free space on the disk holding" in message
        assert [p.name for p in disk.iterdir()] == ["ranked.csv"]
        assert target.read_bytes() == before


def test_a_read_only_or_forbidden_folder_is_one_line(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk, read_only=True) as mounted:
        if not mounted:
            if os.geteuid() == 0:
                pytest.skip("root ignores folder permissions and cannot mount a tmpfs here")
            disk.chmod(0o555)
        try:
            with pytest.raises(WriteError) as info:
                atomic_write_table(pd.DataFrame({"a": [1]}), disk / "ranked.csv", "the list")
        finally:
            if not mounted:
                disk.chmod(0o755)
        message = str(info.value)
        reason = "the file system is read-only" if mounted else "permission denied"
        assert message.startswith(f"cannot write the list {disk / 'ranked.csv'}: {reason};")
        assert "\n" not in message
        assert list(disk.iterdir()) == []


def test_staged_files_are_owner_only_until_they_take_the_target_s_mode(
    tmp_path: Path,
) -> None:
    target = tmp_path / "ranked.csv"
    frame = pd.DataFrame({"email": ["a@example.com"]})
    with stage_table(frame, target) as staged:
        assert stat.S_IMODE(staged.tmp.stat().st_mode) == 0o600
        assert staged.tmp.name.startswith(".ranked.csv.") and staged.tmp.suffix == ".tmp"
        staged.commit()
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    target.chmod(0o640)
    atomic_write_table(frame, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode
    with stage_table(frame, target) as staged:
        pass  # never committed: discarded, the target untouched
    assert not staged.tmp.exists() and [p.name for p in tmp_path.iterdir()] == ["ranked.csv"]


def test_stale_temp_files_of_the_same_target_are_swept(tmp_path: Path) -> None:
    """A writer killed with kill -9 leaves its temp file; the next write of that file
    removes it once it is an hour old. Other names and fresh temp files are left."""
    hours_ago = time.time() - 2 * 3600
    names = {
        "stale": ".ranked.csv.0123456789ab.tmp",
        "fresh": ".ranked.csv.ba9876543210.tmp",  # a writer running right now
        "other": ".other.csv.0123456789ab.tmp",
        "foreign": ".ranked.csv.backup.tmp",  # not leadml's pattern
    }
    for key, name in names.items():
        (tmp_path / name).write_text("partial", encoding="utf-8")
        if key != "fresh":
            os.utime(tmp_path / name, (hours_ago, hours_ago))
    atomic_write_table(pd.DataFrame({"a": [1]}), tmp_path / "ranked.csv")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*(names[k] for k in ("fresh", "other", "foreign")), "ranked.csv"])


def test_unclosed_quote_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = _write(tmp_path / "leads.csv", 'lead_id,company\nL1,"Acme\nL2,Beta\n')
    with pytest.raises(TableReadError) as info:
        read_raw(path)
    assert info.value.code == "bad_delimiter"


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(b"lead_id,company\n" + b"L1,Acme\n" * 1000)
    path = tmp_path / "leads.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TableReadError) as info:
        read_raw(path)
    assert info.value.code == "bad_encoding"
