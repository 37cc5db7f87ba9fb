from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.features.firmographics import firmographic_columns, firmographic_features


def _lead(**values: object) -> pd.DataFrame:
    base: dict[str, object] = {
        schema.LEAD_ID: "L1",
        schema.CREATED_AT: pd.Timestamp("2024-01-01", tz="UTC"),
        schema.LEAD_SOURCE: "direct",
    }
    return pd.DataFrame([base | values])


def _row(**values: object) -> pd.Series:
    return firmographic_features(_lead(**values)).iloc[0]


def test_present_values() -> None:
    row = _row(
        industry="software",
        country="DE",
        seniority="vp",
        employees=1200.0,
        annual_revenue=2.5e7,
        email="ana@acme.io",
    )
    assert row["industry"] == "software"
    assert row["country"] == "DE"
    assert row["region"] == "emea"
    assert row["seniority"] == 3
    assert row["employees_log"] == pytest.approx(math.log1p(1200))
    assert row["employees_band"] == "1001-5000"
    assert row["annual_revenue_log"] == pytest.approx(math.log1p(2.5e7))
    assert row["revenue_band"] == "10M-50M"
    assert row["is_corporate_email"] == 1


def test_missing_firmographics_stay_missing() -> None:
    frame = firmographic_features(_lead())  # no firmographic or email columns at all
    assert list(frame.columns) == list(firmographic_columns())
    assert frame.iloc[0].isna().all()
    row = _row(industry=None, country=None, seniority=None, employees=np.nan, email=None)
    assert row.isna().all()


@pytest.mark.parametrize(
    ("country", "region"), [("US", "north_america"), ("BR", "latin_america"), ("ZZ", None)]
)
def test_region(country: str, region: str | None) -> None:
    got = _row(country=country)["region"]
    assert got == region or (region is None and pd.isna(got))


@pytest.mark.parametrize(
    ("employees", "band"),
    [(0.0, "1-10"), (10.0, "1-10"), (11.0, "11-50"), (200.0, "51-200"), (5000.0, "1001-5000"),
     (5001.0, "5001+")],
)  # fmt: skip
def test_employee_bands(employees: float, band: str) -> None:
    assert _row(employees=employees)["employees_band"] == band


@pytest.mark.parametrize(
    ("revenue", "band"),
    [(0.0, "<1M"), (999_999.0, "<1M"), (1e6, "1M-10M"), (2.5e8, "250M-1B"), (5e9, "1B+")],
)
def test_revenue_bands(revenue: float, band: str) -> None:
    assert _row(annual_revenue=revenue)["revenue_band"] == band


@pytest.mark.parametrize(
    ("email", "corporate"),
    [
        ("ana@acme.io", 1.0),
        (" Ana@GMAIL.com ", 0.0),
        ("bob@web.de", 0.0),
        ("not-an-address", np.nan),
        ("", np.nan),
        (None, np.nan),
    ],
)
def test_corporate_email(email: str | None, corporate: float) -> None:
    got = _row(email=email)["is_corporate_email"]
    assert got == corporate or (np.isnan(corporate) and np.isnan(got))


@pytest.mark.parametrize(
    ("seniority", "level"), [("entry", 0), ("director", 2), ("c_level", 4), ("wizard", None)]
)
def test_seniority_is_ordinal(seniority: str, level: int | None) -> None:
    got = _row(seniority=seniority)["seniority"]
    assert got == level or (level is None and np.isnan(got))


@pytest.mark.parametrize(
    "change",
    [
        {schema.CONTACT_NAME: "Someone Else"},
        {schema.PHONE: "+49 30 0000000"},
        {schema.COMPANY: "Other Corp"},
        {schema.JOB_TITLE: "Chief Everything"},
        {schema.EMAIL: "someone.else@other-company.com"},  # same class: corporate
    ],
)
def test_pii_never_changes_features(change: dict[str, str]) -> None:
    pii = {
        schema.CONTACT_NAME: "Ana Ng",
        schema.PHONE: "+1 555 0100",
        schema.COMPANY: "Acme",
        schema.JOB_TITLE: "VP Sales",
        schema.EMAIL: "ana@acme.io",
    }
    base = _lead(industry="retail", employees=50.0, **pii)
    pd.testing.assert_frame_equal(
        firmographic_features(base), firmographic_features(base.assign(**change))
    )


def test_partition_invariance_and_no_mutation() -> None:
    leads = pd.concat(
        [
            _lead(employees=5.0, country="US"),
            _lead(employees=np.nan, email="x@gmail.com"),
            _lead(industry="media", seniority="vp"),
        ],
        ignore_index=True,
    ).assign(**{schema.LEAD_ID: ["A", "B", "C"]})
    before = leads.copy()
    full = firmographic_features(leads)
    pd.testing.assert_frame_equal(firmographic_features(leads.iloc[[2, 0]]), full.loc[["C", "A"]])
    pd.testing.assert_frame_equal(leads, before)
