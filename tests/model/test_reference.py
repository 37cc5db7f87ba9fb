"""The plain LightGBM reference: default parameters, pandas categories, early stopping."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.model.reference import as_lightgbm_frame, fit_plain_reference


def _raw(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["referral", "social", "paid"], n)
    visits = rng.poisson(3, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    logit = -2 + 1.5 * (channel == "referral") + 0.3 * np.nan_to_num(visits)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    channel_obj = channel.astype(object)
    channel_obj[rng.random(n) < 0.05] = None
    return pd.DataFrame({"channel": channel_obj, "visits": visits}), y


def test_text_becomes_categories_with_the_training_levels() -> None:
    raw, _ = _raw(50, 0)
    X = as_lightgbm_frame(raw)
    assert isinstance(X["channel"].dtype, pd.CategoricalDtype) and X["visits"].dtype == float
    unseen = as_lightgbm_frame(
        pd.DataFrame({"channel": ["webinar", "social"], "visits": [1.0, 2.0]}),
        {"channel": list(X["channel"].cat.categories)},
    )
    assert unseen["channel"].isna().tolist() == [True, False]  # unknown level -> missing
    assert list(unseen["channel"].cat.categories) == list(X["channel"].cat.categories)


def test_the_reference_learns_the_signal_and_is_seeded() -> None:
    raw, y = _raw(3_000, 1)
    train, valid, test = raw.index[:2000], raw.index[2000:2500], raw.index[2500:]
    fit = [
        fit_plain_reference(raw.loc[train], y[train], raw.loc[valid], y[valid], seed=3, threads=1)
        for _ in range(2)
    ]
    p = [model.predict_proba(raw.loc[test]) for model in fit]
    np.testing.assert_array_equal(p[0], p[1])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[test], p[0]) > 0.7
    assert fit[0].booster.best_iteration < 2000  # early stopping on the validation rows
