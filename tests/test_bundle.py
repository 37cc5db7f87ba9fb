"""The pickle-free bundle: exact round trip, no code on load, atomic writes."""

from __future__ import annotations

import errno
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
from leadml.errors import InputError, ModelNotFoundError, WriteError
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer
from tests.machine import small_disk


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


def test_the_model_file_is_what_lightgbm_saves(trained: TrainedModel, tmp_path: Path) -> None:
    """save_bundle writes LightGBM's model text itself (so a full disk is an OSError it
    can report): byte for byte what Booster.save_model writes."""
    path = save_bundle(trained.bundle, tmp_path / "b")
    trained.bundle.booster.save_model(str(tmp_path / "native.txt"))
    assert (path / MODEL_FILE).read_bytes() == (tmp_path / "native.txt").read_bytes()
    save_bundle(trained.bundle, tmp_path / "b")  # over the old one: moved aside, removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "native.txt"]


@pytest.mark.parametrize("disk", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_one_line_and_keeps_the_old_bundle(
    disk: str, trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "disk"
    with small_disk(folder, "64k", read_only=disk == "read-only") as mounted:
        if disk == "full":
            (folder / "b").mkdir()
            (folder / "b" / BUNDLE_FILE).write_text("{}", encoding="utf-8")  # an older one
            if not mounted:  # no tmpfs for this user: the write itself reports ENOSPC
                monkeypatch.setattr(Path, "write_text", _no_space)
        elif not mounted:
            pytest.skip("cannot mount a read-only tmpfs here")
        with pytest.raises(WriteError) as info:
            save_bundle(trained.bundle, folder / "b")
        monkeypatch.undo()
        reason = "the disk is full" if disk == "full" else "the file system is read-only"
        message = str(info.value)
        assert message.startswith(f"cannot write the model bundle {folder / 'b'}: {reason};")
        assert "\n" not in message
        if disk == "full":
            assert [p.name for p in folder.iterdir()] == ["b"]  # no temp folder left
            assert (folder / "b" / BUNDLE_FILE).read_text(encoding="utf-8") == "{}"
        else:
            assert list(folder.iterdir()) == []


def _no_space(*_args: object, **_kwargs: object) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")
