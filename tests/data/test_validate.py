"""Tests for leadml.data.validate and load_dataset (leadml.data.load): one test per problem
code, on tiny files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.data.load import load_dataset
from leadml.data.validate import (
    ERROR_CODES,
    ROW_CAP,
    WARNING_CODES,
    DataValidationError,
    Problem,
    ValidationReport,
    validate_folder,
)

NOW = pd.Timestamp("2024-06-01T00:00:00Z")

LEAD_COLUMNS = (
    "lead_id,created_at,lead_source,campaign,company,industry,employees,annual_revenue,country,"
    "job_title,seniority,contact_name,email,phone,acquisition_cost,converted_at"
)
LEADS_CSV = "\n".join(
    [
        LEAD_COLUMNS,
        "L1,2024-01-05T10:00:00Z,paid_search,spring,Acme,software,120,1000000,US,CTO,c_level,"
        "Ann Lee,ann@acme.com,+1 555 0100,12.5,2024-02-01T00:00:00Z",
        "L2,2024-01-06 09:30:00,referral,,Beta,healthcare,15,,DE,Analyst,entry,Bo Yu,"
        "bo@beta.de,,0,",
        "L3,2024-01-07T08:00:00+02:00,email,spring,Gamma,retail,,,GB,,manager,,,,,",
        "",
    ]
)
EVENTS_CSV = """\
lead_id,occurred_at,event_type
L1,2024-01-05T11:00:00Z,page_view
L1,2024-01-10T11:00:00Z,demo_request
L2,2024-01-07T00:00:00Z,email_open
L3,2024-01-08T00:00:00Z,webinar_registration
"""


def _set(csv: str, line: int, column: str, value: str) -> str:
    """Return `csv` with one cell replaced (line 1 is the header)."""
    lines = csv.splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _folder(
    tmp_path: Path, leads: str | bytes = LEADS_CSV, events: str | bytes = EVENTS_CSV
) -> Path:
    for name, content in (("leads.csv", leads), ("events.csv", events)):
        data = content.encode("utf-8") if isinstance(content, str) else content
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _only(report: ValidationReport, code: str) -> Problem:
    found = [p for p in report.problems if p.code == code]
    assert len(found) == 1, report.problems
    return found[0]


def _codes(report: ValidationReport) -> set[str]:
    return {p.code for p in report.problems}


def test_clean_dataset_passes_and_loads_clean_frames(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    report = validate_folder(folder, now=NOW)
    assert report.ok and report.problems == []

    data = load_dataset(folder, now=NOW)
    leads, events = data.leads, data.events
    assert leads["lead_id"].tolist() == ["L1", "L2", "L3"]  # row order kept
    assert str(leads["created_at"].dtype) == "datetime64[us, UTC]"
    assert leads["created_at"].tolist() == [
        pd.Timestamp("2024-01-05T10:00:00Z"),
        pd.Timestamp("2024-01-06T09:30:00Z"),  # naive read as UTC
        pd.Timestamp("2024-01-07T06:00:00Z"),  # +02:00 converted to UTC
    ]
    assert pd.isna(leads["converted_at"].iloc[1])
    for column in ("employees", "annual_revenue", "acquisition_cost"):
        assert leads[column].dtype == np.float64
    assert leads["employees"].iloc[0] == 120.0
    assert pd.isna(leads["campaign"].iloc[1])  # missing text is NaN, never 'nan'
    text = leads.select_dtypes(include="str")
    assert not text.isin(["nan", "None", ""]).any().any()
    assert str(events["occurred_at"].dtype) == "datetime64[us, UTC]"
    assert events["event_type"].tolist() == [
        "page_view",
        "demo_request",
        "email_open",
        "webinar_registration",
    ]


@pytest.mark.parametrize(
    ("table", "line", "column", "value", "code"),
    [
        ("leads", 3, "lead_id", "", "missing_value"),
        ("leads", 3, "created_at", "yesterday", "unparseable_timestamp"),
        ("leads", 4, "created_at", "2030-01-01", "future_timestamp"),
        ("leads", 2, "employees", "-5", "negative_value"),
        ("leads", 3, "acquisition_cost", "-0.5", "negative_value"),
        ("leads", 3, "annual_revenue", "1.2k", "not_a_number"),
        ("leads", 2, "converted_at", "2023-12-01", "converted_before_created"),
        ("leads", 2, "converted_at", "soon", "unparseable_timestamp"),
        ("leads", 4, "lead_id", "L1", "duplicate_lead_id"),
        ("events", 3, "lead_id", "L9", "unknown_lead"),
        ("events", 4, "event_type", "", "missing_value"),
        ("events", 2, "occurred_at", "31/31/2024", "unparseable_timestamp"),
        ("events", 5, "occurred_at", "2025-01-01T00:00:00Z", "future_timestamp"),
    ],
)
def test_each_error_is_reported_at_its_cell(
    tmp_path: Path, table: str, line: int, column: str, value: str, code: str
) -> None:
    leads = _set(LEADS_CSV, line, column, value) if table == "leads" else LEADS_CSV
    events = _set(EVENTS_CSV, line, column, value) if table == "events" else EVENTS_CSV
    report = validate_folder(_folder(tmp_path, leads, events), now=NOW)
    problem = _only(report, code)
    assert problem.severity == "error"
    assert (problem.file, problem.row, problem.column) == (f"{table}.csv", line, column)
    assert problem.value == (value or None)
    assert problem.expected
    assert not report.ok


def test_duplicate_lead_id_names_the_first_row(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 3, "lead_id", "L1"), 4, "lead_id", "L1")
    report = validate_folder(_folder(tmp_path, leads), now=NOW)
    dups = [p for p in report.problems if p.code == "duplicate_lead_id"]
    assert [p.row for p in dups] == [3, 4]  # every duplicate row, not just the first
    assert all("row 2" in p.expected for p in dups)


def test_a_column_named_twice_in_the_header_is_an_error_naming_both_positions(
    tmp_path: Path,
) -> None:
    lines = LEADS_CSV.splitlines()
    lines = [lines[0] + ",lead_source"] + [line + ",webinar" for line in lines[1:] if line]
    report = validate_folder(_folder(tmp_path, "\n".join(lines) + "\n"), now=NOW)
    problem = _only(report, "duplicate_column")
    assert (problem.file, problem.row, problem.severity) == ("leads.csv", 1, "error")
    assert "column 3 and column 17" in problem.expected, problem.expected
    assert problem.value == "lead_source"
    assert not report.ok


def test_missing_required_column(tmp_path: Path) -> None:
    leads = pd.read_csv(pd.io.common.StringIO(LEADS_CSV), dtype=str).drop(columns="created_at")
    leads.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    report = validate_folder(tmp_path, now=NOW)
    problem = _only(report, "missing_column")
    assert (problem.file, problem.row, problem.column) == ("leads.csv", None, "created_at")


def test_missing_column_suggests_a_look_alike_header(tmp_path: Path) -> None:
    events = EVENTS_CSV.replace("event_type", "Event Type", 1)
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    problem = _only(report, "missing_column")
    assert problem.column == "event_type" and "'Event Type'" in problem.expected


def test_missing_optional_column_is_a_warning_and_an_empty_column(tmp_path: Path) -> None:
    leads = pd.read_csv(pd.io.common.StringIO(LEADS_CSV), dtype=str)
    leads.drop(columns=["industry", "converted_at"]).to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    report = validate_folder(tmp_path, now=NOW)
    missing = [p for p in report.problems if p.code == "missing_optional_column"]
    assert [(p.column, p.severity, p.row) for p in missing] == [
        ("industry", "warning", None),
        ("converted_at", "warning", None),
    ]
    data = load_dataset(tmp_path, now=NOW)
    assert data.leads["industry"].isna().all()
    assert str(data.leads["converted_at"].dtype) == "datetime64[us, UTC]"


def test_missing_file(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(LEADS_CSV, encoding="utf-8")
    report = validate_folder(tmp_path, now=NOW)
    problem = _only(report, "missing_file")
    assert (problem.file, problem.row, problem.severity) == ("events", None, "error")
    assert "events.csv" in problem.expected


def test_folder_that_does_not_exist(tmp_path: Path) -> None:
    report = validate_folder(tmp_path / "nope", now=NOW)
    assert _only(report, "missing_file").file == str(tmp_path / "nope")


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    report = validate_folder(_folder(tmp_path, events=""), now=NOW)
    problem = _only(report, "empty_file")
    assert (problem.file, problem.row, problem.severity) == ("events.csv", None, "error")


def test_leads_header_without_rows_is_empty(tmp_path: Path) -> None:
    leads = LEADS_CSV.splitlines()[0] + "\n"
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    assert _only(report, "empty_file").file == "leads.csv"
    assert "unknown_lead" not in _codes(report)  # no cascade of errors from the events


def test_events_header_without_rows_is_fine(tmp_path: Path) -> None:
    report = validate_folder(_folder(tmp_path, events="lead_id,occurred_at,event_type\n"), now=NOW)
    assert report.ok
    assert len(load_dataset(tmp_path, now=NOW).events) == 0


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolons"), ("\t", "tabs"), ("|", "pipes")])
def test_wrong_delimiter(tmp_path: Path, sep: str, name: str) -> None:
    report = validate_folder(_folder(tmp_path, leads=LEADS_CSV.replace(",", sep)), now=NOW)
    problem = _only(report, "bad_delimiter")
    assert (problem.file, problem.row) == ("leads.csv", 1)
    assert name in problem.expected and "','" in problem.expected
    assert "missing_column" not in _codes(report)  # the rest is still read and checked


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    events = EVENTS_CSV.replace("L2,2024-01-07T00:00:00Z,email_open", "L2,2024-01-07,email,open")
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    problem = _only(report, "bad_delimiter")
    assert (problem.file, problem.row) == ("events.csv", 4)
    assert "3 fields" in problem.expected


def test_wrong_encoding_names_line_and_byte(tmp_path: Path) -> None:
    leads = _set(LEADS_CSV, 3, "company", "Café").encode("latin-1")
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    problem = _only(report, "bad_encoding")
    assert (problem.file, problem.row) == ("leads.csv", 3)
    assert "0xE9" in problem.expected and "UTF-8" in problem.expected
    assert "é" in problem.expected  # what the byte means in latin-1


def test_lead_source_is_normalised_and_counted(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 2, "lead_source", "Google Ads"), 3, "lead_source", " Referral ")
    leads = _set(leads, 4, "lead_source", "Google Ads")
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    assert report.ok
    problem = _only(report, "normalised_category")
    assert (problem.severity, problem.row, problem.column) == ("warning", 2, "lead_source")
    assert (problem.value, problem.count) == ("Google Ads", 3)
    assert any("'Google Ads' -> paid_search: 2" in note for note in report.notes)
    assert any("' Referral ' -> referral: 1" in note for note in report.notes)
    sources = load_dataset(tmp_path, now=NOW).leads["lead_source"].tolist()
    assert sources == ["paid_search", "referral", "paid_search"]


def test_missing_lead_source_becomes_unknown(tmp_path: Path) -> None:
    report = validate_folder(_folder(tmp_path, _set(LEADS_CSV, 3, "lead_source", "")), now=NOW)
    problem = _only(report, "normalised_category")
    assert (problem.row, problem.column, problem.value) == (3, "lead_source", None)
    assert load_dataset(tmp_path, now=NOW).leads["lead_source"].iloc[1] == "unknown"


def test_firmographic_categories_are_normalised(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 2, "industry", "SaaS"), 3, "seniority", "Vice President")
    leads = _set(leads, 4, "country", " gb")
    data = load_dataset(_folder(tmp_path, leads=leads), now=NOW)
    assert data.leads["industry"].iloc[0] == "software"
    assert data.leads["seniority"].iloc[1] == "vp"
    assert data.leads["country"].iloc[2] == "GB"
    assert data.report.count("normalised_category") == 3


def test_unknown_category_is_kept_and_counted(tmp_path: Path) -> None:
    leads = _set(
        _set(LEADS_CSV, 3, "lead_source", "Carrier Pigeon"), 4, "lead_source", "carrier pigeon"
    )
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    problem = _only(report, "unknown_category")
    assert (problem.severity, problem.row, problem.column) == ("warning", 3, "lead_source")
    assert (problem.value, problem.count) == ("carrier_pigeon", 2)
    assert load_dataset(tmp_path, now=NOW).leads["lead_source"].iloc[2] == "carrier_pigeon"


def test_unknown_event_type_is_kept_and_counted(tmp_path: Path) -> None:
    events = _set(_set(EVENTS_CSV, 3, "event_type", "TikTok Like"), 5, "event_type", "tiktok_like")
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    problem = _only(report, "unknown_event_type")
    assert (problem.file, problem.row, problem.column) == ("events.csv", 3, "event_type")
    assert (problem.value, problem.count) == ("tiktok_like", 2)
    assert len(load_dataset(tmp_path, now=NOW).events) == 4  # never dropped


def test_post_conversion_event_is_kept_and_reported(tmp_path: Path) -> None:
    events = _set(EVENTS_CSV, 3, "event_type", "Invoice Paid")
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    problem = _only(report, "post_conversion_event")
    assert (problem.row, problem.value, problem.severity) == (3, "invoice_paid", "warning")
    assert "never used as a feature" in problem.expected
    assert load_dataset(tmp_path, now=NOW).events["event_type"].iloc[1] == "invoice_paid"


def test_duplicate_contact(tmp_path: Path) -> None:
    leads = _set(LEADS_CSV, 4, "email", " Ann@Acme.com")
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    problem = _only(report, "duplicate_contact")
    assert (problem.row, problem.column, problem.value) == (4, "email", "ann@acme.com")
    assert "'L1'" in problem.expected and "row 2" in problem.expected
    assert report.ok


def test_event_before_created(tmp_path: Path) -> None:
    events = _set(EVENTS_CSV, 4, "occurred_at", "2024-01-01T00:00:00Z")
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    problem = _only(report, "event_before_created")
    assert (problem.file, problem.row, problem.column) == ("events.csv", 4, "occurred_at")
    assert "leads.csv row 3" in problem.expected
    assert report.ok


def test_many_problems_are_reported_together(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 2, "employees", "-5"), 3, "created_at", "never")
    events = _set(EVENTS_CSV, 3, "lead_id", "L9")
    report = validate_folder(_folder(tmp_path, leads, events), now=NOW)
    assert {"negative_value", "unparseable_timestamp", "unknown_lead"} <= _codes(report)
    assert len(report.errors) == 3


def test_many_rows_with_one_problem_are_capped_but_counted(tmp_path: Path) -> None:
    n = 50
    rows = [f"L{i},2024-01-01,email,{-i - 1}" for i in range(n)]
    leads = "lead_id,created_at,lead_source,employees\n" + "\n".join(rows) + "\n"
    report = validate_folder(_folder(tmp_path, leads, "lead_id,occurred_at,event_type\n"), now=NOW)
    lines = [p for p in report.problems if p.code == "negative_value"]
    assert [p.row for p in lines[:ROW_CAP]] == list(range(2, 2 + ROW_CAP))
    assert len(lines) == ROW_CAP + 1
    assert (lines[-1].row, lines[-1].count) == (None, n - ROW_CAP)
    assert report.count("negative_value") == n


def test_blank_lines_do_not_shift_row_numbers(tmp_path: Path) -> None:
    leads = LEADS_CSV.replace("\nL2,", "\n\nL2,", 1)  # L2 now on line 4
    leads = leads.replace("L3,2024-01-07T08:00:00+02:00", "L3,garbage")  # on line 5
    report = validate_folder(_folder(tmp_path, leads=leads), now=NOW)
    assert _only(report, "unparseable_timestamp").row == 5


def test_common_timestamp_formats_are_read(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 2, "created_at", "01/05/2024 10:00"), 3, "created_at", "1/6/2024")
    leads = _set(leads, 4, "created_at", "2024-01-07 06:00:00 UTC")
    data = load_dataset(_folder(tmp_path, leads=leads), now=NOW)
    assert data.leads["created_at"].tolist() == [
        pd.Timestamp("2024-01-05T10:00:00Z"),
        pd.Timestamp("2024-01-06T00:00:00Z"),
        pd.Timestamp("2024-01-07T06:00:00Z"),
    ]


def test_day_first_dates_are_detected_per_column(tmp_path: Path) -> None:
    leads = _set(_set(LEADS_CSV, 2, "created_at", "05/01/2024"), 3, "created_at", "25/01/2024")
    data = load_dataset(_folder(tmp_path, leads=leads), now=NOW)
    assert data.leads["created_at"].iloc[:2].tolist() == [
        pd.Timestamp("2024-01-05T00:00:00Z"),
        pd.Timestamp("2024-01-25T00:00:00Z"),
    ]


def _parquet_folder(tmp_path: Path) -> Path:
    leads = pd.DataFrame(
        {
            "lead_id": [101, 102, 103],  # integer ids are read as text
            "created_at": pd.to_datetime(
                ["2024-01-05 10:00", "2024-01-06", "2024-01-07"], format="ISO8601"
            ),
            "lead_source": ["Google Ads", "referral", None],
            "employees": [10, -3, 5],
            "converted_at": pd.to_datetime(
                [None, "2024-02-01T00:00:00+01:00", "2024-01-01T00:00:00+00:00"], utc=True
            ),
        }
    )
    events = pd.DataFrame(
        {
            "lead_id": ["101", "999", "103"],
            "occurred_at": ["2024-01-05T11:00:00Z", "2024-01-06T00:00:00Z", "2099-01-01"],
            "event_type": ["page_view", "Demo Request", "page_view"],
        }
    )
    leads.to_parquet(tmp_path / "leads.parquet", index=False)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    return tmp_path


def test_parquet_problems_use_one_based_rows(tmp_path: Path) -> None:
    report = validate_folder(_parquet_folder(tmp_path), now=NOW)
    found = {(p.code, p.file, p.row, p.column, p.value) for p in report.errors}
    assert found == {
        ("negative_value", "leads.parquet", 2, "employees", -3),
        (
            "converted_before_created",
            "leads.parquet",
            3,
            "converted_at",
            "2024-01-01T00:00:00+00:00",
        ),
        ("unknown_lead", "events.parquet", 2, "lead_id", "999"),
        ("future_timestamp", "events.parquet", 3, "occurred_at", "2099-01-01"),
    }


def test_parquet_clean_frames_have_contract_dtypes(tmp_path: Path) -> None:
    folder = _parquet_folder(tmp_path)
    frame = pd.read_parquet(folder / "leads.parquet")
    frame["employees"] = frame["employees"].abs()
    frame.loc[2, "converted_at"] = pd.NaT
    frame.to_parquet(folder / "leads.parquet", index=False)
    events = pd.read_parquet(folder / "events.parquet").iloc[[0]]
    events.to_parquet(folder / "events.parquet", index=False)
    data = load_dataset(folder, now=NOW)
    assert data.leads["lead_id"].tolist() == ["101", "102", "103"]
    assert str(data.leads["created_at"].dtype) == "datetime64[us, UTC]"
    assert data.leads["converted_at"].iloc[1] == pd.Timestamp("2024-01-31T23:00:00Z")
    assert data.leads["lead_source"].tolist() == ["paid_search", "referral", "unknown"]
    assert data.leads["employees"].dtype == np.float64
    assert isinstance(data.events["lead_id"].dtype, pd.StringDtype)


def test_csv_and_parquet_load_the_same(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    csv_data = load_dataset(_folder(tmp_path / "csv"), now=NOW)
    pq = tmp_path / "pq"
    pq.mkdir()
    csv_data.leads.to_parquet(pq / "leads.parquet", index=False)
    csv_data.events.to_parquet(pq / "events.parquet", index=False)
    pq_data = load_dataset(pq, now=NOW)
    pd.testing.assert_frame_equal(csv_data.leads, pq_data.leads)
    pd.testing.assert_frame_equal(csv_data.events, pq_data.events)


def test_load_dataset_raises_and_writes_nothing(tmp_path: Path) -> None:
    folder = _folder(tmp_path, leads=_set(LEADS_CSV, 3, "created_at", "yesterday"))
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder, now=NOW)
    after = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())
    assert after == before
    message = str(info.value)
    assert "leads.csv row 3 column 'created_at'" in message and "'yesterday'" in message
    assert f"leadml validate {folder}" in message
    assert info.value.report.count("unparseable_timestamp") == 1


def test_now_may_be_naive_or_aware(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert validate_folder(folder, now=pd.Timestamp("2024-06-01")).ok
    late = validate_folder(folder, now=pd.Timestamp("2024-01-06T12:00:00+02:00"))
    # 10:00Z on Jan 6: L3's created_at, L1's converted_at and three events are later.
    assert late.count("future_timestamp") == 5


def test_codes_are_documented() -> None:
    assert set(ERROR_CODES).isdisjoint(WARNING_CODES)
    assert len(ERROR_CODES) == 14 and len(WARNING_CODES) == 7


def test_unknown_lead_is_not_also_compared_with_created_at(tmp_path: Path) -> None:
    events = _set(_set(EVENTS_CSV, 3, "lead_id", "L9"), 3, "occurred_at", "2020-01-01")
    report = validate_folder(_folder(tmp_path, events=events), now=NOW)
    assert _only(report, "unknown_lead").row == 3
    assert "event_before_created" not in _codes(report)


def test_extra_columns_are_carried_along(tmp_path: Path) -> None:
    leads = LEADS_CSV.replace(LEAD_COLUMNS, "owner," + LEAD_COLUMNS)
    leads = "\n".join(
        line if i == 0 or not line else f"rep{i}," + line
        for i, line in enumerate(leads.split("\n"))
    )
    data = load_dataset(_folder(tmp_path, leads=leads), now=NOW)
    assert list(data.leads.columns)[-1] == "owner"
    assert data.leads["owner"].tolist() == ["rep1", "rep2", "rep3"]
    assert "leads.csv: carried along extra columns: owner" in data.report.notes
