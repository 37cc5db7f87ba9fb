"""Tests for leadml.data.atomic: all-or-nothing writes, owner-only temp files, the sweep of
stale ones, and one-line errors for a full disk or a read-only folder (a real tmpfs where
the machine lets the tests mount one)."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pytest

from leadml.data.atomic import atomic_write_table, atomic_write_text, stage_folder, stage_table
from leadml.data.io import read_raw
from leadml.errors import InputError, WriteError
from tests.machine import did_not_run, small_disk


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
        atomic_write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xls")
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
                did_not_run(
                    "the read-only folder test",
                    "root ignores folder permissions and cannot mount a tmpfs here",
                    missing="tmpfs mount",
                )
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


def test_xlsx_cells_are_typed_and_never_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    stamp = pd.Timestamp("2025-06-30T07:00:00Z")
    frame = pd.DataFrame(
        {
            "rank": [1, 2],
            "company": ["=1+1", "Acme\x01 Ltd"],
            "phone": ["+44 20 7946 0000", None],
            "probability": [0.25, float("nan")],
            "previous_score": pd.array([61, None], dtype="Int64"),
            "scored_at": [stamp, stamp],
        }
    )
    path = atomic_write_table(frame, tmp_path / "ranked.xlsx")
    sheet = load_workbook(path).active
    assert sheet is not None
    rows = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows()]
    assert [v for v, _ in rows[0]] == list(frame.columns)
    first, second = rows[1], rows[2]
    assert first[0] == (1, "n") and first[3] == (0.25, "n") and first[4] == (61, "n")
    assert first[1] == ("=1+1", "s")  # text, not a formula, and no apostrophe
    assert first[2] == ("+44 20 7946 0000", "s")
    assert first[5][0] == stamp.tz_localize(None).to_pydatetime() and first[5][1] == "d"
    assert second[1][0] == "Acme Ltd"  # a control character Excel cannot hold is dropped
    assert second[2][0] is None and second[3][0] is None and second[4][0] is None


def test_xlsx_takes_time_zoned_timestamps_held_as_objects(tmp_path: Path) -> None:
    """A pass-through column of timestamps reaches the writer as objects, not as a
    datetime dtype; Excel has no time zones, so each becomes naive UTC."""
    from openpyxl import load_workbook

    berlin = pd.Timestamp("2025-06-30T09:00:00+02:00")
    frame = pd.DataFrame(
        {"lead_id": ["L1", "L2"], "created_at": pd.Series([berlin, None], dtype=object)}
    )
    path = atomic_write_table(frame, tmp_path / "ranked.xlsx")
    sheet = load_workbook(path).active
    assert sheet is not None
    cells = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert cells == [pd.Timestamp("2025-06-30T07:00:00").to_pydatetime(), None]


@pytest.mark.parametrize("before", ["none", "file", "folder"])
def test_a_staged_folder_replaces_a_file_or_folder_only_on_commit(
    tmp_path: Path, before: str
) -> None:
    target = tmp_path / "ranked.parquet"
    if before == "file":
        pd.DataFrame({"old": [1]}).to_parquet(target)
    elif before == "folder":
        target.mkdir()
        (target / "part-00000.parquet").write_bytes(b"old")
        (target / "part-00001.parquet").write_bytes(b"old")
    with stage_folder(target, "the ranked list") as staged:
        assert stat.S_IMODE(staged.tmp.stat().st_mode) == 0o700
        staged.write_table(pd.DataFrame({"rank": [1, 2]}), "part-00000.parquet")
        assert before != "none" or not target.exists()  # nothing in place before commit
        staged.commit()
    assert sorted(p.name for p in target.iterdir()) == ["part-00000.parquet"]
    assert pd.read_parquet(target / "part-00000.parquet")["rank"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["ranked.parquet"]  # no temp, no old one


def test_a_staged_folder_that_fails_leaves_the_previous_one(tmp_path: Path) -> None:
    target = tmp_path / "ranked"
    target.mkdir()
    (target / "part-00000.parquet").write_bytes(b"old")
    with pytest.raises(RuntimeError), stage_folder(target) as staged:
        staged.write_table(pd.DataFrame({"rank": [1]}), "part-00000.parquet")
        raise RuntimeError("the store refused the batch")
    assert [p.name for p in tmp_path.iterdir()] == ["ranked"]
    assert (target / "part-00000.parquet").read_bytes() == b"old"


def test_stale_staged_folders_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "ranked.parquet"
    stale = tmp_path / ".ranked.parquet.0123456789ab.tmp"
    stale.mkdir()
    (stale / "part-00000.parquet").write_bytes(b"partial list")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    with stage_folder(target) as staged:
        assert not stale.exists()
        staged.commit()
