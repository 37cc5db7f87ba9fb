"""The pickle-free bundle: exact round trip, no code on load, atomic writes."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml import bundle as bundle_mod
from leadml import model_file
from leadml.bundle import (
    BUNDLE_FILE,
    MODEL_FILE,
    grade_thresholds,
    grades_from_probability,
    load_bundle,
    save_bundle,
    scores_from_probability,
)
from leadml.config import load_config
from leadml.errors import InputError, ModelNotFoundError, WriteError
from leadml.model.assemble import validation_grades
from leadml.model.pipeline import TrainedModel
from leadml.model.snapshots import AGE
from leadml.model.train import TimeSplit
from leadml.scoring import Scorer
from tests.machine import did_not_run, small_disk


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
            did_not_run(
                "the read-only bundle test",
                "cannot mount a read-only tmpfs here",
                missing="tmpfs mount",
            )
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


def _truncate(text: str) -> str:
    return text[: len(text) // 2]


def _garble(text: str) -> str:
    return text.replace("leaf_value=", "leaf_value=abc ", 1)


CORRUPTIONS = [pytest.param(_truncate, id="truncated"), pytest.param(_garble, id="garbled")]


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_a_model_file_that_differs_from_its_digest_is_refused_without_parsing_it(
    trained: TrainedModel, tmp_path: Path, corrupt: Callable[[str], str]
) -> None:
    path = save_bundle(trained.bundle, tmp_path / "b")
    model = path / MODEL_FILE
    model.write_text(corrupt(model.read_text()))
    verdicts = dict(model_file._verdicts)
    with pytest.raises(InputError) as refused:
        load_bundle(path)
    message = str(refused.value)
    assert "\n" not in message and str(model) in message
    assert "does not match the digest" in message and "retrain" in message
    assert model_file._verdicts == verdicts  # refused by the digest: no child parse


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_an_older_bundle_with_a_corrupt_model_file_is_refused_by_a_child_parse(
    trained: TrainedModel, tmp_path: Path, corrupt: Callable[[str], str]
) -> None:
    """No digest (bundles saved before it was recorded): LightGBM would crash this process,
    so the file is parsed in a child first; the child dies, this process gets an error."""
    path = _older_bundle(save_bundle(trained.bundle, tmp_path / "b"))
    model = path / MODEL_FILE
    model.write_text(corrupt(model.read_text()))
    assert _crashes_lightgbm(model)  # the corruption is one that kills a process
    with pytest.raises(InputError, match="LightGBM cannot parse the model file") as refused:
        load_bundle(path)
    message = str(refused.value)
    assert "\n" not in message and str(model) in message and "retrain" in message
    assert "crashed (SIG" in message


def test_an_unvouched_model_file_is_parsed_in_a_child_once_then_loads(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older bundle, a registry download or another LightGBM's file: checked in a child
    once per file (the verdict is cached by digest), then loaded as usual."""
    older = _older_bundle(save_bundle(trained.bundle, tmp_path / "older"))
    downloaded = save_bundle(trained.bundle, tmp_path / "downloaded")
    data = json.loads((downloaded / BUNDLE_FILE).read_text())
    digest = data[model_file.DIGEST_KEY]["sha256"]
    model_file._verdicts.pop(digest, None)
    assert load_bundle(older).booster.num_trees() == trained.bundle.booster.num_trees()
    assert model_file._verdicts[digest] is None  # parsed in a child: fine

    def no_child(*_a: object, **_k: object) -> None:
        raise AssertionError("a second child parse of the same file")

    monkeypatch.setattr(model_file.subprocess, "run", no_child)
    load_bundle(downloaded, trusted=False)
    load_bundle(older)


def test_a_model_file_from_another_lightgbm_version_is_parsed_in_a_child(
    trained: TrainedModel, tmp_path: Path
) -> None:
    path = save_bundle(trained.bundle, tmp_path / "b")
    data = json.loads((path / BUNDLE_FILE).read_text())
    data[model_file.DIGEST_KEY]["lightgbm"] = "3.0.0"
    (path / BUNDLE_FILE).write_text(json.dumps(data))
    model_file._verdicts.pop(data[model_file.DIGEST_KEY]["sha256"], None)
    load_bundle(path)
    assert model_file._verdicts[data[model_file.DIGEST_KEY]["sha256"]] is None


def test_binary_junk_in_an_older_bundle_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    path = _older_bundle(save_bundle(trained.bundle, tmp_path / "b"))
    (path / MODEL_FILE).write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="NUL bytes"):
        load_bundle(path)
    (path / MODEL_FILE).write_text("tree\nthis is not a model\n")
    with pytest.raises(InputError, match="LightGBM cannot parse the model file"):
        load_bundle(path)


def _older_bundle(path: Path) -> Path:
    """The bundle as leadml wrote it before model-file digests: the same, without one."""
    data = json.loads((path / BUNDLE_FILE).read_text())
    del data[model_file.DIGEST_KEY]
    (path / BUNDLE_FILE).write_text(json.dumps(data))
    return path


def _crashes_lightgbm(model: Path) -> bool:
    """Whether LightGBM's own loader kills the process that parses `model`."""
    code = f"import lightgbm; lightgbm.Booster(model_file={str(model)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    return done.returncode < 0


def test_training_thresholds_hold_the_configured_shares_over_rows_the_list_shows(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    age = rng.integers(0, 400, n)
    # Stale rows (older than 180 days) score low: counted in, they would dilute grade A.
    p = np.where(age > 180, rng.uniform(0.0, 0.2, n), rng.uniform(0.0, 1.0, n))
    ids = pd.Index([f"r{i}" for i in range(n)], name="row")
    rows = pd.DataFrame({AGE: age}, index=ids)
    split = TimeSplit(pd.Index([]), ids, pd.Index([]), {})
    config = load_config(
        None, project_dir=tmp_path, overrides={"grades": {"shares": [20, 30, 30, 20]}}
    )
    thresholds, basis = validation_grades(p, split, config, rows)
    shown = age <= 180
    grades = grades_from_probability(p[shown], thresholds)
    for grade, share in zip("ABCD", (0.2, 0.3, 0.3, 0.2), strict=True):
        assert np.mean(grades == grade) == pytest.approx(share, abs=0.01)
    assert basis["rows"] == int(shown.sum()) and basis["of_rows"] == n
    assert basis["shares"] == [20, 30, 30, 20] and basis["max_open_days"] == 180
    everyone, _ = validation_grades(p, split, config, None)  # one cutoff: every row counts
    assert np.mean(grades_from_probability(p, everyone) == "A") == pytest.approx(0.2, abs=0.01)
    assert everyone["A"] < thresholds["A"]
