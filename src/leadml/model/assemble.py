"""Bundle assembly: the fitted booster and calibration plus what travels with them (score
quantiles, grade thresholds, the drift reference, lineage), and the SHAP sample."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml import __version__
from leadml.bundle import (
    AGE_RANGE_KEY,
    GRADE_BASIS_KEY,
    Bundle,
    grade_thresholds,
    is_stale,
    score_quantiles,
)
from leadml.config import Config, TrainConfig
from leadml.explain.reasons import contributions
from leadml.features.spec import FeatureSpec, encode
from leadml.model.assess import HEADLINE_METRICS
from leadml.model.fit import Fitted
from leadml.model.snapshots import AGE
from leadml.model.train import TimeSplit
from leadml.monitor.drift import REFERENCE_KEY, build_reference
from leadml.scoring import probability_from_matrix


def assemble_bundle(
    fitted: Fitted,
    raw: pd.DataFrame,
    split: TimeSplit,
    spec: FeatureSpec,
    config: Config,
    *,
    digest: str,
    rows: pd.DataFrame | None = None,
) -> Bundle:
    """The bundle that ships, before its test metrics are known (see `with_metrics`):
    scores and grades come from validation probabilities, never from the test window.
    Snapshot training also records the lead ages the model was fitted on, so scoring can
    warn about leads older than anything it saw."""
    extra: dict[str, Any] = {REFERENCE_KEY: drift_reference(raw, split, spec, fitted.p_valid)}
    if rows is not None:
        ages = rows.loc[split.train, AGE]
        extra[AGE_RANGE_KEY] = [int(ages.min()), int(ages.max())]
    thresholds, basis = validation_grades(fitted.p_valid, split, config, rows)
    extra[GRADE_BASIS_KEY] = basis
    return Bundle(
        booster=fitted.booster,
        spec=spec,
        calibrator=fitted.calibrator,
        labels=config.labels,
        score_quantiles=score_quantiles(fitted.p_valid),
        grade_thresholds=thresholds,
        data_digest=digest,
        training_window=split.windows,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        leadml_version=__version__,
        extra=extra,
    )


def validation_grades(
    p_valid: np.ndarray, split: TimeSplit, config: Config, rows: pd.DataFrame | None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Grade thresholds that hold `[grades] shares` over the validation rows the list would
    show, and what they were computed over (for the bundle).

    Snapshot rows are open leads of every age; those older than `[score] max_open_days`
    never reach the list (`bundle.is_stale`), so they are left out here too. Without
    snapshots every validation lead is at one age and all of them count."""
    shares = config.grades.fractions()
    shown = np.ones(len(p_valid), dtype=bool)
    if rows is not None:
        ages = rows.loc[split.valid, AGE].to_numpy()
        shown = ~is_stale(ages, config.score.max_open_days)
        if not shown.any():  # every validation row is stale: better all rows than none
            shown[:] = True
    basis = {
        "shares": list(config.grades.shares),
        "max_open_days": config.score.max_open_days,
        "rows": int(shown.sum()),
        "of_rows": len(p_valid),
    }
    return grade_thresholds(p_valid[shown], shares), basis


def with_metrics(bundle: Bundle, model_metrics: dict[str, float]) -> Bundle:
    """The bundle carrying its model's headline test metrics."""
    return replace(bundle, metrics={k: model_metrics[k] for k in HEADLINE_METRICS})


def drift_reference(
    raw: pd.DataFrame, split: TimeSplit, spec: FeatureSpec, p_valid: np.ndarray
) -> dict[str, Any]:
    """The drift reference stored with the model: train-window features, validation scores."""
    reference = build_reference(raw.loc[split.train], spec, p_valid, window=split.windows["train"])
    return reference.to_dict()


def shap_sample(
    booster: lgb.Booster, X_test: pd.DataFrame, tc: TrainConfig
) -> tuple[np.ndarray, pd.DataFrame]:
    """Exact TreeSHAP contributions (bias column dropped) of a seeded sample of test leads,
    for the run's explanation plots, and the encoded rows they explain."""
    n_shap = min(tc.shap_sample, len(X_test))
    ids = X_test.index[np.random.default_rng(tc.seed).permutation(len(X_test))[:n_shap]]
    shap_X = X_test.loc[ids]
    return contributions(booster, shap_X)[:, :-1], shap_X


def with_standard_reference(
    bundle: Bundle,
    raw_train: pd.DataFrame,
    train_cutoff: pd.Series,
    raw_valid: pd.DataFrame | None,
    *,
    p_valid: np.ndarray | None = None,
    leads: int | None = None,
) -> Bundle:
    """The drift reference of a snapshot model, at the standard cutoff: drift compares new
    leads at that one comparable moment, since the ages in an open list depend on how long
    the data runs. Train-window features and validation-window scores, as for one cutoff.
    The Dask engine passes a sample as `raw_train` with the window's `leads` count, and the
    validation scores it computed per partition as `p_valid` (`raw_valid` None)."""
    if p_valid is None:
        assert raw_valid is not None
        X_valid, _ = encode(raw_valid, bundle.spec)
        p_valid = probability_from_matrix(bundle, X_valid).probability
    window = {
        "first_cutoff": train_cutoff.min().isoformat(),
        "last_cutoff": train_cutoff.max().isoformat(),
        "leads": str(len(raw_train) if leads is None else leads),
        "moment": "created_at + observation_days",
    }
    reference = build_reference(raw_train, bundle.spec, p_valid, window=window)
    return replace(bundle, extra=bundle.extra | {REFERENCE_KEY: reference.to_dict()})
