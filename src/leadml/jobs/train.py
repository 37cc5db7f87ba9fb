"""`leadml train` at the edge: load, fit, write the evidence, log to MLflow, register, gate.

The pure work happens in `model.pipeline`; MLflow logging in `tracking.log`; the gate in
`leadml.promotion`. This module runs them in an order that never leaves half a result
behind: plots and the report are written to a fresh run folder, the bundle is exported
atomically, and a version becomes champion only after it is fully logged and has passed
the gate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadml.bundle import save_bundle
from leadml.config import Config
from leadml.data.truth import read_truth
from leadml.errors import InputError
from leadml.model.assess import ONE_CUTOFF_SUFFIX, STANDARD_MOMENT, table_records
from leadml.model.flat_pipeline import fit_and_evaluate_flat
from leadml.model.pipeline import (
    TrainedModel,
    comparison_table,
    fit_and_evaluate,
    headline,
    label_summary,
)
from leadml.promotion import GateResult, Rescore, gate_against_registry
from leadml.tracking.log import (
    log_bundle,
    log_report,
    log_run,
    register_model,
    run_name,
    start_run,
    tag_outcome,
)
from leadml.tracking.registry import bundle_dir, client_for, promote, set_challenger

if TYPE_CHECKING:
    from leadml.data.load import Dataset

StepFn = Callable[[str], None]


class DataRefused(InputError):
    """The data failed validation as the Dask engine read it (`engine.read.read_tables`):
    nothing was trained. `leadml retrain` reports it as invalid data (exit 4)."""


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
                name: headline(results[name]) for name in ("points", "logistic") if name in results
            },
            "notes": list(self.trained.notes),
            "oracle": None
            if oracle is None
            else {
                "roc_auc": float(oracle["oracle_roc_auc"]),
                "lift_at_10": float(oracle["oracle_lift_at_10"]),
                "model_oracle_auc_ratio": float(oracle["model_oracle_auc_ratio"]),
                "model_oracle_lift_ratio": float(oracle["model_oracle_lift_ratio"]),
                "model_roc_auc": float(oracle["model_roc_auc"]),
            },
            "labels": label_summary(self.trained.labels),
            "one_cutoff_test_window": None
            if STANDARD_MOMENT not in results
            else {
                "model": headline(results[STANDARD_MOMENT])
                | {"leads": results[STANDARD_MOMENT]["leads"]},
                **{
                    name: headline(results[name + ONE_CUTOFF_SUFFIX])
                    for name in ("points", "logistic")
                    if name + ONE_CUTOFF_SUFFIX in results
                },
            },
            "by_age": table_records(self.trained.by_age),
            "snapshots": table_records(self.trained.snapshot_counts),
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
    data_dir: Path | str | None,
    config: Config,
    *,
    promotion: Promotion = Promotion.GATE,
    on_step: StepFn | None = None,
    on_round: Callable[[int, int], None] | None = None,
    dataset: Dataset | None = None,
    job: str = "train",
) -> TrainOutcome:
    """Run the whole training job on a data folder (or a flat export) and record it in MLflow.

    `data_dir`: a local folder, or (Dask engine) an fsspec URL such as s3://bucket/leads.
    `dataset`: the folder's already validated tables (saves validating them twice).
    `job`: what the run's name says ran (`leadml retrain` passes "retrain").
    With `[compute] engine = "dask"` the data is read, featurised and fitted on a Dask
    cluster (`engine.train`), then logged, registered and gated exactly as here.
    """
    step = on_step or (lambda _msg: None)
    if config.compute.engine == "dask":
        return _train_on_dask(data_dir, config, promotion, step, on_round, job)
    if isinstance(data_dir, str):
        data_dir = Path(data_dir)
    data, data_path, trained = _load_and_fit(data_dir, config, step, on_round, dataset)
    return _track(
        trained, data, data_path, config, promotion, step, job, _run_name(job, data, trained)
    )


def _track(
    trained: TrainedModel,
    data: Dataset | _Tables,
    data_path: Path | str,
    config: Config,
    promotion: Promotion,
    step: StepFn,
    job: str,
    name_of_run: str,
    *,
    tables: dict[str, Any] | None = None,
    rescore: Rescore | None = None,
) -> TrainOutcome:
    """Plots, report, MLflow run, registered version, bundle and gate, in an order that
    never leaves half a result. `data`: the tables, or (Dask engine) a few of their rows
    with `tables` their profile and `rescore` the champion's re-scoring on the cluster."""
    step("plots and report")
    client = client_for(config)
    name = config.mlflow.model_name
    with start_run(name_of_run) as run:
        run_id = run.info.run_id
        reports = config.resolve(config.paths.reports_dir) / run_id
        plots = _plots(trained, reports)

        step("MLflow logging")
        log_run(trained, config, data_path, data.leads, data.events, tables=tables)
        version = register_model(trained, name, data.leads, data.events)
        bundle = trained.bundle.with_registry(name, version)
        bundle_path = save_bundle(bundle, bundle_dir(config, name, version))
        log_bundle(bundle_path)
        set_challenger(client, name, version)

        step("promotion gate")
        decision = gate_against_registry(
            trained, data.leads, data.events, config, client, version, rescore=rescore
        )
        promoted = promotion is Promotion.FORCE or (promotion is Promotion.GATE and decision.passed)
        if promoted:
            promote(client, name, version)
        tag_outcome(version, promoted, decision.reason)
        report_path = _report(trained, reports, plots, run_id, name, version, promoted, decision)
        log_report(reports)
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


