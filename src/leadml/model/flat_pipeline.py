"""The flat-export training path: a CRM export's rows -> labels, features, split, guard,
calendar choice -> the shared fit, bundle and assessment (`model.pipeline.fit_core`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from leadml.config import Config
from leadml.errors import InputError
from leadml.features.spec import learn_spec
from leadml.model.assess import POINTS_LEFT_OUT
from leadml.model.calendar import choose_calendar
from leadml.model.labels import FlatLabels, Labels, flat_labels
from leadml.model.leakage import GuardRules, guard
from leadml.model.pipeline import StepFn, TrainedModel, data_digest, fit_core
from leadml.model.split import RANDOM_SPLIT_WARNING, flat_split, require_both_classes


def fit_and_evaluate_flat(
    frame: pd.DataFrame,
    config: Config,
    *,
    on_step: StepFn | None = None,
    on_round: Callable[[int, int], None] | None = None,
    on_warning: StepFn | None = None,
) -> TrainedModel:
    """Fit on a flat CRM export (`read_flat`'s frame and `config.dataset`): labels from the
    mapping, the mapping's split (time, file order, random, or its split column), the
    leakage guard on every candidate column, then the same model, calibration, baselines
    and evaluation as the event model."""
    from leadml.data.mapping.config import resolve_types
    from leadml.features.flat import flat_catalogue, flat_features
    from leadml.features.idlike import ID_LIKE_KEY, id_like_warning, set_aside_id_like

    step = on_step or (lambda _msg: None)
    warn = on_warning or (lambda _msg: None)
    tc = config.train
    if config.dataset is None:
        raise InputError("no [dataset] section in the config", expected="a flat export mapping")
    step("labels")
    found = flat_labels(frame, config.dataset, window_days=config.labels.window_days)
    rows = frame.loc[found.y.index]
    # Types and category levels come from every row, as `leadml score` will read them.
    dataset = resolve_types(frame, config.dataset)
    y_all = found.y
    step("features")
    every_row = flat_features(frame, dataset)
    dataset, id_like = set_aside_id_like(every_row.loc[rows.index], dataset)
    for name, evidence in id_like.items():
        warn(id_like_warning(name, evidence))
    every_row = every_row.drop(columns=list(id_like))
    raw = every_row.loc[rows.index]
    assigned = rows[dataset.split_column] if dataset.split_column else None
    split, order = flat_split(y_all, found.created, dataset.effective_split(), tc, assigned)
    if dataset.effective_split() == "random":
        warn(RANDOM_SPLIT_WARNING)
    require_both_classes(y_all, split)
    step("leakage guard")
    y_train = y_all.loc[split.train].to_numpy()
    report = guard(raw.loc[split.train], y_train, tc.allow_leaky, GuardRules(seed=tc.seed))
    report.refuse()
    for flag in report.allowed_flags:
        warn(f"leakage guard: {flag.column} kept by allow_leaky despite: {flag.evidence}")
    choice = choose_calendar(frame, dataset, raw, y_all, split, config)
    step(choice.note)
    dataset, raw = choice.dataset, choice.raw
    spec = learn_spec(
        raw.loc[split.train],
        config.features,
        catalogue=flat_catalogue(dataset),
        vocabulary=every_row,
    )
    source = dataset.source_column
    trained = fit_core(
        raw,
        y_all,
        order,
        split,
        spec,
        _flat_label_counts(found, order),
        config,
        leak_flags=report.allowed_flags,
        digest=data_digest(frame, pd.DataFrame()),
        source=raw[source] if source and source in raw else None,
        truth=None,
        step=step,
        on_round=on_round,
        flat=dataset,
    )
    trained.bundle = replace(trained.bundle, extra=trained.bundle.extra | {ID_LIKE_KEY: id_like})
    trained.notes = [choice.note, POINTS_LEFT_OUT]
    trained.params["calendar_features"] = ",".join(dataset.calendar_columns) or "none"
    trained.guard_report = report.to_dict() | {
        "split": dataset.effective_split(),
        ID_LIKE_KEY: id_like,
    }
    return trained


def _flat_label_counts(found: FlatLabels, order: pd.Series) -> Labels:
    """A flat export's labels in the shape of the event model's: nothing is excluded before
    a cutoff; rows without a known label count as censored."""
    return Labels(
        frame=pd.DataFrame({"cutoff": order, "label": found.y}),
        n_total=found.n_rows,
        n_converted_before_cutoff=0,
        n_censored=found.n_unlabelled,
        n_eligible=len(found.y),
        n_positive=int(found.y.sum()),
    )
