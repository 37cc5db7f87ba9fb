"""Probability calibration stored as plain data, so it travels in bundle.json, not a pickle.

A `Calibrator` maps a raw score (LightGBM log-odds, or any monotone score) to a
probability. `fit_calibrator` picks isotonic or Platt by out-of-fold log loss on
the validation window, then refits the winner on the whole window.

scikit-learn is imported by the fitting functions only: applying a calibrator is plain
numpy, and the API server starts faster without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from leadml.errors import InputError

Method = Literal["isotonic", "platt"]
METHODS: tuple[Method, ...] = ("isotonic", "platt")
PROB_EPS = 1e-6
"""Calibrated probabilities are clipped to [PROB_EPS, 1 - PROB_EPS]: never certain."""
_PLATT_C = 1e6
"""Inverse regularisation for Platt scaling: large, i.e. nearly unregularised."""


@dataclass(frozen=True)
class Calibrator:
    """A fitted monotone map from raw score to probability, held as JSON-ready numbers.

    `isotonic` params: `x` and `y`, the knots of a piecewise-linear map (sklearn's
    `X_thresholds_` / `y_thresholds_`), flat beyond the ends.
    `platt` params: `slope` and `intercept` of p = sigmoid(slope * raw + intercept).
    """

    method: Method
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_params(self.method, self.params)
        # Hold a private plain-float copy: the caller's dict (or arrays) can't change us.
        try:
            plain = _plain(self.params)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"invalid {self.method} calibrator: {exc}",
                column="calibration",
                expected="numbers or lists of numbers",
            ) from exc
        object.__setattr__(self, "params", plain)

    def apply(self, raw_score: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores, clipped to [1e-6, 1 - 1e-6]."""
        raw = np.asarray(raw_score, dtype=np.float64)
        if self.method == "isotonic":
            x = np.asarray(self.params["x"], dtype=np.float64)
            y = np.asarray(self.params["y"], dtype=np.float64)
            prob = np.interp(raw, x, y)
        else:
            logit = self.params["slope"] * raw + self.params["intercept"]
            prob = _sigmoid(logit)
        return np.clip(prob, PROB_EPS, 1.0 - PROB_EPS)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: floats and lists of floats only."""
        return {"method": self.method, "params": _plain(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild from `to_dict` output; raises InputError on anything malformed."""
        method = data.get("method") if isinstance(data, dict) else None
        params = data.get("params") if isinstance(data, dict) else None
        if method not in METHODS or not isinstance(params, dict):
            raise InputError(
                "malformed calibrator",
                column="calibration",
                value=data,
                expected="{'method': 'isotonic'|'platt', 'params': {...}}",
            )
        return cls(method=method, params=params)


def fit_isotonic(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression of the label on the raw score, clipped outside the seen range."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(raw, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return Calibrator(
        "isotonic",
        {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()},
    )


def fit_platt(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Platt scaling: a 1-D logistic regression on the raw score, nearly unregularised."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(raw, dtype=np.float64)
    # Standardise for a well-conditioned solve, then map the coefficients back.
    centre = float(x.mean())
    scale = float(x.std()) or 1.0
    model = LogisticRegression(C=_PLATT_C, max_iter=1000)
    model.fit(((x - centre) / scale).reshape(-1, 1), np.asarray(y, dtype=np.int64))
    slope = float(model.coef_[0, 0]) / scale
    intercept = float(model.intercept_[0]) - slope * centre
    return Calibrator("platt", {"slope": slope, "intercept": intercept})


_FITTERS = {"isotonic": fit_isotonic, "platt": fit_platt}


def fit_calibrator(
    raw_valid: np.ndarray, y_valid: np.ndarray, *, n_folds: int = 5, seed: int = 0
) -> tuple[Calibrator, dict[str, float | str]]:
    """Choose isotonic or Platt by cross-fitted log loss, then refit the winner on all rows.

    Scoring each method on the rows it was fitted on would flatter isotonic (it can
    memorise), so each method's log loss is out-of-fold over stratified, seeded folds.
    Returns the calibrator and {'isotonic': logloss, 'platt': logloss, 'chosen': name};
    on a tie Platt wins, being the simpler map.
    """
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    raw = np.asarray(raw_valid, dtype=np.float64).ravel()
    y = _binary_labels(y_valid, len(raw))
    folds = min(n_folds, int(y.sum()), int(len(y) - y.sum()))
    if folds < 2:
        raise InputError(
            "too few converted or non-converted leads to calibrate",
            column="validation window",
            value={"rows": len(y), "positives": int(y.sum())},
            expected="at least 2 of each class",
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold = {name: np.empty(len(y)) for name in METHODS}
    for train_idx, test_idx in splitter.split(raw.reshape(-1, 1), y):
        for name in METHODS:
            fitted = _FITTERS[name](raw[train_idx], y[train_idx])
            out_of_fold[name][test_idx] = fitted.apply(raw[test_idx])
    losses = {name: float(log_loss(y, out_of_fold[name], labels=[0, 1])) for name in METHODS}
    chosen: Method = "isotonic" if losses["isotonic"] < losses["platt"] else "platt"
    comparison: dict[str, float | str] = {name: losses[name] for name in METHODS}
    comparison["chosen"] = chosen
    return _FITTERS[chosen](raw, y), comparison


def _binary_labels(y: np.ndarray, n: int) -> np.ndarray:
    """Labels as an int array of 0/1 with the expected length, or InputError."""
    labels = np.asarray(y).ravel()
    if len(labels) != n:
        raise InputError(
            "scores and labels differ in length", value=(n, len(labels)), expected="equal"
        )
    if not np.isin(labels, (0, 1)).all():
        raise InputError("labels must be 0/1", column="label", expected="0 or 1")
    return labels.astype(np.int64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Deep copy with numpy scalars/arrays turned into Python floats and lists."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, list | tuple | np.ndarray):
            out[str(key)] = [float(v) for v in value]
        else:
            out[str(key)] = float(value)
    return out


def _check_params(method: str, params: dict[str, Any]) -> None:
    """Fail early, with the facts, on a calibrator that could not be applied."""
    if method == "isotonic":
        x, y = params.get("x"), params.get("y")
        ok = (
            isinstance(x, list | tuple | np.ndarray)
            and isinstance(y, list | tuple | np.ndarray)
            and len(x) == len(y) >= 1
            and bool(np.all(np.diff(np.asarray(x, dtype=np.float64)) >= 0))
        )
        expected = "x and y lists of equal length, x ascending"
    elif method == "platt":
        ok = all(
            isinstance(params.get(k), int | float) and math.isfinite(params[k])
            for k in ("slope", "intercept")
        )
        expected = "finite 'slope' and 'intercept'"
    else:
        ok, expected = False, "method 'isotonic' or 'platt'"
    if not ok:
        raise InputError(
            f"invalid {method} calibrator", column="calibration", value=params, expected=expected
        )
