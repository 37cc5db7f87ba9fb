from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.errors import InputError
from leadml.features import events as events_module
from leadml.features import ids
from leadml.features.events import EventTable


def _events(types: pd.Series) -> dict[str, object]:
    n = len(types)
    return {
        schema.LEAD_ID: pd.Series(["B", "A", "Z", None, "A"][:n], dtype="str"),
        schema.EVENT_TYPE: types,
        schema.OCCURRED_AT: pd.Series(pd.date_range("2024-01-01", periods=n, tz="UTC")),
    }


@pytest.mark.parametrize("bulk", [False, True], ids=["dicts", "lookup table"])
@pytest.mark.parametrize("dtype", ["str", "category", "object"])
def test_positions_and_codes(monkeypatch: pytest.MonkeyPatch, bulk: bool, dtype: str) -> None:
    if bulk:
        monkeypatch.setattr(events_module, "_FEW", 0)
        monkeypatch.setattr(ids, "_TABLE_MIN_QUERIES", 0)
    types = pd.Series(["demo_request", "page_view", "mystery", "onboarding", None], dtype=dtype)
    table = EventTable.resolve(pd.Index(["A", "B"]), _events(types), frame=True)
    assert len(table) == 5 and table.leads_unique
    assert table.positions(0, 5).tolist() == [1, 0, -1, -1, 0]
    demo, page = schema.EVENT_TYPES.index("demo_request"), schema.EVENT_TYPES.index("page_view")
    assert table.codes(0, 5).tolist() == [demo, page, -1, -1, -1]
    assert table.positions(1, 3).tolist() == [0, -1]


@pytest.mark.parametrize("bulk", [False, True], ids=["dicts", "lookup table"])
def test_duplicate_leads_are_reported(monkeypatch: pytest.MonkeyPatch, bulk: bool) -> None:
    if bulk:
        monkeypatch.setattr(events_module, "_FEW", 0)
    types = pd.Series(["demo_request"], dtype="str")
    table = EventTable.resolve(pd.Index(["A", "A"]), _events(types), frame=True)
    assert not table.leads_unique


def test_missing_event_columns_are_named() -> None:
    with pytest.raises(InputError) as caught:
        EventTable.resolve(np.array(["A"]), {schema.LEAD_ID: np.array(["A"])}, frame=False)
    assert caught.value.column == schema.OCCURRED_AT
    with pytest.raises(InputError, match="differ in length"):
        EventTable.resolve(
            np.array(["A"]),
            {
                schema.LEAD_ID: np.array(["A", "A"]),
                schema.EVENT_TYPE: np.array(["page_view"]),
                schema.OCCURRED_AT: np.array(["2024-01-01"], dtype="datetime64[ns]"),
            },
            frame=False,
        )
