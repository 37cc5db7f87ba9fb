"""Reasons in sales language: what the lead did and is, read from the lead's own columns;
absence never argues for a lead; each fact said once."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadml.data.load import Dataset
from leadml.explain.reasons import reasons
from leadml.features.spec import FeatureSpec, encode
from leadml.model.pipeline import TrainedModel
from leadml.scoring import Scorer


@pytest.fixture(scope="module")
def real(small_data: Dataset, trained: TrainedModel) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Raw features, contributions and probabilities of 300 real leads."""
    scorer = Scorer(trained.bundle)
    leads = small_data.leads.head(300)
    raw = scorer.raw_features(leads, small_data.events, scorer.cutoff_for(leads, None))
    X, _ = encode(raw, trained.bundle.spec)
    contrib = scorer.explainer.contributions(X)
    return raw, contrib, scorer.probability(scorer.raw_score(X))


def _quiet_lead(raw: pd.DataFrame) -> pd.DataFrame:
    """One lead that did nothing yet, with known firmographics."""
    lead = raw.iloc[:1].copy()
    for name in lead.columns:
        if name.startswith(("count_", "engagement_score")) or name in (
            "total_events",
            "distinct_event_types",
            "stage_reached",
        ):
            lead[name] = 0
        elif name.startswith("days_since_last_") or name in (
            "engagement_velocity",
            "email_click_through_rate",
        ):
            lead[name] = np.nan
    lead["seniority"] = 3.0
    lead["industry"] = "software"
    lead["employees_log"] = math.log1p(240)
    lead["country"] = "DE"
    return lead


def _did(lead: pd.DataFrame, event: str, days: float, **counts: int) -> None:
    """Record that the lead did `event`, last `days` ago, `counts` per window (7d=...)."""
    lead[f"days_since_last_{event}"] = days
    for window, n in counts.items():
        lead[f"count_{event}_{window.removeprefix('w')}"] = n
    last = lead["days_since_last_event"].iloc[0]
    lead["days_since_last_event"] = days if not last <= days else last
    lead["total_events"] += counts.get("all", 1)


def _explain(
    lead: pd.DataFrame, spec: FeatureSpec, pushes: dict[str, float], top_k: int = 3
) -> dict[str, list[dict[str, Any]]]:
    """The reasons of one lead whose columns push its score by `pushes` (log-odds)."""
    contrib = np.zeros((1, len(spec.names) + 1))
    for name, push in pushes.items():
        contrib[0, spec.names.index(name)] = push
    return reasons(contrib, lead, np.array([0.4]), spec, top_k=top_k)[0]


def _texts(found: dict[str, list[dict[str, Any]]], side: str) -> list[str]:
    return [r["text"] for r in found[side]]


