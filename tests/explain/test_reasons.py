"""Exact TreeSHAP contributions and the reasons built from them."""

from __future__ import annotations

import threading
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
from shap.explainers._tree import TreeEnsemble

from leadml.bundle import Bundle
from leadml.data.load import Dataset
from leadml.errors import InputError
from leadml.explain.reasons import (
    Explainer,
    FieldMap,
    contributions,
    probability_delta,
    reasons,
    treeshap_for,
)
from leadml.features.describe import absent
from leadml.features.spec import FeatureSpec
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer


def explain(
    leads: pd.DataFrame, events: pd.DataFrame, model: Bundle, *, top_k: int = 3
) -> pd.DataFrame:
    """Score leads at the bundle's own cutoff and explain each score: one row per lead.

    What the package's test-only `explain.explain` wrapper did; it lived in the package
    and imported the Scorer, which imports the explainer: an import cycle.
    """
    return Scorer(model).score(leads, events, explain=True, top_k=top_k).frame


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


def _reference_reasons(
    contrib: np.ndarray, raw: pd.DataFrame, p: np.ndarray, spec: FeatureSpec, top_k: int
) -> list[dict[str, list[dict[str, Any]]]]:
    """The plain per-lead loop that defines the reasons' content and order (all but the
    sentence, see `_texts_removed`): each field's columns summed; the strongest column is
    the reason's feature and value; an absent field (an event never done, no activity in
    the last 30 days, or every column missing, zero or 'unknown') is never a reason for
    the lead."""
    fmap = FieldMap.from_spec(spec)
    names = spec.names
    per_column = contrib[:, : len(names)]
    per_field = np.zeros((len(per_column), len(fmap.fields)))
    for i, k in np.ndindex(per_field.shape):  # each field's columns, added in column order
        for j in np.flatnonzero(fmap.matrix[:, k]):
            per_field[i, k] += per_column[i, j]
    field_of = np.argmax(fmap.matrix, axis=1)
    order = np.argsort(-per_field, axis=1, kind="stable")
    values = raw[names].to_numpy(dtype=object)
    columns = {name: raw[name].to_numpy() for name in names}
    out = []
    for i in range(len(per_field)):
        row = per_field[i]

        def strongest(k: int, i: int = i) -> int:
            members = np.flatnonzero(field_of == k)
            return int(members[np.argmax(np.abs(per_column[i, members]))])

        def recorded(k: int, i: int = i) -> bool:
            members = [names[j] for j in np.flatnonzero(field_of == k)]
            recency = [c for c in members if c.startswith("days_since_last_")]
            if recency == ["days_since_last_event"]:  # engagement: active lately
                return bool(columns[recency[0]][i] <= 30)
            if len(recency) == 1:  # an event field: did it at some point
                return bool(columns[recency[0]][i] >= 0)
            return not all(absent(c, columns[c][i : i + 1])[0] for c in members)

        lead: dict[str, list[dict[str, Any]]] = {"positive": [], "negative": []}
        for key, picked in (
            ("positive", [k for k in order[i] if recorded(k)][:top_k]),
            ("negative", order[i, ::-1][:top_k]),
        ):
            for k in picked:
                if (row[k] > 0) != (key == "positive") or row[k] == 0:
                    continue
                j = strongest(k)
                value = values[i, j]
                plain = value.item() if isinstance(value, np.generic) else value
                if isinstance(plain, float) and np.isnan(plain):
                    plain = None
                delta = probability_delta(np.array([p[i]]), np.array([row[k]]))[0]
                lead[key].append(
                    {
                        "field": fmap.fields[k],
                        "feature": names[j],
                        "value": plain,
                        "contribution": float(row[k]),
                        "probability_delta": float(delta),
                    }
                )
        out.append(lead)
    return out


def _texts_removed(out: list[dict[str, list[dict[str, Any]]]]) -> list[Any]:
    return [{side: [{k: v for k, v in r.items() if k != "text"} for r in rs]
             for side, rs in lead.items()} for lead in out]  # fmt: skip


