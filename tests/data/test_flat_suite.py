"""The synthetic flat-export suite: varied, seeded, and mapped honestly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.data.mapping.config import resolve_types
from leadml.data.synth.flat_suite import POST_OUTCOME, SUITE, FlatCase, flat_case
from leadml.features.flat import flat_features


@pytest.mark.parametrize("case", SUITE[:3], ids=lambda c: c.name)
def test_each_case_is_an_export_with_a_plausible_base_rate(case: FlatCase) -> None:
    frame, dataset = flat_case(case)
    assert len(frame) == case.rows and frame.index.is_unique
    rate = frame["converted"].astype(int).mean()
    assert 0.05 < rate < 0.25
    raw = flat_features(frame, resolve_types(frame, dataset))
    assert list(raw.columns) == dataset.feature_names
    assert not set(POST_OUTCOME) & set(dataset.feature_names)  # mapped ignore, never features


def test_the_same_seed_gives_the_same_export_and_sparsity_blanks_values() -> None:
    a, _ = flat_case(FlatCase("a", rows=500, sparsity=0.5, seed=4))
    b, _ = flat_case(FlatCase("a", rows=500, sparsity=0.5, seed=4))
    pd.testing.assert_frame_equal(a, b)
    assert 0.4 < a["employees"].isna().mean() < 0.6
    assert a["channel"].notna().all()


def test_post_outcome_columns_are_filled_after_the_outcome() -> None:
    frame, _ = flat_case(FlatCase("b", rows=20_000, seed=5))
    converted = frame["converted"] == "1"
    deal = frame["deal_amount"].notna()
    assert not (deal & ~converted).any()
    assert 0.05 < deal[converted].mean() < 0.11  # ~8% of converters
    rating = frame["sales_rating"].notna()
    assert rating[converted].mean() > 0.6 > 0.15 > rating[~converted].mean()


def test_noise_columns_are_mapped_as_features_and_hours_appear_when_asked() -> None:
    frame, dataset = flat_case(FlatCase("c", rows=300, noise=3, hours=True, seed=6))
    assert {"noise_1", "noise_2", "noise_3"} <= set(dataset.feature_names)
    times = pd.to_datetime(frame["created_at"])
    assert (times.dt.hour != 0).any()
    assert np.isfinite(frame["noise_1"].astype(float)).all()
