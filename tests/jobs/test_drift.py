"""`leadml drift` on the synthetic funnel: its drifting source mix and late new source
show up, a window like the training data does not alert, and every exit code is real."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml import cli, schema
from leadml.bundle import save_bundle
from leadml.cli import app, main
from leadml.config import load_config
from leadml.data.load import Dataset
from leadml.data.synth import Funnel, write_funnel
from leadml.data.synth.vocab import NEW_SOURCE, NEW_SOURCE_DAYS
from leadml.jobs.drift import drift_job
from leadml.model.pipeline import TrainedModel
from leadml.monitor.drift import OTHER, REFERENCE_KEY, SCORE
from leadml.monitor.drift.population import current_population, reference_of
from leadml.monitor.drift.tables import level_summary, summary_lines, summary_tables
from leadml.report.drift import drift_plot

LAST_DAY = pd.Timestamp("2025-12-31", tz="UTC")
RECENT = LAST_DAY - pd.Timedelta(days=NEW_SOURCE_DAYS)


def _subset(funnel: Funnel, start: pd.Timestamp, end: pd.Timestamp) -> Funnel:
    """The leads created in [start, end) with their events: a CRM export of that period."""
    keep = (funnel.leads[schema.CREATED_AT] >= start) & (funnel.leads[schema.CREATED_AT] < end)
    leads = funnel.leads[keep]
    ids = set(leads[schema.LEAD_ID])
    return dataclasses.replace(
        funnel,
        leads=leads,
        events=funnel.events[funnel.events[schema.LEAD_ID].isin(ids)],
        truth=funnel.truth[funnel.truth[schema.LEAD_ID].isin(ids)],
    )


@pytest.fixture(scope="module")
def recent_dir(small_funnel: Funnel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last 90 days: the drifted source mix and the new review_site source."""
    out = tmp_path_factory.mktemp("recent") / "data"
    write_funnel(_subset(small_funnel, RECENT, LAST_DAY + pd.Timedelta(days=1)), out)
    return out


