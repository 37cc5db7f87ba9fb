"""Calendar features are kept when the validation window says they help, and only then."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from leadml.config import Config
from leadml.data.mapping.config import resolve_types
from leadml.data.synth.flat_suite import FlatCase, flat_case
from leadml.features.flat import flat_features
from leadml.model.calendar import CalendarChoice, choose_calendar
from leadml.model.labels import flat_labels
from leadml.model.split import flat_split
from tests.conftest import fast_config

SEASONAL = FlatCase("seasonal", rows=3_000, seasonal=2.0, hidden=0.3, windowed=True, seed=11)


def _choose(
    config: Config, calendar: str, *, created: bool = True, windowed: bool = True
) -> CalendarChoice:
    frame, dataset = flat_case(replace(SEASONAL, windowed=windowed))
    update: dict[str, object] = {"calendar": calendar, "split": "random"}
    if not created:
        update["created_at"] = None
    dataset = dataset.model_copy(update=update)
    found = flat_labels(frame, dataset, window_days=90)
    rows = frame.loc[found.y.index]
    dataset = resolve_types(rows, dataset)
    split, _ = flat_split(found.y, None, "random", config.train)
    raw = flat_features(rows, dataset)
    return choose_calendar(frame, dataset, raw, found.y, split, config)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return fast_config(Path(tmp_path_factory.mktemp("calendar")))


def test_auto_keeps_them_when_conversion_follows_the_calendar(config: Config) -> None:
    choice = _choose(config, "auto")
    assert choice.dataset.calendar_columns == ("created_weekday", "created_month", "created_day")
    assert set(choice.dataset.calendar_columns) <= set(choice.raw.columns)
    found = re.search(r"log loss ([0-9.]+) with them, ([0-9.]+) without", choice.note)
    assert found is not None
    within, without = float(found[1]), float(found[2])
    assert within < without


def test_off_and_on_force_the_choice(config: Config) -> None:
    off = _choose(config, "off")
    assert off.dataset.calendar_columns == () and "created_month" not in off.raw.columns
    assert off.note == "calendar features: not used (off in [dataset])"
    on = _choose(config, "on")
    assert "created_day" in on.dataset.calendar_columns and "created_day" in on.raw.columns
    assert "log loss" not in on.note  # forced: nothing was fitted to decide


def test_no_created_at_means_no_calendar_features(config: Config) -> None:
    choice = _choose(config, "auto", created=False)
    assert choice.dataset.calendar_columns == ()
    assert "no created_at column" in choice.note


def test_a_converted_flag_gets_no_month_or_creation_day(config: Config) -> None:
    """Without converted-at dates older leads had longer to convert: month and day would
    learn that exposure, so only the weekday (and hour) are offered, and the note says why."""
    choice = _choose(config, "on", windowed=False)
    assert choice.dataset.calendar_columns == ("created_weekday",)
    assert "longer to convert" in choice.note
