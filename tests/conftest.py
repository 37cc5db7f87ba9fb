"""Shared fixtures: a small synthetic funnel and one trained model per test session.

Everything is built in code from a fixed seed; nothing is downloaded and nothing is
read from outside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leadml.config import Config, TrainConfig, load_config
from leadml.data.load import Dataset, load_dataset
from leadml.data.synth import Funnel, generate_funnel, write_funnel
from leadml.model.pipeline import TrainedModel, fit_and_evaluate

SMALL_LEADS = 6000


def fast_config(
    project_dir: Path, *, labels: dict[str, object] | None = None, **train: object
) -> Config:
    """A config for tests: small bootstrap and SHAP sample, fewer rounds, one project dir."""
    defaults: dict[str, object] = {
        "bootstrap_rounds": 20,
        "shap_sample": 300,
        "max_rounds": 400,
        "num_threads": 1,
    }
    overrides: dict[str, dict[str, object]] = {"train": defaults | train}
    if labels:
        overrides["labels"] = labels
    return load_config(None, project_dir=project_dir, overrides=overrides)


ONE_CUTOFF = {"snapshot_every_days": 0, "snapshot_days": ()}
"""[labels] for a one-cutoff model: one row per lead at created_at + observation_days."""


@pytest.fixture(scope="session")
def small_funnel() -> Funnel:
    return generate_funnel(SMALL_LEADS, seed=3)


@pytest.fixture(scope="session")
def small_data_dir(small_funnel: Funnel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("funnel") / "data"
    write_funnel(small_funnel, out)
    return out


@pytest.fixture(scope="session")
def small_data(small_data_dir: Path) -> Dataset:
    return load_dataset(small_data_dir)


@pytest.fixture(scope="session")
def trained(small_data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A one-cutoff model: its test window has one row per lead, indexed by lead_id, which
    the serving, skew and scoring tests look leads up by."""
    config = fast_config(tmp_path_factory.mktemp("project"), labels=ONE_CUTOFF)
    return fit_and_evaluate(small_data.leads, small_data.events, config)


@pytest.fixture(scope="session")
def snapshot_trained(small_data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A model trained the default way: on snapshot rows of open leads of every age."""
    config = fast_config(tmp_path_factory.mktemp("project"))
    return fit_and_evaluate(small_data.leads, small_data.events, config)


@pytest.fixture(scope="session")
def train_config() -> TrainConfig:
    return TrainConfig(bootstrap_rounds=20, shap_sample=300, max_rounds=400, num_threads=1)
