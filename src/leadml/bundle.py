"""The model bundle: the pickle-free contract between training and everything after it.

A bundle folder holds two files:

- `model.txt`: the LightGBM booster in its native text format;
- `bundle.json`: the feature spec (types, category levels), the calibration map,
  score quantiles and grade thresholds, the cutoff and window config, metrics,
  the training-data digest and the leadml version.

Loading a bundle parses JSON and a LightGBM text file. No code is ever unpickled.
`bundle.json` also records the SHA-256 and size of `model.txt`, so that a truncated or
changed model file is refused with a clear error instead of crashing the process inside
LightGBM's parser (see `leadml.model_file`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from leadml import __version__
from leadml.config import GradesConfig, LabelConfig
from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError, ModelNotFoundError, write_error
from leadml.features.spec import FeatureSpec
from leadml.model.calibration import Calibrator
from leadml.model_file import DIGEST_KEY, read_booster, record

MODEL_FILE = "model.txt"
BUNDLE_FILE = "bundle.json"
FORMAT_VERSION = 1
GRADES = ("A", "B", "C", "D")
DEFAULT_GRADE_SHARES = GradesConfig().fractions()
"""`[grades] shares` by default: top 10% of validation leads are A, the next 20% B, the
next 30% C, the rest D."""
GRADE_BASIS_KEY = "grade_basis"
"""`extra` key: the shares the grade thresholds hold and the rows they were computed over."""
AGE_RANGE_KEY = "age_range_days"
"""`extra` key: [youngest, oldest] lead age in days among a snapshot model's training rows."""


@dataclass(frozen=True)
class Bundle:
    """Everything needed to score a lead, as plain data plus a native LightGBM model."""

    booster: lgb.Booster
    spec: FeatureSpec
    calibrator: Calibrator
    labels: LabelConfig
    score_quantiles: tuple[float, ...]
    """Validation probability percentiles 1..98: a score of s beats s% of validation leads."""
    grade_thresholds: dict[str, float]
    """Minimum calibrated probability for grades A, B and C (anything lower is D)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    data_digest: str = ""
    training_window: dict[str, dict[str, str]] = field(default_factory=dict)
    """First and last cutoff and lead count of the train, valid and test windows."""
    trained_at: str = ""
    leadml_version: str = __version__
    name: str = ""
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Forward-compatible room (e.g. drift reference profiles)."""
    flat: DatasetConfig | None = None
    """A flat-export model's mapping (types resolved): features come from the row's fields
    with `features.flat`, no events. None: the event model."""

    @property
    def max_age_days(self) -> int | None:
        """The oldest lead age (days) a snapshot model was trained on; None: not recorded."""
        found = self.extra.get(AGE_RANGE_KEY)
        return None if not found else int(found[1])

    def with_registry(self, name: str, version: str) -> Bundle:
        """The same bundle labelled with its registered model name and version."""
        return replace(self, name=name, version=version)

    def to_dict(self) -> dict[str, Any]:
        """The JSON side of the bundle (everything except the booster)."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "leadml_version": self.leadml_version,
            "trained_at": self.trained_at,
            "data_digest": self.data_digest,
            "training_window": self.training_window,
            "labels": self.labels.model_dump(mode="json"),
            "feature_spec": self.spec.to_dict(),
            "calibration": self.calibrator.to_dict(),
            "score_quantiles": list(self.score_quantiles),
            "grade_thresholds": self.grade_thresholds,
            "metrics": self.metrics,
            "extra": self.extra,
            **({"dataset": self.flat.to_dict()} if self.flat is not None else {}),
        }


def score_quantiles(probabilities: np.ndarray) -> tuple[float, ...]:
    """Percentiles 1..98 of validation probabilities, used to turn p into a 1-99 score."""
    return tuple(float(q) for q in np.quantile(probabilities, np.arange(1, 99) / 100.0))


def grade_thresholds(
    probabilities: np.ndarray, shares: dict[str, float] = DEFAULT_GRADE_SHARES
) -> dict[str, float]:
    """Probability cut-offs so that grades take the given shares of validation leads."""
    thresholds: dict[str, float] = {}
    cumulative = 0.0
    for grade in GRADES[:-1]:
        cumulative += shares[grade]
        thresholds[grade] = float(np.quantile(probabilities, 1.0 - cumulative))
    return thresholds


def is_stale(age_days: np.ndarray, max_open_days: int) -> np.ndarray:
    """Which open leads are stale: older than `max_open_days` whole days (0: none are).

    The one rule for `[score] max_open_days`: batch scoring leaves these leads out of the
    list, and training sets grade thresholds over the validation rows that are not."""
    age = np.asarray(age_days, dtype=np.float64)
    if max_open_days <= 0:
        return np.zeros(age.shape, dtype=bool)
    return age > max_open_days


def scores_from_probability(p: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """Map probabilities to integer scores 1..99 by their rank among validation leads."""
    return (np.searchsorted(np.asarray(quantiles), p, side="right") + 1).clip(1, 99)


def grades_from_probability(p: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Grade letters A-D from the bundle's probability thresholds."""
    out = np.full(p.shape, "D", dtype=object)
    for grade in reversed(GRADES[:-1]):  # C, then B, then A overwrite
        out[p >= thresholds[grade]] = grade
    return out


