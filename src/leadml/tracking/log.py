"""MLflow logging: a training run's name, parameters, metrics, data profile and input, spec,
leakage guard, breakdowns, registered model (a pyfunc from code, `tracking.pyfunc`), bundle
and report artifacts and tags; and a drift check's run. Nothing else in leadml calls
`mlflow.log_*`."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadml import schema
from leadml.config import Config
from leadml.errors import WriteError, write_error
from leadml.model.assess import table_records
from leadml.model.pipeline import TrainedModel, label_summary
from leadml.monitor.drift import PSI_WATCH, DriftReport
from leadml.tracking.registry import BUNDLE_ARTIFACT

if TYPE_CHECKING:
    from mlflow import ActiveRun

    from leadml.bundle import Bundle

REPORT_ARTIFACT = "report"
DRIFT_JOB_TAG = "drift"


def start_run(name: str | None = None) -> ActiveRun:
    """Open a run in the configured experiment (see `registry.client_for`); a context manager.
    `name`: what ran (`run_name`); MLflow makes up a random one without it."""
    import mlflow

    return mlflow.start_run(run_name=name)


def run_name(
    job: str, count: int, unit: str, as_of: pd.Timestamp | None = None, subject: str = ""
) -> str:
    """A run's name, saying what ran: "train · 50,000 leads · as of 2025-12-31"
    (`subject`, e.g. the model a drift check looked at, comes after the job)."""
    parts = [job, subject, f"{count:,} {unit}"]
    if as_of is not None and not pd.isna(as_of):
        parts.append(f"as of {pd.Timestamp(as_of):%Y-%m-%d}")
    return " · ".join(part for part in parts if part)


def log_run(
    trained: TrainedModel,
    config: Config,
    data_path: Path | str,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    tables: dict[str, Any] | None = None,
) -> None:
    """Log everything about the fit to the active run: params, metrics, data, spec, guard.

    `tables`: the data's profile (`table_profile`) when `leads` is only a sample of it
    (the Dask engine computes the profile over its partitions)."""
    import mlflow

    _log_params(trained, config, data_path)
    metrics = flatten_metrics("test", trained.results)
    metrics.update(flatten_metrics("labels", dict(label_summary(trained.labels))))
    if trained.oracle:
        metrics.update(flatten_metrics("oracle", trained.oracle))
    if trained.by_age is not None:
        by_age = table_records(trained.by_age) or {}
        named = {name.replace(" ", "_"): row for name, row in by_age.items()}
        metrics.update(flatten_metrics("test_by_age", named))
    mlflow.log_metrics(metrics)
    _log_data(trained, data_path, leads, events, tables)
    mlflow.log_dict(trained.bundle.spec.to_dict(), "model_spec/feature_spec.json")
    mlflow.log_dict(trained.calibration_choice, "model_spec/calibration_choice.json")
    _log_guard(trained, config)
    flat = trained.bundle.flat
    if flat is not None:
        mlflow.log_dict(flat.to_dict(), "model_spec/dataset_mapping.json")
        notes = trained.guard_report.get("warnings", [])
        if notes:
            mlflow.set_tag("leadml.warnings", " | ".join(notes)[:5000])
    for title, frame in trained.breakdowns.items():
        mlflow.log_table(frame.reset_index(), f"breakdowns/{title.replace(' ', '_')}.json")


def _log_params(trained: TrainedModel, config: Config, data_path: Path | str) -> None:
    import mlflow

    bundle = trained.bundle
    params: dict[str, Any] = {
        **{f"labels.{k}": v for k, v in config.labels.model_dump().items()},
        **{f"features.{k}": v for k, v in config.features.model_dump().items()},
        **{f"train.{k}": v for k, v in config.train.model_dump().items()},
        **{f"lgb.{k}": v for k, v in trained.params.items()},
        "model.num_trees": bundle.booster.num_trees(),
        "model.num_features": len(bundle.spec.columns),
        "calibration.method": bundle.calibrator.method,
        "data.digest": bundle.data_digest,
        "data.path": str(data_path),
        **{f"compute.{k}": v for k, v in trained.engine.items()},
    }
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})


def _log_data(
    trained: TrainedModel,
    data_path: Path | str,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    tables: dict[str, Any] | None,
) -> None:
    """The data profile and a sample of the leads as the run's input (contact details out)."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    flat = trained.bundle.flat
    if flat is not None:
        profile = _flat_profile(leads, trained)
    else:
        profile = (table_profile(leads, events) if tables is None else tables) | {
            "labels": label_summary(trained.labels),
            "windows": trained.split.windows,
        }
    mlflow.log_dict(profile, "data/profile.json")
    sample = leads.head(1000)
    if flat is not None:  # never log contact details
        sample = sample.drop(columns=[c for c in flat.names_with("pii") if c in sample.columns])
    with warnings.catch_warnings():  # a local folder matches two equivalent source types
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            sample,
            source=str(data_path.resolve()) if isinstance(data_path, Path) else data_path,
            name="leads",
            digest=trained.bundle.data_digest,
        )
    mlflow.log_input(dataset, context="training")


