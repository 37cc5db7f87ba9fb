"""Health, readiness, metrics, GET /v1/model, auth, and reloading the model."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadml.bundle import Bundle, load_bundle
from leadml.errors import ModelNotFoundError
from leadml_serve.app import create_app
from tests.machine import run_leadml
from tests.serve.conftest import ADMIN, USER, serve_config


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == "7"


def test_model_route_describes_version_features_and_grades(client: TestClient) -> None:
    body = client.get("/v1/model", headers=USER).json()
    assert body["version"] == "7"
    assert set(body["grade_thresholds"]) == {"A", "B", "C"}
    assert body["training_window"] and body["metrics"] and body["trained_at"]
    source = next(f for f in body["features"] if f["name"] == "lead_source")
    assert source["kind"] == "categorical" and "unknown" in source["levels"]
    assert any(f["kind"] == "numeric" for f in body["features"])


def test_metrics_show_latency_scores_by_grade_and_model_version(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    client.post("/v1/predict", json=test_leads[:5], headers=USER)
    text = client.get("/metrics").text
    assert "leadml_request_duration_seconds_bucket" in text
    assert 'route="/v1/predict"' in text
    assert "leadml_scores_total{" in text and 'model_version="7"' in text
    assert 'leadml_model_loaded{model_version="7"} 1.0' in text


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": "Basic x"}],
)
def test_a_missing_or_wrong_key_gets_401(client: TestClient, headers: dict[str, str]) -> None:
    for method, path in (("post", "/v1/predict"), ("get", "/v1/model")):
        response = client.request(method, path, json={"lead_id": "a"}, headers=headers)
        assert response.status_code == 401
        assert "leadml keys new" in response.json()["detail"]


def test_both_key_headers_work(client: TestClient) -> None:
    from tests.serve.conftest import USER_KEY

    for headers in ({"Authorization": f"Bearer {USER_KEY}"}, {"X-API-Key": USER_KEY}):
        assert client.get("/v1/model", headers=headers).status_code == 200


def test_admin_routes_refuse_a_user_key_with_403(client: TestClient) -> None:
    response = client.post("/v1/model/reload", headers=USER)
    assert response.status_code == 403
    assert "--admin" in response.json()["detail"]


def test_openapi_carries_the_lead_schema_and_the_models_categories(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    lead = spec["components"]["schemas"]["LeadIn"]
    assert "paid_search" in lead["properties"]["lead_source"]["description"]
    assert lead["examples"][0]["events"]
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/LeadIn"}
    assert spec["info"]["x-leadml-model"]["version"] == "7"


def _failing_loader(ref: str) -> Bundle:
    raise ModelNotFoundError(f"no champion yet for {ref}; looked in /srv/secret/mlflow.db")


def test_without_a_model_predict_and_readyz_answer_503_not_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The 503 says the load failed and is retried, and names a registry reference; the
    reason (which can name server files) is only in the log."""
    app = create_app(
        serve_config(tmp_path, "models:/lead-conversion@champion"), loader=_failing_loader
    )
    with caplog.at_level(logging.ERROR, logger="serve"), TestClient(app) as empty:
        assert empty.get("/healthz").status_code == 200
        ready = empty.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"] == (
            "No model loaded yet: could not load the model "
            "(models:/lead-conversion@champion); retrying."
        )
        response = empty.post("/v1/predict", json={"lead_id": "a"}, headers=USER)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert (
            "could not load the model (models:/lead-conversion@champion); retrying"
            in (response.json()["detail"])
        )
        for answer in (ready, response):
            assert "/srv/secret" not in answer.text and "no champion yet" not in answer.text
    assert "/srv/secret/mlflow.db" in caplog.text