@pytest.fixture(scope="module")
def like_training_dir(small_funnel: Funnel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Leads from inside the training window: no drift to speak of."""
    out = tmp_path_factory.mktemp("like_training") / "data"
    start, end = pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2025-03-01", tz="UTC")
    write_funnel(_subset(small_funnel, start, end), out)
    return out


@pytest.fixture(scope="module")
def bundle_dir(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bundle(trained.bundle, tmp_path_factory.mktemp("model") / "bundle")


def test_recent_leads_show_the_new_source_and_the_drifting_mix(
    trained: TrainedModel, small_data: Dataset
) -> None:
    leads = small_data.leads
    current = current_population(trained.bundle, leads, small_data.events, since=RECENT)
    report = drift_job_report(trained, current)

    # The new source is unseen in training: it alerts, as a new level and as a share.
    assert report.psi.loc["lead_source", "status"] == "alert"
    assert "lead_source" in report.alerts and report.alert
    assert set(report.unseen_sources) == {NEW_SOURCE}
    assert 0.04 < report.unseen_source_share < 0.2
    new = report.levels[(report.levels["feature"] == "lead_source")]
    assert new["level"].tolist() == [NEW_SOURCE] and new["change"].tolist() == ["new"]

    # The known sources drift too: growing paid search and social, shrinking bought lists.
    mix = report.distributions["lead_source"].drop(index=[OTHER])
    known = mix[mix["reference"] > 0]
    known = known / known.sum()  # shares among the sources the model knows
    assert known.loc["paid_search", "current"] > known.loc["paid_search", "reference"]
    assert known.loc["social", "current"] > known.loc["social", "reference"]
    assert known.loc["purchased_list", "current"] < known.loc["purchased_list", "reference"]
    assert known.loc["outbound_call", "current"] < known.loc["outbound_call", "reference"]

    # No lead of the last 90 days has a closed 90-day window: calibration is not faked.
    assert report.calibration is None
    c = current.counts
    assert c["observation_not_over"] > 0
    assert (
        c["scored"]
        == len(current.raw)
        == c["leads"]
        - sum(c[k] for k in ("before_since", "observation_not_over", "converted_before_cutoff"))
    )


def drift_job_report(trained: TrainedModel, current: object) -> object:
    from leadml.monitor.drift import compare

    return compare(reference_of(trained.bundle), current, trained.bundle.spec)  # type: ignore[arg-type]


def test_a_window_like_the_training_data_does_not_alert_and_checks_calibration(
    trained: TrainedModel, small_data: Dataset
) -> None:
    leads = small_data.leads
    created = leads[schema.CREATED_AT]
    inside = leads[
        (created >= pd.Timestamp("2024-03-01", tz="UTC"))
        & (created < pd.Timestamp("2025-03-01", tz="UTC"))
    ]
    current = current_population(trained.bundle, inside, small_data.events)
    report = drift_job_report(trained, current)
    assert not report.alert, report.psi.head()
    assert report.max_psi < 0.1
    assert report.unseen_source_share == 0.0
    assert current.labels is not None and len(current.labels) == current.counts["labelled"] > 500
    cal = report.calibration
    assert cal is not None and cal.n == len(current.labels)
    assert cal.roc_auc > 0.65
    assert abs(cal.mean_predicted - cal.observed_rate) < 0.05
    # The printed table is the ECE's bins holding leads; its title quotes that ECE.
    title, table = next(t for t in summary_tables(report) if t[0].startswith("Calibration"))
    assert f"ECE {cal.ece:.3f}" in title
    assert table["n"].sum() == cal.n and (table["n"] > 0).all()
    gaps = (table["observed_rate"] - table["mean_predicted"]).abs()
    assert float((table["share"] * gaps).sum()) == pytest.approx(cal.ece, rel=1e-12)


def test_leads_that_converted_before_their_cutoff_are_left_out(
    trained: TrainedModel, small_data: Dataset
) -> None:
    current = current_population(trained.bundle, small_data.leads, small_data.events)
    assert current.counts["converted_before_cutoff"] > 0
    converted = small_data.leads.set_index(schema.LEAD_ID)[schema.CONVERTED_AT]
    cutoff = small_data.leads.set_index(schema.LEAD_ID)[schema.CREATED_AT] + pd.Timedelta(
        days=trained.bundle.labels.observation_days
    )
    early = converted.notna() & (converted <= cutoff)
    assert not current.raw.index.isin(early[early].index).any()


def test_no_due_lead_is_a_clear_error(trained: TrainedModel, small_data: Dataset) -> None:
    from leadml.errors import InputError

    with pytest.raises(InputError, match="no lead to compare"):
        current_population(
            trained.bundle,
            small_data.leads,
            small_data.events,
            since=LAST_DAY - pd.Timedelta(days=2),
        )


def test_a_model_without_a_reference_is_refused_with_advice(trained: TrainedModel) -> None:
    from leadml.errors import LeadmlError

    old = dataclasses.replace(trained.bundle, extra={}, name="lead-conversion", version="4")
    with pytest.raises(LeadmlError, match="version 4 has no drift reference.*retrain"):
        reference_of(old)


def test_tables_lines_and_plot(trained: TrainedModel, small_data: Dataset, tmp_path: Path) -> None:
    current = current_population(trained.bundle, small_data.leads, small_data.events, since=RECENT)
    report = drift_job_report(trained, current)
    tables = dict(summary_tables(report))
    title = next(t for t in tables if t.startswith("Population stability"))
    assert "watch >= 0.1" in title and "ALERT >= 0.25" in title
    psi_table = tables[title]
    assert psi_table.loc["lead_source", "status"] == "ALERT"
    assert SCORE in psi_table.index
    assert len(dict(summary_tables(report, show_all=True))[title]) == len(report.psi)
    levels = level_summary(report)
    assert levels.loc["lead_source", "examples"] == NEW_SOURCE
    lines = "\n".join(summary_lines(report))
    verdict = lines.splitlines()[-1]
    assert verdict.startswith("ALERT: PSI >= 0.25 for") and "lead_source" in verdict
    assert NEW_SOURCE in lines and "no current lead's outcome window has closed" in lines
    png = drift_plot(report, tmp_path / "drift.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drift_job_saves_and_logs_to_mlflow(
    bundle_dir: Path, recent_dir: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    config = load_config(None, project_dir=tmp_path)
    outcome = drift_job(str(bundle_dir), recent_dir, config, out_dir=tmp_path / "out")
    assert outcome.report.alert
    assert {p.name for p in outcome.paths.values()} == {
        "drift.json",
        "psi.csv",
        "levels.csv",
        "drift.png",
    }
    saved = json.loads(outcome.paths["json"].read_text())
    assert saved["alert"] and "lead_source" in saved["alerts"]
    assert saved["unseen_sources"] == {NEW_SOURCE: outcome.report.unseen_sources[NEW_SOURCE]}
    assert pd.read_csv(outcome.paths["psi"], index_col=0).loc["lead_source", "status"] == "alert"

    assert outcome.run_id is not None
    client = MlflowClient(tracking_uri=config.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.tags["leadml.job"] == "drift"
    assert run.info.run_name.startswith(f"drift · {outcome.report.model} · ")
    assert run.data.tags["leadml.drift.alert"] == "true"
    assert run.data.metrics["psi.lead_source"] >= 0.25
    assert "psi.score" in run.data.metrics and "unseen_source_share" in run.data.metrics
    logged = {a.path for a in client.list_artifacts(outcome.run_id, "drift")}
    assert {"drift/drift.png", "drift/psi.csv", "drift/drift.json"} <= logged
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"{config.mlflow.experiment}-drift"


def _run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the real entry point (user errors -> exit codes) in-process."""
    monkeypatch.setattr(sys, "argv", ["leadml", *args])
    monkeypatch.setenv("COLUMNS", "200")
    # The console is built at import, so its width may come from an earlier test's terminal.
    monkeypatch.setattr(cli.console, "width", 200)
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return 0 if code is None else int(code)


def test_cli_exits_2_on_drift(
    bundle_dir: Path,
    recent_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["drift", "--reference", str(bundle_dir), "--current", str(recent_dir), "--no-log"]
    code = _run_cli([*args, "--out", str(tmp_path / "out")], monkeypatch)
    out = capsys.readouterr().out
    assert code == 2, out
    assert "ALERT" in out and "review_site" in out and "watch >= 0.1" in out
    assert (tmp_path / "out" / "drift.png").exists()
    assert not (tmp_path / "mlflow.db").exists()  # --no-log


def test_cli_exits_0_without_drift_and_the_threshold_is_configurable(
    bundle_dir: Path,
    like_training_dir: Path,
    recent_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["drift", "--reference", str(bundle_dir), "--no-log", "--out", str(tmp_path / "o")]
    assert _run_cli([*base, "--current", str(like_training_dir)], monkeypatch) == 0
    assert "No PSI reaches 0.25" in capsys.readouterr().out
    # A lenient threshold turns the recent window's alert off.
    code = _run_cli([*base, "--current", str(recent_dir), "--alert-psi", "50"], monkeypatch)
    assert code == 0, capsys.readouterr().out


def test_cli_exits_1_on_errors(
    trained: TrainedModel,
    recent_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    old = save_bundle(dataclasses.replace(trained.bundle, extra={}), tmp_path / "old")
    args = ["drift", "--reference", str(old), "--current", str(recent_dir), "--no-log"]
    assert _run_cli(args, monkeypatch) == 1
    err = capsys.readouterr().err
    assert "no drift reference" in err and "Traceback" not in err

    bad = tmp_path / "missing"
    args = ["drift", "--reference", str(old), "--current", str(bad), "--no-log"]
    assert _run_cli(args, monkeypatch) == 1

    args = ["drift", "--current", str(recent_dir), "--since", "not-a-date", "--no-log"]
    assert _run_cli(args, monkeypatch) == 1
    assert "--since" in capsys.readouterr().err


def test_drift_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["drift", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--alert-psi" in result.output
    assert REFERENCE_KEY  # the reference lives in the bundle under this key
