"""The one frame -> LightGBM matrix conversion, and category values -> level codes."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from leadml.features.matrix import FEW_ROWS, frame_matrix, level_codes, unseen_warnings
from leadml.features.spec import encode, encode_columns, encode_numpy, learn_spec
from leadml.model.pipeline import TrainedModel
from tests.features.test_spec import CONFIG

PARAMS = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5,
          "cat_smooth": 1, "num_leaves": 7, "seed": 1, "num_threads": 1}  # fmt: skip


def _mixed(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with NaN, a float32 column, an int column and a categorical with NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    colour = rng.choice(np.array(["red", "green", "blue", None], dtype=object), n)
    frame = pd.DataFrame(
        {
            "x": x,
            "small": rng.normal(size=n).astype(np.float32),
            "count": rng.integers(0, 6, n),
            "colour": pd.Categorical(colour, categories=["blue", "green", "red"]),
        }
    )
    y = (np.nan_to_num(x) + (colour == "red") + rng.normal(size=n) > 0.5).astype(int)
    return frame, y


def test_frame_matrix_predicts_exactly_as_lightgbm_converts_the_frame() -> None:
    frame, y = _mixed(600, seed=1)
    booster = lgb.train(PARAMS, lgb.Dataset(frame, label=y), num_boost_round=15)
    later, _ = _mixed(200, seed=2)
    # Categories in another order, plus one unseen at training: codes follow the model's.
    later["colour"] = later["colour"].cat.set_categories(["red", "purple", "green", "blue"])
    later.loc[later.index[:5], "colour"] = "purple"
    matrix = frame_matrix(later, booster.pandas_categorical)
    assert matrix.dtype == np.float64 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(booster.predict(matrix), booster.predict(later), strict=True)
    assert np.isnan(matrix[:5, 3]).all()  # unseen -> NaN, as LightGBM reads it
    # float32 columns stay float32-rounded; no column needing float64 would round them.
    np.testing.assert_array_equal(matrix[:, 1], later["small"].to_numpy(np.float64))


def test_frame_matrix_of_an_encode_frame_is_its_level_codes() -> None:
    frame, _ = _mixed(50, seed=3)
    matrix = frame_matrix(frame)  # the frame's own categories: an `encode` frame's levels
    codes = frame["colour"].cat.codes.to_numpy().astype(np.float64)
    codes[codes < 0] = np.nan
    np.testing.assert_array_equal(matrix[:, 3], codes)
    np.testing.assert_array_equal(matrix[:, 0], frame["x"].to_numpy())
    np.testing.assert_array_equal(matrix[:, 2], frame["count"].to_numpy(np.float64))


def test_frame_matrix_refuses_a_frame_that_does_not_fit_the_model() -> None:
    frame, _ = _mixed(20, seed=4)
    with pytest.raises(ValueError, match="1 categorical columns, the model was trained with 0"):
        frame_matrix(frame, ())
    with pytest.raises(ValueError, match="column 'text' is not numeric or categorical"):
        frame_matrix(frame.assign(text=["a"] * 20), [["blue", "green", "red"]])


def test_encode_numpy_and_the_serving_path_are_the_one_conversion() -> None:
    from leadml.features.build import build_features, feature_columns
    from tests.features.test_build import as_arrays, synthetic_inputs

    leads, events, cutoff = synthetic_inputs(n_leads=200, n_events=4000, seed=13)
    raw = build_features(leads, events, cutoff, CONFIG)
    spec = learn_spec(raw.iloc[:100], CONFIG)
    one = frame_matrix(encode(raw, spec)[0])
    np.testing.assert_array_equal(encode_numpy(raw, spec), one, strict=True)
    served, _ = encode_columns(feature_columns(*as_arrays(leads, events, cutoff), CONFIG), spec)
    np.testing.assert_array_equal(served, one, strict=True)


def test_the_mlflow_example_matrix_predicts_like_the_encoded_frame(trained: TrainedModel) -> None:
    X = trained.shap_features.head(50)
    booster = trained.bundle.booster
    np.testing.assert_array_equal(booster.predict(frame_matrix(X)), booster.predict(X))


@pytest.mark.parametrize("long_tail", [False, True])
def test_level_codes_agree_for_a_few_values_and_for_many(long_tail: bool) -> None:
    levels = ("a", "b", "other", "unknown")
    position = {v: i for i, v in enumerate(levels)}
    index = pd.Index(list(levels), dtype=object)
    fallback = 2 if long_tail else 3
    values = np.array(["a", None, "b", "zz", np.nan, "a", "zz", "yy"] * 5, dtype=object)
    args = (position, index, 3, fallback, long_tail)
    few = [level_codes(values[i : i + FEW_ROWS], *args) for i in range(0, len(values), FEW_ROWS)]
    many, unseen = level_codes(values, *args)
    assert isinstance(few[0][0], list) and isinstance(many, np.ndarray)
    np.testing.assert_array_equal(np.concatenate([np.asarray(c) for c, _ in few]), many)
    assert [u for _, found in few for u in found] == unseen
    assert many[:8].tolist() == [0, 3, 1, fallback, 3, 0, fallback, fallback]
    assert unseen == ([] if long_tail else ["zz", "zz", "yy"] * 5)


def test_unseen_warnings_list_the_commonest_then_count_the_rest() -> None:
    lines = unseen_warnings("industry", ["x", "x", "y", "a", "b", "c", "d"])
    assert lines[0] == (
        "industry 'x' is not in the data the model was trained on (2 leads): "
        "scored as unknown, like a missing value"
    )
    assert (
        lines[-1] == "1 more industry values not in the data the model was trained on: "
        "scored as unknown"
    )
    assert len(lines) == 6
