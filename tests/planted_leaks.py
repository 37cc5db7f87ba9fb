"""A flat CRM export's feature frame with honest columns and planted leaks, built in code.

The leaks are the ones users found on real exports: deal columns filled only for 8% of
converted leads, a sales-filled profile (mostly missing for the rest, AUC alone ~0.67),
four index/score columns filled after contact, and a bank-marketing call `duration`
(recorded after the call). The honest columns include in-session durations (time spent on
kinds of pages), bank-like `campaign`, `pdays`, `previous`, `poutcome`, and engagement
counts: none of them may be refused.

Values are what `features.flat.flat_features` returns: floats (NaN missing) and text
(None missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEAL = ("Deal Amount", "Deal Close Days", "Contract Months")
SCORES = (
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
)
PROFILE = "Lead Profile"
CALL = "duration"
REFUSED = (*DEAL, PROFILE, *SCORES, CALL)
SESSION = ("Administrative_Duration", "Informational_Duration", "ProductRelated_Duration")
BANK = ("campaign", "pdays", "previous", "poutcome")
ENGAGEMENT = ("Page Views", "Time On Site", "Lead Source", "Industry", "Employees")
HONEST = (*SESSION, *BANK, *ENGAGEMENT)


def _filled(rng: np.random.Generator, y: np.ndarray, converted: float, other: float) -> np.ndarray:
    return rng.random(len(y)) < np.where(y == 1, converted, other)


def planted_frame(n: int = 3000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """(features, 0/1 labels): honest columns drive the label, leaks are drawn from it."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Google", "Referral", "Organic", "Event"], n, p=[0.4, 0.2, 0.3, 0.1])
    industry = rng.choice(["software", "retail", "finance"], n)
    views = rng.poisson(4, n).astype(float)
    views[rng.random(n) < 0.02] = np.nan
    time_on = rng.gamma(2.0, 60.0, n)
    employees = rng.lognormal(4, 1.2, n).round()
    session = {name: np.expm1(rng.normal(3.0, 1.0, n)).round(1) for name in SESSION}
    campaign = rng.geometric(0.4, n).astype(float)
    contacted = rng.random(n) < 0.2
    previous = np.where(contacted, rng.poisson(1.5, n) + 1, 0).astype(float)
    pdays = np.where(contacted, rng.integers(1, 30, n), 999).astype(float)
    prior_success = contacted & (rng.random(n) < 0.3)
    logit = (
        -3.0
        + 0.15 * np.nan_to_num(views, nan=4.0)
        + 0.003 * time_on
        + np.where(source == "Referral", 0.8, 0.0)
        + np.where(industry == "software", 0.5, 0.0)
        + 0.1 * np.log1p(employees)
        + 0.25 * (np.log1p(session["ProductRelated_Duration"]) - 3.0)
        + 0.15 * (np.log1p(session["Administrative_Duration"]) - 3.0)
        - 0.1 * (campaign - 2.5)
        + np.where(prior_success, 1.8, np.where(contacted, 0.4, 0.0))
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    poutcome = np.where(
        prior_success, "success", np.where(contacted, rng.choice(["failure", "other"], n), None)
    )
    frame = pd.DataFrame(
        {
            "Lead Source": source.astype(object),
            "Industry": industry.astype(object),
            "Page Views": views,
            "Time On Site": time_on.round(1),
            "Employees": employees,
            **session,
            "campaign": campaign,
            "pdays": pdays,
            "previous": previous,
            "poutcome": poutcome.astype(object),
        }
    )
    # Recorded after the outcome or after contact (drawn from the label).
    for name in DEAL:
        frame[name] = np.where(_filled(rng, y, 0.08, 0.0), rng.uniform(1e3, 5e4, n).round(), np.nan)
    profile = rng.choice(["Potential Lead", "Other Leads", "Student", "Lateral Student"], n)
    frame[PROFILE] = np.where(_filled(rng, y, 0.50, 0.16), profile, None).astype(object)
    levels = np.array(["01.High", "02.Medium", "03.Low"])
    for name in SCORES:
        filled = _filled(rng, y, 0.72, 0.24)
        if name.endswith("Index"):
            values = np.where(
                y == 1, rng.choice(levels, n, p=[0.5, 0.3, 0.2]), rng.choice(levels, n)
            )
            frame[name] = np.where(filled, values, None).astype(object)
        else:
            frame[name] = np.where(filled, rng.normal(14 + 0.8 * y, 2.0).round(), np.nan)
    frame[CALL] = np.exp(rng.normal(5.3 + 0.75 * y, 0.6)).round()
    return frame, y
