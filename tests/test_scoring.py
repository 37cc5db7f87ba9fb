"""The Scorer: the same numbers as training, blind to PII and to the future."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml import schema
from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer


def _test_leads(small_data: Dataset, trained: TrainedModel, n: int = 300) -> pd.DataFrame:
    ids = trained.test_frame.index[:n]
    return small_data.leads[small_data.leads[schema.LEAD_ID].isin(ids)]


def test_batch_path_equals_what_training_saw(small_data: Dataset, trained: TrainedModel) -> None:
    tf = trained.test_frame
    leads = small_data.leads[small_data.leads[schema.LEAD_ID].isin(tf.index)]
    scored = Scorer(trained.bundle).score(
        leads, small_data.events, cutoff=tf["cutoff"], explain=False
    )
    got = scored.frame["probability"].reindex(tf.index).to_numpy()
    np.testing.assert_allclose(got, tf["model"].to_numpy(), rtol=0, atol=1e-9)


def test_pii_never_changes_features_or_score(small_data: Dataset, trained: TrainedModel) -> None:
    leads = _test_leads(small_data, trained)
    scorer = Scorer(trained.bundle)
    before = scorer.score(leads, small_data.events)
    changed = leads.copy()
    changed[schema.CONTACT_NAME] = "Somebody Else"
    changed[schema.PHONE] = "+1 555 0100"
    # Keep each address's domain class (corporate vs free-mail), change everything else.
    changed[schema.EMAIL] = leads[schema.EMAIL].str.replace(r"^[^@]*", "another.person", regex=True)
    changed[schema.COMPANY] = "Renamed Inc"
    after = scorer.score(changed, small_data.events)
    pd.testing.assert_series_equal(before.frame["probability"], after.frame["probability"])
    assert before.frame["reasons"].tolist() == after.frame["reasons"].tolist()


def test_more_demo_requests_never_lower_the_score(
    small_data: Dataset, trained: TrainedModel
) -> None:
    leads = _test_leads(small_data, trained, 200)
    scorer = Scorer(trained.bundle)
    cutoff = scorer.cutoff_for(leads, None)
    base = scorer.score(leads, small_data.events, cutoff=cutoff, explain=False).frame
    extra = pd.DataFrame(
        {
            schema.LEAD_ID: cutoff.index,
            schema.OCCURRED_AT: (cutoff - pd.Timedelta(days=2)).to_numpy(),
            schema.EVENT_TYPE: "demo_request",
        }
    )
    events = pd.concat([small_data.events, extra], ignore_index=True)
    more = scorer.score(leads, events, cutoff=cutoff, explain=False).frame
    assert (more["raw_score"] >= base["raw_score"] - 1e-12).all()


def test_events_after_the_scoring_moment_are_ignored(
    small_data: Dataset, trained: TrainedModel
) -> None:
    leads = _test_leads(small_data, trained, 100)
    as_of = leads[schema.CREATED_AT].max() + pd.Timedelta(days=1)
    scorer = Scorer(trained.bundle)
    base = scorer.score(leads, small_data.events, as_of=as_of).frame
    future = pd.DataFrame(
        {
            schema.LEAD_ID: leads[schema.LEAD_ID].to_numpy(),
            schema.OCCURRED_AT: as_of + pd.Timedelta(hours=1),
            schema.EVENT_TYPE: "demo_request",
        }
    )
    later = scorer.score(leads, pd.concat([small_data.events, future]), as_of=as_of).frame
    pd.testing.assert_frame_equal(base, later)


def test_no_leads_gives_an_empty_result(small_data: Dataset, trained: TrainedModel) -> None:
    scored = Scorer(trained.bundle).score(small_data.leads.head(0), small_data.events)
    assert len(scored.frame) == 0
    assert "probability" in scored.frame.columns
