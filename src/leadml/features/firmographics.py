"""Who the lead is: industry, country and region, seniority, company size and revenue.

Missing values stay missing (NaN): LightGBM routes them natively. Contact details are
never features; the only thing taken from the email address is whether its domain is a
free-mail provider (`is_corporate_email`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from leadml import schema
from leadml.features import kernels
from leadml.features.columns import LeadTable, Text, Values, to_frame

FAMILY: Final = "firmographics"
CATEGORICAL: Final = frozenset({"industry", "country", "region", "employees_band", "revenue_band"})

EMPLOYEE_BANDS: Final = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+")
EMPLOYEE_EDGES: Final = (10, 50, 200, 1000, 5000)
"""Upper edges (inclusive) of the employee bands: 10 employees is '1-10' (so is 0)."""
_EMPLOYEE_EDGES: Final = np.array(EMPLOYEE_EDGES, dtype=np.float64)
_EMPLOYEE_EDGES.flags.writeable = False
REVENUE_BANDS: Final = ("<1M", "1M-10M", "10M-50M", "50M-250M", "250M-1B", "1B+")
REVENUE_EDGES: Final = (1e6, 1e7, 5e7, 2.5e8, 1e9)
"""Lower edges (inclusive) of the revenue bands above the first: 1,000,000 is '1M-10M'."""
_REVENUE_EDGES: Final = np.array(REVENUE_EDGES, dtype=np.float64)
_REVENUE_EDGES.flags.writeable = False
_SPACE: Final = frozenset(" \t\n\f\r")
"""What may not appear in an email domain (the regex class \\s of RE2, which this matched)."""
_SENIORITY: Final = {level: float(i) for i, level in enumerate(schema.SENIORITIES)}


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


def firmographic_values(table: LeadTable) -> Values:
    """Firmographic features per lead; absent columns are missing.

    `seniority` is ordinal: its position in schema.SENIORITIES (0 = entry ... 4 = c_level).
    """
    country = table.text(schema.COUNTRY)
    employees = table.number(schema.EMPLOYEES)
    revenue = table.number(schema.ANNUAL_REVENUE)
    employees_log, revenue_log = _log1p(employees, revenue)
    return {
        "industry": table.text(schema.INDUSTRY),
        "country": country,
        "region": country.map(_region),
        "seniority": table.text(schema.SENIORITY).numbers(_seniority),
        "employees_log": employees_log,
        "employees_band": _band(employees, _EMPLOYEE_EDGES, EMPLOYEE_BANDS, right=True),
        "annual_revenue_log": revenue_log,
        "revenue_band": _band(revenue, _REVENUE_EDGES, REVENUE_BANDS, right=False),
        "is_corporate_email": table.text(schema.EMAIL).numbers(_is_corporate),
    }


def firmographic_features(leads: pd.DataFrame) -> pd.DataFrame:
    """Firmographic features per lead (index lead_id, lead order); see `firmographic_values`."""
    values = firmographic_values(LeadTable.from_frame(leads))
    return to_frame(values, pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID))


def _region(country: str | None) -> str | None:
    return schema.COUNTRY_REGION.get(country) if country is not None else None


def _seniority(level: str | None) -> float:
    return _SENIORITY.get(level, np.nan) if level is not None else np.nan


def _log1p(*columns: np.ndarray) -> np.ndarray:
    """log(1 + x) of each column for x >= 0; NaN for missing (and for negatives, which
    cleaning rejects). One row per column (one numpy pass for all of them)."""
    values = np.array(columns, dtype=np.float64)
    out = np.where(values >= 0, values, np.nan)
    return np.log1p(out, out=out)


def _band(values: np.ndarray, edges: np.ndarray, labels: tuple[str, ...], *, right: bool) -> Text:
    """The band label of each value (missing when the value is); `right`: the upper edge
    belongs to the band."""
    return Text(kernels.band_codes(values, edges, right), (*labels, None))


def _is_corporate(email: str | None) -> float:
    """1 for a company domain, 0 for a free-mail domain, NaN without a usable address.

    The domain is what follows the last '@' of the trimmed, lower-cased address; it
    must be non-empty and hold no white space.
    """
    if email is None:
        return np.nan
    _, at, domain = email.strip().lower().rpartition("@")
    if not at or not domain or not _SPACE.isdisjoint(domain):
        return np.nan
    return 0.0 if domain in schema.FREE_MAIL_DOMAINS else 1.0
