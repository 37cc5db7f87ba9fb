"""The leakage guard refuses columns that predict the label too well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.data.mapping.config import FlatColumn
from leadml.errors import LeakageError
from leadml.model.leak_figures import ColumnFigures, pure_levels
from leadml.model.leak_uplift import Uplift
from leadml.model.leakage import (
    EVENT_RULES,
    GuardReport,
    GuardRules,
    findings,
    guard,
    name_hint,
    outcome_evidence,
    refuse_leaks,
    screen,
)
from tests.planted_leaks import (
    BANK,
    CALL,
    DEAL,
    HONEST,
    PROFILE,
    REFUSED,
    SCORES,
    SESSION,
    planted_frame,
)


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


# --- the flat-export guard: rules by evidence, names only as hints ---------------------------


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
    assert "ROC AUC" in text and "missing for" in text and "'Lead Status'" in text
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


# --- evidence found on real exports (tests/planted_leaks.py) --------------------------------


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray, GuardReport]:
    frame, y = planted_frame()
    return frame, y, guard(frame, y)


def test_the_planted_leaks_are_refused_and_the_honest_columns_are_not(
    planted: tuple[pd.DataFrame, np.ndarray, GuardReport],
) -> None:
    _frame, _y, report = planted
    verdicts = {name: row["verdict"] for name, row in report.details.items()}
    assert {c for c, v in verdicts.items() if v == "refused"} == set(REFUSED), verdicts
    assert all(verdicts[c] in ("ok", "hint only") for c in HONEST), verdicts
    assert {verdicts[c] for c in SESSION} == {"hint only"}  # named 'duration', no evidence


def test_a_deal_column_filled_for_8_percent_of_converters_is_refused_by_presence(
    planted: tuple[pd.DataFrame, np.ndarray, GuardReport],
) -> None:
    frame, y, report = planted
    for name in DEAL:
        row = report.details[name]
        assert 0.45 < row["auc"] < 0.55 and row["fill_other"] == 0.0  # AUC alone misses it
        assert 0.05 < row["fill_converted"] < 0.12
    flag = next(f for f in report.blocked if f.column == "Contract Months")  # no name hint
    assert flag.rule == "presence"
    filled = int(frame["Contract Months"].notna().sum())
    converted = int(y.sum())
    assert f"({filled:,} of {converted:,})" in flag.evidence  # figures a user can check
    assert "of the rest (0 of" in flag.evidence


def test_a_sales_profile_at_auc_067_is_refused_only_with_its_name_hint(
    planted: tuple[pd.DataFrame, np.ndarray, GuardReport],
) -> None:
    frame, y, report = planted
    assert 0.62 < report.details[PROFILE]["auc"] < 0.72
    rules = {f.rule for f in report.blocked if f.column == PROFILE}
    assert rules == {"presence + name"}
    for name in SCORES:
        assert any(f.rule.endswith("+ name") for f in report.blocked if f.column == name)
    renamed = frame[[PROFILE, *SCORES]].set_axis(["f1", "f2", "f3", "f4", "f5"], axis=1)
    anonymous = guard(renamed, y)
    assert anonymous.blocked == []  # the same evidence without a hint: reported, kept
    assert {row["verdict"] for row in anonymous.details.values()} == {"watch"}


def test_the_bank_call_duration_is_refused_but_in_session_durations_are_not(
    planted: tuple[pd.DataFrame, np.ndarray, GuardReport],
) -> None:
    _frame, _y, report = planted
    assert report.details[CALL]["auc"] > 0.78
    assert {f.rule for f in report.blocked if f.column == CALL} == {"auc + name"}
    for name in SESSION:
        row = report.details[name]
        assert row["verdict"] == "hint only" and "duration" in row["hint"]
        assert row["uplift"] is not None  # suspects get the uplift check
    assert {report.details[c]["verdict"] for c in BANK} == {"ok"}


@pytest.mark.parametrize(
    ("name", "hinted"),
    [
        ("Lead Profile", True),
        ("Engagement Score", True),
        ("Activity Index", True),
        ("Account Owner", True),
        ("Time On Site", False),
        ("poutcome", False),
        ("previous_outcome", False),
        ("campaign", False),
    ],
)
def test_name_hints(name: str, hinted: bool) -> None:
    assert (name_hint(name) is not None) is hinted


def test_a_hint_alone_never_refuses() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(2000) < 0.2).astype(int)
    frame = pd.DataFrame(
        {
            "Deal Stage": rng.choice(["new", "open", "working"], 2000).astype(object),
            "Lead Score": rng.normal(size=2000),
            "comment": rng.choice(["closed won", "call back"], 2000).astype(object),
        }
    )
    report = guard(frame, y)
    assert report.blocked == []
    assert {row["verdict"] for row in report.details.values()} == {"hint only"}


def test_a_column_lifting_a_model_beyond_its_own_auc_is_moderate_evidence() -> None:
    figures = ColumnFigures(auc=0.52, converted=100, other=400, filled_converted=100,
                            filled_other=400)  # fmt: skip
    found = findings(figures, GuardRules(), Uplift(without=0.70, with_column=0.78))
    assert [(f.rule, f.strength) for f in found] == [("uplift", "moderate")]
    assert "0.700 without it to 0.780 with it" in found[0].text
    expected = Uplift(without=0.70, with_column=0.72)  # +0.02: what its own AUC suggests
    assert findings(figures, GuardRules(), expected) == []


def test_levels_of_one_class_need_support_beyond_chance() -> None:
    """Small pure levels of a many-level column are luck; a big one is evidence."""
    rng = np.random.default_rng(2)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    noise = pd.Series([f"v{i}" for i in rng.integers(0, 600, n)], dtype=object)  # ~5 rows each
    won = pd.Series(np.where((y == 1) & (rng.random(n) < 0.2), "Won", "open"), dtype=object)
    assert pure_levels(noise, y, 1) is None and pure_levels(noise, y, 0) is None
    found = pure_levels(won, y, 1)
    assert found is not None and found.levels[0][0] == "Won" and 0.15 < found.share < 0.25


def test_the_event_rules_refuse_by_auc_only_but_report_every_figure() -> None:
    frame, y = planted_frame(1500)
    report = guard(frame, y, rules=EVENT_RULES)
    assert report.rules == "event" and set(report.details) == set(frame.columns)
    assert {f.column for f in report.flags} == set()  # no column reaches AUC 0.90 alone
    assert report.details["Deal Amount"]["fill_other"] == 0.0
    assert not report.table().empty


def test_the_guard_table_has_every_column_with_its_verdict(
    planted: tuple[pd.DataFrame, np.ndarray, GuardReport],
) -> None:
    frame, _y, report = planted
    table = report.table()
    assert list(table.index) == list(frame.columns)
    assert {"verdict", "auc", "presence lift", "missing lift", "uplift"} <= set(table.columns)
    logged = report.to_dict()
    assert len(logged["table"]) == len(frame.columns) and logged["rules"] == "flat"


def test_the_flat_suites_post_outcome_columns_are_refused_and_nothing_else() -> None:
    """The synthetic suite's deal amount (8% of converters) and sales rating (filled after
    contact), mapped as features, are refused; its honest columns are not."""
    from leadml.data.synth.flat_suite import POST_OUTCOME, SUITE, flat_case
    from leadml.features.flat import flat_features

    frame, dataset = flat_case(SUITE[0])
    columns = dict(dataset.columns)
    columns |= {name: FlatColumn(role="engagement", type="numeric") for name in POST_OUTCOME}
    dataset = dataset.model_copy(update={"columns": columns})
    raw = flat_features(frame, dataset)
    y = (frame["converted"] == "1").to_numpy().astype(int)
    report = guard(raw, y)
    assert sorted({flag.column for flag in report.blocked}) == sorted(POST_OUTCOME)


def test_honest_one_sided_columns_are_not_refused_without_a_name_hint() -> None:
    """Seen in review: an honest "Yes or blank" demo flag (filled 26% vs 2%), a segment
    that never converts, and a job title missing 6% vs 30% must be kept; the same figures
    under a post-contact name are refused."""
    rng = np.random.default_rng(5)
    n = 4_000
    y = (rng.random(n) < 0.25).astype(int)
    demo = np.where(rng.random(n) < np.where(y == 1, 0.26, 0.02), "Yes", None)
    segment = np.where(
        y == 0, rng.choice(["Student", "SMB", "Enterprise"], n, p=[0.06, 0.6, 0.34]),
        rng.choice(["SMB", "Enterprise"], n),
    )  # fmt: skip
    title = np.where(rng.random(n) < np.where(y == 1, 0.06, 0.30), None, "Manager")
    frame = pd.DataFrame({"Demo Requested": demo, "Segment": segment, "Job Title": title})
    report = guard(frame, y)
    assert report.blocked == []
    renamed = frame.rename(columns={"Demo Requested": "Lead Profile"})
    assert [f.column for f in guard(renamed, y).blocked] == ["Lead Profile"]