def test_a_folder_that_does_not_load_is_not_named_in_the_503(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "broken"
    folder.mkdir(parents=True)
    app = create_app(serve_config(tmp_path, folder, model_roots=(tmp_path / "models",)))
    with TestClient(app) as empty:
        ready = empty.get("/readyz")
        response = empty.post("/v1/predict", json={"lead_id": "a"}, headers=USER)
    assert ready.json()["detail"] == "No model loaded yet: could not load the model; retrying."
    assert response.status_code == 503
    for answer in (ready, response):
        assert str(tmp_path) not in answer.text and "broken" not in answer.text


def test_auth_none_serves_without_keys_and_warns_loudly(
    bundle_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="serve"):
        app = create_app(serve_config(tmp_path, bundle_dir, auth="none"))
        with TestClient(app) as open_client:
            assert open_client.post("/v1/predict", json={"lead_id": "a"}).status_code == 200
    assert "AUTHENTICATION IS OFF" in caplog.text


@pytest.fixture
def reloadable(bundle_dir: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """A server on a private copy of the bundle, so a test may corrupt it."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    with TestClient(create_app(serve_config(tmp_path, copy))) as test_client:
        yield test_client, copy


def test_reload_swaps_in_another_model(
    reloadable: tuple[TestClient, Path], second_bundle_dir: Path
) -> None:
    test_client, _ = reloadable
    response = test_client.post(
        "/v1/model/reload", json={"model": str(second_bundle_dir)}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_version": "8",
        "previous_version": "7",
        "model": str(second_bundle_dir),
    }
    assert test_client.get("/readyz").json()["model_version"] == "8"
    scored = test_client.post("/v1/predict", json={"lead_id": "a"}, headers=USER).json()
    assert scored["model_version"] == "8"


def test_a_failed_reload_keeps_the_old_model_serving(
    reloadable: tuple[TestClient, Path],
) -> None:
    test_client, path = reloadable
    (path / "model.txt").write_text("tree\nthis is not a model\n")
    response = test_client.post("/v1/model/reload", headers=ADMIN)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail.startswith("could not load the model") and "still serving version 7" in detail
    assert str(path) not in response.text  # the reason names server files: log only
    assert test_client.get("/readyz").status_code == 200
    scored = test_client.post("/v1/predict", json={"lead_id": "a"}, headers=USER)
    assert scored.status_code == 200 and scored.json()["model_version"] == "7"


def test_a_failed_reload_passes_on_the_registry_s_answer_but_never_a_path(
    bundle_dir: Path, tmp_path: Path
) -> None:
    """ "No such alias" helps the caller and names no file; a folder's error stays in the log."""

    def loader(ref: str) -> Bundle:
        if ref.startswith("models:/"):
            raise ModelNotFoundError("no version of 'lead-conversion' has the alias 'nobody'")
        return load_bundle(Path(ref))

    with TestClient(create_app(serve_config(tmp_path, bundle_dir), loader=loader)) as test_client:
        answer = test_client.post(
            "/v1/model/reload", json={"model": "models:/lead-conversion@nobody"}, headers=ADMIN
        )
        assert answer.status_code == 409
        assert "has the alias 'nobody'" in answer.json()["detail"]
        missing = tmp_path / "no-bundle-here"
        answer = test_client.post("/v1/model/reload", json={"model": str(missing)}, headers=ADMIN)
        assert answer.status_code == 409 and str(tmp_path) not in answer.text
        assert answer.json()["detail"].endswith(
            "still serving version 7. The server log has the reason."
        )


def test_requests_during_reloads_never_fail_and_see_one_version(
    reloadable: tuple[TestClient, Path],
    second_bundle_dir: Path,
    test_leads: list[dict[str, Any]],
) -> None:
    test_client, first = reloadable
    stop = threading.Event()

    def keep_reloading() -> int:
        n = 0
        while not stop.is_set():
            target = second_bundle_dir if n % 2 == 0 else first
            response = test_client.post(
                "/v1/model/reload", json={"model": str(target)}, headers=ADMIN
            )
            assert response.status_code == 200, response.text
            n += 1
        return n

    def score(i: int) -> tuple[int, set[str]]:
        response = test_client.post(
            "/v1/predict", json=test_leads[i % 30 : i % 30 + 8], headers=USER
        )
        body = response.json()
        versions = {body["model_version"]} | {r["model_version"] for r in body["results"]}
        return response.status_code, versions

    with ThreadPoolExecutor(max_workers=6) as pool:
        reloads = pool.submit(keep_reloading)
        outcomes = list(pool.map(score, range(60)))
        stop.set()
        assert reloads.result() >= 2
    assert all(status == 200 for status, _ in outcomes)
    assert all(len(versions) == 1 for _, versions in outcomes)
    assert {v for _, versions in outcomes for v in versions} <= {"7", "8"}


def test_a_reload_in_one_worker_reaches_the_others(
    bundle_dir: Path, second_bundle_dir: Path, tmp_path: Path
) -> None:
    """Two apps sharing a sync file stand in for two worker processes."""
    import time

    sync = tmp_path / "model.json"
    config = serve_config(tmp_path, bundle_dir)
    with (
        TestClient(create_app(config, sync_file=sync)) as first,
        TestClient(create_app(config, sync_file=sync)) as second,
    ):
        reloaded = first.post(
            "/v1/model/reload", json={"model": str(second_bundle_dir)}, headers=ADMIN
        )
        assert reloaded.status_code == 200
        deadline = time.monotonic() + 10
        while second.get("/readyz").json()["model_version"] != "8":
            assert time.monotonic() < deadline, "the other worker never followed"
            time.sleep(0.1)
        assert first.get("/readyz").json()["model_version"] == "8"


def test_a_worker_started_after_a_reload_starts_on_the_reloaded_model(
    bundle_dir: Path, second_bundle_dir: Path, tmp_path: Path
) -> None:
    """gunicorn replaces a worker that died: the new one must not go back to the model
    configured at start-up (the third app stands in for it)."""
    sync = tmp_path / "model.json"
    config = serve_config(tmp_path, bundle_dir)
    with TestClient(create_app(config, sync_file=sync)) as first:
        reloaded = first.post(
            "/v1/model/reload", json={"model": str(second_bundle_dir)}, headers=ADMIN
        )
        assert reloaded.status_code == 200
    with TestClient(create_app(config, sync_file=sync)) as replacement:
        assert replacement.get("/readyz").json()["model_version"] == "8"


def test_loading_a_model_freezes_the_heap_so_collections_skip_it(
    bundle_dir: Path, tmp_path: Path
) -> None:
    import gc

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(serve_config(tmp_path, bundle_dir))) as test_client:
        assert test_client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the libraries and the model


@pytest.fixture
def rooted(bundle_dir: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """A server whose project's models/ folder (the default root) holds the bundle; yields
    the client and the project."""
    models = tmp_path / "models"
    shutil.copytree(bundle_dir, models / "lead-conversion" / "7")
    config = serve_config(tmp_path, models / "lead-conversion" / "7", model_roots=None)
    with TestClient(create_app(config)) as test_client:
        yield test_client, tmp_path


def test_a_reload_loads_folders_only_inside_model_roots(
    rooted: tuple[TestClient, Path], second_bundle_dir: Path
) -> None:
    """Outside [serve] model_roots is 403 naming the setting (and no path but the one
    sent), also through a symlink inside the root; a folder inside loads."""
    test_client, project = rooted
    link = project / "models" / "elsewhere"
    link.symlink_to(second_bundle_dir.parent, target_is_directory=True)
    loop = project / "models" / "loop"
    loop.symlink_to(loop)
    for sent in (str(second_bundle_dir), "models/elsewhere/8", str(link / "8"), str(loop), "a\0b"):
        answer = test_client.post("/v1/model/reload", json={"model": sent}, headers=ADMIN)
        assert answer.status_code == 403, sent
        assert answer.headers["content-type"] == "application/problem+json"
        detail = answer.json()["detail"]
        assert "[serve] model_roots" in detail and repr(sent) in detail
        if sent != str(second_bundle_dir):
            assert str(second_bundle_dir.parent) not in answer.text  # the link's target
    assert test_client.get("/readyz").json()["model_version"] == "7"
    inside = project / "models" / "lead-conversion" / "8"
    shutil.copytree(second_bundle_dir, inside)
    answer = test_client.post("/v1/model/reload", json={"model": str(inside)}, headers=ADMIN)
    assert answer.status_code == 200 and answer.json()["model_version"] == "8"


def test_registry_references_are_always_allowed(rooted: tuple[TestClient, Path]) -> None:
    test_client, _ = rooted
    ref = "models:/lead-conversion@nobody"
    answer = test_client.post("/v1/model/reload", json={"model": ref}, headers=ADMIN)
    assert answer.status_code == 409  # asked the registry (an empty one), not refused


def test_a_model_folder_outside_model_roots_stops_start_up_with_one_line(
    bundle_dir: Path, tmp_path: Path
) -> None:
    from leadml.errors import InputError

    with pytest.raises(InputError, match=r"\[serve\] model_roots"):
        create_app(serve_config(tmp_path, bundle_dir, model_roots=None))
    served = run_leadml("serve", "--model", str(bundle_dir), "--port", "1", cwd=tmp_path)
    assert served.returncode == 1
    lines = served.stderr.strip().splitlines()
    assert len(lines) == 1 and "[serve] model_roots" in lines[0], served.stderr
    assert "Traceback" not in served.stderr