def test_an_event_reason_names_the_action_and_when(
    real: tuple[pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    spec = trained.bundle.spec
    lead = _quiet_lead(real[0])
    _did(lead, "demo_request", 3.2, w7d=1, w30d=1, w90d=1, all=1)
    _did(lead, "pricing_page_view", 1.0, w7d=4, w30d=6, w90d=6, all=6)
    _did(lead, "webinar_attendance", 12.0, w7d=0, w30d=2, w90d=2, all=2)
    _did(lead, "blog_view", 120.0, w7d=0, w30d=0, w90d=0, all=5)
    found = _explain(
        lead,
        spec,
        {
            "count_demo_request_30d": 0.9,
            "days_since_last_pricing_page_view": 0.8,
            "count_webinar_attendance_all": 0.7,
            "count_blog_view_all": -0.2,
        },
    )
    assert _texts(found, "positive") == [
        "Requested a demo 3 days ago",
        "Viewed pricing 4 times this week",
        "Attended 2 webinars in the last 30 days",
    ]
    assert _texts(found, "negative") == ["Read 5 blog posts, the last 120 days ago"]
    # The reason keeps its strongest column and exact contribution.
    assert found["positive"][0]["feature"] == "count_demo_request_30d"
    assert found["positive"][0]["contribution"] == 0.9


def test_summary_reasons_name_the_leads_top_actions_once(
    real: tuple[pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    spec = trained.bundle.spec
    lead = _quiet_lead(real[0])
    _did(lead, "demo_request", 3.0, w7d=1, w30d=1, w90d=1, all=1)
    _did(lead, "quote_request", 9.0, w7d=0, w30d=1, w90d=1, all=1)
    _did(lead, "pricing_page_view", 1.0, w7d=4, w30d=4, w90d=4, all=4)
    _did(lead, "page_view", 0.5, w7d=9, w30d=9, w90d=9, all=9)
    lead["engagement_score"] = 20.0
    lead["engagement_score_sql"] = 1.5
    lead["stage_reached"] = 3
    # Alone, the engagement score names the two most sales-ready recent actions: a
    # hand-raise outweighs a page view of today.
    alone = _explain(lead, spec, {"engagement_score": 1.0}, top_k=1)
    assert _texts(alone, "positive") == ["Requested a demo 3 days ago and a quote 9 days ago"]
    # With the demo request shown as its own reason and the SQL stage's reason after the
    # engagement score's, no action is named twice: the stronger reason chooses first.
    pushes = {"engagement_score": 1.0, "count_demo_request_7d": 0.9, "engagement_score_sql": 0.5}
    together = _texts(_explain(lead, spec, pushes), "positive")
    assert together == [
        "Requested a quote 9 days ago and viewed pricing 4 times this week",
        "Requested a demo 3 days ago",
        # Every SQL action is named already: the stage's total is the new fact.
        "Demo, quote or consultation requests in the last 30 days: 2",
    ]
    # The SQL stage stronger than the engagement score: it names the quote first.
    pushes["engagement_score_sql"] = 1.2
    assert _texts(_explain(lead, spec, pushes), "positive") == [
        "Requested a quote 9 days ago",
        "Viewed pricing 4 times this week and viewed 9 pages this week",
        "Requested a demo 3 days ago",
    ]
    funnel = _explain(lead, spec, {"stage_reached": 0.6}, top_k=1)
    assert _texts(funnel, "positive") == [
        "Reached SQL: requested a demo 3 days ago and a quote 9 days ago"
    ]


def test_firmographic_reasons_are_plain_facts_each_said_once(
    real: tuple[pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    spec = trained.bundle.spec
    lead = _quiet_lead(real[0])
    lead["lead_source"] = "referral"
    lead["is_corporate_email"] = 1.0
    alone = _explain(lead, spec, {"seniority": 0.8, "lead_source": 0.5, "country": 0.3})
    assert _texts(alone, "positive") == [
        "VP at a 240-person software company",
        "Came in through a referral",
        "Based in Germany",
    ]
    # The industry is a reason of its own: the seniority sentence no longer says it, and
    # the size is said by the seniority alone.
    both = _explain(lead, spec, {"seniority": 0.8, "industry": 0.5, "is_corporate_email": 0.3})
    assert _texts(both, "positive") == [
        "VP at a 240-person company",
        "Software company",
        "Uses a company email address",
    ]
    lead["seniority"] = np.nan
    lead["industry"] = "unknown"
    unknown = _explain(lead, spec, {"seniority": 0.8, "industry": 0.5, "employees_log": 0.3})
    assert _texts(unknown, "positive") == ["240-person company"]  # 240: known, and true


def test_absence_is_never_a_reason_for_a_lead_only_against(
    real: tuple[pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    spec = trained.bundle.spec
    lead = _quiet_lead(real[0])
    lead["campaign"] = "unknown"
    _did(lead, "email_open", 40.0, w7d=0, w30d=0, w90d=3, all=3)
    pushes = {
        "count_unsubscribe_all": 1.5,  # never unsubscribed
        "campaign": 1.2,  # no campaign
        "days_since_last_event": 1.0,  # no activity in the last 30 days
        "count_demo_request_all": 0.9,  # never requested a demo
        "email_click_through_rate": 0.8,  # opened emails, clicked none: NaN here
        "country": 0.2,
        "seniority": 0.1,
        "days_since_last_pricing_page_view": -0.7,
        "engagement_velocity": -0.1,  # the engagement field: 1.0 - 0.1 = 0.9 for
    }
    found = _explain(lead, spec, pushes, top_k=3)
    # The next strongest real reasons take the places; nothing absent is argued for.
    assert _texts(found, "positive") == ["Based in Germany", "VP at a 240-person software company"]
    assert _texts(found, "negative") == ["Has not viewed pricing"]
    assert [r["contribution"] for r in found["positive"]] == [0.2, 0.1]
    everything = _explain(lead, spec, {k: -v for k, v in pushes.items()}, top_k=8)
    against = _texts(everything, "negative")
    assert {
        "Has not unsubscribed",
        "No campaign recorded",
        "No activity in the last 30 days (last active 40 days ago)",
        "Has not requested a demo",
    } <= set(against)


def test_real_reasons_read_in_words_without_formulas_slugs_or_absence_for(
    real: tuple[pd.DataFrame, np.ndarray, np.ndarray], trained: TrainedModel
) -> None:
    raw, contrib, p = real
    out = reasons(contrib, raw, p, trained.bundle.spec, top_k=3)
    texts = [r["text"] for lead in out for side in lead.values() for r in side]
    assert len(texts) > 1000
    for text in texts:
        assert not re.search(r"_|halv|weight|score \d|before scoring|\(each", text), text
    absence = re.compile(r"^(Has not|No |Never)|unknown|not recorded|clicked no links")
    for_leads = [r["text"] for lead in out for r in lead["positive"]]
    assert not [t for t in for_leads if absence.search(t)]
    # Not vacuous: the same leads do have absences, said against them.
    assert [r["text"] for lead in out for r in lead["negative"] if absence.search(r["text"])]
    assert any(re.search(r" \d+ days? ago", t) for t in for_leads)
