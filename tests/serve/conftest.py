"""Fixtures for the API: a saved bundle from the session's trained model, keys, clients."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from leadml import schema
from leadml.bundle import save_bundle
from leadml.config import ApiKeyConfig, Config, load_config
from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml_serve.app import create_app
from leadml_serve.security import digest

USER_KEY = "lml_user-key-for-tests"
ADMIN_KEY = "lml_admin-key-for-tests"
USER = {"Authorization": f"Bearer {USER_KEY}"}
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture(scope="session")
def bundle_dir(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = trained.bundle.with_registry("lead-conversion", "7")
    return save_bundle(bundle, tmp_path_factory.mktemp("served") / "lead-conversion" / "7")


@pytest.fixture(scope="session")
def second_bundle_dir(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = trained.bundle.with_registry("lead-conversion", "8")
    return save_bundle(bundle, tmp_path_factory.mktemp("served") / "lead-conversion" / "8")


def serve_config(project: Path, model: Path | str, **serve: Any) -> Config:
    keys = (
        ApiKeyConfig(name="app", sha256=digest(USER_KEY)),
        ApiKeyConfig(name="ops", sha256=digest(ADMIN_KEY), admin=True),
    )
    # Tests keep projects and bundles in pytest's temporary folders, which tests reload
    # between: allow those (model_roots' own tests pass their own).
    roots = (project, Path(tempfile.gettempdir()))
    if not str(model).startswith("models:/"):
        roots += (_common(project, model),)
    values: dict[str, Any] = {"model": str(model), "api_keys": keys, "model_roots": roots}
    values |= serve
    config = load_config(None, project_dir=project)
    return config.model_copy(update={"serve": config.serve.model_copy(update=values)})


def _common(project: Path, model: Path | str) -> Path:
    return Path(os.path.commonpath([project.resolve(), Path(model).resolve()]))


@pytest.fixture(scope="module")
def client(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(serve_config(tmp_path_factory.mktemp("project"), bundle_dir))
    with TestClient(app) as test_client:
        yield test_client


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).isoformat()


def lead_payload(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    lead_id: str,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """One lead of a Dataset as the API receives it (missing values left out)."""
    row = leads.loc[leads[schema.LEAD_ID] == lead_id].iloc[0]
    body: dict[str, Any] = {}
    for column, value in row.items():
        if column == schema.CONVERTED_AT or pd.isna(value):
            continue
        body[str(column)] = _iso(value) if isinstance(value, pd.Timestamp) else value
    mine = events.loc[events[schema.LEAD_ID] == lead_id]
    body["events"] = [
        {"event_type": str(t), "occurred_at": _iso(at)}
        for t, at in zip(mine[schema.EVENT_TYPE], mine[schema.OCCURRED_AT], strict=True)
    ]
    if as_of is not None:
        body["as_of"] = _iso(as_of)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in body.items()}


@pytest.fixture(scope="session")
def test_leads(small_data: Dataset, trained: TrainedModel) -> list[dict[str, Any]]:
    """Payloads for 40 test-window leads, each as of its training cutoff."""
    frame = trained.test_frame.iloc[:40]
    return [
        lead_payload(small_data.leads, small_data.events, str(lead_id), cutoff)
        for lead_id, cutoff in frame["cutoff"].items()
    ]
