from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.errors import InputError
from leadml.features import columns
from leadml.features.columns import NAT, Text, array_micros, frame_micros, numbers

MIXED = ["b", None, "a", np.nan, "b", 7, pd.NA, "a"]


@pytest.mark.parametrize("few", [True, False], ids=["dict path", "arrow path"])
def test_text_keeps_values_and_missing(monkeypatch: pytest.MonkeyPatch, few: bool) -> None:
    if not few:
        monkeypatch.setattr(columns, "_FEW", 0)
    text = Text.of(np.array(MIXED, dtype=object), len(MIXED))
    assert text.objects().tolist() == ["b", None, "a", None, "b", "7", None, "a"]
    upper = text.map(lambda v: None if v is None else v.upper())
    assert upper.objects().tolist() == ["B", None, "A", None, "B", "7", None, "A"]
    lengths = text.numbers(lambda v: np.nan if v is None else float(v == "a"))
    np.testing.assert_array_equal(lengths, [0, np.nan, 1, np.nan, 0, 0, np.nan, 1])
    strings = text.strings()
    assert strings.dtype == "str"
    assert [None if pd.isna(v) else v for v in strings] == text.objects().tolist()


def test_text_from_pandas_matches_text_from_objects() -> None:
    series = pd.Series(["x", None, "y", "x"], dtype="str")
    from_pandas = Text.of(series, 4).objects().tolist()
    assert (
        from_pandas == Text.of(np.array(["x", None, "y", "x"], dtype=object), 4).objects().tolist()
    )
    assert Text.of(pd.Series([1.5, np.nan]), 2).objects().tolist() == ["1.5", None]
    assert Text.of(None, 3).objects().tolist() == [None, None, None]
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        Text.of(["a", "b"], 3)


def test_text_of_one_row_and_many_rows_give_the_same_features() -> None:
    many = Text.of(np.array(["a", None, "c"], dtype=object), 3)
    for i, value in enumerate(["a", None, "c"]):
        one = Text.of(np.array([value], dtype=object), 1)
        assert one.objects().tolist() == [many.objects()[i]]
        assert (
            one.numbers(lambda v: 0.0 if v is None else 1.0)[0]
            == many.numbers(lambda v: 0.0 if v is None else 1.0)[i]
        )


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_micros_of_every_unit(unit: str) -> None:
    stamps = np.array(["2024-01-01T00:00:01", "NaT", "1969-12-31T23:59:59"], f"datetime64[{unit}]")
    got = array_micros(stamps, "t")
    assert got.tolist() == [1_704_067_201_000_000, NAT, -1_000_000]
    tz = pd.Series(stamps).dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    assert frame_micros(tz).tolist() == got.tolist()
    assert array_micros(tz, "t").tolist() == got.tolist()


def test_nanoseconds_are_floored_to_microseconds() -> None:
    stamps = np.array([1_999, -1, -1_000, -1_001], dtype="datetime64[ns]")
    assert array_micros(stamps, "t").tolist() == [1, -1, -1, -2]


def test_bad_timestamps_name_the_field() -> None:
    with pytest.raises(InputError, match="not a timestamp") as caught:
        array_micros(np.array(["tomorrow"], dtype=object), "created_at")
    assert caught.value.column == "created_at"
    with pytest.raises(ValueError, match="tz-aware"):
        frame_micros(pd.Series(pd.to_datetime(["2024-01-01"]), name="created_at"))


def test_numbers_coerce_and_keep_missing() -> None:
    assert np.isnan(numbers(None, 2)).all()
    got = numbers(np.array([1, None, "3", "x"], dtype=object), 4)
    np.testing.assert_array_equal(got, [1.0, np.nan, 3.0, np.nan])
    assert numbers(np.array([2], dtype=np.int32), 1).dtype == np.float64
    with pytest.raises(ValueError, match="values for"):
        numbers(np.zeros(2), 3)
