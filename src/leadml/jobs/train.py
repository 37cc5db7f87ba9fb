"""`leadml train` at the edge: load, fit, write the evidence, log to MLflow, register, gate.

The pure work happens in `pipeline.fit_and_evaluate`; this module does the I/O around it,
in an order that never leaves half a result behind: plots and the report are written to
a fresh run folder, the bundle is exported atomically, and a version becomes champion
only after it is fully logged and has passed the gate.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import save_bundle
from leadml.config import Config
from leadml.model.evaluate import headline_metrics
from leadml.model.pipeline import (
    TrainedModel,
    comparison_table,
    fit_and_evaluate,
    fit_and_evaluate_flat,
    headline,
    label_summary,
    read_truth,
)
from leadml.tracking.registry import (
    BUNDLE_ARTIFACT,
    CHALLENGER,
    CHAMPION,
    GateResult,
    alias_version,
    bundle_dir,
    client_for,
    fetch_bundle,
    flatten_metrics,
    gate,
    promote,
)

if TYPE_CHECKING:
    from leadml.data.load import Dataset


class Promotion(StrEnum):
    """What to do with a new version: gate it, never promote it, or force it."""

    GATE = "gate"
    NEVER = "never"
    FORCE = "force"


@dataclass(frozen=True)
class TrainOutcome:
    """What `leadml train` prints and what `--metrics-out` writes."""

    trained: TrainedModel
    run_id: str
    model_name: str
    model_version: str
    promoted: bool
    gate: GateResult | None
    bundle_path: Path
    report_path: Path
    plots: dict[str, Path]

    def metrics_json(self) -> dict[str, Any]:
        """The documented, stable `--metrics-out` shape."""
        results = self.trained.results
        oracle = self.trained.oracle
        return {
            "model": headline(results["model"])
            | {
                "roc_auc_ci_low": float(results["model"]["roc_auc_ci_low"]),
                "roc_auc_ci_high": float(results["model"]["roc_auc_ci_high"]),
            },
            "baselines": {
                "points": headline(results["points"]),
                "logistic": headline(results["logistic"]),
            },
            "oracle": None
            if oracle is None
            else {
                "roc_auc": float(oracle["oracle_roc_auc"]),
                "lift_at_10": float(oracle["oracle_lift_at_10"]),
                "model_oracle_auc_ratio": float(oracle["model_oracle_auc_ratio"]),
                "model_oracle_lift_ratio": float(oracle["model_oracle_lift_ratio"]),
            },
            "labels": label_summary(self.trained.labels),
            "mlflow": {
                "run_id": self.run_id,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "promoted": self.promoted,
                "gate": None
                if self.gate is None
                else {"passed": self.gate.passed, "reason": self.gate.reason},
            },
            "bundle_path": str(self.bundle_path),
            "report_path": str(self.report_path),
        }


def train_and_track(
    data_dir: Path | None,
    config: Config,
    *,
    promotion: Promotion = Promotion.GATE,
    on_step: Callable[[str], None] | None = None,
    on_round: Callable[[int, int], None] | None = None,
    dataset: Dataset | None = None,
) -> TrainOutcome:
    """Run the whole training job on a data folder and record it in MLflow.

    `dataset`: the folder's already validated tables (saves validating them twice).
    """
    import mlflow

    from leadml.data.load import load_dataset

    step = on_step or (lambda _msg: None)
    data: Dataset | _FlatTables
    if config.dataset is not None:  # a flat CRM export ([dataset] in leadml.toml)
        data = _load_flat(data_dir, config, step)
        data_dir = flat_path(data_dir, config)
        notes: list[str] = []

        def warn(message: str) -> None:
            notes.append(message)
            step(f"WARNING: {message}")

        trained = fit_and_evaluate_flat(
            data.leads, config, on_step=step, on_round=on_round, on_warning=warn
        )
        trained.guard_report["warnings"] = notes
    else:
        if data_dir is None:
            from leadml.errors import InputError

            raise InputError("no data folder", column="--data", expected="a leads + events folder")
        step("loading and validating data")
        data = dataset if dataset is not None else load_dataset(data_dir)
        truth = read_truth(data_dir)
        trained = fit_and_evaluate(
            data.leads, data.events, config, truth=truth, on_step=step, on_round=on_round
        )

    step("plots and report")
    client = client_for(config)
    name = config.mlflow.model_name
    with mlflow.start_run() as run:
        run_id = run.info.run_id
        reports = config.resolve(config.paths.reports_dir) / run_id
        plots = _plots(trained, reports)

        step("MLflow logging")
        _log_run(trained, config, data_dir, data.leads, data.events)
        version = _register(trained, name)
        bundle = trained.bundle.with_registry(name, version)
        bundle_path = save_bundle(bundle, bundle_dir(config, name, version))
        mlflow.log_artifacts(str(bundle_path), BUNDLE_ARTIFACT)
        client.set_registered_model_alias(name, CHALLENGER, version)

        step("promotion gate")
        decision = _gate(trained, data.leads, data.events, config, client, version)
        promoted = promotion is Promotion.FORCE or (
            promotion is Promotion.GATE and decision is not None and decision.passed
        )
        if promoted:
            promote(client, name, version)
        mlflow.set_tags(
            {
                "leadml.model_version": version,
                "leadml.promoted": str(promoted).lower(),
                "leadml.gate": "" if decision is None else decision.reason,
            }
        )
        report_path = _report(trained, reports, plots, run_id, name, version, promoted, decision)
        mlflow.log_artifacts(str(reports), "report")
    return TrainOutcome(
        trained=trained,
        run_id=run_id,
        model_name=name,
        model_version=version,
        promoted=promoted,
        gate=decision,
        bundle_path=bundle_path,
        report_path=report_path,
        plots=plots,
    )


def _plots(trained: TrainedModel, out: Path) -> dict[str, Path]:
    from leadml.report.plots import save_all_plots

    tf = trained.test_frame
    y = tf["label"].to_numpy()
    out.mkdir(parents=True, exist_ok=True)
    return save_all_plots(
        out,
        y=y,
        p=tf["model"].to_numpy(),
        baselines={"points": tf["points"].to_numpy(), "logistic": tf["logistic"].to_numpy()},
        contrib=trained.shap_values,
        X=trained.shap_features,
    )


def _log_run(
    trained: TrainedModel,
    config: Config,
    data_dir: Path,
    leads: pd.DataFrame,
    events: pd.DataFrame,
) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

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
        "data.path": str(data_dir),
    }
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    metrics = flatten_metrics("test", trained.results)
    metrics.update(flatten_metrics("labels", dict(label_summary(trained.labels))))
    if trained.oracle:
        metrics.update(flatten_metrics("oracle", trained.oracle))
    mlflow.log_metrics(metrics)
    flat = bundle.flat
    profile = _profile(leads, events, trained) if flat is None else _flat_profile(leads, trained)
    mlflow.log_dict(profile, "data/profile.json")
    sample = leads.head(1000)
    if flat is not None:  # never log contact details
        sample = sample.drop(columns=[c for c in flat.names_with("pii") if c in sample.columns])
    with warnings.catch_warnings():  # a local folder matches two equivalent source types
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            sample,
            source=str(Path(data_dir).resolve()),
            name="leads",
            digest=bundle.data_digest,
        )
    mlflow.log_input(dataset, context="training")
    mlflow.log_dict(bundle.spec.to_dict(), "model_spec/feature_spec.json")
    mlflow.log_dict(trained.calibration_choice, "model_spec/calibration_choice.json")
    guard_log: dict[str, Any] = {
        "flags": [f.__dict__ for f in trained.leak_flags],
        "allowed": list(config.train.allow_leaky),
    }
    guard_log |= trained.guard_report
    mlflow.log_dict(guard_log, "model_spec/leakage_guard.json")
    if trained.leak_flags:
        kept = ", ".join(dict.fromkeys(f.column for f in trained.leak_flags))
        text = "\n".join(f"{f.column} [{f.rule}]: {f.evidence}" for f in trained.leak_flags)
        mlflow.set_tag("leadml.leakage_warning", f"kept by allow_leaky despite the guard: {kept}")
        mlflow.log_text(
            f"WARNING: columns flagged by the leakage guard were kept (allow_leaky):\n{text}\n",
            "model_spec/leakage_warning.txt",
        )
    if flat is not None:
        mlflow.log_dict(flat.to_dict(), "model_spec/dataset_mapping.json")
        notes = trained.guard_report.get("warnings", [])
        if notes:
            mlflow.set_tag("leadml.warnings", " | ".join(notes)[:5000])
    for title, frame in trained.breakdowns.items():
        mlflow.log_table(frame.reset_index(), f"breakdowns/{title.replace(' ', '_')}.json")


def _profile(leads: pd.DataFrame, events: pd.DataFrame, trained: TrainedModel) -> dict[str, Any]:
    created = leads[schema.CREATED_AT]
    return {
        "leads": len(leads),
        "events": len(events),
        "created_from": created.min().isoformat(),
        "created_to": created.max().isoformat(),
        "lead_sources": leads[schema.LEAD_SOURCE].value_counts().to_dict(),
        "event_types": events[schema.EVENT_TYPE].value_counts().to_dict(),
        "missing_share": leads.isna().mean().round(4).to_dict(),
        "labels": label_summary(trained.labels),
        "windows": trained.split.windows,
    }


def flat_path(data: Path | None, config: Config) -> Path:
    """The flat export to read: `--data` when given, else `[dataset] file`."""
    assert config.dataset is not None
    if data is not None:
        return Path(data)
    if config.dataset.file is None:
        from leadml.errors import InputError

        raise InputError(
            "no export to read", column="dataset.file", expected="--data FILE or [dataset] file"
        )
    return config.resolve(config.dataset.file)


@dataclass(frozen=True)
class _FlatTables:
    """A flat export in the shape the run logging expects (no events)."""

    leads: pd.DataFrame
    events: pd.DataFrame


def _load_flat(data: Path | None, config: Config, step: Callable[[str], None]) -> _FlatTables:
    from leadml.data.mapping.read import read_flat

    assert config.dataset is not None
    path = flat_path(data, config)
    step(f"reading the flat export {path}")
    frame = read_flat(path, config.dataset)
    return _FlatTables(leads=frame, events=pd.DataFrame())


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


def _register(trained: TrainedModel, name: str) -> str:
    """Log the booster with mlflow.lightgbm (native format) and register a version."""
    import lightgbm as lgb
    import mlflow
    from mlflow.models import infer_signature

    # MLflow's generic pyfunc feeds LightGBM plain numbers, so its signature and example
    # use the integer codes of LightGBM's native categoricals as a float matrix (leadml's
    # own Scorer and API take the category strings).
    example = _codes(trained.shap_features.head(5))
    signature = infer_signature(example, trained.bundle.booster.predict(example))
    info = mlflow.lightgbm.log_model(
        trained.bundle.booster,
        name="model",
        signature=signature,
        input_example=example,
        registered_model_name=name,
        pip_requirements=[f"lightgbm=={lgb.__version__}"],
        await_registration_for=60,
    )
    return str(info.registered_model_version)


def _codes(X: pd.DataFrame) -> np.ndarray:
    """The encoded frame as LightGBM's numeric matrix (categoricals as level codes)."""
    out = np.empty(X.shape, dtype=np.float64)
    for j, column in enumerate(X.columns):
        values = X[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = values.to_numpy(dtype=np.float64)
    return out


def _gate(
    trained: TrainedModel,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    config: Config,
    client: Any,
    version: str,
) -> GateResult | None:
    """Re-score the current champion on the challenger's test window and compare."""
    from leadml.bundle import load_bundle
    from leadml.scoring import Scorer

    name = config.mlflow.model_name
    champion_version = alias_version(client, name, CHAMPION)
    challenger = {k: float(trained.results["model"][k]) for k in ("roc_auc", "ece")}
    if champion_version is None or champion_version == version:
        return gate(challenger, None, config.gate)
    champion = load_bundle(fetch_bundle(client, config, name, champion_version))
    tf = trained.test_frame
    if (champion.flat is None) != (trained.bundle.flat is None):
        return gate(challenger, None, config.gate)  # different data contracts: nothing to compare
    if champion.flat is not None:
        rows = leads.loc[tf.index]
        scored = Scorer(champion).score(rows, events, explain=False)
        p = scored.frame["probability"].reindex(tf.index).to_numpy()
        metrics = headline_metrics(tf["label"].to_numpy(), p, n_boot=0)
        champion_metrics = {k: float(metrics[k]) for k in ("roc_auc", "ece")}
        return gate(challenger, champion_metrics, config.gate, champion_version=champion_version)
    test_leads = leads[leads[schema.LEAD_ID].isin(tf.index)]
    scored = Scorer(champion).score(
        test_leads, events, cutoff=tf["cutoff"].rename(None), explain=False
    )
    p = scored.frame["probability"].reindex(tf.index).to_numpy()
    metrics = headline_metrics(tf["label"].to_numpy(), p, n_boot=0)
    champion_metrics = {k: float(metrics[k]) for k in ("roc_auc", "ece")}
    return gate(challenger, champion_metrics, config.gate, champion_version=champion_version)


def _report(
    trained: TrainedModel,
    out: Path,
    plots: dict[str, Path],
    run_id: str,
    name: str,
    version: str,
    promoted: bool,
    decision: GateResult | None,
) -> Path:
    from leadml.report.page import write_report

    labels = label_summary(trained.labels)
    facts = {
        "MLflow run": run_id,
        "Registered model": f"{name} version {version}",
        "Promoted to champion": "yes" if promoted else "no",
        "Gate": "-" if decision is None else decision.reason,
        "Cutoff": _moment(trained),
        "Training data digest": trained.bundle.data_digest,
        "Calibration": f"{trained.bundle.calibrator.method} "
        f"(chosen by out-of-fold validation log loss: {json.dumps(trained.calibration_choice)})",
        "Trees": str(trained.bundle.booster.num_trees()),
        **{k.replace("_", " ").capitalize(): f"{v:,}" for k, v in labels.items()},
        **{
            f"{w} window": (
                f"{d['first_cutoff'][:10]} to {d['last_cutoff'][:10]} ({d['leads']} leads)"
            )
            for w, d in trained.split.windows.items()
        },
    }
    md, _html = write_report(
        out,
        title=f"leadml training run {run_id[:8]}",
        metrics_table=comparison_table(trained),
        breakdowns=trained.breakdowns,
        plots=plots,
        facts=facts,
    )
    return md


def _moment(trained: TrainedModel) -> str:
    if trained.bundle.flat is not None:
        split = trained.guard_report.get("split", "")
        return f"flat export: columns as exported; {split} split"
    lc = trained.bundle.labels
    cutoff = (
        f"snapshot {lc.snapshot.isoformat()}"
        if lc.snapshot
        else f"created_at + {lc.observation_days} days"
    )
    return f"{cutoff}; label = converted within {lc.window_days} days after the cutoff"


def write_metrics_json(outcome: TrainOutcome, path: Path) -> None:
    """Write the --metrics-out JSON atomically."""
    from leadml.data.io import atomic_write_text

    atomic_write_text(json.dumps(outcome.metrics_json(), indent=2, sort_keys=True), path)