def _train_on_dask(
    location: Path | str | None,
    config: Config,
    promotion: Promotion,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
    job: str,
) -> TrainOutcome:
    """The training job on the Dask engine: a client for the job (the dashboard link goes
    to `step` first), the partitioned data read by `engine.read.read_tables`, the fit on
    the cluster, then the same logging, registration and gate as the local engine."""
    from leadml.engine.cluster import dask_client
    from leadml.engine.read import read_tables
    from leadml.engine.record import fit_for_the_record

    if config.dataset is not None:
        raise InputError(
            "a flat CRM export ([dataset]) trains on the local engine only",
            setting="[compute] engine",
            value="dask",
            expected='"local" (or --engine local) for a flat export; the Dask engine reads '
            "a leads + events folder",
        )
    if location is None:
        raise InputError("no data folder", option="--data", expected="a leads + events folder")
    with dask_client(config.compute, on_step=step) as client:
        step(f"reading and validating {location}")
        try:
            tables = read_tables(location, config.compute)
        except InputError as exc:
            raise DataRefused(**{f.name: getattr(exc, f.name) for f in fields(exc)}) from exc
        for note in tables.notes:
            step(note)
        truth = read_truth(location) if isinstance(location, Path) else None
        run = fit_for_the_record(
            tables.leads,
            tables.events,
            config,
            client,
            bounds=tables.bounds,
            truth=truth,
            on_step=step,
            on_round=on_round,
        )
        return _track(
            run.trained,
            _Tables(leads=run.leads_head, events=run.events_head),
            location,
            config,
            promotion,
            step,
            job,
            run_name(job, int(run.profile["leads"]), "leads", run.end),
            tables=run.profile,
            rescore=run.rescore,
        )


def _run_name(job: str, data: Dataset | _Tables, trained: TrainedModel) -> str:
    """The run's name, e.g. "train · 50,000 leads · as of 2025-12-31": the leads and the
    latest moment in the data; a flat export says its rows (its columns are as exported)."""
    from leadml.model.labels import data_end

    if trained.bundle.flat is not None:
        return run_name(job, len(data.leads), "rows", subject="flat export")
    return run_name(job, len(data.leads), "leads", data_end(data.leads, data.events))


def _load_and_fit(
    data_dir: Path | None,
    config: Config,
    step: StepFn,
    on_round: Callable[[int, int], None] | None,
    dataset: Dataset | None,
) -> tuple[Dataset | _Tables, Path, TrainedModel]:
    """Read the training data (a leads + events folder, or a flat export) and fit on it;
    returns the tables, the path they came from and the trained model."""
    from leadml.data.load import load_dataset

    if config.dataset is not None:  # a flat CRM export ([dataset] in leadml.toml)
        flat = _load_flat(data_dir, config, step)
        notes: list[str] = []

        def warn(message: str) -> None:
            notes.append(message)
            step(f"WARNING: {message}")

        trained = fit_and_evaluate_flat(
            flat.leads, config, on_step=step, on_round=on_round, on_warning=warn
        )
        trained.guard_report["warnings"] = notes
        return flat, flat_path(data_dir, config), trained
    if data_dir is None:
        raise InputError("no data folder", option="--data", expected="a leads + events folder")
    step("loading and validating data")
    data = dataset if dataset is not None else load_dataset(data_dir)
    truth = read_truth(data_dir)
    trained = fit_and_evaluate(
        data.leads, data.events, config, truth=truth, on_step=step, on_round=on_round
    )
    return data, Path(data_dir), trained


def _plots(trained: TrainedModel, out: Path) -> dict[str, Path]:
    from leadml.model.snapshots import AGE, age_bucket
    from leadml.report.plots import calibration_by_age, save_all_plots

    tf = trained.test_frame
    y = tf["label"].to_numpy()
    out.mkdir(parents=True, exist_ok=True)
    paths = save_all_plots(
        out,
        y=y,
        p=tf["model"].to_numpy(),
        baselines={n: tf[n].to_numpy() for n in ("points", "logistic") if n in tf},
        contrib=trained.shap_values,
        X=trained.shap_features,
    )
    if AGE in tf:
        buckets = age_bucket(tf[AGE].to_numpy())
        path = out / "calibration_by_age.png"
        paths["calibration_by_age"] = calibration_by_age(y, tf["model"].to_numpy(), buckets, path)
    return paths


def flat_path(data: Path | None, config: Config) -> Path:
    """The flat export to read: `--data` when given, else `[dataset] file`."""
    assert config.dataset is not None
    if data is not None:
        return Path(data)
    if config.dataset.file is None:
        raise InputError(
            "no export to read", column="dataset.file", expected="--data FILE or [dataset] file"
        )
    return config.resolve(config.dataset.file)


@dataclass(frozen=True)
class _Tables:
    """Tables in the shape the run logging expects: a flat export (no events), or the
    Dask engine's first rows (the run's input sample and example)."""

    leads: pd.DataFrame
    events: pd.DataFrame


def _load_flat(data: Path | None, config: Config, step: StepFn) -> _Tables:
    """Read the flat export named by `--data` or `[dataset] file`, as text columns."""
    from leadml.data.mapping.read import read_flat

    assert config.dataset is not None
    path = flat_path(data, config)
    step(f"reading the flat export {path}")
    frame = read_flat(path, config.dataset)
    return _Tables(leads=frame, events=pd.DataFrame())


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
    from leadml.data.atomic import atomic_write_text

    atomic_write_text(json.dumps(outcome.metrics_json(), indent=2, sort_keys=True), path)
