"""Tests for leadml.data.io: finding and reading tables raw."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.data.io import RawTable, TableReadError, find_table, read_raw, read_table


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