@pytest.fixture(scope="module")
def scored(
    small_data: Dataset, trained: TrainedModel
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Raw features, encoded frame, contributions and probabilities of 400 leads."""
    from leadml.features.spec import encode
    from leadml.scoring import Scorer

    scorer = Scorer(trained.bundle)
    leads = small_data.leads.head(400)
    raw = scorer.raw_features(leads, small_data.events, scorer.cutoff_for(leads, None))
    X, _ = encode(raw, trained.bundle.spec)
    contrib = contributions(trained.bundle.booster, X)
    p = scorer.probability(scorer.raw_score(X))
    return raw, X, contrib, p


@pytest.mark.parametrize("top_k", [0, 1, 3, 8, 1000])
def test_reasons_equal_the_per_lead_definition(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
    trained: TrainedModel,
    top_k: int,
) -> None:
    raw, _, contrib, p = scored
    spec = trained.bundle.spec
    expected = _reference_reasons(contrib, raw, p, spec, top_k)
    found = reasons(contrib, raw, p, spec, top_k=top_k)
    assert _texts_removed(found) == expected
    # The serving path passes columns, not a frame: same reasons, same words.
    columns = {name: raw[name].to_numpy() for name in raw.columns}
    assert Explainer(trained.bundle).reasons(contrib, columns, p, top_k=top_k) == found


def test_reasons_of_one_lead_and_of_none(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    raw, _, contrib, p = scored
    spec = trained.bundle.spec
    one = reasons(contrib[7:8], raw.iloc[7:8], p[7:8], spec)
    assert _texts_removed(one) == _reference_reasons(contrib[7:8], raw.iloc[7:8], p[7:8], spec, 3)
    # A lead's words do not depend on the batch it is explained in.
    assert one == reasons(contrib, raw, p, spec)[7:8]
    assert reasons(contrib[:0], raw.iloc[:0], p[:0], spec) == []


def test_explainer_contributions_equal_pred_contrib(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    raw, X, contrib, p = scored
    explainer = Explainer(trained.bundle)
    theirs = trained.bundle.booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(explainer.contributions(X), theirs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib, theirs, rtol=0, atol=1e-9)
    assert explainer.treeshap is not None
    matrix = explainer.treeshap.matrix(X)  # categoricals as codes, as the API has them
    both = explainer.explain(matrix, raw, p, num_threads=2)
    assert both == reasons(contrib, raw, p, trained.bundle.spec)


def test_one_explainer_shared_by_threads(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    raw, X, _, p = scored
    explainer = Explainer(trained.bundle)
    parts = [slice(i, i + size) for i, size in ((0, 1), (5, 2), (10, 50), (60, 300))]
    expected = [explainer.explain(X.iloc[part], raw.iloc[part], p[part]) for part in parts]
    failures: list[int] = []
    start = threading.Barrier(6)

    def run(k: int) -> None:
        start.wait()
        for repeat in range(6):
            j = (k + repeat) % len(parts)
            part = parts[j]
            if explainer.explain(X.iloc[part], raw.iloc[part], p[part]) != expected[j]:
                failures.append(j)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_reasons_name_what_is_wrong_with_their_input(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    raw, _, contrib, p = scored
    spec = trained.bundle.spec
    strongest = reasons(contrib, raw, p, spec)[0]["positive"][0]["feature"]
    with pytest.raises(InputError, match=strongest):
        reasons(contrib[:1], raw.iloc[:1].drop(columns=strongest), p[:1], spec)
    columns = {name: raw[name].to_numpy()[:2] for name in raw.columns}
    with pytest.raises(InputError, match="values for 1 leads"):
        reasons(contrib[:1], columns, p[:1], spec)
    with pytest.raises(ValueError, match="probabilities"):
        reasons(contrib[:3], raw.iloc[:3], p[:2], spec)
    with pytest.raises(ValueError, match="do not cover"):
        reasons(contrib[:, :5], raw, p, spec)
    with pytest.raises(ValueError, match="top_k"):
        reasons(contrib, raw, p, spec, top_k=-1)


def test_treeshap_is_built_once_per_booster_and_follows_new_trees() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 4))
    y = (X[:, 0] + rng.normal(size=len(X)) > 0).astype(int)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1}
    booster = lgb.train(
        params, lgb.Dataset(X, label=y, free_raw_data=False), 5, keep_training_booster=True
    )
    first = treeshap_for(booster)
    assert first is not None and treeshap_for(booster) is first
    booster.update()  # one more tree: the cached TreeShap is stale
    assert treeshap_for(booster) is not first
    np.testing.assert_allclose(
        contributions(booster, X), booster.predict(X, pred_contrib=True), rtol=0, atol=1e-9
    )


def test_contributions_fall_back_to_lightgbm_for_unsupported_models() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3))
    y = X[:, 0] + rng.normal(size=len(X))
    params = {
        "objective": "regression",
        "boosting": "rf",  # averaged output: TreeShap leaves it to LightGBM
        "bagging_fraction": 0.5,
        "bagging_freq": 1,
        "verbosity": -1,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=3)
    assert treeshap_for(booster) is None
    np.testing.assert_array_equal(contributions(booster, X), booster.predict(X, pred_contrib=True))


def test_reasons_describe_each_value_as_it_is(
    scored: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    # Descriptions are shared between equal values, but 0.0 and -0.0 print differently
    # and every NaN is the same missing value (read against the leads: missing data is
    # never a reason for one).
    raw, _, _, p = scored
    spec = trained.bundle.spec
    name = "annual_revenue_log"
    j = spec.names.index(name)
    frame = raw.iloc[:6].copy()
    frame[name] = [0.0, -0.0, np.nan, 0.0, float("nan"), -0.0]
    contrib = np.zeros((6, len(spec.names) + 1))
    contrib[:, j] = -0.5
    out = reasons(contrib, frame, p[:6], spec, top_k=1)
    assert _texts_removed(out) == _reference_reasons(contrib, frame, p[:6], spec, 1)
    texts = [lead["negative"][0]["text"] for lead in out]
    assert texts[0] == texts[3] and texts[1] == texts[5] and texts[2] == texts[4]
    assert texts[0] != texts[1]


def test_a_flat_exports_reasons_read_in_words_and_missing_data_never_argues_for_a_lead() -> None:
    from leadml.config import FeatureConfig
    from leadml.data.mapping.config import DatasetConfig, FlatColumn
    from leadml.features.flat import flat_catalogue, flat_columns
    from leadml.features.spec import learn_spec

    dataset = DatasetConfig(
        label="Converted",
        columns={
            "TotalVisits": FlatColumn(role="engagement", type="numeric"),
            "Page.Views.Per.Visit": FlatColumn(role="engagement", type="numeric"),
            "Total Time Spent on Website": FlatColumn(
                role="engagement", type="numeric", label="Time on site", unit="min"
            ),
            "LeadQuality": FlatColumn(role="firmographic", type="categorical"),
        },
    )
    raw = flat_columns(
        {
            "TotalVisits": ["5", "12", "3"],
            "Page.Views.Per.Visit": ["2.3333333", "1", "4.5"],
            "Total Time Spent on Website": ["45.05554866", "3", "7"],
            "LeadQuality": [None, "Might be", "Select"],  # "Select" is a missing token
        },
        dataset,
    )
    spec = learn_spec(pd.DataFrame(raw), FeatureConfig(), catalogue=flat_catalogue(dataset))
    contrib = np.array(
        [  # visits, views per visit, time on site, lead quality, bias
            [0.2, 0.1, 0.3, 0.9, -1.0],  # missing quality pushes up most: not a reason for
            [0.2, 0.1, 0.3, 0.9, -1.0],  # the same push from a recorded value: a reason
            [0.2, 0.1, 0.3, -0.9, -1.0],  # missing quality pushing down: a reason against
        ]
    )
    out = reasons(contrib, raw, np.full(3, 0.3), spec, dataset=dataset)
    texts = [[r["text"] for r in lead["positive"]] for lead in out]
    assert texts[0] == ["Time on site: 45.1 min", "Total visits: 5", "Page views per visit: 2.33"]
    assert texts[1] == ["Lead quality: Might be", "Time on site: 3 min", "Total visits: 12"]
    assert [r["text"] for r in out[2]["negative"]] == ["Lead quality not recorded"]
    assert out[0]["negative"] == []
    # Only the words change: values and contributions stay exact.
    assert out[0]["positive"][0]["value"] == 45.05554866
    assert [r["contribution"] for r in out[0]["positive"]] == [0.3, 0.2, 0.1]
    assert contrib.sum(axis=1).tolist() == pytest.approx([0.5, 0.5, -1.3])
    # Without the mapping, the same columns still read in words (names humanised).
    plain = reasons(contrib, raw, np.full(3, 0.3), spec)
    assert plain[0]["positive"][0]["text"] == "Total time spent on website: 45.1"
