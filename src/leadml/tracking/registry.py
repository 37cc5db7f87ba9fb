"""MLflow's registry at the edge: the tracking store set-up, versions, aliases, rollback,
and loading a registered bundle. Run logging lives in `tracking.log`, the gate in
`leadml.promotion`.

The registry holds versions of `lead-conversion`. A new version gets the alias
`challenger`; it becomes `champion` only through the gate (or `--force`). Each
promotion is appended to a history tag on the registered model so that
`rollback` can restore the previous champion.

Serving never unpickles anything: a registry reference resolves to a model
version, whose run holds the pickle-free bundle under the `bundle/` artifact path. The
version itself is a pyfunc logged from code (`tracking.pyfunc`) for MLflow's own loaders;
leadml reads the run's bundle, labelled with its registered name and version.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from leadml.config import Config
from leadml.errors import InputError, LeadmlError, ModelNotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from leadml.bundle import Bundle

CHAMPION = "champion"
CHALLENGER = "challenger"
BUNDLE_ARTIFACT = "bundle"
HISTORY_TAG = "leadml.champion_history"
REF_PREFIX = "models:/"
SQLITE_PREFIX = "sqlite:///"


def require_store(config: Config, what: str) -> None:
    """Raise ModelNotFoundError, starting with `what` failed, when the tracking store is a
    SQLite file that does not exist: nothing is registered, and opening it would create
    an empty store."""
    uri = config.tracking_uri
    if uri.startswith(SQLITE_PREFIX) and not Path(uri[len(SQLITE_PREFIX) :]).exists():
        raise ModelNotFoundError(
            f"{what}: no model is registered yet (there is no MLflow store "
            f"{uri[len(SQLITE_PREFIX) :]}); train one with `leadml train`, or point "
            "--tracking-uri at the store that holds your models"
        )


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_ML = "custom_model_development"
"""The experiment kind MLflow 3's UI opens in its classic runs-and-models view (its other
kinds open the GenAI view, which it also guesses for an experiment without the tag)."""


def reader_for(config: Config) -> MlflowClient:
    """A client for reading the registry only: no global MLflow state, no experiment."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def client_for(config: Config) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists.

    The default store is a SQLite file in the project with artifacts in `mlartifacts/`,
    so `mlflow ui --backend-store-uri sqlite:///mlflow.db` shows everything, no server.
    """
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    if experiment is None:
        location = None
        if config.mlflow.tracking_uri is None:
            config.artifact_root.mkdir(parents=True, exist_ok=True)
            location = config.artifact_root.as_uri()
        client.create_experiment(
            config.mlflow.experiment,
            artifact_location=location,
            tags={EXPERIMENT_KIND_TAG: CLASSIC_ML},
        )
    elif EXPERIMENT_KIND_TAG not in experiment.tags:  # made before leadml set the kind
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML)
    mlflow.set_experiment(config.mlflow.experiment)
    return client


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version behind an alias, or None when the alias (or model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def parse_ref(ref: str, default_name: str) -> tuple[str, str | None, str | None]:
    """Split `models:/name@alias` or `models:/name/3` into (name, alias, version)."""
    body = ref[len(REF_PREFIX) :] if ref.startswith(REF_PREFIX) else ref
    if "@" in body:
        name, alias = body.split("@", 1)
        return name or default_name, alias, None
    if "/" in body:
        name, version = body.split("/", 1)
        return name or default_name, None, version
    raise ModelNotFoundError(
        f"cannot read model reference {ref!r}: expected models:/NAME@ALIAS, "
        "models:/NAME/VERSION or a bundle folder path"
    )


def resolve_version(client: MlflowClient, ref: str, default_name: str) -> tuple[str, str]:
    """Resolve a registry reference to (name, version), with a helpful error."""
    name, alias, version = parse_ref(ref, default_name)
    if alias is not None:
        found = alias_version(client, name, alias)
        if found is None:
            raise ModelNotFoundError(
                f"no version of {name!r} has the alias {alias!r}. "
                "Train one with `leadml train` (the first model becomes champion), "
                "or promote a version with `leadml promote VERSION`."
            )
        return name, found
    assert version is not None
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise missing_version(client, name, version) from exc
    return name, version


def missing_version(client: MlflowClient, name: str, version: str) -> ModelNotFoundError:
    """The one-line error for a version that does not exist, listing those that do (a
    ModelNotFoundError, so the server's /model answer keeps its reason)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = [str(v.version) for v in client.search_model_versions(f"name = '{name}'")]
    except MlflowException:
        versions = []
    versions.sort(key=lambda v: (len(v), v))
    fix = (
        f"use one of its versions ({', '.join(versions)}), "
        f"e.g. {REF_PREFIX}{name}/{versions[-1]}, or an alias such as {REF_PREFIX}{name}@champion"
        if versions
        else f"{name!r} has no versions yet: train one with `leadml train`"
    )
    return ModelNotFoundError(
        f"model reference {REF_PREFIX}{name}/{version}: no such version; {fix}"
    )


def bundle_dir(config: Config, name: str, version: str) -> Path:
    """Where the exported bundle of a registered version lives: models/<name>/<version>/."""
    return config.resolve(config.paths.models_dir) / name / str(version)


def fetch_bundle(client: MlflowClient, config: Config, name: str, version: str) -> Path:
    """Make sure the version's bundle is exported locally; download it from MLflow if not."""
    target = bundle_dir(config, name, version)
    if (target / "bundle.json").exists():
        return target
    import mlflow

    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        raise ModelNotFoundError(f"{name} version {version} has no run holding its bundle")
    tmp = Path(tempfile.mkdtemp(prefix=".download.", dir=_ensure(target.parent)))
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=BUNDLE_ARTIFACT, dst_path=str(tmp)
        )
        shutil.move(local, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_roots(config: Config) -> tuple[Path, ...]:
    """The folders `[serve] model_roots` allows bundle folders in, absolute and resolved."""
    roots = config.serve.model_roots
    if roots is None:
        roots = (config.paths.models_dir,)
    return tuple(config.resolve(root).resolve() for root in roots)


def folder_allowed(ref: str | Path, roots: tuple[Path, ...]) -> bool:
    """Whether `ref` is a registry reference or a folder inside one of `roots`, after its
    symlinks are resolved (a link inside a root that points outside it is refused)."""
    text = str(ref)
    if text.startswith(REF_PREFIX):
        return True
    try:
        target = Path(text).resolve()
    except (OSError, ValueError, RuntimeError):  # too long, a NUL byte, a symlink loop
        return False
    return any(target.is_relative_to(root) for root in roots)


def check_model_folder(ref: str | Path, config: Config) -> None:
    """Raise InputError unless `folder_allowed(ref)`: one line naming the setting to change."""
    if not folder_allowed(ref, model_roots(config)):
        raise InputError(
            f"setting [serve] model: the bundle folder {str(ref)!r} is outside the folders "
            "[serve] model_roots allows (default: the project's models/ folder)",
            expected="a folder inside one of them (add its parent to model_roots in "
            "leadml.toml) or a registry reference such as models:/lead-conversion@champion",
        )


def load_model(ref: str | Path, config: Config) -> Bundle:
    """Load a bundle from a folder path or a registry reference such as models:/x@champion.

    A model file that is corrupt raises InputError (it never crashes the process)."""
    from leadml.bundle import load_bundle

    text = str(ref)
    if not text.startswith(REF_PREFIX):
        return load_bundle(Path(text))
    require_store(config, f"cannot load {text}")
    client = reader_for(config)
    name, version = resolve_version(client, text, config.mlflow.model_name)
    return load_version(client, config, name, version)


def load_version(client: MlflowClient, config: Config, name: str, version: str) -> Bundle:
    """A registered version's bundle. Its files were downloaded, so its model file is parsed
    in a child process first (once per file per process; see `leadml.model_file`)."""
    from leadml.bundle import load_bundle

    return load_bundle(fetch_bundle(client, config, name, version), trusted=False)


def set_challenger(client: MlflowClient, name: str, version: str) -> None:
    """Give a newly registered version the `challenger` alias."""
    client.set_registered_model_alias(name, CHALLENGER, version)


def champion_history(client: MlflowClient, name: str) -> list[str]:
    """Versions that have been champion, oldest first."""
    tags = client.get_registered_model(name).tags
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


def promote(client: MlflowClient, name: str, version: str) -> str | None:
    """Make `version` the champion; returns the previous champion's version (if any)."""
    previous = alias_version(client, name, CHAMPION)
    resolve_version(client, f"{REF_PREFIX}{name}/{version}", name)  # one line when unknown
    client.set_registered_model_alias(name, CHAMPION, version)
    history = champion_history(client, name)
    if not history or history[-1] != str(version):
        history.append(str(version))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    return previous


def rollback(client: MlflowClient, name: str) -> tuple[str, str]:
    """Restore the previous champion; returns (rolled-back version, restored version)."""
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise ModelNotFoundError(
            f"nothing to roll back: {name!r} has no champion yet. Train one with `leadml train`."
        )
    history = champion_history(client, name)
    if len(history) < 2:
        raise LeadmlError(
            f"nothing to roll back to: {name!r} has had {len(history)} champion(s). "
            "Use `leadml promote VERSION` to choose a version explicitly."
        )
    history.pop()
    restored = history[-1]
    client.set_registered_model_alias(name, CHAMPION, restored)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    return current, restored


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias -> version for a registered model (empty when it does not exist yet)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in model.aliases.items()}
