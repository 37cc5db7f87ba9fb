"""Notebook helpers: segment conversion, the stage funnel, engagement impact, reasons,
and the charts, on tiny frames built here (and the session's trained model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.config import FeatureConfig, LabelConfig
from leadml.data.load import Dataset
from leadml.data.validate.report import Problem, ValidationReport
from leadml.features.spec import FeatureColumn, FeatureSpec
from leadml.model.pipeline import TrainedModel
from leadml.monitor.insights import (
    engagement_impact,
    explain_leads,
    explain_sample,
    reason_lines,
    report_frame,
    segment_performance,
    stage_funnel,
    windowed_labels,
)
from leadml.monitor.insights_plots import (
    cost_chart,
    funnel_chart,
    impact_chart,
    segment_chart,
    waterfall,
)
from leadml.scoring import Scorer

T0 = pd.Timestamp("2025-01-01", tz="UTC")
PNG = b"\x89PNG\r\n\x1a\n"


def _leads() -> pd.DataFrame:
    days = [0, 0, 0, 0, 200]
    converted = [T0 + pd.Timedelta(days=30), pd.NaT, T0 + pd.Timedelta(days=5), pd.NaT, pd.NaT]
    return pd.DataFrame(
        {
            schema.LEAD_ID: ["a", "b", "c", "d", "e"],
            schema.CREATED_AT: [T0 + pd.Timedelta(days=d) for d in days],
            schema.LEAD_SOURCE: ["web", "web", "ads", "ads", "web"],
            schema.ACQUISITION_COST: [10.0, 20.0, 50.0, 50.0, 30.0],
            schema.CONVERTED_AT: pd.Series(converted, dtype="datetime64[us, UTC]"),
        }
    )


def _events(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LEAD_ID: [r[0] for r in rows],
            schema.OCCURRED_AT: [T0 + pd.Timedelta(days=r[1]) for r in rows],
            schema.EVENT_TYPE: [r[2] for r in rows],
        }
    )


def test_windowed_labels_follow_the_training_rules() -> None:
    events = _events([("e", 210, "page_view")])
    labels = windowed_labels(_leads(), events, LabelConfig())
    # c converted before its cutoff (excluded); e's window has not closed (censored).
    assert labels.to_dict() == {"a": 1, "b": 0, "d": 0}


def test_windowed_labels_without_outcomes_is_empty() -> None:
    leads = _leads().drop(columns=schema.CONVERTED_AT)
    assert windowed_labels(leads, _events([]), LabelConfig()).empty


def test_segment_performance_rates_costs_and_pipeline() -> None:
    leads = _leads()
    labels = pd.Series({"a": 1, "b": 0, "d": 0})
    p = pd.Series({"a": 0.5, "b": 0.1, "c": 0.9, "d": 0.2, "e": 0.4})
    table = segment_performance(leads, labels, schema.LEAD_SOURCE, probability=p)
    assert list(table.index) == ["web", "ads"]  # by size
    web, ads = table.loc["web"], table.loc["ads"]
    assert (web["leads"], web["labelled"], web["converted"]) == (3, 2, 1)
    assert web["conversion_rate"] == pytest.approx(0.5)
    assert web["expected_conversions"] == pytest.approx(1.0)
    assert web["open_pipeline"] == pytest.approx(0.4)  # only e is open and unconverted
    assert web["cost_per_lead"] == pytest.approx(20.0)
    assert web["cost_per_conversion"] == pytest.approx(30.0)  # (10 + 20) / 1
    assert ads["conversion_rate"] == 0.0 and np.isnan(ads["cost_per_conversion"])
    assert ads["open_pipeline"] == 0.0  # c converted already, d is labelled
    assert table["share"].sum() == pytest.approx(1.0)


def test_segment_performance_by_series_pools_small_segments_and_skips_absent_costs() -> None:
    leads = _leads().drop(columns=schema.ACQUISITION_COST)
    by = pd.Series({"a": "x", "b": "x", "c": "y", "d": None, "e": "z"}, name="industry")
    table = segment_performance(leads, pd.Series(dtype="int64"), by, top=1)
    assert list(table.index) == ["(other)", "x"]
    assert table.index.name == "industry"
    assert "cost_per_lead" not in table and "expected_conversions" not in table
    assert table["conversion_rate"].isna().all()  # nothing labelled


def test_segment_performance_names_an_unknown_column() -> None:
    from leadml.errors import InputError

    with pytest.raises(InputError, match="no such column"):
        segment_performance(_leads(), pd.Series(dtype="int64"), "nope")


def test_stage_funnel_counts_leads_reaching_each_stage_or_later() -> None:
    events = _events(
        [
            ("a", 1, "page_view"),
            ("a", 2, "demo_request"),  # a skips MQL but still counts as reaching it
            ("b", 1, "page_view"),
            ("b", 2, "webinar_attendance"),
            ("c", 1, "trial_signup"),
            ("d", 1, "page_view"),
        ]
    )
    funnel = stage_funnel(_leads(), events)
    assert list(funnel.index) == list(schema.STAGES)
    stages = {s: schema.EVENT_STAGE[e] for s, e in [("a", "demo_request"), ("c", "trial_signup")]}
    assert stages == {"a": "SQL", "c": "PQL"}
    assert funnel["leads_reached"].tolist() == [4, 3, 2, 1]
    assert funnel.loc["IQL", "from_previous_stage"] == pytest.approx(4 / 5)
    assert funnel.loc["MQL", "from_previous_stage"] == pytest.approx(3 / 4)
    assert funnel.loc["PQL", "converted"] == 1  # c converted
    assert funnel.loc["IQL", "conversion_rate"] == pytest.approx(2 / 4)


def _spec() -> FeatureSpec:
    return FeatureSpec(
        columns=(
            FeatureColumn("count_demo_request_all", "numeric", "engagement", "demo_request events"),
            FeatureColumn(
                "days_since_last_demo_request", "numeric", "engagement", "demo_request events"
            ),
            FeatureColumn("count_page_view_all", "numeric", "engagement", "page_view events"),
            FeatureColumn("engagement_score", "numeric", "engagement", "engagement events"),
            FeatureColumn("employees_log", "numeric", "firmographics", "employees"),
        ),
        config=FeatureConfig(),
    )


def test_engagement_impact_sums_an_actions_columns_per_lead() -> None:
    contrib = np.array(
        [
            [0.5, 0.3, -0.1, 9.0, 9.0, -2.0],
            [-0.2, 0.0, 0.1, 9.0, 9.0, -2.0],
        ]
    )
    impact = engagement_impact(contrib, _spec())
    # The overall engagement score is not one action; firmographics are left out.
    assert list(impact.index) == ["demo_request", "page_view"]
    demo = impact.loc["demo_request"]
    assert demo["mean_abs_contribution"] == pytest.approx((0.8 + 0.2) / 2)
    assert demo["mean_contribution"] == pytest.approx((0.8 - 0.2) / 2)
    assert "when_done" not in impact


def test_engagement_impact_splits_leads_who_did_the_action() -> None:
    contrib = np.array([[0.9, 0.1, 0, 0, 0, -2.0], [-0.3, 0, 0, 0, 0, -2.0], [-0.2, 0, 0, 0, 0, 0]])
    raw = pd.DataFrame({"count_demo_request_all": [2, 0, np.nan]})
    demo = engagement_impact(contrib, _spec(), raw).loc["demo_request"]
    assert demo["share_of_leads"] == pytest.approx(1 / 3)
    assert demo["when_done"] == pytest.approx(1.0)
    assert demo["when_not_done"] == pytest.approx(-0.25)
    # page_view's count column is not in `raw`: who did it is unknown, not zero.
    assert np.isnan(engagement_impact(contrib, _spec(), raw).loc["page_view", "when_done"])


def test_reason_lines_read_like_sentences() -> None:
    reasons = {
        "positive": [
            {
                "text": "Requested a demo 3 days before scoring",
                "contribution": 1.2,
                "probability_delta": 0.08,
            }
        ],
        "negative": [{"text": "Bought list", "contribution": -0.7, "probability_delta": 0.02}],
    }
    assert reason_lines(reasons) == [
        "+ Requested a demo 3 days before scoring (+1.20 log-odds, about +8.0% probability)",
        "- Bought list (-0.70 log-odds, about -2.0% probability)",
    ]


def test_report_frame_lists_errors_first(tmp_path: object) -> None:
    from pathlib import Path

    report = ValidationReport(
        Path("data"),
        [
            Problem("warning", "alias_category", "leads.csv", 3, "lead_source", "Google", "x"),
            Problem("error", "bad_timestamp", "leads.csv", 5, "created_at", "soon", "ISO", 2),
        ],
    )
    frame = report_frame(report)
    assert frame["severity"].tolist() == ["error", "warning"]
    assert frame.loc[0, "rows affected"] == 2
    assert report_frame(ValidationReport(Path("data"))).empty


def test_explained_leads_add_up_to_the_scorer_probability(
    trained: TrainedModel, small_data: Dataset
) -> None:
    bundle = trained.bundle
    leads = small_data.leads.head(50)
    explained = explain_leads(bundle, leads, small_data.events)
    scored = Scorer(bundle).score(leads, small_data.events, explain=False).frame
    np.testing.assert_allclose(explained.probability, scored["probability"], rtol=1e-9)
    assert explained.contrib.shape == (50, len(bundle.spec.columns) + 1)
    assert list(explained.X.columns) == bundle.spec.names
    sample = explain_sample(bundle, small_data.leads, small_data.events, n=40, seed=1)
    assert len(sample.raw) == 40
    again = explain_sample(bundle, small_data.leads, small_data.events, n=40, seed=1)
    assert sample.raw.index.equals(again.raw.index)  # seeded


def test_charts_are_written_as_png(
    trained: TrainedModel, small_data: Dataset, tmp_path: object
) -> None:
    from pathlib import Path

    out = Path(str(tmp_path))
    leads = small_data.leads
    labels = windowed_labels(leads, small_data.events, trained.bundle.labels)
    explained = explain_sample(trained.bundle, leads, small_data.events, n=200)
    p = pd.Series(explained.probability, index=explained.raw.index)
    table = segment_performance(leads, labels, schema.LEAD_SOURCE, probability=p)
    paths = [
        segment_chart(table, out / "segments.png", title="By source"),
        cost_chart(table, out / "costs.png", title="Costs by source"),
        funnel_chart(stage_funnel(leads, small_data.events), out / "funnel.png"),
        impact_chart(
            engagement_impact(explained.contrib, trained.bundle.spec, explained.raw), out / "i.png"
        ),
        waterfall(explained, str(explained.raw.index[0]), out / "waterfall.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG
    with pytest.raises(KeyError):
        waterfall(explained, "no-such-lead", out / "x.png")
    with pytest.raises(KeyError, match="acquisition_cost"):
        cost_chart(table.drop(columns="cost_per_lead"), out / "x.png", title="none")
