"""What a generated funnel is: its tables, the truth behind them and the defect record.

Its own module so that the generator, the writer and the defect injector can all share
it without importing one another in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pandas as pd

from leadml.data.synth.timeline import EXTRACTED_AT

DEFECT_COLUMNS: Final = ("code", "table", "row", "lead_id", "column", "value")


def _no_defects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in DEFECT_COLUMNS})


@dataclass(frozen=True, eq=False)
class Funnel:
    """One generated dataset: what a CRM export holds, plus the truth behind it."""

    leads: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    """lead_id, true_probability (NaN when not eligible), eligible."""
    defects: pd.DataFrame = field(default_factory=_no_defects)
    """Injected defects (with_defects=True): code, table, row (1-based), lead_id, column, value."""
    extracted_at: pd.Timestamp = EXTRACTED_AT
    """The dataset's "now": nothing later is recorded."""
