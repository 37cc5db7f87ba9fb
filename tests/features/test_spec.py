from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig
from leadml.errors import InputError
from leadml.features.build import build_features, feature_columns
from leadml.features.spec import (
    NEVER_DAYS,
    OTHER,
    FeatureColumn,
    FeatureSpec,
    encode,
    encode_columns,
    encode_numpy,
    learn_spec,
)
from tests.features.test_build import as_arrays, synthetic_inputs

CONFIG = FeatureConfig(campaign_min_leads=3)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    leads, events, cutoff = synthetic_inputs(n_leads=300, n_events=6000, seed=11)
    rng = np.random.default_rng(0)
    # Campaigns: two big ones, a long tail of one-lead campaigns.
    leads[schema.CAMPAIGN] = np.where(
        rng.random(len(leads)) < 0.7,
        rng.choice(["spring", "summer"], len(leads)),
        leads[schema.LEAD_ID],
    )
    return build_features(leads, events, cutoff, CONFIG)


def test_round_trip_through_json(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    again = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.config == CONFIG
    assert [c.levels for c in again.columns] == [c.levels for c in spec.columns]


def test_levels_come_from_training_rows_only(raw: pd.DataFrame) -> None:
    train = raw[raw["lead_source"] != "tiktok"]
    spec = learn_spec(train, CONFIG)
    levels = spec.column("lead_source").levels
    assert "tiktok" not in levels
    assert levels[-1] == schema.UNKNOWN
    assert list(levels[:-1]) == sorted(levels[:-1])
    test = raw[raw["lead_source"] == "tiktok"]
    X, warnings = encode(test, spec)
    assert (X["lead_source"] == schema.UNKNOWN).all()
    assert warnings[0].startswith("lead_source 'tiktok' is not in the data the model was")
    assert warnings[0].endswith("scored as unknown, like a missing value")


def test_a_level_of_the_training_data_outside_the_train_rows_is_known(raw: pd.DataFrame) -> None:
    """Levels learnt on the train window only made scoring call validation and test
    levels 'unseen'; with the whole training data as vocabulary they are levels."""
    train = raw[raw["lead_source"] != "tiktok"]
    spec = learn_spec(train, CONFIG, vocabulary=raw)
    assert "tiktok" in spec.column("lead_source").levels
    X, warnings = encode(raw[raw["lead_source"] == "tiktok"], spec)
    assert (X["lead_source"] == "tiktok").all()
    assert not [w for w in warnings if w.startswith("lead_source")]
    rows = raw.iloc[:2].copy()
    rows["campaign"] = ["one_lead_a", "one_lead_b"]  # one-lead campaigns stay the long tail
    assert learn_spec(train, CONFIG, vocabulary=rows).column("campaign").levels == (
        "spring", "summer", OTHER, schema.UNKNOWN,
    )  # fmt: skip


def test_missing_values_map_to_unknown_without_warning(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    rows = raw.iloc[:3].copy()
    rows["industry"] = np.nan
    X, warnings = encode(rows, spec)
    assert (X["industry"] == schema.UNKNOWN).all()
    assert not [w for w in warnings if w.startswith("industry")]


def test_campaign_long_tail_maps_to_other(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    assert spec.column("campaign").levels == ("spring", "summer", OTHER, schema.UNKNOWN)
    rows = raw.iloc[:3].copy()
    rows["campaign"] = ["spring", "brand_new_campaign", np.nan]
    X, warnings = encode(rows, spec)
    assert X["campaign"].tolist() == ["spring", OTHER, schema.UNKNOWN]
    assert not [w for w in warnings if w.startswith("campaign")]


def test_monotone_constraints_follow_a_sales_request(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    sign = {c.name: c.monotone for c in spec.columns}
    for t in schema.SALES_REQUEST_EVENTS:
        assert sign[f"count_{t}_30d"] == 1 and sign[f"count_{t}_all"] == 1
        assert sign[f"days_since_last_{t}"] == -1
    for name in ("engagement_score", "stage_reached", "total_events"):
        assert sign[name] == 1
    assert sign["days_since_last_event"] == -1
    # Content and firmographics stay unconstrained.
    assert sign["count_page_view_30d"] == 0 and sign["days_since_last_blog_view"] == 0
    assert all(sign[c.name] == 0 for c in spec.columns if c.kind == "categorical")


def test_never_happened_recency_sits_at_the_far_end_of_its_constraint(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    X, _ = encode(raw, spec)
    demo = X["days_since_last_demo_request"]
    never = raw["days_since_last_demo_request"].isna()
    assert never.any()
    assert (demo[never] == NEVER_DAYS).all() and demo.notna().all()
    # The raw frame keeps NaN: sentences still say "never".
    assert raw["days_since_last_demo_request"].isna().sum() == never.sum()


def test_encode_order_dtypes_and_codes(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    X, _ = encode(raw.iloc[::-1][list(reversed(raw.columns))], spec)  # any column order in
    assert list(X.columns) == spec.names
    matrix = encode_numpy(raw.iloc[::-1], spec)
    for j, column in enumerate(spec.columns):
        if column.kind == "categorical":
            assert list(X[column.name].cat.categories) == list(column.levels)
            np.testing.assert_array_equal(matrix[:, j], X[column.name].cat.codes.to_numpy())
        else:
            assert X[column.name].dtype == np.float64
            np.testing.assert_array_equal(matrix[:, j], X[column.name].to_numpy())


def test_booster_predicts_the_same_from_frame_and_numpy(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw.iloc[:200], CONFIG)
    X_train, _ = encode(raw.iloc[:200], spec)
    y = raw["count_demo_request_all"].iloc[:200] + raw["is_inbound"].iloc[:200].fillna(0) > 0
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5,
         "cat_smooth": 1, "num_leaves": 7, "seed": 1, "num_threads": 1},
        lgb.Dataset(X_train, label=y.astype(int).to_numpy()),
        num_boost_round=20,
    )  # fmt: skip
    X_test, _ = encode(raw.iloc[200:], spec)
    from_frame = booster.predict(X_test)
    from_numpy = booster.predict(encode_numpy(raw.iloc[200:], spec))
    np.testing.assert_array_equal(from_frame, from_numpy)
    one_row = booster.predict(encode_numpy(raw.iloc[[250]], spec))
    assert one_row[0] == from_frame[50]


def test_encode_numpy_gives_the_same_rows_alone_and_in_a_batch(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw.iloc[:200], CONFIG)
    batch = encode_numpy(raw, spec)
    alone = np.vstack([encode_numpy(raw.iloc[[i]], spec) for i in range(0, len(raw), 7)])
    np.testing.assert_array_equal(alone, batch[::7])


def test_missing_feature_column_is_an_input_error(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    with pytest.raises(InputError, match="missing"):
        encode(raw.drop(columns="engagement_score"), spec)
    with pytest.raises(InputError):
        learn_spec(raw.drop(columns="campaign"), CONFIG)


def test_bad_spec_documents_are_refused() -> None:
    with pytest.raises(InputError):
        FeatureSpec.from_dict({"version": 99, "columns": [], "config": {}})
    with pytest.raises(ValueError):
        FeatureColumn("industry", "categorical", "firmographics", "industry", levels=("a",))


@pytest.mark.parametrize("rows", [0, 1, 5, 300], ids=["none", "one", "few", "many"])
def test_encode_columns_encode_numpy_and_encode_agree(rows: int) -> None:
    leads, events, cutoff = synthetic_inputs(n_leads=300, n_events=6000, seed=12)
    raw_all = build_features(leads, events, cutoff, CONFIG)
    spec = learn_spec(raw_all.iloc[:150], CONFIG)  # later leads bring unseen values
    picked = leads.iloc[::-1].iloc[:rows].copy()
    picked.loc[picked.index[::3], schema.LEAD_SOURCE] = "brand_new_source"  # unseen: warned
    picked.loc[picked.index[1::4], schema.CAMPAIGN] = "brand_new_campaign"  # long tail: 'other'
    raw = build_features(picked, events, cutoff, CONFIG)
    columns = feature_columns(*as_arrays(picked, events, cutoff), CONFIG)
    matrix, warnings = encode_columns(columns, spec)
    frame, frame_warnings = encode(raw, spec)
    assert matrix.shape == (rows, len(spec.columns)) and matrix.dtype == np.float64
    assert matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, encode_numpy(raw, spec), strict=True)
    assert warnings == frame_warnings
    for j, column in enumerate(spec.columns):
        values = frame[column.name]
        expected = values.cat.codes.to_numpy() if column.kind == "categorical" else values
        np.testing.assert_array_equal(matrix[:, j], np.asarray(expected, dtype=np.float64))
    assert bool(warnings) == (rows > 0)


def test_encode_columns_never_days_and_extra_columns(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    columns = {name: raw[name].to_numpy() for name in raw.columns} | {"extra": np.zeros(len(raw))}
    matrix, _ = encode_columns(columns, spec)
    j = spec.names.index("days_since_last_demo_request")
    never = raw["days_since_last_demo_request"].isna().to_numpy()
    assert never.any() and (matrix[never, j] == NEVER_DAYS).all()
    assert not np.isnan(matrix[:, j]).any()


def test_encode_columns_names_bad_input(raw: pd.DataFrame) -> None:
    spec = learn_spec(raw, CONFIG)
    columns = {name: raw[name].to_numpy() for name in raw.columns}
    with pytest.raises(InputError, match="missing") as caught:
        encode_columns({k: v for k, v in columns.items() if k != "engagement_score"}, spec)
    assert caught.value.column == "engagement_score"
    with pytest.raises(InputError, match="not numeric") as caught:
        encode_columns(columns | {"employees_log": np.full(len(raw), "many", dtype=object)}, spec)
    assert caught.value.column == "employees_log"
    with pytest.raises(InputError, match="differ in length") as caught:
        encode_columns(columns | {"total_events": columns["total_events"][:-1]}, spec)
    assert caught.value.column == "total_events"
