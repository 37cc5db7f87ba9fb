"""Snapshot training end to end on the small funnel: rows at every age, a purged split on
snapshot time, evaluation by age, the oracle at its one age, and scoring at the true age."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.bundle import load_bundle, save_bundle
from leadml.data.load import Dataset
from leadml.data.synth import Funnel
from leadml.model.assess import STANDARD_MOMENT
from leadml.model.pipeline import TrainedModel, fit_and_evaluate
from leadml.model.snapshots import AGE, SNAPSHOT
from leadml.monitor.drift import REFERENCE_KEY, Reference
from leadml.promotion import champion_probabilities
from leadml.scoring import Scorer
from tests.conftest import fast_config


def test_the_default_training_uses_snapshot_rows_of_every_age(
    snapshot_trained: TrainedModel,
) -> None:
    tf = snapshot_trained.test_frame
    assert snapshot_trained.bundle.labels.uses_snapshots
    assert {schema.LEAD_ID, AGE, SNAPSHOT} <= set(tf.columns)
    ages = set(tf[AGE].unique())
    assert len(ages) >= 4, ages  # several ages reach the test window
    assert tf[schema.LEAD_ID].duplicated().any()  # a lead can be there at several ages
    assert not tf.index.duplicated().any()
    used = len(snapshot_trained.split.train) + len(snapshot_trained.split.valid) + len(tf)
    assert used < snapshot_trained.labels.n_eligible  # the rows inside the gaps are not used


def test_no_label_of_an_earlier_fold_is_decided_inside_a_later_one(
    snapshot_trained: TrainedModel,
) -> None:
    cutoff = snapshot_trained.labels.frame["cutoff"]
    window = pd.Timedelta(days=snapshot_trained.bundle.labels.window_days)
    split = snapshot_trained.split
    assert cutoff.loc[split.train].max() + window <= cutoff.loc[split.valid].min()
    assert cutoff.loc[split.valid].max() + window <= cutoff.loc[split.test].min()


def test_evaluation_by_age_covers_the_test_window(snapshot_trained: TrainedModel) -> None:
    by_age = snapshot_trained.by_age
    assert by_age is not None
    assert by_age.loc["all", "rows"] == len(snapshot_trained.test_frame)
    assert by_age.drop(index="all")["rows"].sum() == len(snapshot_trained.test_frame)
    assert by_age.loc["all", "realized"] == pytest.approx(
        snapshot_trained.test_frame["label"].mean()
    )
    assert "by lead age" in snapshot_trained.breakdowns


def test_the_one_cutoff_test_window_is_scored_too(snapshot_trained: TrainedModel) -> None:
    """Where one-cutoff models and the oracle are measured: the test window's leads at
    created_at + observation_days."""
    one_cutoff = snapshot_trained.results[STANDARD_MOMENT]
    assert one_cutoff["leads"] > 100
    assert 0.6 < one_cutoff["roc_auc"] <= 1
    assert snapshot_trained.oracle is None  # the session model trains without the truth file


def test_the_oracle_is_compared_on_the_one_cutoff_window(
    small_funnel: Funnel, tmp_path: Path
) -> None:
    funnel = small_funnel
    model = fit_and_evaluate(funnel.leads, funnel.events, fast_config(tmp_path), truth=funnel.truth)
    assert model.oracle is not None
    assert model.results["oracle"]["roc_auc"] == pytest.approx(model.oracle["oracle_roc_auc"])
    assert model.oracle["model_roc_auc"] == pytest.approx(model.results[STANDARD_MOMENT]["roc_auc"])


def test_the_drift_reference_is_at_the_one_cutoff_moment(
    snapshot_trained: TrainedModel,
) -> None:
    """Drift compares new leads at created_at + observation_days, so a snapshot model's
    reference is the train window's leads at that moment (campaign levels learned per lead,
    not per row, so a rotation of small campaigns stays in one bin)."""
    reference = Reference.from_dict(snapshot_trained.bundle.extra[REFERENCE_KEY])
    n_train = int(reference.window["leads"])
    assert all(p.n == n_train for p in reference.features)
    assert 0 < reference.score.n < n_train
    assert reference.window["moment"] == "created_at + observation_days"
    assert reference.window["last_cutoff"] <= snapshot_trained.split.windows["train"]["last_cutoff"]


def test_the_bundle_records_the_ages_it_was_trained_on(snapshot_trained: TrainedModel) -> None:
    youngest, oldest = snapshot_trained.bundle.extra["age_range_days"]
    assert snapshot_trained.bundle.max_age_days == oldest
    assert 0 <= youngest < snapshot_trained.bundle.labels.snapshot_every_days
    assert 180 <= oldest < 730  # the small funnel spans two years


def test_champion_rescoring_of_snapshot_rows_matches_the_test_window(
    snapshot_trained: TrainedModel, small_data: Dataset
) -> None:
    """The gate re-scores a champion lead by lead at each snapshot; the same bundle must
    give back exactly its own test-window probabilities."""
    p = champion_probabilities(
        snapshot_trained.bundle, snapshot_trained.test_frame, small_data.leads, small_data.events
    )
    np.testing.assert_allclose(
        p, snapshot_trained.test_frame["model"].to_numpy(), rtol=0, atol=1e-12
    )


def test_a_snapshot_model_scores_as_of_now_without_an_as_of(
    snapshot_trained: TrainedModel, small_data: Dataset
) -> None:
    scorer = Scorer(snapshot_trained.bundle)
    before = pd.Timestamp.now(tz="UTC")
    cutoff = scorer.cutoff_for(small_data.leads.head(5), None)
    assert (cutoff >= before).all()
    assert (cutoff <= pd.Timestamp.now(tz="UTC")).all()


def test_leads_older_than_training_saw_are_scored_with_one_warning(
    snapshot_trained: TrainedModel, small_data: Dataset
) -> None:
    scorer = Scorer(snapshot_trained.bundle)
    leads = small_data.leads.head(20)
    oldest = snapshot_trained.bundle.max_age_days
    assert oldest is not None
    created = leads[schema.CREATED_AT]
    late = pd.Series((created + pd.Timedelta(days=oldest + 10)).array, index=leads[schema.LEAD_ID])
    young = pd.Series((created + pd.Timedelta(days=1)).array, index=leads[schema.LEAD_ID])
    warnings = scorer.age_warnings(leads, late)
    assert len(warnings) == 1 and warnings[0].startswith("20 leads are older")
    assert scorer.age_warnings(leads, young) == []


def test_a_bundle_from_before_snapshots_loads_as_one_cutoff_model(
    snapshot_trained: TrainedModel, tmp_path: Path
) -> None:
    folder = save_bundle(snapshot_trained.bundle, tmp_path / "bundle")
    path = folder / "bundle.json"
    data = json.loads(path.read_text())
    data["labels"].pop("snapshot_days")
    data["labels"].pop("snapshot_every_days")
    path.write_text(json.dumps(data))
    old = load_bundle(folder)
    assert not old.labels.uses_snapshots
    assert old.labels.snapshot_days == ()
