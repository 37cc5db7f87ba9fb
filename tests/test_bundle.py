"""The pickle-free bundle: exact round trip, no code on load, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leadml import bundle as bundle_mod
from leadml.bundle import (
    BUNDLE_FILE,
    MODEL_FILE,
    grade_thresholds,
    grades_from_probability,
    load_bundle,
    save_bundle,
    scores_from_probability,
)
from leadml.errors import InputError, ModelNotFoundError
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer


def test_round_trip_predictions_equal_to_1e12(trained: TrainedModel, tmp_path: Path) -> None:
    path = save_bundle(trained.bundle, tmp_path / "b")
    loaded = load_bundle(path)
    X = trained.shap_features
    before = trained.bundle.calibrator.apply(trained.bundle.booster.predict(X, raw_score=True))
    after = loaded.calibrator.apply(loaded.booster.predict(X, raw_score=True))
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12)
    assert loaded.spec == trained.bundle.spec
    assert loaded.grade_thresholds == trained.bundle.grade_thresholds


def test_bundle_holds_only_json_and_native_text(trained: TrainedModel, tmp_path: Path) -> None:
    path = save_bundle(trained.bundle, tmp_path / "b")
    assert sorted(p.name for p in path.iterdir()) == sorted([BUNDLE_FILE, MODEL_FILE])
    data = json.loads((path / BUNDLE_FILE).read_text())
    for key in (
        "feature_spec",
        "calibration",
        "grade_thresholds",
        "labels",
        "metrics",
        "data_digest",
        "leadml_version",
        "score_quantiles",
    ):
        assert key in data
    assert (path / MODEL_FILE).read_text().startswith("tree")
    raw = b"".join(p.read_bytes() for p in path.iterdir())
    assert b"\x80\x04" not in raw[:2] and b"pickle" not in raw


def test_corrupt_bundle_is_a_clear_error(trained: TrainedModel, tmp_path: Path) -> None:
    path = save_bundle(trained.bundle, tmp_path / "b")
    (path / BUNDLE_FILE).write_text("{not json")
    with pytest.raises(InputError, match="corrupt bundle"):
        load_bundle(path)
    with pytest.raises(ModelNotFoundError):
        load_bundle(tmp_path / "nothing-here")


def test_failed_save_leaves_nothing_behind(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle_mod.json, "dumps", boom)
    with pytest.raises(RuntimeError):
        save_bundle(trained.bundle, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_grades_take_the_documented_shares() -> None:
    p = np.linspace(0, 1, 10_001)
    thresholds = grade_thresholds(p)
    grades = grades_from_probability(p, thresholds)
    shares = {g: float(np.mean(grades == g)) for g in "ABCD"}
    assert shares["A"] == pytest.approx(0.10, abs=0.001)
    assert shares["B"] == pytest.approx(0.20, abs=0.001)
    assert shares["C"] == pytest.approx(0.30, abs=0.001)
    scores = scores_from_probability(p, tuple(np.quantile(p, np.arange(1, 99) / 100)))
    assert scores.min() == 1 and scores.max() == 99
    assert np.all(np.diff(scores) >= 0)


def test_scorer_on_reloaded_bundle_matches(trained: TrainedModel, tmp_path: Path) -> None:
    loaded = load_bundle(save_bundle(trained.bundle, tmp_path / "b"))
    raw = trained.shap_features
    a = Scorer(trained.bundle).raw_score(raw)
    b = Scorer(loaded).raw_score(raw)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
