"""Who the lead is: industry, country and region, seniority, company size and revenue.

Missing values stay missing (NaN): LightGBM routes them natively. Contact details are
never features; the only thing taken from the email address is whether its domain is a
free-mail provider (`is_corporate_email`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema

FAMILY: Final = "firmographics"
CATEGORICAL: Final = frozenset({"industry", "country", "region", "employees_band", "revenue_band"})

EMPLOYEE_BANDS: Final = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+")
EMPLOYEE_EDGES: Final = (10, 50, 200, 1000, 5000)
"""Upper edges (inclusive) of the employee bands: 10 employees is '1-10' (so is 0)."""
REVENUE_BANDS: Final = ("<1M", "1M-10M", "10M-50M", "50M-250M", "250M-1B", "1B+")
REVENUE_EDGES: Final = (1e6, 1e7, 5e7, 2.5e8, 1e9)
"""Lower edges (inclusive) of the revenue bands above the first: 1,000,000 is '1M-10M'."""


def firmographic_columns() -> dict[str, str]:
    """The output columns in order, each with the business field it comes from."""
    return {
        "industry": schema.INDUSTRY,
        "country": schema.COUNTRY,
        "region": schema.COUNTRY,
        "seniority": schema.SENIORITY,
        "employees_log": schema.EMPLOYEES,
        "employees_band": schema.EMPLOYEES,
        "annual_revenue_log": schema.ANNUAL_REVENUE,
        "revenue_band": schema.ANNUAL_REVENUE,
        "is_corporate_email": schema.EMAIL,
    }


def firmographic_features(leads: pd.DataFrame) -> pd.DataFrame:
    """Firmographic features per lead (index lead_id, lead order); absent columns are NaN.

    `seniority` is ordinal: its position in schema.SENIORITIES (0 = entry ... 4 = c_level).
    """
    index = pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID)
    country = _text(leads, schema.COUNTRY)
    employees = _number(leads, schema.EMPLOYEES)
    revenue = _number(leads, schema.ANNUAL_REVENUE)
    seniority = _position(_text(leads, schema.SENIORITY), schema.SENIORITIES)
    regions = np.asarray(list(schema.COUNTRY_REGION.values()), dtype=object)
    frame = pd.DataFrame(
        {
            "industry": _text(leads, schema.INDUSTRY).array,
            "country": country.array,
            "region": _labels(_position(country, tuple(schema.COUNTRY_REGION)), regions),
            "seniority": seniority,
            "employees_log": _log1p(employees),
            "employees_band": _band(employees, EMPLOYEE_EDGES, EMPLOYEE_BANDS, right=True),
            "annual_revenue_log": _log1p(revenue),
            "revenue_band": _band(revenue, REVENUE_EDGES, REVENUE_BANDS, right=False),
            "is_corporate_email": _is_corporate(_text(leads, schema.EMAIL)),
        },
        index=index,
    )
    return frame


def _text(leads: pd.DataFrame, column: str) -> pd.Series:
    if column not in leads:
        return pd.Series(np.nan, index=leads.index, dtype="str")
    return leads[column].astype("str")


def _number(leads: pd.DataFrame, column: str) -> np.ndarray:
    if column not in leads:
        return np.full(len(leads), np.nan)
    return pd.to_numeric(leads[column], errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _log1p(values: np.ndarray) -> np.ndarray:
    """log(1 + x) for x >= 0; NaN for missing (and for negatives, which cleaning rejects)."""
    out = np.full(len(values), np.nan)
    ok = values >= 0
    out[ok] = np.log1p(values[ok])
    return out


def _band(
    values: np.ndarray, edges: tuple[float, ...], labels: tuple[str, ...], *, right: bool
) -> pd.arrays.ArrowStringArray:
    """The band label of each value (NaN when missing)."""
    where = np.searchsorted(np.asarray(edges), values, side="left" if right else "right")
    return _labels(np.where(values >= 0, where, np.nan), np.asarray(labels, dtype=object))


def _position(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Position of each value in `vocabulary` as float (NaN when missing or not in it)."""
    found = pc.index_in(pa.array(values.array, from_pandas=True), value_set=pa.array(vocabulary))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)


def _labels(positions: np.ndarray, labels: np.ndarray) -> pd.arrays.ArrowStringArray:
    """labels[position] as a str array, NaN where the position is NaN."""
    known = ~np.isnan(positions)
    where = np.where(known, positions, 0).astype(np.int64)
    taken = pa.array(labels.tolist()).take(pa.array(where, mask=~known))
    return pd.array(taken, dtype="str")


def _is_corporate(email: pd.Series) -> np.ndarray:
    """1 for a company domain, 0 for a free-mail domain, NaN without a usable address."""
    address = pc.utf8_lower(pc.utf8_trim_whitespace(pa.array(email.array, from_pandas=True)))
    domain = pc.struct_field(pc.extract_regex(address, r"@(?P<domain>[^@\s]+)$"), [0])
    free = pc.is_in(domain, value_set=pa.array(sorted(schema.FREE_MAIL_DOMAINS)))
    known = pc.is_valid(domain).to_numpy(zero_copy_only=False)
    return np.where(known, np.where(free.to_numpy(zero_copy_only=False), 0.0, 1.0), np.nan)
