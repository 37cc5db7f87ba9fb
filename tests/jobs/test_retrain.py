"""Headless retraining: the reload call against a real local HTTP server, every exit code
of `leadml retrain`, and the gate steps the retraining notebook uses."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leadml.cli import app, main
from leadml.config import load_config
from leadml.data.load import Dataset
from leadml.data.synth import generate_funnel, write_funnel
from leadml.errors import InputError
from leadml.jobs.retrain import (
    RELOAD_PATH,
    ReloadError,
    ReloadTarget,
    RetrainStatus,
    reload_server,
)
from leadml.model.pipeline import TrainedModel
from leadml.promotion import compare_with_champion, promote_if_passed
from leadml.tracking.registry import CHALLENGER, CHAMPION, aliases, client_for
from tests.flat_export import synthetic_export, write_export

KEY = "s3cret-admin-key"


@dataclass
class FakeServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers as told."""

    url: str
    status: int = 200
    body: bytes = b""
    requests: list[dict[str, str]] = field(default_factory=list)

    def answer(self, status: int, body: dict[str, object] | bytes) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization", ""),
                    "body": self.rfile.read(length).decode(),
                }
            )
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exit_codes_are_the_documented_ones() -> None:
    assert {s.label: int(s) for s in RetrainStatus} == {
        "promoted": 0,
        "failed": 1,
        "kept_champion": 3,
        "data_invalid": 4,
    }


def test_reload_posts_with_the_admin_key_and_reads_the_versions(server: FakeServer) -> None:
    server.answer(200, {"model_version": "7", "previous_version": "6"})
    result = reload_server(ReloadTarget(server.url + "/", KEY))
    assert (result.model_version, result.previous_version) == ("7", "6")
    assert server.requests == [
        {"path": RELOAD_PATH, "authorization": f"Bearer {KEY}", "body": "{}"}
    ]


def test_reload_of_a_first_model_has_no_previous_version(server: FakeServer) -> None:
    server.answer(200, {"model_version": 1, "previous_version": None})
    result = reload_server(ReloadTarget(server.url, KEY))
    assert (result.model_version, result.previous_version) == ("1", None)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"title": "Unauthorized", "detail": "bad admin key", "status": 401}, "bad admin key"),
        (503, {"title": "Model not loaded", "status": 503}, "Model not loaded"),
        (500, b"Internal Server Error", "Internal Server Error"),
    ],
)
def test_reload_refusals_report_the_status_and_the_problem(
    server: FakeServer, status: int, body: dict[str, object] | bytes, expected: str
) -> None:
    server.answer(status, body)
    with pytest.raises(ReloadError, match=f"HTTP {status}") as raised:
        reload_server(ReloadTarget(server.url, KEY))
    assert expected in str(raised.value)
    assert KEY not in str(raised.value)


def test_reload_answer_without_a_version_is_an_error(server: FakeServer) -> None:
    server.answer(200, {"status": "ok"})
    with pytest.raises(ReloadError, match="without a model_version"):
        reload_server(ReloadTarget(server.url, KEY))


def test_unreachable_server_is_an_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ReloadError, match="cannot reach"):
        reload_server(ReloadTarget(url, KEY, timeout=5))


@pytest.mark.parametrize(
    ("url", "key", "option"),
    [("ftp://host", KEY, "--reload-url"), ("http://127.0.0.1:1", "", "--admin-key")],
)
def test_reload_target_is_checked_up_front(url: str, key: str, option: str) -> None:
    with pytest.raises(InputError) as raised:
        ReloadTarget(url, key)
    assert raised.value.option == option


def test_admin_key_is_not_in_the_repr() -> None:
    assert KEY not in repr(ReloadTarget("http://127.0.0.1:1", KEY))