def save_bundle(bundle: Bundle, directory: Path) -> Path:
    """Write the bundle atomically: into a temp folder beside `directory`, then rename."""
    directory = Path(directory)
    what = "the model bundle"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as exc:
        raise write_error(exc, what, directory) from exc
    try:
        model_bytes = bundle.booster.model_to_string().encode("utf-8")
        (tmp / MODEL_FILE).write_bytes(model_bytes)
        data = bundle.to_dict() | {DIGEST_KEY: record(model_bytes)}
        (tmp / BUNDLE_FILE).write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        _swap_in(tmp, directory)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(exc, what, directory) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _swap_in(tmp: Path, directory: Path) -> None:
    """Put the folder `tmp` at `directory`; a bundle already there is moved aside first and
    removed only once the new one is in place (a failure puts the old one back)."""
    if not directory.exists():
        os.replace(tmp, directory)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
    os.replace(directory, aside)  # onto the empty folder just made
    try:
        os.replace(tmp, directory)
    except BaseException:
        os.replace(aside, directory)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def load_bundle(directory: Path, *, trusted: bool = True) -> Bundle:
    """Read a bundle folder. Parses JSON and LightGBM text only; never unpickles.

    A `model.txt` that differs from the digest in bundle.json is refused. One without a
    digest (an older bundle), or from a source that is not `trusted` (a registry download),
    is parsed in a child process first, so a file that would crash LightGBM raises an
    InputError instead (`leadml.model_file.read_booster`).
    """
    directory = Path(directory)
    model_path, json_path = directory / MODEL_FILE, directory / BUNDLE_FILE
    if not model_path.exists() or not json_path.exists():
        raise ModelNotFoundError(
            f"{directory} is not a model bundle: expected {MODEL_FILE} and {BUNDLE_FILE} in it. "
            "Train one with `leadml train` or pass a registry reference such as "
            "models:/lead-conversion@champion."
        )
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"corrupt bundle: {exc}", file=json_path, expected="valid JSON") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise InputError(
            "unsupported bundle format",
            file=json_path,
            column="format_version",
            value=data.get("format_version"),
            expected=str(FORMAT_VERSION),
        )
    recorded = data.get(DIGEST_KEY)
    if recorded is not None and not isinstance(recorded, dict):
        raise InputError(
            "corrupt bundle: the model file's digest is not a record",
            file=json_path,
            column=DIGEST_KEY,
            value=recorded,
            expected='{"sha256": ..., "bytes": ...} as `leadml train` writes it',
        )
    booster = read_booster(model_path, recorded, trusted=trusted)
    try:
        spec = FeatureSpec.from_dict(data["feature_spec"])
        bundle = Bundle(
            booster=booster,
            spec=spec,
            calibrator=Calibrator.from_dict(data["calibration"]),
            # Bundles from before snapshot training were trained at one age per lead.
            labels=LabelConfig.model_validate(
                {"snapshot_days": [], "snapshot_every_days": 0, **data["labels"]}
            ),
            score_quantiles=tuple(float(q) for q in data["score_quantiles"]),
            grade_thresholds={k: float(v) for k, v in data["grade_thresholds"].items()},
            metrics=data.get("metrics", {}),
            data_digest=data.get("data_digest", ""),
            training_window=data.get("training_window", {}),
            trained_at=data.get("trained_at", ""),
            leadml_version=data.get("leadml_version", ""),
            name=data.get("name", ""),
            version=str(data.get("version", "")),
            extra=data.get("extra", {}),
            flat=DatasetConfig.from_dict(data["dataset"]) if data.get("dataset") else None,
        )
    except (KeyError, ValueError, TypeError, lgb.basic.LightGBMError) as exc:
        raise InputError(
            f"corrupt bundle: {type(exc).__name__}: {exc}",
            file=directory,
            expected=f"a {BUNDLE_FILE} and {MODEL_FILE} written by `leadml train`",
        ) from exc
    if booster.num_feature() != len(spec.columns):
        raise InputError(
            "model and feature spec disagree",
            file=directory,
            value=f"{booster.num_feature()} model features vs {len(spec.columns)} in the spec",
            expected="a bundle written by one `leadml train` run",
        )
    return bundle
