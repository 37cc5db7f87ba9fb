"""TreeShap equals LightGBM's own `pred_contrib` on every kind of split and tree shape,
for one row or many, in one thread or several, and when many threads share one object."""

from __future__ import annotations

import threading
from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from leadml.explain.flatten import TABLE_MAX_FEATURES
from leadml.explain.treeshap import TreeShap
from leadml.model.pipeline import TrainedModel

TOLERANCE = 1e-9


def _train(
    X: np.ndarray,
    y: np.ndarray,
    rounds: int,
    categorical: list[int] | None = None,
    **params: object,
) -> lgb.Booster:
    base: dict[str, object] = {
        "objective": "binary",
        "verbosity": -1,
        "num_threads": 1,
        "seed": 1,
        "min_data_in_leaf": 5,
    }
    data = lgb.Dataset(X, label=y, categorical_feature=categorical or "auto")
    return lgb.train(base | params, data, num_boost_round=rounds)


def _assert_matches(booster: lgb.Booster, X: np.ndarray | pd.DataFrame, **build: int) -> None:
    """Many rows and single rows both equal pred_contrib."""
    shap = TreeShap.from_booster(booster, **build)
    theirs = np.asarray(booster.predict(X, pred_contrib=True))
    ours = shap.contributions(X)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    for i in (0, len(X) // 2, len(X) - 1):
        row = X.iloc[[i]] if isinstance(X, pd.DataFrame) else X[i : i + 1]
        np.testing.assert_allclose(
            shap.contributions(row), theirs[i : i + 1], rtol=0, atol=TOLERANCE
        )


def _numeric_with_nans(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, 6))
    X[rng.random(X.shape) < 0.15] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.isnan(X[:, 1]) - np.nan_to_num(X[:, 2]) * X[:, 3]
    y = (np.nan_to_num(signal) + rng.normal(size=len(X)) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_boosters_with_missing_values(seed: int) -> None:
    X, y = _numeric_with_nans(seed)
    booster = _train(X, y, rounds=30, num_leaves=31)
    kinds = {n["missing_type"] for n in _splits(booster)}
    assert "NaN" in kinds
    _assert_matches(booster, X)


def test_missing_type_zero_and_near_zero_values() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1500, 4))
    X[rng.random(X.shape) < 0.3] = 0.0
    X[rng.random(X.shape) < 0.1] = np.nan
    y = ((X[:, 0] == 0) ^ (np.nan_to_num(X[:, 1]) > 0)).astype(int)
    booster = _train(X, y, rounds=25, zero_as_missing=True)
    assert {n["missing_type"] for n in _splits(booster)} == {"Zero"}
    probe = X[:200].copy()
    probe[:20, :] = 1e-40  # LightGBM reads magnitudes <= 1e-35 as zero
    probe[20:40, :] = -1e-36
    probe[40:60, :] = 2e-35
    _assert_matches(booster, probe)


def test_missing_type_none_reads_nan_as_zero() -> None:
    X, y = _numeric_with_nans(3)
    booster = _train(np.nan_to_num(X), y, rounds=20, use_missing=False)
    assert {n["missing_type"] for n in _splits(booster)} == {"None"}
    _assert_matches(booster, X)  # NaNs at prediction time


def test_categorical_splits() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    X = np.column_stack(
        [
            rng.integers(0, 40, n).astype(float),
            rng.integers(0, 5, n).astype(float),
            rng.normal(size=n),
        ]
    )
    X[rng.random(n) < 0.1, 0] = np.nan
    y = ((X[:, 0] % 3 == 0) | (X[:, 1] == 2) ^ (X[:, 2] > 0.5)).astype(int)
    booster = _train(
        X,
        y,
        rounds=30,
        categorical=[0, 1],
        min_data_per_group=5,
        cat_smooth=1.0,
        max_cat_to_onehot=8,
    )
    assert any(n["decision_type"] == "==" for n in _splits(booster))
    probe = X[:300].copy()
    # unseen, negative, fractional, huge, infinite and tiny category values
    probe[:12, 0] = [45, -1, -0.5, 2.7, 3e9, -3e9, np.inf, -np.inf, 1e-40, 31.999, 32, 64]
    probe[12:20, 1] = [7, -2, 0.2, np.nan, 1e12, 4.99, 2.0, -0.0]
    _assert_matches(booster, probe)


