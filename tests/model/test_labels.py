from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import LabelConfig
from leadml.errors import InputError
from leadml.model.labels import cutoffs, data_end, make_labels

CREATED = pd.Timestamp("2024-01-01", tz="UTC")
CUTOFF = CREATED + pd.Timedelta(days=14)
WINDOW = 90
END = pd.Timestamp("2025-01-01", tz="UTC")


def _leads(created: list[pd.Timestamp], converted: list[pd.Timestamp | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LEAD_ID: [f"L{i}" for i in range(len(created))],
            schema.CREATED_AT: pd.to_datetime(created, utc=True),
            schema.LEAD_SOURCE: "direct",
            schema.CONVERTED_AT: pd.to_datetime(converted, utc=True),
        }
    )


def _one(converted: pd.Timestamp | None, end: pd.Timestamp = END) -> tuple[int, int, int, int]:
    """(excluded, censored, eligible, positive) for one lead created at CREATED."""
    leads = _leads([CREATED], [converted])
    labels = make_labels(leads, cutoffs(leads, LabelConfig()), window_days=WINDOW, data_end=end)
    return (
        labels.n_converted_before_cutoff,
        labels.n_censored,
        labels.n_eligible,
        labels.n_positive,
    )


def test_cutoff_is_created_plus_observation_days() -> None:
    leads = _leads([CREATED, CREATED + pd.Timedelta(hours=5)], [None, None])
    cut = cutoffs(leads, LabelConfig(observation_days=3))
    assert cut.index.tolist() == ["L0", "L1"]
    assert cut.tolist() == [CREATED + pd.Timedelta(days=3), CREATED + pd.Timedelta(days=3, hours=5)]
    assert str(cut.dt.tz) == "UTC"


@pytest.mark.parametrize(
    "snapshot", [datetime(2024, 2, 1), pd.Timestamp("2024-02-01", tz="UTC").to_pydatetime()]
)
def test_snapshot_cutoff_drops_leads_created_after_it(snapshot: datetime) -> None:
    leads = _leads([CREATED, pd.Timestamp("2024-03-01")], [None, None])
    cut = cutoffs(leads, LabelConfig(snapshot=snapshot))
    assert cut.index.tolist() == ["L0"]
    assert cut.iloc[0] == pd.Timestamp("2024-02-01", tz="UTC")


@pytest.mark.parametrize(
    ("converted", "expected"),
    [
        (CUTOFF - pd.Timedelta(days=1), (1, 0, 0, 0)),  # converted before the cutoff
        (CUTOFF, (1, 0, 0, 0)),  # exactly at the cutoff counts as before: excluded
        (CUTOFF + pd.Timedelta(microseconds=1), (0, 0, 1, 1)),
        (CUTOFF + pd.Timedelta(days=WINDOW), (0, 0, 1, 1)),  # last moment of the window
        (CUTOFF + pd.Timedelta(days=WINDOW, microseconds=1), (0, 0, 1, 0)),
        (None, (0, 0, 1, 0)),
    ],
)
def test_window_edges(converted: pd.Timestamp | None, expected: tuple[int, ...]) -> None:
    assert _one(converted) == expected


def test_open_window_without_conversion_is_censored_not_negative() -> None:
    end = CUTOFF + pd.Timedelta(days=30)
    assert _one(None, end) == (0, 1, 0, 0)
    # An early conversion inside a still-open window is censored too: keeping only the
    # early converters of recent leads would bias the newest window towards positives.
    assert _one(CUTOFF + pd.Timedelta(days=10), end) == (0, 1, 0, 0)
    # A conversion after the end of the data has not been seen yet: censored.
    assert _one(CUTOFF + pd.Timedelta(days=40), end) == (0, 1, 0, 0)


def test_window_closing_exactly_at_data_end_is_not_censored() -> None:
    assert _one(None, CUTOFF + pd.Timedelta(days=WINDOW)) == (0, 0, 1, 0)


def test_counts_add_up_and_frame_holds_eligible_leads_only() -> None:
    day = pd.Timedelta(days=1)
    created = [CREATED] * 4 + [END - 30 * day]
    converted = [CREATED + day, CUTOFF + 5 * day, CUTOFF + 200 * day, None, None]
    leads = _leads(created, converted)
    labels = make_labels(leads, cutoffs(leads, LabelConfig()), window_days=WINDOW, data_end=END)
    assert labels.n_total == 5
    assert labels.n_converted_before_cutoff == 1
    assert labels.n_censored == 1
    assert labels.n_eligible == 3
    assert labels.n_positive == 1
    assert labels.frame.index.tolist() == ["L1", "L2", "L3"]
    assert labels.frame["label"].tolist() == [1, 0, 0]
    assert labels.frame["label"].dtype == np.int64
    assert (labels.frame["cutoff"] == CUTOFF).all()


def test_labels_for_a_subset_of_cutoffs() -> None:
    leads = _leads([CREATED] * 3, [None, CUTOFF + pd.Timedelta(days=1), None])
    cut = cutoffs(leads, LabelConfig()).iloc[[2, 1]]
    labels = make_labels(leads, cut, window_days=WINDOW, data_end=END)
    assert labels.frame.index.tolist() == ["L2", "L1"]
    assert labels.frame["label"].tolist() == [0, 1]


def test_unknown_lead_in_cutoff_is_an_error() -> None:
    leads = _leads([CREATED], [None])
    cut = pd.Series([CUTOFF], index=pd.Index(["nobody"], name=schema.LEAD_ID))
    with pytest.raises(InputError):
        make_labels(leads, cut, window_days=WINDOW, data_end=END)


def test_training_needs_converted_at() -> None:
    leads = _leads([CREATED], [None]).drop(columns=schema.CONVERTED_AT)
    with pytest.raises(InputError, match="conversion"):
        make_labels(leads, cutoffs(leads, LabelConfig()), window_days=WINDOW, data_end=END)


def test_data_end_is_the_latest_timestamp_anywhere() -> None:
    leads = _leads(
        [CREATED, CREATED + pd.Timedelta(days=2)], [CREATED + pd.Timedelta(days=5), None]
    )
    events = pd.DataFrame(
        {
            schema.LEAD_ID: ["L0"],
            schema.OCCURRED_AT: pd.to_datetime([CREATED + pd.Timedelta(days=9)], utc=True),
            schema.EVENT_TYPE: ["page_view"],
        }
    )
    assert data_end(leads, events) == CREATED + pd.Timedelta(days=9)
    assert data_end(leads, events.iloc[:0]) == CREATED + pd.Timedelta(days=5)


def test_inputs_are_not_mutated() -> None:
    leads = _leads([CREATED, CREATED], [CUTOFF + pd.Timedelta(days=1), None])
    before = leads.copy()
    cut = cutoffs(leads, LabelConfig())
    cut_before = cut.copy()
    make_labels(leads, cut, window_days=WINDOW, data_end=END)
    pd.testing.assert_frame_equal(leads, before)
    pd.testing.assert_series_equal(cut, cut_before)
