"""Calibrator: plain-data round trip, agreement with sklearn, and an honest method choice."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from leadml.errors import InputError
from leadml.model.calibration import (
    METHODS,
    PROB_EPS,
    Calibrator,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
)
from leadml.model.evaluate import expected_calibration_error


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores that rank well but are overconfident and shifted: true logit = raw/3 - 1."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, 3.0, n)
    y = (rng.random(n) < _sigmoid(raw / 3.0 - 1.0)).astype(int)
    return raw, y


@pytest.mark.parametrize("fitter", [fit_isotonic, fit_platt])
def test_json_round_trip_is_exact(fitter: Callable[[np.ndarray, np.ndarray], Calibrator]) -> None:
    raw, y = _miscalibrated(2000, seed=1)
    calibrator = fitter(raw, y)
    restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert restored == calibrator
    grid = np.linspace(-15, 15, 301)
    np.testing.assert_array_equal(restored.apply(grid), calibrator.apply(grid))


def test_isotonic_apply_equals_sklearn_predict() -> None:
    raw, y = _miscalibrated(3000, seed=2)
    calibrator = fit_isotonic(raw, y)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    # Include points far outside the fitted range: both must clip to the end values.
    grid = np.r_[np.linspace(raw.min() - 5, raw.max() + 5, 2001), raw[:500]]
    expected = np.clip(iso.predict(grid), PROB_EPS, 1 - PROB_EPS)
    np.testing.assert_allclose(calibrator.apply(grid), expected, rtol=0, atol=1e-12)


def test_platt_recovers_a_known_logistic_map() -> None:
    raw, y = _miscalibrated(40_000, seed=3)
    params = fit_platt(raw, y).params
    assert params["slope"] == pytest.approx(1 / 3, abs=0.03)
    assert params["intercept"] == pytest.approx(-1.0, abs=0.06)


def test_calibration_improves_ece_on_held_out_rows() -> None:
    raw, y = _miscalibrated(8000, seed=4)
    calibrator, _ = fit_calibrator(raw[:4000], y[:4000], seed=0)
    before = expected_calibration_error(y[4000:], _sigmoid(raw[4000:]))
    after = expected_calibration_error(y[4000:], calibrator.apply(raw[4000:]))
    assert before > 0.1
    assert after < 0.03


def test_choice_is_recorded_and_follows_out_of_fold_log_loss() -> None:
    raw, y = _miscalibrated(3000, seed=5)
    calibrator, comparison = fit_calibrator(raw, y, seed=0)
    assert set(comparison) == {"isotonic", "platt", "chosen"}
    losses = {m: float(comparison[m]) for m in METHODS}
    assert comparison["chosen"] == min(losses, key=losses.__getitem__)
    assert calibrator.method == comparison["chosen"]


def test_platt_wins_when_the_truth_is_logistic_and_data_is_small() -> None:
    # A smooth logistic truth and few rows: isotonic's steps overfit out of fold.
    raw, y = _miscalibrated(400, seed=6)
    calibrator, comparison = fit_calibrator(raw, y, seed=0)
    assert comparison["chosen"] == "platt"
    assert calibrator.method == "platt"


def test_isotonic_wins_when_the_truth_is_a_step() -> None:
    # Conversion jumps from 5% to 60% at raw = 0: no sigmoid fits that, isotonic does.
    rng = np.random.default_rng(7)
    raw = rng.normal(0.0, 1.0, 6000)
    y = (rng.random(6000) < np.where(raw > 0, 0.6, 0.05)).astype(int)
    calibrator, comparison = fit_calibrator(raw, y, seed=0)
    assert comparison["chosen"] == "isotonic"
    assert calibrator.method == "isotonic"
    assert float(comparison["isotonic"]) < float(comparison["platt"])


def test_choice_is_deterministic_for_a_seed() -> None:
    raw, y = _miscalibrated(1000, seed=8)
    assert fit_calibrator(raw, y, seed=3) == fit_calibrator(raw, y, seed=3)


def test_probabilities_are_clipped_away_from_zero_and_one() -> None:
    platt = Calibrator("platt", {"slope": 10.0, "intercept": 0.0})
    out = platt.apply(np.array([-1000.0, 0.0, 1000.0]))
    assert out[0] == PROB_EPS and out[2] == 1 - PROB_EPS and out[1] == 0.5
    iso = Calibrator("isotonic", {"x": [0.0, 1.0], "y": [0.0, 1.0]})
    assert iso.apply(np.array([-5.0, 5.0])).tolist() == [PROB_EPS, 1 - PROB_EPS]


def test_params_are_copied_into_plain_floats() -> None:
    x = np.array([0.0, 1.0])
    calibrator = Calibrator("isotonic", {"x": x, "y": [0.1, 0.2]})
    x[0] = 99.0  # the caller's array changing must not change the calibrator
    assert calibrator.params["x"] == [0.0, 1.0]
    assert all(type(v) is float for v in calibrator.params["x"])


@pytest.mark.parametrize(
    "data",
    [
        {"method": "spline", "params": {}},
        {"method": "platt", "params": {"slope": 1.0}},
        {"method": "platt", "params": {"slope": float("nan"), "intercept": 0.0}},
        {"method": "isotonic", "params": {"x": [0.0, 1.0], "y": [0.5]}},
        {"method": "isotonic", "params": {"x": [1.0, 0.0], "y": [0.1, 0.2]}},
        {"params": {}},
    ],
)
def test_malformed_calibrator_is_an_input_error(data: dict) -> None:
    with pytest.raises(InputError):
        Calibrator.from_dict(data)


def test_one_class_validation_window_is_an_input_error() -> None:
    with pytest.raises(InputError, match="too few"):
        fit_calibrator(np.arange(50.0), np.zeros(50, dtype=int))
