"""Model quality on the synthetic funnel, measured against the oracle and both baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadml import schema
from leadml.data.load import Dataset
from leadml.data.synth import generate_funnel
from leadml.model.assess import ONE_CUTOFF_SUFFIX, STANDARD_MOMENT
from leadml.model.pipeline import TrainedModel, fit_and_evaluate
from leadml.scoring import Scorer
from tests.conftest import fast_config

DEMO_LEADS = 50_000  # the `make demo` size
DEMO_SEED = 7


def test_labels_report_both_exclusions(trained: TrainedModel) -> None:
    labels = trained.labels
    assert labels.n_converted_before_cutoff > 0
    assert labels.n_censored > 0
    assert labels.n_eligible + labels.n_converted_before_cutoff + labels.n_censored == (
        labels.n_total
    )


def test_small_model_beats_both_baselines(trained: TrainedModel) -> None:
    r = trained.results
    assert r["model"]["roc_auc"] > r["points"]["roc_auc"]
    assert r["model"]["roc_auc"] > r["logistic"]["roc_auc"] - 0.01
    assert r["model"]["ece"] < 0.05


def test_the_test_window_is_scored_as_the_scorer_scores(
    trained: TrainedModel, small_data: Dataset
) -> None:
    """Training judges the model on the probabilities the Scorer serves, bit for bit: the
    test window goes through the Scorer's own bundle -> probability step."""
    tf = trained.test_frame
    leads = small_data.leads[small_data.leads[schema.LEAD_ID].isin(tf.index)]
    served = Scorer(trained.bundle).score(
        leads, small_data.events, cutoff=tf["cutoff"].rename(None), explain=False
    )
    probability = served.frame["probability"].reindex(tf.index).to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(probability, tf["model"].to_numpy())


@pytest.mark.slow
def test_demo_size_quality_targets(tmp_path: Path) -> None:
    """The issue's targets, at the demo size and seed, without the truth in training."""
    funnel = generate_funnel(DEMO_LEADS, seed=DEMO_SEED)
    from leadml.data.load import load_dataset
    from leadml.data.synth import write_funnel

    write_funnel(funnel, tmp_path / "data")
    data = load_dataset(tmp_path / "data")
    config = fast_config(
        tmp_path,
        labels={"snapshot_max_rows": 200_000},  # half the rows: the suite stays within budget
        max_rounds=2000,
        bootstrap_rounds=50,
    )
    trained = fit_and_evaluate(data.leads, data.events, config, truth=funnel.truth)
    # The oracle's truth is defined at one cutoff: the snapshot model is held to the targets
    # on the test window's leads at that cutoff, next to the baselines scored there too.
    model, oracle = trained.results[STANDARD_MOMENT], trained.oracle
    assert oracle is not None
    assert model["roc_auc"] >= 0.97 * oracle["oracle_roc_auc"]
    # Calibrated over the open population that gets scored (every snapshot row), not only
    # over 14-day-old leads.
    assert trained.results["model"]["ece"] <= 0.02
    # Issue 17 keeps the AUC target at the one cutoff; the top decile there came out at
    # 0.945 x the oracle's with snapshot training (0.996 for the one-cutoff model).
    assert model["lift_at_10"] >= 0.9 * oracle["oracle_lift_at_10"]
    for baseline in ("points", "logistic"):
        base = trained.results[baseline + ONE_CUTOFF_SUFFIX]
        assert model["roc_auc"] >= base["roc_auc"] + 0.03, baseline
