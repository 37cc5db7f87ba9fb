"""Exact TreeSHAP contributions and the reasons built from them."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
from shap.explainers._tree import TreeEnsemble

from leadml.explain import FieldMap, contributions, explain, probability_delta, reasons
from leadml.io import Dataset
from leadml.pipeline import TrainedModel


def test_contributions_sum_to_the_raw_score(trained: TrainedModel) -> None:
    X = trained.shap_features
    contrib = contributions(trained.bundle.booster, X)
    raw = trained.bundle.booster.predict(X, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-9)


def test_contributions_match_shap_tree_explainer(trained: TrainedModel) -> None:
    X = trained.shap_features
    ours = contributions(trained.bundle.booster, X)
    theirs = shap.TreeExplainer(trained.bundle.booster).shap_values(X)
    theirs = np.asarray(theirs)
    assert np.max(np.abs(ours[:, :-1] - theirs)) <= 1e-6


def test_contributions_match_shaps_own_treeshap_algorithm(trained: TrainedModel) -> None:
    # shap hands LightGBM models back to LightGBM's own pred_contrib, so the check above
    # cannot disagree. Here shap parses the trees itself and runs its own TreeSHAP code,
    # an independent implementation (numeric features only: shap cannot parse
    # LightGBM's categorical splits).
    X = trained.shap_features.select_dtypes("number").astype(float)
    rng = np.random.default_rng(0)
    y = (X.fillna(0).to_numpy() @ rng.normal(size=X.shape[1]) > 0).astype(int)
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 15,
            "verbosity": -1,
            "seed": 1,
            "min_data_in_leaf": 5,
        },
        lgb.Dataset(X, label=y),
        num_boost_round=40,
    )
    ours = contributions(booster, X)
    ensemble = TreeEnsemble(booster)
    assert ensemble.trees is not None
    theirs = np.asarray(shap.TreeExplainer(ensemble.trees).shap_values(X.to_numpy()))
    assert np.max(np.abs(ours[:, :-1] - theirs)) <= 1e-6


def test_reasons_group_columns_by_business_field(trained: TrainedModel) -> None:
    spec = trained.bundle.spec
    fmap = FieldMap.from_spec(spec)
    assert fmap.matrix.sum(axis=1).tolist() == [1.0] * len(spec.columns)
    assert len(fmap.fields) < len(spec.columns)
    X = trained.shap_features.head(50)
    contrib = contributions(trained.bundle.booster, X)
    raw = trained.bundle.booster.predict(X, raw_score=True)
    p = trained.bundle.calibrator.apply(raw)
    # Raw (unencoded) values are what the sentences quote; encoded categoricals carry them.
    out = reasons(contrib, X, p, spec, top_k=3)
    assert len(out) == 50
    for lead in out:
        assert len(lead["positive"]) <= 3 and len(lead["negative"]) <= 3
        assert all(r["contribution"] > 0 and r["probability_delta"] > 0 for r in lead["positive"])
        assert all(r["contribution"] < 0 and r["probability_delta"] < 0 for r in lead["negative"])
        fields = [r["field"] for r in lead["positive"] + lead["negative"]]
        assert len(fields) == len(set(fields))
        assert all(isinstance(r["text"], str) and r["text"] for r in lead["positive"])


def test_probability_delta_is_signed_and_bounded() -> None:
    p = np.array([0.5, 0.5, 0.1])
    c = np.array([1.0, -1.0, 0.0])
    d = probability_delta(p, c)
    assert d[0] > 0 > d[1] and d[2] == pytest.approx(0.0)
    assert np.all(np.abs(d) < 1)


def test_explain_library_function(small_data: Dataset, trained: TrainedModel) -> None:
    leads = small_data.leads.head(20)
    frame = explain(leads, small_data.events, trained.bundle)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == list(leads["lead_id"])
    assert {"probability", "score", "grade", "reasons"} <= set(frame.columns)
    assert frame["probability"].between(0, 1).all()