def _log_guard(trained: TrainedModel, config: Config) -> None:
    """The leakage guard's report and table (every checked column, its figures and
    verdict; event and flat runs alike), and a loud warning for columns kept anyway."""
    import mlflow

    from leadml.model.leakage import guard_table

    guard_log: dict[str, Any] = {
        "flags": [f.__dict__ for f in trained.leak_flags],
        "allowed": list(config.train.allow_leaky),
    }
    guard_log |= trained.guard_report
    mlflow.log_dict(guard_log, "model_spec/leakage_guard.json")
    details = trained.guard_report.get("details", {})
    if details:
        table = guard_table(details).reset_index()
        mlflow.log_table(table.astype({"uplift": "float64"}), "model_spec/leakage_guard_table.json")
    if trained.leak_flags:
        kept = ", ".join(dict.fromkeys(f.column for f in trained.leak_flags))
        text = "\n".join(f"{f.column} [{f.rule}]: {f.evidence}" for f in trained.leak_flags)
        mlflow.set_tag("leadml.leakage_warning", f"kept by allow_leaky despite the guard: {kept}")
        mlflow.log_text(
            f"WARNING: columns flagged by the leakage guard were kept (allow_leaky):\n{text}\n",
            "model_spec/leakage_warning.txt",
        )


def table_profile(leads: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """The tables' volumes, creation range, sources, event types and missing shares."""
    created = leads[schema.CREATED_AT]
    return {
        "leads": len(leads),
        "events": len(events),
        "created_from": created.min().isoformat(),
        "created_to": created.max().isoformat(),
        "lead_sources": leads[schema.LEAD_SOURCE].value_counts().to_dict(),
        "event_types": events[schema.EVENT_TYPE].value_counts().to_dict(),
        "missing_share": leads.isna().mean().round(4).to_dict(),
    }


def _flat_profile(rows: pd.DataFrame, trained: TrainedModel) -> dict[str, Any]:
    flat = trained.bundle.flat
    assert flat is not None
    features = [c for c in flat.feature_names if c in rows.columns]
    return {
        "rows": len(rows),
        "split": trained.guard_report.get("split"),
        "missing_share": rows[features].isna().mean().round(4).to_dict(),
        "labels": label_summary(trained.labels),
        "windows": trained.split.windows,
    }


def register_model(
    trained: TrainedModel,
    name: str,
    leads: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> str:
    """Log the pyfunc that gives leadml's numbers and register it as a version of `name`.

    A model from code (`tracking.pyfunc`), no pickle: MLflow copies `pyfunc_model.py` and
    a copy of the bundle (native `model.txt` and `bundle.json`) into the logged model.
    `leads`/`events`: the training data, a few rows of which become the input example."""
    import lightgbm as lgb
    import mlflow

    import leadml
    from leadml.bundle import save_bundle
    from leadml.tracking import pyfunc

    example = None if leads is None else _input_example(trained, leads, events)
    with tempfile.TemporaryDirectory(prefix="leadml-pyfunc.") as tmp, warnings.catch_warnings():
        if example is None:  # a caller without the data (a test re-registering a model)
            warnings.filterwarnings("ignore", ".*input example was not provided", UserWarning)
        folder = save_bundle(trained.bundle, Path(tmp) / pyfunc.BUNDLE_KEY)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(pyfunc.MODEL_CODE),
            artifacts={pyfunc.BUNDLE_KEY: str(folder)},
            signature=pyfunc.signature(trained.bundle),
            input_example=example,
            registered_model_name=name,
            pip_requirements=[
                f"leadml=={leadml.__version__}",
                f"lightgbm=={lgb.__version__}",
                f"mlflow=={mlflow.__version__}",
            ],
            await_registration_for=60,
        )
    return str(info.registered_model_version)


def _input_example(
    trained: TrainedModel, leads: pd.DataFrame, events: pd.DataFrame | None
) -> pd.DataFrame:
    """Three training rows in the pyfunc's input format (contact details out)."""
    from leadml.tracking.pyfunc import model_input

    flat = trained.bundle.flat
    if flat is not None:
        names = [flat.id_column, *flat.feature_names, flat.created_at]
        kept = [n for n in dict.fromkeys(names) if n and n not in flat.names_with("pii")]
        return leads[[n for n in kept if n in leads.columns]].head(3).reset_index(drop=True)
    head = leads.head(3)
    empty = pd.DataFrame(columns=[schema.LEAD_ID, schema.EVENT_TYPE, schema.OCCURRED_AT])
    mine = empty if events is None else events[events[schema.LEAD_ID].isin(head[schema.LEAD_ID])]
    pii = [c for c in schema.PII_COLUMNS if c in head.columns]
    return model_input(head.drop(columns=pii), mine)


def log_bundle(bundle_path: Path) -> None:
    """The exported bundle folder, as the run's `bundle/` artifact (what serving fetches)."""
    log_folder(bundle_path, BUNDLE_ARTIFACT, "the bundle artifact")


def log_report(reports: Path) -> None:
    """The run's plots and report pages, as its `report/` artifact."""
    log_folder(reports, REPORT_ARTIFACT, "the report artifact")


def log_folder(folder: Path, artifact_path: str, what: str) -> None:
    """Copy `folder` into the active run's artifacts; a full, read-only or forbidden
    artifact store is a one-line WriteError naming the run's artifact location."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.log_artifacts(str(folder), artifact_path)
    except OSError as exc:
        raise write_error(exc, what, _artifact_uri(artifact_path)) from exc
    except MlflowException as exc:
        raise WriteError(
            what,
            _artifact_uri(artifact_path),
            (str(exc.message).strip().splitlines() or ["refused"])[0],
            "check that the MLflow artifact store is reachable and has space, then train again",
        ) from exc


def _artifact_uri(artifact_path: str) -> str:
    import mlflow

    try:
        return str(mlflow.get_artifact_uri(artifact_path))
    except Exception:  # no active run: name the path only
        return artifact_path


def tag_outcome(version: str, promoted: bool, gate_reason: str) -> None:
    """Tag the active run with its registered version, promotion and gate reason."""
    import mlflow

    mlflow.set_tags(
        {
            "leadml.model_version": version,
            "leadml.promoted": str(promoted).lower(),
            "leadml.gate": gate_reason,
        }
    )


def tag_run(config: Config, run_id: str, tags: dict[str, str]) -> None:
    """Tag a finished run (after the fact: retrain's job and reload, a later promotion)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=config.tracking_uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def flatten_metrics(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    """MLflow wants flat float metrics: {'model': {'roc_auc': .8}} -> {'model.roc_auc': .8}."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten_metrics(name, value))
        elif isinstance(value, int | float) and value == value:  # drop NaN
            flat[name] = float(value)
    return flat


def log_drift(
    report: DriftReport,
    folder: Path,
    config: Config,
    bundle: Bundle,
    current_dir: Path | str,
    name: str,
) -> str:
    """Log the metrics, the table and the plot as one run of `<experiment>-drift`, named
    `name` (`run_name`)."""
    import mlflow

    from leadml.tracking.registry import client_for

    experiment = f"{config.mlflow.experiment}-drift"
    cfg = config.model_copy(
        update={"mlflow": config.mlflow.model_copy(update={"experiment": experiment})}
    )
    client_for(cfg)
    with start_run(name) as run:
        mlflow.set_tags(
            {
                "leadml.job": DRIFT_JOB_TAG,
                "leadml.model_name": bundle.name,
                "leadml.model_version": bundle.version,
                "leadml.drift.alert": str(report.alert).lower(),
                "leadml.drift.alerts": ", ".join(report.alerts)[:5000],
            }
        )
        mlflow.log_params(
            {
                "current.path": (
                    str(current_dir.resolve()) if isinstance(current_dir, Path) else current_dir
                ),
                "engine": config.compute.engine,
                "alert_threshold": report.alert_threshold,
                "watch_threshold": PSI_WATCH,
            }
        )
        mlflow.log_metrics(report.metrics())
        log_folder(folder, "drift", "the drift artifact")
        return str(run.info.run_id)
