"""Baselines: the points rules behave like a marketer's score; the logistic pipeline is robust."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from leadml.errors import InputError
from leadml.model.baselines import LogisticBaseline, PointsScore


def _lead(**values: object) -> pd.DataFrame:
    """One lead with no activity and no fit signals, overridden by `values`."""
    row: dict[str, object] = {
        "count_demo_request_all": 0.0,
        "count_page_view_all": 0.0,
        "count_unsubscribe_all": 0.0,
        "days_since_last_page_view": np.nan,
        "days_since_last_demo_request": np.nan,
        "seniority": np.nan,
        "is_corporate_email": False,
        "industry": "retail",
        "lead_source": "paid_search",
    }
    row.update(values)
    return pd.DataFrame([row])


def _points(**values: object) -> float:
    return float(PointsScore().points(_lead(**values))[0])


def _funnel(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A small feature frame whose conversions follow demo requests and seniority."""
    rng = np.random.default_rng(seed)
    demos = rng.poisson(0.4, n).astype(float)
    seniority = rng.choice([0.0, 1.0, 2.0, 3.0, 4.0, np.nan], n)
    X = pd.DataFrame(
        {
            "count_demo_request_all": demos,
            "count_page_view_all": rng.poisson(5, n).astype(float),
            "days_since_last_page_view": rng.uniform(0, 60, n),
            "engagement_score": rng.gamma(2.0, 1.0, n),
            "seniority": seniority,
            "is_corporate_email": rng.random(n) < 0.6,
            "industry": pd.Series(
                np.array(["software", "retail", "healthcare", None], dtype=object)[
                    rng.integers(0, 4, n)
                ],
                dtype="str",
            ),
            "lead_source": pd.Categorical(rng.choice(["paid_search", "referral", "event"], n)),
            "lead_id": [f"L{i}" for i in range(n)],
        }
    )
    logit = -2.5 + 1.2 * demos + 0.4 * np.nan_to_num(seniority, nan=0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_a_demo_request_adds_thirty_points() -> None:
    assert _points(count_demo_request_all=1.0) - _points() == 30.0


def test_points_never_fall_as_demo_requests_grow() -> None:
    X = pd.concat([_lead(count_demo_request_all=float(k)) for k in range(6)], ignore_index=True)
    model = PointsScore().fit(*_funnel(2000, seed=1))
    assert (np.diff(PointsScore().points(X)) >= 0).all()
    assert (np.diff(model.predict_proba(X)[:, 1]) >= 0).all()
    assert model.predict_proba(X)[1, 1] > model.predict_proba(X)[0, 1]


def test_capped_actions_stop_adding_points() -> None:
    assert _points(count_page_view_all=100.0) == 15.0
    assert _points(count_demo_request_all=5.0) == 60.0


def test_inactivity_decays_activity_points() -> None:
    fresh = _points(count_demo_request_all=1.0, days_since_last_demo_request=1.0)
    stale = _points(count_demo_request_all=1.0, days_since_last_demo_request=30.0)
    assert fresh == 30.0
    assert stale == 30.0 - 5 * 4  # four full weeks without activity


def test_decay_uses_the_most_recent_event_and_never_goes_below_zero_activity() -> None:
    recent = _points(
        count_demo_request_all=1.0,
        days_since_last_demo_request=60.0,
        days_since_last_page_view=2.0,
    )
    assert recent == 30.0
    very_stale = _points(
        count_demo_request_all=1.0, days_since_last_demo_request=400.0, seniority=3.0
    )
    assert very_stale == 10.0  # activity floors at 0; fit points stay


def test_fit_points_and_unsubscribe() -> None:
    assert _points(seniority=2.0) == 10.0  # director
    assert _points(seniority=1.0) == 0.0  # manager
    assert _points(is_corporate_email=True) == 5.0
    assert _points(industry="software") == 5.0
    assert _points(industry=None) == 0.0
    assert _points(count_unsubscribe_all=2.0) == -20.0


def test_missing_columns_and_values_score_zero() -> None:
    X = pd.DataFrame({"lead_source": ["email", "event"]})
    np.testing.assert_array_equal(PointsScore().points(X), [0.0, 0.0])
    nan_counts = _lead(count_demo_request_all=np.nan, count_page_view_all=pd.NA)
    assert PointsScore().points(nan_counts)[0] == 0.0


def test_windowed_count_is_used_when_the_all_time_count_is_absent() -> None:
    X = pd.DataFrame({"count_demo_request_90d": [1.0], "count_demo_request_7d": [0.0]})
    assert PointsScore().points(X)[0] == 30.0


@pytest.mark.parametrize("estimator", [PointsScore(), LogisticBaseline()])
def test_predict_before_fit_raises_not_fitted(estimator: PointsScore | LogisticBaseline) -> None:
    X, _ = _funnel(50, seed=2)
    with pytest.raises(NotFittedError):
        estimator.predict_proba(X)


@pytest.mark.parametrize("estimator", [PointsScore(), LogisticBaseline(C=0.5)])
def test_estimator_contract(estimator: PointsScore | LogisticBaseline) -> None:
    X, y = _funnel(600, seed=3)
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]  # __init__ learns nothing
    assert copy.fit(X, y) is copy
    p = copy.predict_proba(X)[:, 1]
    assert p.shape == (600,) and ((p > 0) & (p < 1)).all()


