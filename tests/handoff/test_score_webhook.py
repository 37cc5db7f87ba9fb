"""`leadml score --webhook`: the real command on the demo fixtures, against a live receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml import schema
from leadml.batch import parse_as_of
from leadml.bundle import save_bundle
from leadml.cli import app as cli_app
from leadml.data.load import load_dataset
from leadml.model.pipeline import TrainedModel
from leadml.store import batch_summary, open_store
from tests.handoff.receiver import Receiver
from tests.handoff.test_webhook import SECRET, readme_verify


@pytest.fixture(scope="module")
def bundle(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bundle(trained.bundle, tmp_path_factory.mktemp("webhook") / "bundle")


@pytest.fixture(scope="module")
def some_leads(small_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quarter of the demo leads with their events: three runs stay fast."""
    data = tmp_path_factory.mktemp("webhook-data")
    leads = pd.read_parquet(small_data_dir / "leads.parquet")
    kept = set(sorted(leads[schema.LEAD_ID])[::4])
    for table in small_data_dir.iterdir():
        frame = pd.read_parquet(table)
        if schema.LEAD_ID in frame.columns:
            frame = frame[frame[schema.LEAD_ID].isin(kept)]
        frame.to_parquet(data / table.name, index=False)
    return data


def _changed(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lead["lead_id"]: lead for lead in body["changed_leads"]}


def _bodies(hook: Receiver) -> list[dict[str, Any]]:
    """The deliveries of one run, parts joined: the summary of part 1, every changed lead."""
    bodies = [json.loads(r.body) for r in hook.received]
    hook.received.clear()
    assert [b["part"] for b in bodies] == list(range(1, bodies[0]["parts"] + 1))
    leads = [lead for b in bodies for lead in b["changed_leads"]]
    return [{**bodies[0], "changed_leads": leads}]


def test_leadml_score_posts_the_changed_leads_and_fails_safely(
    some_leads: Path,
    bundle: Path,
    hook: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no leadml.toml yet: the defaults
    monkeypatch.setenv("LEADML_WEBHOOK_SECRET", SECRET)
    dataset = load_dataset(some_leads)
    latest = parse_as_of("latest", dataset.leads, dataset.events)
    out, store = tmp_path / "ranked.csv", f"sqlite:///{tmp_path / 'scores.db'}"
    args = ["score", "--data", str(some_leads), "--model", str(bundle), "--out", str(out)]
    args += ["--store", store, "--webhook", hook.url]

    def score(as_of: pd.Timestamp) -> pd.DataFrame:
        done = CliRunner().invoke(cli_app, [*args, "--as-of", as_of.isoformat()])
        assert done.exit_code == 0, done.output + repr(done.exception)
        return pd.read_csv(out, dtype={"lead_id": str}).set_index("lead_id")

    # First run: every lead is new, so exactly the A leads are sent, in rank order.
    first = score(latest - pd.Timedelta(days=30))
    verify = readme_verify()
    assert all(verify(SECRET, r.headers["X-Leadml-Signature"], r.body) for r in hook.received)
    (body,) = _bodies(hook)
    assert body["batch_id"] == 1 and body["leads_scored"] == len(first)
    assert body["grade_counts"] == first["grade"].value_counts().to_dict() | {
        g: 0 for g in "ABCD" if g not in set(first["grade"])
    }
    assert list(_changed(body)) == first.index[first["grade"] == "A"].tolist()
    assert {(lead["trend"], lead["previous_grade"]) for lead in body["changed_leads"]} == {
        ("new", None)
    }

    # A month later: leads whose grade moved, and new leads graded A; no unchanged lead.
    second = score(latest)
    (body,) = _bodies(hook)
    assert body["batch_id"] == 2
    before = first["grade"].reindex(second.index)
    moved = before.notna() & (before != second["grade"])
    newly_a = before.isna() & (second["grade"] == "A")
    expected = second.index[moved | newly_a].tolist()
    sent = _changed(body)
    assert list(sent) == expected and 0 < len(expected) < len(second)
    for lead_id in expected[:20]:
        assert sent[lead_id]["grade"] == second.at[lead_id, "grade"]
        was = before[lead_id]
        assert sent[lead_id]["previous_grade"] == (None if pd.isna(was) else was)
        assert sent[lead_id]["score"] == second.at[lead_id, "score"]

    # The receiver is down: after the configured attempts, one line, exit 1, and the
    # batch is stored and the list written all the same.
    (tmp_path / "leadml.toml").write_text("[score]\nwebhook_attempts = 2\n", encoding="utf-8")
    hook.answer(503)
    out.unlink()
    failed = CliRunner().invoke(cli_app, [*args, "--as-of", latest.isoformat()])
    assert failed.exit_code == 1
    errors = [line for line in failed.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and failed.output.rstrip().endswith(errors[0]), failed.output
    message = errors[0]
    assert "after 2 attempts (last: HTTP 503" in message
    assert f"batch 3 is in the scores store and the ranked list {out} is written" in message
    assert len(hook.received) == 2 and out.exists()

    # No secret: refused before any work, naming the variable; nothing new is stored.
    monkeypatch.delenv("LEADML_WEBHOOK_SECRET")
    hook.received.clear()
    refused = CliRunner().invoke(cli_app, [*args, "--as-of", latest.isoformat()])
    assert refused.exit_code == 1 and "LEADML_WEBHOOK_SECRET" in refused.output
    assert hook.received == []
    engine = open_store(store)
    try:
        summary = batch_summary(engine)
        assert summary is not None and summary["batch"]["batch_id"] == 3
    finally:
        engine.dispose()
