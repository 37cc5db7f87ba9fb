"""Registering versions in a test's own MLflow registry without training again."""

from __future__ import annotations

from leadml.bundle import save_bundle
from leadml.config import Config
from leadml.model.pipeline import TrainedModel
from leadml.tracking.log import log_bundle, register_model, start_run
from leadml.tracking.registry import bundle_dir, client_for


def register_version(trained: TrainedModel, config: Config) -> str:
    """Register `trained` as a new version with its bundle, as `leadml train` does (each
    version holds the same model, labelled with its own version); returns the version."""
    name = config.mlflow.model_name
    client_for(config)
    with start_run():
        version = register_model(trained, name)
        bundle = trained.bundle.with_registry(name, version)
        log_bundle(save_bundle(bundle, bundle_dir(config, name, version)))
    return version
