"""The leakage guard refuses columns that predict the label too well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.errors import LeakageError
from leadml.leakage import refuse_leaks, screen


def _frame(n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.2).astype(int)
    X = pd.DataFrame(
        {
            "honest": rng.normal(size=n) + 0.5 * y,
            "status_won": y + rng.normal(scale=0.05, size=n),
            "lost_flag": pd.Categorical(np.where(y == 1, "no", "yes")),
        }
    )
    return X, y


def test_screen_flags_leaky_columns_and_not_honest_ones() -> None:
    X, y = _frame()
    flagged = {f.column for f in screen(X, y)}
    assert flagged == {"status_won", "lost_flag"}


def test_refusal_is_loud_and_names_the_columns() -> None:
    X, y = _frame()
    with pytest.raises(LeakageError, match="status_won") as info:
        refuse_leaks(X, y)
    assert "allow_leaky" in str(info.value)


def test_explicitly_allowed_columns_pass() -> None:
    X, y = _frame()
    allowed = refuse_leaks(X, y, allowed=("status_won", "lost_flag"))
    assert {f.column for f in allowed} == {"status_won", "lost_flag"}