def test_categorical_frames_follow_the_training_categories() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    colour = pd.Categorical(rng.choice(["red", "green", "blue", "teal"], n))
    frame = pd.DataFrame({"colour": colour, "size": rng.normal(size=n)})
    y = ((frame["colour"] == "teal").to_numpy() ^ (frame["size"] > 0).to_numpy()).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1, "min_data_per_group": 5},
        lgb.Dataset(frame, label=y),
        num_boost_round=15,
    )
    # Other category order, an unseen and a missing value: LightGBM remaps to training's.
    probe = pd.DataFrame(
        {
            "colour": pd.Categorical(
                ["teal", "red", "purple", None, "blue", "green"],
                categories=["teal", "purple", "red", "green", "blue"],
            ),
            "size": [0.5, -0.5, 0.1, 0.2, np.nan, 3.0],
        }
    )
    _assert_matches(booster, probe)


def test_deep_trees_with_long_paths() -> None:
    rng = np.random.default_rng(13)
    X = rng.normal(size=(3000, 40))
    y = (rng.random(len(X)) < 0.5).astype(int)  # noise: leaf-wise growth goes deep
    booster = _train(
        X, y, rounds=3, num_leaves=1200, min_data_in_leaf=1, min_sum_hessian_in_leaf=0.0
    )
    shap = TreeShap.from_booster(booster)
    assert shap.max_path_features > TABLE_MAX_FEATURES
    assert 0 < shap.tabulated_leaves < 1  # short paths tabulated, long ones per row
    _assert_matches(booster, X[:300])
    _assert_matches(booster, X[:300], table_budget=0)  # everything per row


def test_without_tables_on_ordinary_trees() -> None:
    X, y = _numeric_with_nans(4)
    booster = _train(X, y, rounds=20, num_leaves=31)
    assert TreeShap.from_booster(booster, table_budget=0).tabulated_leaves == 0
    _assert_matches(booster, X[:200], table_budget=0)


def test_single_leaf_model() -> None:
    rng = np.random.default_rng(17)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    booster = _train(X, y, rounds=3, min_data_in_leaf=150)  # no split possible
    assert [t["num_leaves"] for t in booster.dump_model()["tree_info"]] == [1]
    _assert_matches(booster, X)


def test_multiclass_with_single_leaf_trees() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] > 0).astype(int)
    y[X[:, 1] > 2.05] = 2  # a rare class whose trees cannot split
    booster = _train(
        X, y, rounds=10, objective="multiclass", num_class=3, num_leaves=4,
        min_data_in_leaf=20, min_sum_hessian_in_leaf=40.0,
    )  # fmt: skip
    leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    assert 1 in leaves and max(leaves) > 1
    _assert_matches(booster, X[:300])


def test_trained_bundle(trained: TrainedModel) -> None:
    booster = trained.bundle.booster
    frame = trained.shap_features
    _assert_matches(booster, frame)
    shap = TreeShap.from_booster(booster)
    matrix = shap.matrix(frame)  # categoricals as codes: the serving path's input
    np.testing.assert_allclose(
        shap.contributions(matrix),
        booster.predict(frame, pred_contrib=True),
        rtol=0,
        atol=TOLERANCE,
    )


def test_threads_give_identical_values() -> None:
    X, y = _numeric_with_nans(21)
    booster = _train(X, y, rounds=20, num_leaves=15)
    shap = TreeShap.from_booster(booster)
    rows = np.concatenate([X, X, X[:333]])
    serial = shap.contributions(rows)
    for threads in (2, 3, 8):
        assert np.array_equal(shap.contributions(rows, num_threads=threads), serial)


