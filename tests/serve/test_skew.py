"""No training/serving skew: the API, the batch path and training give the same numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from leadml import schema
from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer
from tests.serve.conftest import USER


def test_api_batch_path_and_training_agree_to_1e_9(
    client: TestClient,
    test_leads: list[dict[str, Any]],
    small_data: Dataset,
    trained: TrainedModel,
) -> None:
    ids = [lead["lead_id"] for lead in test_leads]
    seen_in_training = trained.test_frame.loc[ids]
    body = client.post("/v1/predict?explain=false", json=test_leads, headers=USER).json()
    api = {r["lead_id"]: r["probability"] for r in body["results"]}
    leads = small_data.leads[small_data.leads[schema.LEAD_ID].isin(ids)]
    batch = Scorer(trained.bundle).score(
        leads, small_data.events, cutoff=seen_in_training["cutoff"], explain=False
    )
    through_api = np.array([api[i] for i in ids])
    through_batch = batch.frame["probability"].reindex(ids).to_numpy()
    np.testing.assert_allclose(through_api, seen_in_training["model"].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        through_batch, seen_in_training["model"].to_numpy(), rtol=0, atol=1e-9
    )
    assert len(set(np.round(through_api, 6))) > 10  # a real spread, not one constant


def test_reasons_agree_between_api_and_batch_path(
    client: TestClient,
    test_leads: list[dict[str, Any]],
    small_data: Dataset,
    trained: TrainedModel,
) -> None:
    lead = test_leads[5]
    api = client.post("/v1/predict", json=lead, headers=USER).json()["reasons"]
    cutoff = trained.test_frame.loc[[lead["lead_id"]], "cutoff"]
    leads = small_data.leads[small_data.leads[schema.LEAD_ID] == lead["lead_id"]]
    batch = Scorer(trained.bundle).score(leads, small_data.events, cutoff=cutoff).frame
    expected = batch["reasons"].iloc[0]
    for side in ("positive", "negative"):
        assert [r["field"] for r in api[side]] == [r["field"] for r in expected[side]]
        np.testing.assert_allclose(
            [r["contribution"] for r in api[side]],
            [r["contribution"] for r in expected[side]],
            rtol=0,
            atol=1e-9,
        )
