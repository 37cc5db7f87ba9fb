"""The leakage guard refuses columns that predict the label too well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.errors import LeakageError
from leadml.model.leakage import guard, outcome_evidence, refuse_leaks, screen


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


# --- the flat-export guard: three rules, each with its evidence ------------------------------


def _export_features() -> tuple[pd.DataFrame, np.ndarray]:
    from leadml.data.mapping.config import DatasetConfig, FlatColumn, resolve_types
    from leadml.data.mapping.read import clean_missing
    from leadml.features.flat import flat_features
    from tests.flat_export import HONEST, LEAKY, synthetic_export

    frame = synthetic_export(3000).set_index("Prospect ID")
    frame = clean_missing(frame, DatasetConfig.model_fields["missing"].default)
    roles = {name: FlatColumn(role="engagement") for name in (*HONEST, *LEAKY)}
    dataset = resolve_types(frame, DatasetConfig(label="Converted", columns=roles))
    return flat_features(frame, dataset), frame["Converted"].astype(int).to_numpy()


def test_the_guard_flags_one_column_per_rule_and_no_honest_column() -> None:
    from tests.flat_export import HONEST, LEAKY

    raw, y = _export_features()
    report = guard(raw, y)
    rules: dict[str, set[str]] = {}
    for flag in report.flags:
        rules.setdefault(flag.column, set()).add(flag.rule)
    for column, rule in LEAKY.items():
        assert rule in rules.get(column, set()), (column, rules)
    assert not set(HONEST) & set(rules), rules
    text = report.text()
    assert "ROC AUC" in text and "missing in" in text and "'Lead Status'" in text
    assert "Lost to competitor" in text


def test_the_guard_refuses_until_columns_are_allowed_and_reports_everything() -> None:
    raw, y = _export_features()
    with pytest.raises(LeakageError, match="Score After Call") as info:
        guard(raw, y).refuse()
    assert "allow_leaky" in str(info.value) and "Budget" in str(info.value)
    allowed = ("Score After Call", "Budget", "Lead Status", "Sales Comment")
    report = guard(raw, y, allowed)
    report.refuse()  # nothing blocked
    assert {f.column for f in report.allowed_flags} == set(allowed)
    logged = report.to_dict()
    assert logged["blocked"] == [] and set(logged["allowed"]) == set(allowed)
    assert set(logged["details"]) == set(raw.columns)


@pytest.mark.parametrize(
    ("name", "values", "flagged"),
    [
        ("duration", None, True),
        ("Last Activity", None, True),
        ("Close Date", None, True),
        ("Lead Quality", None, True),
        ("Tags", None, True),
        ("dealStage", None, True),
        ("poutcome", None, False),  # the outcome of a previous campaign
        ("previous_outcome", None, False),
        ("prior result", None, False),
        ("last_status", None, True),  # "last" no longer exempts an outcome word
        ("last_stage", None, True),
        ("lastStatus", None, True),
        ("Last Notable Activity", None, True),
        ("last contacted on", None, True),
        ("stage_p", None, True),  # nor does "p"
        ("prev_stage", None, True),  # previous/prior/prev exempt only outcome/result
        ("previous_status", None, True),
        ("Last Visit Pages", None, False),
        ("Page Views", None, False),
        ("notes", ["closed won", "open", "open"], True),
        ("notes", ["call back", "open", "open"], False),
        ("tenure", [1.0, 2.0, 3.0], False),
    ],
)
def test_outcome_names_and_values(name: str, values: list[object] | None, flagged: bool) -> None:
    series = None if values is None else pd.Series(values)
    assert (outcome_evidence(name, series) is not None) is flagged


def test_a_many_level_noise_column_is_not_flagged_but_a_leaky_categorical_is() -> None:
    """Level rates are out of fold: unique-ish levels cannot predict their own rows."""
    rng = np.random.default_rng(1)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    flip = rng.random(n) < 0.03
    frame = pd.DataFrame(
        {
            "noise_ids": [f"v{i}" for i in rng.integers(0, 3000, n)],  # ~1,900 levels
            "unique_noise": [f"u{i}" for i in range(n)],
            "leaky_region": np.where(y ^ flip, "north", "south").astype(object),
            "leaky_many": [f"{'a' if t else 'b'}{i % 40}" for i, t in enumerate(y ^ flip)],
        }
    )
    report = guard(frame, y)
    auc = {name: d["auc"] for name, d in report.details.items()}
    flagged = {f.column for f in report.flags if f.rule == "auc"}
    assert flagged == {"leaky_region", "leaky_many"}, auc
    assert 0.4 < auc["noise_ids"] < 0.6 and 0.4 < auc["unique_noise"] < 0.6, auc
    assert {f.column for f in screen(frame.astype("category"), y)} == flagged
