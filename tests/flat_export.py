"""A synthetic flat CRM export, built in code, for the flat-model tests.

It covers every role (source, engagement, firmographic, ignore, pii, passthrough), every
default missing-value token, and leakage found by evidence: one column per rule that must
be flagged, and honest columns that must not be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leadml.data.mapping.config import DEFAULT_MISSING

LEAKY = {
    "Score After Call": "auc",
    "Budget": "missingness",
    "Lead Status": "levels + name",
    "Sales Comment": "levels + name",  # its values are held only by the rest: moderate alone
}
"""Columns that must be flagged, and the rule that must flag each (a name alone never
flags a column: "+ name" is moderate evidence caught together with the name's hint)."""
HONEST = ("Lead Source", "Page Views", "Time On Site", "Industry", "Employees")

MAPPING = """
[dataset]
file = "export.csv"
id_column = "Prospect ID"
label = "Converted"
positive = ["1"]
created_at = "Created Date"
missing = ["", "NA", "N/A", "NaN", "null", "None", "-", "Select", "unknown"]

[dataset.columns]
"Lead Source" = { role = "source" }
"Page Views" = { role = "engagement", type = "numeric" }
"Time On Site" = { role = "engagement" }
Industry = { role = "firmographic", type = "categorical" }
Employees = { role = "firmographic" }
Notes = { role = "ignore" }
Email = { role = "pii" }
Phone = { role = "pii" }
"Company Name" = { role = "passthrough" }
"""
"""A clean mapping: leaky columns are left out (read_flat keeps them, unused)."""

LEAKY_MAPPING_LINES = "\n".join(
    [
        '"Score After Call" = { role = "engagement", type = "numeric" }',
        'Budget = { role = "firmographic", type = "numeric" }',
        '"Lead Status" = { role = "source", type = "categorical" }',
        '"Sales Comment" = { role = "engagement", type = "categorical" }',
    ]
)


TOKEN_ROWS = {
    "Industry": 0,
    "Page Views": len(DEFAULT_MISSING),
    "Lead Source": 2 * len(DEFAULT_MISSING),
}
"""First row holding each missing token in these columns (one token per row, in order)."""


def synthetic_export(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    """Rows as text, the way a CRM writes them, missing tokens included (n >= 30)."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Google", "Referral", "Organic", "Event"], n, p=[0.4, 0.2, 0.3, 0.1])
    industry = rng.choice(["software", "retail", "finance"], n)
    views = rng.poisson(4, n).astype(float)
    time_on = rng.gamma(2.0, 60.0, n)
    employees = rng.lognormal(4, 1.2, n).round()
    logit = (
        -2.4
        + 0.35 * views
        - 0.01 * views**2
        + 0.004 * time_on
        + np.where(source == "Referral", 1.0, 0.0)
        + np.where(industry == "software", 0.6, 0.0)
        + 0.2 * np.log1p(employees)
        - 1.5
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 700, n)), unit="D"
    )
    tokens = list(DEFAULT_MISSING)
    frame = pd.DataFrame(
        {
            "Prospect ID": [f"P-{i:05d}" for i in range(n)],
            "Created Date": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Converted": y.astype(str),
            "Lead Source": source.astype(object),
            "Page Views": views.astype(int).astype(str).astype(object),
            "Time On Site": np.round(time_on, 1).astype(str).astype(object),
            "Industry": industry.astype(object),
            "Employees": employees.astype(int).astype(str).astype(object),
            "Notes": [f"note {i}" for i in range(n)],
            "Email": [f"person{i}@example.com" for i in range(n)],
            "Phone": [f"+1-555-{i:04d}" for i in range(n)],
            "Company Name": [f"Company {i % 700}" for i in range(n)],
            "Score After Call": np.round(y * 2 + rng.normal(0, 0.3, n), 2).astype(str),
            "Budget": np.where(
                rng.random(n) < np.where(y == 1, 0.95, 0.10),
                np.round(rng.uniform(1e3, 1e5, n)).astype(int).astype(str),
                "",
            ).astype(object),
            # A status set to "Qualified" for 4% of the converted leads only (moderate
            # evidence, caught with its name), and a comment "Lost to competitor" written
            # only for leads that did not convert (strong evidence: a level of one class).
            "Lead Status": np.where(
                (y == 1) & (rng.random(n) < 0.04),
                "Qualified",
                rng.choice(["Open", "Attempted", "Contacted"], n),
            ).astype(object),
            "Sales Comment": np.where(
                y == 1,
                rng.choice(["Will revert after reading the email", "Ringing"], n),
                rng.choice(
                    ["Will revert after reading the email", "Lost to competitor", "Ringing"], n
                ),
            ).astype(object),
        }
    )
    # Every missing token appears in a feature column (and so must read as missing).
    for k, token in enumerate(tokens):
        frame.loc[k, "Industry"] = token
        frame.loc[len(tokens) + k, "Page Views"] = token
        frame.loc[2 * len(tokens) + k, "Lead Source"] = token
    return frame


def write_export(folder: Path, frame: pd.DataFrame, *, leaky: bool = False) -> Path:
    """export.csv plus leadml.toml in `folder`; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "export.csv", index=False)
    text = MAPPING + (LEAKY_MAPPING_LINES + "\n" if leaky else "")
    (folder / "leadml.toml").write_text(text, encoding="utf-8")
    return folder / "leadml.toml"
