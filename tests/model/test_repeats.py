"""leadml and the plain reference are fitted and scored on the same rows of each split."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadml.data.synth.flat_suite import FlatCase, flat_case
from leadml.errors import InputError
from leadml.model.repeats import RepeatTable, compare_on_splits
from tests.conftest import fast_config

CASE = FlatCase("tiny", rows=2_000, seed=21)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RepeatTable]:
    frame, dataset = flat_case(CASE)
    config = fast_config(Path(tmp_path_factory.mktemp("repeats")))
    config = config.model_copy(update={"dataset": dataset})
    return {
        kind: compare_on_splits(frame, config, repeats=2, split=kind)  # type: ignore[arg-type]
        for kind in ("stratified", "time")
    }


def test_both_scorers_are_scored_on_the_same_test_rows(tables: dict[str, RepeatTable]) -> None:
    for table in tables.values():
        rows = table.rows
        assert sorted(rows["scorer"].unique()) == ["leadml", "plain LightGBM"]
        per_split = rows.groupby("split")[["test_rows", "positives"]].nunique()
        assert (per_split == 1).all().all()  # identical rows for both scorers
        assert rows["roc_auc"].between(0.5, 1).all()


def test_stratified_splits_differ_and_time_splits_move_forward(
    tables: dict[str, RepeatTable],
) -> None:
    strat = tables["stratified"].rows.query("scorer == 'leadml'")
    assert strat["roc_auc"].nunique() == 2  # different seeds, different rows
    assert strat["test_rows"].tolist() == [400, 400]  # 20% of 2,000 each time
    time_rows = tables["time"].rows.query("scorer == 'leadml'")["test_rows"].tolist()
    assert time_rows[0] < time_rows[1] == 400  # the first window ends earlier (75% kept)


def test_the_summary_difference_is_the_mean_per_split_difference(
    tables: dict[str, RepeatTable],
) -> None:
    table = tables["stratified"]
    wide = table.rows.pivot(index="split", columns="scorer", values="roc_auc")
    expected = (wide["leadml"] - wide["plain LightGBM"]).mean()
    assert table.mean_difference() == pytest.approx(expected)
    assert table.summary().loc["difference", "roc_auc"].startswith(f"{expected:.4f}")


def test_a_time_split_without_dates_or_file_order_is_refused(tmp_path: Path) -> None:
    frame, dataset = flat_case(CASE)
    dataset = dataset.model_copy(update={"created_at": None})
    config = fast_config(tmp_path).model_copy(update={"dataset": dataset})
    with pytest.raises(InputError, match="created_at"):
        compare_on_splits(frame, config, repeats=1, split="time")


def test_a_time_split_refuses_undated_rows_instead_of_testing_on_them(tmp_path: Path) -> None:
    frame, dataset = flat_case(CASE)
    frame.loc[frame.index[:30], "created_at"] = None
    config = fast_config(tmp_path).model_copy(update={"dataset": dataset})
    with pytest.raises(InputError, match="created_at on every labelled row") as info:
        compare_on_splits(frame, config, repeats=1, split="time")
    assert "30 of 2,000" in str(info.value) and "split = 'random'" in str(info.value)
