"""The flat family: one export column per feature, one implementation for files and requests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.config import FeatureConfig
from leadml.data.mapping.config import DEFAULT_MISSING, DatasetConfig, FlatColumn, resolve_types
from leadml.errors import InputError
from leadml.features.flat import (
    CALENDAR,
    calendar_available,
    flat_catalogue,
    flat_columns,
    flat_dates,
    flat_features,
)
from leadml.features.spec import encode, encode_columns, learn_spec
from tests.flat_export import synthetic_export

DATASET = DatasetConfig(
    id_column="Prospect ID",
    label="Converted",
    positive=("1",),
    columns={
        "Lead Source": FlatColumn(role="source", type="categorical"),
        "Page Views": FlatColumn(role="engagement", type="numeric"),
        "Industry": FlatColumn(role="firmographic", type="categorical"),
        "Employees": FlatColumn(role="firmographic", type="numeric"),
        "Notes": FlatColumn(role="ignore"),
        "Email": FlatColumn(role="pii"),
        "Company Name": FlatColumn(role="passthrough"),
    },
)


def _frame(n: int = 200) -> pd.DataFrame:
    frame = synthetic_export(max(n, 30)).head(n).set_index("Prospect ID")
    return frame.astype(object)


def test_only_feature_roles_become_features_named_after_the_column() -> None:
    catalogue = flat_catalogue(DATASET)
    assert [c.name for c in catalogue] == ["Lead Source", "Page Views", "Industry", "Employees"]
    assert [c.field for c in catalogue] == [c.name for c in catalogue]
    assert [c.family for c in catalogue] == [
        "lead_source", "engagement", "firmographics", "firmographics",
    ]  # fmt: skip
    raw = flat_features(_frame(), DATASET)
    assert list(raw.columns) == [c.name for c in catalogue]
    assert "Email" not in raw and "Notes" not in raw and "Company Name" not in raw


@pytest.mark.parametrize("token", DEFAULT_MISSING)
def test_every_missing_token_is_missing(token: str) -> None:
    rows = {"Lead Source": [token, "Google"], "Page Views": [token, "3"]}
    out = flat_columns(rows, DATASET)
    assert out["Lead Source"].tolist() == [None, "Google"]
    assert np.isnan(out["Page Views"][0]) and out["Page Views"][1] == 3.0


def test_types_text_is_stripped_and_absent_columns_are_missing() -> None:
    out = flat_columns({"Lead Source": ["  Google "], "Page Views": [7]}, DATASET)
    assert out["Lead Source"].dtype == object and out["Lead Source"][0] == "Google"
    assert out["Page Views"].dtype == np.float64 and out["Page Views"][0] == 7.0
    assert out["Industry"].tolist() == [None]
    assert np.isnan(out["Employees"][0])


def test_a_value_that_is_not_a_number_names_column_row_and_value() -> None:
    with pytest.raises(InputError, match="Page Views") as info:
        flat_columns({"Page Views": ["1", "2", "lots"]}, DATASET)
    assert info.value.row == 3
    assert info.value.value == "lots"


def test_columns_of_different_length_are_refused() -> None:
    with pytest.raises(InputError, match="length"):
        flat_columns({"Page Views": ["1"], "Industry": ["a", "b"]}, DATASET)


@pytest.mark.parametrize("n", [0, 1, 7, 200])
def test_a_file_and_request_rows_give_identical_features(n: int) -> None:
    frame = _frame(max(n, 1)).head(n)
    from_file = flat_features(frame, DATASET)
    for i, lead_id in enumerate(frame.index):
        row = frame.loc[lead_id]
        request = {name: [None if pd.isna(v) else v] for name, v in row.items()}
        one = flat_columns(request, DATASET)
        for name, values in one.items():
            expected = from_file[name].iloc[i]
            got = values[0]
            if pd.isna(expected):  # the frame holds pandas' missing (NaN), a request None/NaN
                assert pd.isna(got), (name, lead_id)
            else:
                assert got == expected, (name, lead_id)
    assert len(from_file) == n


def test_numbers_sent_as_json_numbers_equal_numbers_read_as_text() -> None:
    as_text = flat_columns({"Page Views": ["3"], "Employees": ["1200"]}, DATASET)
    as_numbers = flat_columns({"Page Views": [3], "Employees": [1200.0]}, DATASET)
    for name in ("Page Views", "Employees"):
        assert as_text[name][0] == as_numbers[name][0]


def test_a_flat_spec_learns_levels_without_monotone_constraints() -> None:
    frame = _frame(300)
    dataset = resolve_types(frame, DATASET)
    raw = flat_features(frame, dataset)
    spec = learn_spec(raw, FeatureConfig(), catalogue=flat_catalogue(dataset))
    assert spec.names == dataset.feature_names
    industry = spec.column("Industry")
    assert industry.kind == "categorical"
    assert set(industry.levels) == {"finance", "retail", "software", "unknown"}
    assert all(c.monotone == 0 for c in spec.columns)
    matrix, warnings = encode_columns(flat_columns({"Industry": ["mining"]}, dataset), spec)
    assert matrix[0, spec.names.index("Industry")] == industry.levels.index("unknown")
    assert warnings and "mining" in warnings[0]
    framed, _ = encode(raw, spec)
    codes, _ = encode_columns({c: raw[c].to_numpy() for c in raw.columns}, spec)
    np.testing.assert_array_equal(
        framed["Industry"].cat.codes.to_numpy(), codes[:, 2].astype(np.int64)
    )


# --- calendar features of created_at ---------------------------------------------------------

CALENDAR_DATASET = DatasetConfig(
    id_column="id",
    converted_at="Won",
    created_at="Created",
    calendar_columns=("created_weekday", "created_month", "created_day"),
    columns={"Visits": FlatColumn(role="engagement", type="numeric")},
)


def test_calendar_features_read_weekday_month_and_creation_day() -> None:
    rows = {"Visits": ["1", "2", "3"], "Created": ["2025-03-03", "2025-03-08T23:30:00", None]}
    out = flat_columns(rows, CALENDAR_DATASET)
    assert list(out) == ["Visits", "created_weekday", "created_month", "created_day"]
    np.testing.assert_array_equal(out["created_weekday"][:2], [0.0, 5.0])  # Monday, Saturday
    np.testing.assert_array_equal(out["created_month"][:2], [3.0, 3.0])
    day = (np.datetime64("2025-03-03") - np.datetime64("1970-01-01")).astype(int)
    np.testing.assert_array_equal(out["created_day"][:2], [day, day + 5])
    assert all(np.isnan(out[name][2]) for name in CALENDAR_DATASET.calendar_columns)


def test_calendar_features_depend_on_the_row_alone() -> None:
    """A file and one API request give the same values: no scoring moment is involved."""
    frame = pd.DataFrame(
        {"Visits": ["4", "5"], "Created": ["2025-01-02T08:30:00", "2026-02-01"]},
        index=pd.Index(["a", "b"], name="id"),
        dtype=object,
    )
    from_file = flat_features(frame, CALENDAR_DATASET)
    one = flat_columns({"Visits": ["4"], "Created": ["2025-01-02T08:30:00"]}, CALENDAR_DATASET)
    for name in CALENDAR_DATASET.calendar_columns:
        assert from_file[name].iloc[0] == one[name][0]


def test_hour_needs_times_and_month_and_day_need_windowed_labels() -> None:
    dates = flat_dates(["2025-01-01", "2025-01-02"], "Created")
    times = flat_dates(["2025-01-01", "2025-01-02T14:00:00"], "Created")
    assert calendar_available(dates, windowed=True) == (
        "created_weekday", "created_month", "created_day",
    )  # fmt: skip
    assert calendar_available(times, windowed=True) == CALENDAR
    assert calendar_available(times, windowed=False) == ("created_weekday", "created_hour")
    assert calendar_available(flat_dates([None, None], "Created"), windowed=True) == ()


def test_a_created_value_that_is_not_a_date_names_column_row_and_value() -> None:
    with pytest.raises(InputError) as caught:
        flat_columns({"Created": ["2025-01-01", "soon"]}, CALENDAR_DATASET)
    text = str(caught.value)
    assert "Created" in text and "row 2" in text and "soon" in text


def test_calendar_features_join_the_catalogue_as_numbers() -> None:
    names = [(c.name, c.kind) for c in flat_catalogue(CALENDAR_DATASET)]
    assert names[-3:] == [(n, "numeric") for n in CALENDAR_DATASET.calendar_columns]
    assert CALENDAR_DATASET.model_columns == ["Visits", *CALENDAR_DATASET.calendar_columns]
