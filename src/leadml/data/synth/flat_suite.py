"""Varied synthetic flat CRM exports: the suite leadml's flat defaults are judged on.

A real export is one row per lead with a converted flag, and varies in size, noise,
sparsity and category cardinality. Each `FlatCase` is one such export, generated from
a known seeded process, with its `[dataset]` mapping:

- an id, an e-mail (pii) and a created-at over 18 months (times of day when `hours`);
- source channel, industry and company size (firmographics), engagement counts, a
  demo-request flag that matters more for larger companies (an interaction);
- seasonality by month and weekday and a slow trend (what calendar features can use);
- `levels`: a high-cardinality category (city) with small per-level effects;
- `noise`: numeric columns with no effect; `sparsity`: share of missing signal values;
- an unobserved part of the logit, so no model is near perfect;
- post-outcome columns (a deal amount filled for 8% of converters, a sales rating filled
  after contact), mapped `ignore`: they are what the leakage guard must catch when a
  draft maps them as features;
- the outcome as a converted flag, and as a converted-at date 1 to 60 days after
  creation; `windowed` cases map the date (labels within [labels] window_days of
  creation), the others the flag.

Used by `bench/real_data.py` (leadml vs plain LightGBM side by side with bank marketing)
and by tests; nothing here is tuned to any one real dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml.data.mapping.config import DatasetConfig, FlatColumn

CHANNELS = ("organic_search", "paid_search", "social", "email", "referral", "webinar",
            "content_syndication", "outbound")  # fmt: skip
CHANNEL_EFFECT = (0.3, 0.0, -0.5, 0.1, 0.9, 0.5, -0.3, -0.9)
INDUSTRIES = ("software", "finance", "retail", "health", "manufacturing", "education",
              "media", "logistics", "energy", "public", "travel", "telecom")  # fmt: skip
POST_OUTCOME = ("deal_amount", "sales_rating")


@dataclass(frozen=True)
class FlatCase:
    """One synthetic export's shape (see the module docstring)."""

    name: str
    rows: int
    noise: int = 0
    sparsity: float = 0.0
    levels: int = 50
    seasonal: float = 0.4
    """Amplitude (log-odds) of the month effect; the weekday and trend scale with it."""
    hidden: float = 1.0
    """Standard deviation of the unobserved part of the logit."""
    base: float = -4.0
    hours: bool = False
    windowed: bool = False
    """Map the converted-at date (windowed labels) instead of the converted flag."""
    seed: int = 0


SUITE: tuple[FlatCase, ...] = (
    FlatCase("small clean", rows=2_000, seed=1),
    FlatCase("small noisy", rows=3_000, noise=20, hidden=1.4, seed=2),
    FlatCase("sparse", rows=8_000, sparsity=0.4, seed=3),
    FlatCase("many levels", rows=10_000, levels=2_000, seed=4),
    FlatCase("seasonal", rows=15_000, seasonal=0.9, hours=True, windowed=True, seed=5),
    FlatCase("large", rows=50_000, noise=5, sparsity=0.1, windowed=True, seed=6),
)
"""The suite: 2k to 50k rows, noise, sparsity, cardinality, seasonality."""


