"""Promotion's one home: the pure gate rule, the gate's metric keys, and the champion
re-scored by its own bundle on the challenger's test window, for event and flat models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.config import GateConfig, load_config
from leadml.data.load import Dataset
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError
from leadml.model.assess import HEADLINE_METRICS
from leadml.model.flat_pipeline import fit_and_evaluate_flat
from leadml.model.leakage import LeakFlag
from leadml.model.pipeline import TrainedModel
from leadml.promotion import (
    GATE_METRICS,
    FeatureChanges,
    champion_probabilities,
    compare_with_champion,
    gate,
    gate_challenger,
    gate_metrics,
)
from tests.flat_export import synthetic_export, write_export

# Tolerances and metrics that are exact in binary floating point, so the boundaries are
# tested exactly: 0.75 - 0.25 == 0.5 and 0.25 + 0.5 == 0.75.
EXACT = GateConfig(auc_tolerance=0.25, ece_tolerance=0.5)
CHAMPION = {"roc_auc": 0.75, "ece": 0.25}


def test_gate_rules() -> None:
    cfg = GateConfig()
    champ = {"roc_auc": 0.80, "ece": 0.02}
    assert gate({"roc_auc": 0.796, "ece": 0.029}, champ, cfg).passed
    assert not gate({"roc_auc": 0.794, "ece": 0.02}, champ, cfg).passed
    failed = gate({"roc_auc": 0.80, "ece": 0.031}, champ, cfg)
    assert not failed.passed and "ECE" in failed.reason
    assert gate({"roc_auc": 0.5, "ece": 0.5}, None, cfg).passed


@pytest.mark.parametrize(
    ("challenger", "passed", "failed_on"),
    [
        ({"roc_auc": 0.5, "ece": 0.75}, True, ()),  # both exactly at the tolerance
        ({"roc_auc": 0.4999, "ece": 0.75}, False, ("AUC",)),
        ({"roc_auc": 0.5, "ece": 0.7501}, False, ("ECE",)),
        ({"roc_auc": 0.1, "ece": 0.9}, False, ("AUC", "ECE")),
        ({"roc_auc": 0.99, "ece": 0.0}, True, ()),
    ],
)
def test_gate_boundaries_and_reasons(
    challenger: dict[str, float], passed: bool, failed_on: tuple[str, ...]
) -> None:
    result = gate(challenger, CHAMPION, EXACT, champion_version="4")
    assert result.passed is passed
    assert (result.challenger, result.champion, result.champion_version) == (
        challenger,
        CHAMPION,
        "4",
    )
    if passed:
        assert result.reason.endswith("within tolerance")
    else:
        assert [part.split()[0] for part in result.reason.split("; ")] == list(failed_on)


def test_no_champion_passes_without_evidence() -> None:
    result = gate({"roc_auc": 0.0, "ece": 1.0}, None, EXACT, champion_version="9")
    assert result.passed and result.reason == "no champion yet"
    assert result.champion is None and result.champion_version is None


def test_the_gate_keys_are_headline_metrics_and_the_bundle_carries_the_headline(
    trained: TrainedModel,
) -> None:
    assert set(GATE_METRICS) <= set(HEADLINE_METRICS)
    model = trained.results["model"]
    assert list(trained.bundle.metrics) == list(HEADLINE_METRICS)
    assert trained.bundle.metrics == {k: model[k] for k in HEADLINE_METRICS}
    assert gate_metrics(model) == {k: float(model[k]) for k in GATE_METRICS}


def test_event_champion_is_rescored_at_the_challenger_cutoffs(
    trained: TrainedModel, small_data: Dataset
) -> None:
    tf = trained.test_frame
    p = champion_probabilities(trained.bundle, tf, small_data.leads, small_data.events)
    # The same bundle as champion reproduces the challenger's own test probabilities.
    np.testing.assert_allclose(p, tf["model"].to_numpy(), rtol=1e-9, atol=1e-12)
    decision = gate_challenger(
        trained, trained.bundle, small_data.leads, small_data.events, EXACT, champion_version="1"
    )
    assert decision.passed and decision.champion_version == "1"
    assert decision.champion is not None
    for key in GATE_METRICS:
        assert decision.champion[key] == pytest.approx(decision.challenger[key], abs=1e-9)


def _fit_flat(
    folder: Path, config_name: str = "leadml.toml", **train: object
) -> tuple[TrainedModel, pd.DataFrame]:
    config = load_config(
        folder / config_name,
        overrides={"train": {"bootstrap_rounds": 0, "shap_sample": 100, "num_threads": 1} | train},
    )
    assert config.dataset is not None
    rows = read_flat(folder / "export.csv", config.dataset)
    return fit_and_evaluate_flat(rows, config), rows


@pytest.fixture(scope="module")
def flat_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("flat")
    write_export(folder, synthetic_export(2000, seed=4))
    return folder


@pytest.fixture(scope="module")
def flat(flat_folder: Path) -> tuple[TrainedModel, pd.DataFrame]:
    return _fit_flat(flat_folder)


def test_flat_champion_is_rescored_on_the_export_rows_of_the_test_window(
    flat: tuple[TrainedModel, pd.DataFrame],
) -> None:
    trained, rows = flat
    tf = trained.test_frame
    # Export rows in another order, plus rows outside the test window: only the test
    # window is scored, in the challenger's order.
    shuffled = rows.sample(frac=1.0, random_state=0)
    p = champion_probabilities(trained.bundle, tf, shuffled, pd.DataFrame())
    np.testing.assert_allclose(p, tf["model"].to_numpy(), rtol=1e-9, atol=1e-12)
    comparison = compare_with_champion(trained, trained.bundle, shuffled, pd.DataFrame())
    assert comparison.frame.index.equals(tf.index)
    assert comparison.metrics["roc_auc"].nunique() == 1


def test_a_flat_champion_is_judged_by_its_own_bundle(
    flat: tuple[TrainedModel, pd.DataFrame], flat_folder: Path
) -> None:
    """A weaker flat champion (one stump), re-scored through the Scorer on the export rows,
    gives the very probabilities and metrics its own training saw on the same test window."""
    trained, rows = flat
    weak, _ = _fit_flat(flat_folder, max_rounds=1, num_leaves=2)
    assert weak.test_frame.index.equals(trained.test_frame.index)  # the same split
    p = champion_probabilities(weak.bundle, trained.test_frame, rows, pd.DataFrame())
    np.testing.assert_allclose(p, weak.test_frame["model"].to_numpy(), rtol=1e-9, atol=1e-12)
    decision = gate_challenger(trained, weak.bundle, rows, pd.DataFrame(), GateConfig())
    assert decision.champion is not None
    for key in GATE_METRICS:
        assert decision.champion[key] == pytest.approx(weak.results["model"][key], abs=1e-9)
    assert decision.champion["roc_auc"] < decision.challenger["roc_auc"]
    assert decision.passed
    # Judged the other way round, the stump fails against the stronger champion.
    reverse = gate_challenger(weak, trained.bundle, rows, pd.DataFrame(), GateConfig())
    assert not reverse.passed and reverse.reason.startswith("AUC")


def test_models_of_different_data_are_not_compared(
    trained: TrainedModel, small_data: Dataset, flat: tuple[TrainedModel, pd.DataFrame]
) -> None:
    flat_model, _rows = flat
    decision = gate_challenger(
        trained, flat_model.bundle, small_data.leads, small_data.events, EXACT, champion_version="3"
    )
    assert decision.passed and decision.champion is None
    with pytest.raises(InputError, match="different kinds of data"):
        compare_with_champion(trained, flat_model.bundle, small_data.leads, small_data.events)


# --- the gate names feature changes and never keeps a suspect champion by its AUC -----------


def test_the_gate_names_added_and_removed_features() -> None:
    changes = FeatureChanges(added=("Employees",), removed=("Budget", "Tags"))
    passed = gate({"roc_auc": 0.75, "ece": 0.25}, CHAMPION, EXACT, changes=changes)
    assert passed.passed and passed.reason.endswith(
        "within tolerance; features: added Employees; removed Budget, Tags"
    )
    failed = gate({"roc_auc": 0.1, "ece": 0.25}, CHAMPION, EXACT, changes=changes)
    assert not failed.passed and "removed Budget, Tags" in failed.reason


def test_a_suspect_champion_is_reported_with_the_command_that_replaces_it() -> None:
    flag = LeakFlag("Deal Amount", "presence", "filled for 8.0% of converted leads (24 of 300)")
    changes = FeatureChanges(removed=("Deal Amount",), suspect=(flag,))
    result = gate(
        {"roc_auc": 0.50, "ece": 0.25},  # far below the champion's AUC
        CHAMPION,
        EXACT,
        champion_version="3",
        changes=changes,
        challenger_version="4",
    )
    assert not result.passed and result.suspect_champion  # not promoted silently either
    assert result.reason.startswith("champion version 3 is suspect: it used Deal Amount")
    assert "filled for 8.0% of converted leads (24 of 300)" in result.reason
    assert "no reason to keep it" in result.reason and "leadml promote 4" in result.reason
    assert "removed Deal Amount" in result.reason


def _deal_amount(frame: pd.DataFrame, seed: int = 0) -> pd.Series:
    """A deal column filled only for 8% of the converted leads."""
    rng = np.random.default_rng(seed)
    filled = (frame["Converted"] == "1") & (rng.random(len(frame)) < 0.08)
    amounts = pd.Series(rng.integers(1_000, 50_000, len(frame)).astype(str), index=frame.index)
    return amounts.where(filled, "")


def test_a_champion_that_used_a_column_the_guard_refuses_is_suspect(tmp_path: Path) -> None:
    frame = synthetic_export(1500, seed=4)
    frame["Deal Amount"] = _deal_amount(frame)
    config_path = write_export(tmp_path, frame)  # the challenger: the plain mapping
    text = config_path.read_text(encoding="utf-8").replace(
        'Employees = { role = "firmographic" }', 'Employees = { role = "ignore" }'
    )
    leaky = '"Deal Amount" = { role = "firmographic", type = "numeric" }\n'
    leaky += '[train]\nallow_leaky = ["Deal Amount"]\n'
    (tmp_path / "champion.toml").write_text(text + leaky, encoding="utf-8")
    champion, _ = _fit_flat(tmp_path, config_name="champion.toml")
    challenger, rows = _fit_flat(tmp_path)
    decision = gate_challenger(
        challenger,
        champion.bundle,
        rows,
        pd.DataFrame(),
        GateConfig(),
        champion_version="1",
        challenger_version="2",
    )
    assert decision.changes.added == ("Employees",)
    assert decision.changes.removed == ("Deal Amount",)
    assert [f.column for f in decision.changes.suspect] == ["Deal Amount"]
    assert not decision.passed and decision.suspect_champion
    assert "Deal Amount [presence]" in decision.reason and "leadml promote 2" in decision.reason
