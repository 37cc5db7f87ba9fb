"""The time-ordered split and the LightGBM fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.config import TrainConfig
from leadml.errors import InputError
from leadml.model.pipeline import TrainedModel
from leadml.model.train import fit_booster, lgb_params, time_split


def _cutoffs(n: int) -> pd.Series:
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365, n), unit="D"
    )
    return pd.Series(stamps, index=pd.Index([f"L{i:04d}" for i in range(n)], name="lead_id"))


def test_split_is_in_time_order_and_never_random() -> None:
    cutoff = _cutoffs(1000)
    split = time_split(cutoff, train_fraction=0.7, valid_fraction=0.15)
    assert (len(split.train), len(split.valid), len(split.test)) == (700, 150, 150)
    assert cutoff.loc[split.train].max() <= cutoff.loc[split.valid].min()
    assert cutoff.loc[split.valid].max() <= cutoff.loc[split.test].min()
    assert not set(split.train) & set(split.test)
    # Same input, same split: nothing random about it.
    again = time_split(
        cutoff.sample(frac=1.0, random_state=1), train_fraction=0.7, valid_fraction=0.15
    )
    assert list(again.test) == list(split.test)


def test_split_refuses_fractions_without_a_test_window() -> None:
    with pytest.raises(InputError, match="test window"):
        time_split(_cutoffs(100), train_fraction=0.9, valid_fraction=0.1)


def test_trained_model_windows_follow_in_time(trained: TrainedModel) -> None:
    w = trained.split.windows
    assert w["train"]["last_cutoff"] <= w["valid"]["first_cutoff"]
    assert w["valid"]["last_cutoff"] <= w["test"]["first_cutoff"]


def test_monotone_constraints_reach_lightgbm(trained: TrainedModel) -> None:
    params = lgb_params(TrainConfig(), trained.bundle.spec)
    names = [c.name for c in trained.bundle.spec.columns]
    signs = dict(zip(names, params["monotone_constraints"], strict=True))
    assert signs["count_demo_request_30d"] == 1
    assert signs["days_since_last_quote_request"] == -1
    assert signs["industry"] == 0


def test_same_data_and_seed_give_identical_predictions(
    trained: TrainedModel, train_config: TrainConfig
) -> None:
    spec = trained.bundle.spec
    X = trained.shap_features
    rng = np.random.default_rng(0)
    y = (rng.random(len(X)) < 0.3).astype(int)
    cfg = train_config.model_copy(update={"max_rounds": 30, "early_stopping_rounds": 30})
    a = fit_booster(X, y, X, y, spec, cfg)
    b = fit_booster(X, y, X, y, spec, cfg)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
