"""The synthetic calendar: when leads are created and when the data was extracted.

Times are handled as integer seconds since `START` while generating (exact and fast),
and turned into tz-aware UTC timestamps only when the frames are built.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from leadml import schema

START: Final = pd.Timestamp("2024-01-01", tz="UTC")
"""The first lead is created on this day."""
SPAN_DAYS: Final = 730
"""Leads are created over this many days."""
EXTRACTED_AT: Final = START + pd.Timedelta(days=SPAN_DAYS)
"""The dataset's "now": no event or conversion after this moment is recorded."""
DAY: Final = 86_400
"""Seconds per day."""
CUTOFF_SECONDS: Final = schema.STANDARD_OBSERVATION_DAYS * DAY
WINDOW_SECONDS: Final = schema.STANDARD_WINDOW_DAYS * DAY
END_SECONDS: Final = SPAN_DAYS * DAY

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_START_US: Final = START.value // 1_000  # pandas stores nanoseconds


def daily_volume() -> FloatArray:
    """Relative lead volume per day: growth over the span, quiet weekends, a December dip."""
    day = np.arange(SPAN_DAYS)
    dates = START + pd.to_timedelta(day, unit="D")
    growth = 1.0 + 0.5 * day / SPAN_DAYS
    weekday = np.where(dates.day_of_week.to_numpy() >= 5, 0.42, 1.0)
    holidays = np.where((dates.month.to_numpy() == 12) & (dates.day.to_numpy() >= 20), 0.6, 1.0)
    summer = np.where(dates.month.to_numpy() == 8, 0.85, 1.0)
    volume = growth * weekday * holidays * summer
    return np.asarray(volume / volume.sum(), dtype=np.float64)


def created_seconds(rng: np.random.Generator, n: int) -> IntArray:
    """Sorted creation times (seconds since START): days by volume, mostly business hours."""
    day = rng.choice(SPAN_DAYS, size=n, p=daily_volume())
    office = rng.random(n) < 0.85
    hour = np.where(office, rng.normal(14.0, 3.5, n), rng.uniform(0.0, 24.0, n))
    hour = np.clip(hour, 0.0, 24.0 - 1e-6)
    seconds = day.astype(np.int64) * DAY + (hour * 3600.0).astype(np.int64)
    return np.sort(seconds)


def to_timestamps(seconds: IntArray, valid: BoolArray | None = None) -> pa.Array:
    """Seconds since START as an Arrow tz-aware UTC timestamp array (null where not valid)."""
    micros = (seconds + 0) * 1_000_000 + _START_US
    mask = None if valid is None else ~valid
    return pa.array(micros, type=pa.int64(), mask=mask).cast(pa.timestamp("us", tz="UTC"))