def _run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the real entry point (user errors -> exit codes) in-process."""
    monkeypatch.setattr(sys, "argv", ["leadml", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return 0 if code is None else int(code)


def _write_config(project: Path, **train: object) -> Path:
    settings = {
        "bootstrap_rounds": 20,
        "shap_sample": 200,
        "max_rounds": 300,
        "num_threads": 1,
    } | train
    lines = ["[train]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items())]
    path = project / "leadml.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_invalid_data_exits_4_and_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad"
    write_funnel(generate_funnel(300, seed=1, with_defects=True), data, fmt="csv")
    monkeypatch.chdir(tmp_path)
    metrics = tmp_path / "outcome.json"
    args = ["retrain", "--data", str(data), "--metrics-out", str(metrics)]
    assert _run_cli(args, monkeypatch) == 4
    captured = capsys.readouterr()
    assert "error" in captured.out and "nothing was trained (exit 4)" in captured.err
    assert not (tmp_path / "mlflow.db").exists()
    outcome = json.loads(metrics.read_text())["retrain"]
    assert outcome["status"] == "data_invalid" and outcome["exit_code"] == 4
    assert outcome["validation"]["errors"] > 0


def test_reload_without_an_admin_key_exits_1_before_training(
    small_data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADML_ADMIN_KEY", raising=False)
    args = ["retrain", "--data", str(small_data_dir), "--reload-url", "http://127.0.0.1:1"]
    assert _run_cli(args, monkeypatch) == 1
    assert "LEADML_ADMIN_KEY" in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_retrain_promotes_reloads_keeps_and_fails_with_distinct_exit_codes(
    small_data_dir: Path,
    tmp_path: Path,
    server: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADML_ADMIN_KEY", KEY)  # read by the CLI entry, nowhere else
    config_path = _write_config(tmp_path)
    config = load_config(config_path)
    name = config.mlflow.model_name
    base = ["retrain", "--data", str(small_data_dir), "--config", str(config_path)]
    reload = ["--reload-url", server.url]

    # 1. The first model has no champion to beat: promoted, and the server reloads.
    server.answer(200, {"model_version": "1", "previous_version": None})
    metrics = tmp_path / "first.json"
    assert _run_cli([*base, *reload, "--metrics-out", str(metrics)], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "now serving version 1" in out and "Promoted (exit 0)" in out
    assert [r["authorization"] for r in server.requests] == [f"Bearer {KEY}"]
    assert aliases(client_for(config), name) == {CHAMPION: "1", CHALLENGER: "1"}
    first = json.loads(metrics.read_text())
    assert first["retrain"]["status"] == "promoted"
    assert first["retrain"]["reload"] == {"model_version": "1", "previous_version": None}
    assert first["mlflow"]["model_version"] == "1"
    run = client_for(config).get_run(first["mlflow"]["run_id"])
    assert run.data.tags["leadml.job"] == "retrain"
    assert run.info.run_name.startswith("retrain · ") and " leads · as of " in run.info.run_name
    assert run.data.tags["leadml.reload"] == "ok: serving 1"

    # 2. A much weaker model (one stump) fails the gate: the champion stays, no reload.
    weak = tmp_path / "weak.toml"  # same project folder, so the same MLflow store
    weak.write_text(
        _write_config(tmp_path)
        .read_text(encoding="utf-8")
        .replace("max_rounds = 300", "max_rounds = 1")
        + "num_leaves = 2\n",
        encoding="utf-8",
    )
    weak_args = ["retrain", "--data", str(small_data_dir), "--config", str(weak)]
    assert _run_cli([*weak_args, *reload], monkeypatch) == 3
    assert "Kept the champion" in capsys.readouterr().out
    assert len(server.requests) == 1
    assert aliases(client_for(config), name) == {CHAMPION: "1", CHALLENGER: "2"}

    # 3. Promoted, but the server cannot reload: a failure (exit 1) that says so.
    server.answer(503, {"title": "Service Unavailable", "detail": "model store is down"})
    assert _run_cli([*base, *reload], monkeypatch) == 1
    captured = capsys.readouterr()
    assert "model store is down" in captured.err and "HTTP 503" in captured.err
    assert aliases(client_for(config), name)[CHAMPION] == "3"


def test_retrain_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["retrain", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Example" in text
    for phrase in ("0 promoted", "1 failure", "3 kept the champion", "4 data invalid"):
        assert phrase in text


def test_compare_with_champion_scores_both_on_the_challenger_test_window(
    trained: TrainedModel, small_data: Dataset
) -> None:
    comparison = compare_with_champion(trained, trained.bundle, small_data.leads, small_data.events)
    frame = comparison.frame
    assert frame.index.equals(trained.test_frame.index)
    # The same bundle as champion reproduces the challenger's own test probabilities.
    np.testing.assert_allclose(frame["champion"], frame["challenger"], rtol=1e-9, atol=1e-12)
    assert list(comparison.metrics.index) == ["challenger", "champion (v?)"]
    assert comparison.metrics["roc_auc"].nunique() == 1
    assert set(comparison.by_source.columns) >= {"challenger_auc", "champion_auc", "difference"}
    assert comparison.by_source["leads"].sum() == len(frame)


@pytest.mark.slow
def test_promote_if_passed_applies_the_recorded_gate(small_data_dir: Path, tmp_path: Path) -> None:
    from leadml.errors import LeadmlError
    from leadml.jobs.train import Promotion, train_and_track

    config = load_config(_write_config(tmp_path))
    client = client_for(config)
    name = config.mlflow.model_name
    first = train_and_track(small_data_dir, config, promotion=Promotion.NEVER)
    second = train_and_track(small_data_dir, config, promotion=Promotion.NEVER)
    assert aliases(client, name) == {CHALLENGER: "2"}

    decision = promote_if_passed(second, config)
    assert decision.passed and decision.reason == "no champion yet"
    assert aliases(client, name)[CHAMPION] == "2"
    assert client.get_run(second.run_id).data.tags["leadml.promoted"] == "true"
    assert promote_if_passed(second, config).passed  # applying it again changes nothing
    assert aliases(client, name)[CHAMPION] == "2"

    # The first run was gated when there was no champion; now there is one: stale.
    with pytest.raises(LeadmlError, match="champion changed"):
        promote_if_passed(first, config)
    assert aliases(client, name)[CHAMPION] == "2"


@pytest.mark.slow
def test_retrain_on_a_flat_export_gates_exactly_as_train_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same weak challenger, trained once by `leadml train` and once by `leadml retrain`
    on a flat CRM export, is judged against the same flat champion the same way."""
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path, synthetic_export(2500, seed=11))
    mapping = (tmp_path / "leadml.toml").read_text(encoding="utf-8")
    fast = "[train]\nbootstrap_rounds = 20\nshap_sample = 200\nmax_rounds = 300\nnum_threads = 1\n"
    strong = tmp_path / "leadml.toml"
    strong.write_text(mapping + fast, encoding="utf-8")
    weak = tmp_path / "weak.toml"  # same folder, so the same MLflow store and export
    weak.write_text(
        mapping + fast.replace("max_rounds = 300", "max_rounds = 1") + "num_leaves = 2\n",
        encoding="utf-8",
    )
    outputs = {name: tmp_path / f"{name}.json" for name in ("champion", "train", "retrain")}

    # 1. The champion: a flat model trained by `leadml train`.
    assert _run_cli(["train", "--config", str(strong), "--metrics-out", str(outputs["champion"])],
                    monkeypatch) == 0  # fmt: skip
    # 2. A stump, trained and gated by `leadml train` (kept as challenger).
    args = ["--config", str(weak), "--metrics-out", str(outputs["train"])]
    assert _run_cli(["train", "--no-promote", *args], monkeypatch) == 0
    # 3. The same stump through `leadml retrain` on the export: kept the champion (exit 3).
    args = ["--data", "export.csv", "--config", str(weak), "--metrics-out", str(outputs["retrain"])]
    assert _run_cli(["retrain", *args], monkeypatch) == 3
    assert "Kept the champion" in capsys.readouterr().out
    champion, by_train, by_retrain = (json.loads(p.read_text()) for p in outputs.values())

    assert by_retrain["retrain"]["status"] == "kept_champion"
    assert by_retrain["model"] == by_train["model"]  # the same metrics
    assert by_retrain["baselines"] == by_train["baselines"]
    verdict = by_train["mlflow"]["gate"]
    assert by_retrain["mlflow"]["gate"] == verdict  # the same verdict, for the same reason
    assert verdict["passed"] is False
    # The champion was re-scored by its own flat bundle on the stump's test window (the same
    # time split), so the gate saw the champion's own test AUC.
    expected = (
        f"AUC {by_train['model']['roc_auc']:.4f} < champion {champion['model']['roc_auc']:.4f}"
    )
    assert verdict["reason"].startswith(expected)
    config = load_config(strong)
    assert aliases(client_for(config), config.mlflow.model_name) == {
        CHAMPION: "1",
        CHALLENGER: "3",
    }