def test_points_score_probability_ranks_like_the_points() -> None:
    X, y = _funnel(3000, seed=4)
    model = PointsScore().fit(X, y)
    assert model.calibrator_.method == "platt"
    assert model.calibrator_.params["slope"] > 0
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) == pytest.approx(
        roc_auc_score(y, model.points(X))
    )


def test_logistic_learns_signal_and_skips_identifiers() -> None:
    X, y = _funnel(3000, seed=5)
    model = LogisticBaseline().fit(X.iloc[:2000], y[:2000])
    assert "lead_id" not in model.numeric_features_ + model.categorical_features_
    assert "industry" in model.categorical_features_
    assert "lead_source" in model.categorical_features_
    assert "is_corporate_email" in model.numeric_features_
    assert roc_auc_score(y[2000:], model.predict_proba(X.iloc[2000:])[:, 1]) > 0.7


def test_logistic_handles_nan_and_unseen_categories() -> None:
    X, y = _funnel(800, seed=6)
    model = LogisticBaseline().fit(X, y)
    new = X.iloc[:3].copy()
    new["industry"] = pd.Series(["space_mining", None, "retail"], index=new.index, dtype="str")
    new["lead_source"] = pd.Categorical(["carrier_pigeon", None, "event"])
    new["seniority"] = np.nan
    new["engagement_score"] = [np.nan, 1.0, np.nan]
    p = model.predict_proba(new)[:, 1]
    assert p.shape == (3,) and np.isfinite(p).all()


def test_logistic_does_not_mutate_its_input() -> None:
    X, y = _funnel(300, seed=7)
    before = X.copy()
    LogisticBaseline().fit(X, y).predict_proba(X)
    pd.testing.assert_frame_equal(X, before)


def test_logistic_missing_feature_column_is_an_input_error() -> None:
    X, y = _funnel(300, seed=8)
    model = LogisticBaseline().fit(X, y)
    with pytest.raises(InputError, match="missing"):
        model.predict_proba(X.drop(columns=["seniority"]))


@pytest.mark.parametrize("estimator", [PointsScore(), LogisticBaseline()])
def test_predict_proba_follows_the_scikit_learn_contract(
    estimator: PointsScore | LogisticBaseline,
) -> None:
    X, y = _funnel(700, seed=9)
    model = clone(estimator).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (700, 2) and proba.dtype == np.float64
    np.testing.assert_array_equal(model.classes_, [0, 1])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Column 1 is the probability of converting the 1-D `predict_proba` used to return.
    if isinstance(model, PointsScore):
        before = model.calibrator_.apply(model.points(X))
    else:
        needed = [*model.numeric_features_, *model.categorical_features_]
        before = model.pipeline_.predict_proba(X[needed])[:, 1]
    np.testing.assert_array_equal(proba[:, 1], before)
    assert roc_auc_score(y, proba[:, 1]) > 0.5 > roc_auc_score(y, proba[:, 0])