def test_one_object_shared_by_many_threads() -> None:
    X, y = _numeric_with_nans(23)
    booster = _train(X, y, rounds=20, num_leaves=15)
    shap = TreeShap.from_booster(booster)
    slices = [X[i : i + size] for i, size in enumerate([1, 1, 2, 7, 64, 65, 300, 1000])]
    expected = [shap.contributions(part) for part in slices]
    failures: list[str] = []
    start = threading.Barrier(8)

    def work(k: int) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            for repeat in range(20):
                j = (k + repeat) % len(slices)
                got = shap.contributions(slices[j], num_threads=1 + repeat % 2)
                if not np.array_equal(got, expected[j]):
                    failures.append(f"thread {k}, slice {j}")

        return run

    threads = [threading.Thread(target=work(k)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_empty_input_and_one_dimensional_row() -> None:
    X, y = _numeric_with_nans(25)
    booster = _train(X, y, rounds=5)
    shap = TreeShap.from_booster(booster)
    assert shap.contributions(np.empty((0, X.shape[1]))).shape == (0, X.shape[1] + 1)
    np.testing.assert_array_equal(shap.contributions(X[3]), shap.contributions(X[3:4]))


def test_integer_matrices_go_through_float32_like_lightgbm() -> None:
    rng = np.random.default_rng(27)
    X = rng.integers(0, 1 << 26, size=(500, 3))
    y = (X[:, 0] > X[:, 1]).astype(int)
    booster = _train(X.astype(np.float64), y, rounds=10)
    _assert_matches(booster, X)


def test_float32_frames_are_read_as_lightgbm_reads_them() -> None:
    X, y = _numeric_with_nans(28)
    frame = pd.DataFrame(X.astype(np.float32)).assign(small=np.int16(3))
    booster = _train(frame.to_numpy(np.float64), y, rounds=15)
    _assert_matches(booster, frame)  # LightGBM predicts float32 values here


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, 3)), "expected a matrix with 6 feature columns"),
        (np.zeros((2, 2, 6)), "expected a matrix with 6 feature columns"),
    ],
)
def test_wrong_shapes_are_refused(bad: np.ndarray, message: str) -> None:
    X, y = _numeric_with_nans(29)
    shap = TreeShap.from_booster(_train(X, y, rounds=2))
    with pytest.raises(ValueError, match=message):
        shap.contributions(bad)


def test_bad_thread_count_and_frames_are_refused() -> None:
    X, y = _numeric_with_nans(31)
    shap = TreeShap.from_booster(_train(X, y, rounds=2))
    with pytest.raises(ValueError, match="num_threads"):
        shap.contributions(X, num_threads=0)
    frame = pd.DataFrame(X).assign(extra=pd.Categorical(["a"] * len(X)))
    with pytest.raises(ValueError, match="categorical columns"):
        shap.contributions(frame)
    text = pd.DataFrame(X).astype(object).assign(name="x").iloc[:, 1:]
    with pytest.raises(ValueError, match="not numeric"):
        shap.contributions(text)


def test_unsupported_models_are_refused() -> None:
    rng = np.random.default_rng(33)
    X = rng.normal(size=(300, 3))
    y = X[:, 0] + rng.normal(size=len(X))
    linear = lgb.train(
        {"objective": "regression", "linear_tree": True, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, label=y),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="linear trees"):
        TreeShap.from_booster(linear)
    forest = lgb.train(
        {
            "objective": "regression",
            "boosting": "rf",
            "bagging_fraction": 0.5,
            "bagging_freq": 1,
            "verbosity": -1,
            "num_threads": 1,
        },
        lgb.Dataset(X, label=y),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="random forest"):
        TreeShap.from_booster(forest)


def _splits(booster: lgb.Booster) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    stack = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            out.append(node)
            stack += [node["left_child"], node["right_child"]]
    return out
