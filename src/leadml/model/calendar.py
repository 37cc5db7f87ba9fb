"""Whether a flat model reads calendar features of `created_at`: the validation window decides.

Weekday, hour, month and creation day (`features.flat.CALENDAR`; month and day only for
windowed labels) help when conversion moves with weekdays, seasons or a trend, and only
add noise otherwise. With `calendar = "auto"`
two boosters with the same parameters are fitted on the train window, with and without
them, and the calendar features are kept when they lower the validation log loss. The
test window is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from leadml.config import Config
from leadml.data.mapping.config import DatasetConfig
from leadml.features.flat import calendar_available, flat_catalogue, flat_dates, flat_features
from leadml.features.spec import encode, learn_spec
from leadml.model.train import TimeSplit, fit_booster, lgb_params


@dataclass(frozen=True)
class CalendarChoice:
    """The mapping the model trains on, and why calendar features are in it or not."""

    dataset: DatasetConfig
    raw: pd.DataFrame
    note: str


def choose_calendar(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    raw: pd.DataFrame,
    y_all: pd.Series,
    split: TimeSplit,
    config: Config,
) -> CalendarChoice:
    """`dataset` with `calendar_columns` set (or left empty) and the raw features to match.
    `frame`: every row of the export; `raw`: the export's own features of the labelled
    rows (index: their ids)."""
    if dataset.created_at is None or dataset.calendar == "off":
        why = "off in [dataset]" if dataset.created_at else "no created_at column"
        return CalendarChoice(dataset, raw, f"calendar features: not used ({why})")
    created = flat_dates(frame[dataset.created_at].to_numpy(dtype=object), dataset.created_at)
    windowed = dataset.converted_at is not None
    names = calendar_available(created, windowed=windowed)
    if not names:
        return CalendarChoice(dataset, raw, "calendar features: not used (no created_at values)")
    if not windowed:
        names_note = (
            "; created month and day left out: with a converted flag and no converted_at "
            "date, older leads had longer to convert, so they would measure that, not the lead"
        )
    else:
        names_note = ""
    with_calendar = dataset.model_copy(update={"calendar_columns": names})
    raw_calendar = flat_features(frame, with_calendar).loc[raw.index]
    chosen = CalendarChoice(
        with_calendar, raw_calendar, f"calendar features: {', '.join(names)}{names_note}"
    )
    if dataset.calendar == "on":
        return chosen
    without = _valid_log_loss(raw, dataset, y_all, split, config)
    within = _valid_log_loss(raw_calendar, with_calendar, y_all, split, config)
    figures = f"validation log loss {within:.4f} with them, {without:.4f} without"
    if within < without:
        return CalendarChoice(with_calendar, raw_calendar, f"{chosen.note} ({figures})")
    return CalendarChoice(dataset, raw, f"calendar features: not used ({figures}){names_note}")


def _valid_log_loss(
    raw: pd.DataFrame, dataset: DatasetConfig, y_all: pd.Series, split: TimeSplit, config: Config
) -> float:
    spec = learn_spec(raw.loc[split.train], config.features, catalogue=flat_catalogue(dataset))
    X_train, _ = encode(raw.loc[split.train], spec)
    X_valid, _ = encode(raw.loc[split.valid], spec)
    y_train = y_all.loc[split.train].to_numpy()
    y_valid = y_all.loc[split.valid].to_numpy()
    params = lgb_params(config.train, spec)
    booster = fit_booster(X_train, y_train, X_valid, y_valid, spec, config.train, params=params)
    p = np.clip(np.asarray(booster.predict(X_valid), dtype=np.float64), 1e-9, 1 - 1e-9)
    return float(log_loss(y_valid, p, labels=[0, 1]))