def flat_case(case: FlatCase) -> tuple[pd.DataFrame, DatasetConfig]:
    """The export as text-like columns (as `read_flat` returns them, index the lead id) and
    its mapping."""
    rng = np.random.default_rng(case.seed)
    n = case.rows
    start = np.datetime64("2024-01-01T00:00:00", "s")
    seconds = rng.integers(0, 540 * 86_400, n)
    if not case.hours:
        seconds -= seconds % 86_400
    created = pd.DatetimeIndex(start + seconds.astype("timedelta64[s]"))
    channel = rng.choice(len(CHANNELS), n, p=[0.2, 0.18, 0.12, 0.12, 0.08, 0.1, 0.1, 0.1])
    industry = rng.integers(0, len(INDUSTRIES), n)
    industry_effect = rng.normal(0, 0.4, len(INDUSTRIES))
    employees = np.round(np.exp(rng.normal(4.5, 1.5, n))).astype(int) + 1
    size = np.log10(employees)
    interest = rng.normal(0, 1, n)
    page_views = rng.poisson(np.exp(0.8 + 0.6 * interest))
    email_opens = rng.poisson(np.exp(0.3 + 0.4 * interest + 0.3 * (channel == 3)))
    webinar = rng.random(n) < 0.15 + 0.2 * (channel == 5)
    demo = rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 0.8 * interest)))
    city = rng.integers(0, case.levels, n)
    city_effect = rng.normal(0, 0.35, case.levels)
    month = created.month.to_numpy()
    weekday = created.weekday.to_numpy()
    days = (created - created.min()).days.to_numpy()
    logit = (
        case.base
        + np.asarray(CHANNEL_EFFECT)[channel]
        + industry_effect[industry]
        + 0.6 * np.exp(-((size - 2.3) ** 2))  # mid-size companies convert best
        + 0.5 * np.log1p(page_views)
        + 0.15 * np.minimum(email_opens, 6)
        + 0.4 * webinar
        + demo * (0.8 + 0.5 * (size > 2.5))
        + city_effect[city]
        + case.seasonal * np.sin(2 * np.pi * (month - 3) / 12)
        - 0.5 * case.seasonal * (weekday >= 5)
        + 0.6 * case.seasonal * (days / 540 - 0.5)
        + rng.normal(0, case.hidden, n)
    )
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{case.seed:02d}{i:07d}" for i in range(n)],
            "email": [f"lead{i}@example{case.seed}.com" for i in range(n)],
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S" if case.hours else "%Y-%m-%d"),
            "channel": np.asarray(CHANNELS)[channel],
            "industry": np.asarray(INDUSTRIES)[industry],
            "employees": employees,
            "city": [f"city_{c:04d}" for c in city],
            "page_views": page_views,
            "email_opens": email_opens,
            "webinar_attended": np.where(webinar, "yes", "no"),
            "demo_requested": np.where(demo, "yes", "no"),
        }
    )
    for k in range(case.noise):
        frame[f"noise_{k + 1}"] = np.round(rng.normal(0, 1, n), 3)
    for column in ("industry", "employees", "page_views", "email_opens", "city"):
        frame[column] = frame[column].astype(object).where(rng.random(n) >= case.sparsity, None)
    frame["deal_amount"] = np.where(
        converted & (rng.random(n) < 0.08), np.round(rng.lognormal(9, 0.5, n)), np.nan
    )
    filled = np.where(converted, rng.random(n) < 0.7, rng.random(n) < 0.1)
    rating = np.clip(np.round(2.5 + 1.2 * converted + rng.normal(0, 1, n)), 1, 5)
    frame["sales_rating"] = np.where(filled, rating, np.nan)
    frame["converted"] = converted.astype(int)
    lag = rng.integers(1, 61, n).astype("timedelta64[D]")
    won = pd.DatetimeIndex(np.where(converted, created.to_numpy() + lag, np.datetime64("NaT")))
    frame["converted_at"] = won.strftime("%Y-%m-%d").where(converted, None)
    text = frame.astype(object).where(frame.notna(), None)
    text = text.map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    text.index = pd.Index(text["lead_id"].to_numpy(), name="lead_id")
    return text, _mapping(case)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _mapping(case: FlatCase) -> DatasetConfig:
    columns = {
        "email": FlatColumn(role="pii"),
        "channel": FlatColumn(role="source", type="categorical"),
        "industry": FlatColumn(role="firmographic", type="categorical"),
        "employees": FlatColumn(role="firmographic", type="numeric"),
        "city": FlatColumn(role="firmographic", type="categorical"),
        "page_views": FlatColumn(role="engagement", type="numeric"),
        "email_opens": FlatColumn(role="engagement", type="numeric"),
        "webinar_attended": FlatColumn(role="engagement", type="categorical"),
        "demo_requested": FlatColumn(role="engagement", type="categorical"),
        **{
            f"noise_{k + 1}": FlatColumn(role="engagement", type="numeric")
            for k in range(case.noise)
        },
        **{name: FlatColumn(role="ignore") for name in POST_OUTCOME},
    }
    outcome = {"converted_at": "converted_at"} if case.windowed else {"label": "converted"}
    return DatasetConfig(
        id_column="lead_id",
        positive=("1",),
        created_at="created_at",
        columns=columns,
        **outcome,
    )
