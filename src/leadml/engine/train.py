"""Training on the Dask engine: the local pipeline's steps, with the heavy ones distributed.

What runs where, and why:

- per partition (`engine.features`): labels, sampling and snapshot features, by the
  local engine's functions; category levels from summed per-partition counts;
- on this machine, on a gathered sample: a seeded share of the train window
  (`[compute] sample_rows` rows, kept by a hash of the row key) plus the whole
  validation window. There the number of boosting rounds is chosen by early stopping
  (`model.train.fit_booster`: lightgbm.dask has no early stopping, LightGBM #4493, #6197,
  #6351, #7009), the leakage guard runs, the calibration is fitted on the validation
  window's predictions and the baselines are fitted (`model.fit.fit_models`);
- on the cluster: `lightgbm.DaskLGBMClassifier` with those rounds and the same
  parameters on the whole train window (`ClusterFit`), exported with `to_local()` into
  the same bundle; the test window scored once through the bundle and the baselines per
  partition, gathered as probabilities, labels and segments (`ClusterAssess`); the
  one-cutoff view (oracle and drift reference) the same way (`engine.standard`).

The train window is shuffled across the workers by a hash of the lead id before fitting
(`engine.partition.by_lead_hash`), since each worker builds its bins from its local
rows: partitions read as they were written (`_leadml.json`) may be cut by time, and one
holding only recent leads has no train row at all.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import AGE_RANGE_KEY, Bundle
from leadml.config import Config, TrainConfig
from leadml.engine.features import ROW_COLUMNS, learn_spec_distributed, snapshot_frames
from leadml.engine.partition import DataBounds, by_lead_hash
from leadml.engine.standard import standard_moment
from leadml.errors import InputError
from leadml.features.spec import FeatureSpec, encode, encode_numpy
from leadml.model.assess import (
    Assessment,
    measure_test_window,
    scored_test_rows,
)
from leadml.model.fit import Fitted
from leadml.model.labels import CUTOFF, LABEL
from leadml.model.leakage import EVENT_RULES, guard
from leadml.model.pipeline import TrainedModel, fit_core
from leadml.model.snapshots import (
    AGE,
    ROW,
    SHAP_DRAW,
    TRAIN_SAMPLE_DRAW,
    kept_rows,
    snapshot_labels,
    snapshot_split,
    split_bounds,
    split_folds,
)
from leadml.model.split import require_classes
from leadml.model.train import ProgressFn, TimeSplit, fit_booster, lgb_params

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

StepFn = Callable[[str], None]
FOLD = "fold"
"""The column each row's fold (train, valid, test, or "" in a gap) is kept in."""
LEAD_ID = schema.LEAD_ID


@dataclass
class ClusterFit:
    """`model.train.BoosterFit` on the cluster: rounds chosen by early stopping on the
    gathered sample, then `DaskLGBMClassifier` with those rounds on the whole train window.
    `train`: the train window's rows (raw features and label), spread across the workers
    (`engine.partition.by_lead_hash`)."""

    client: Client
    train: dd.DataFrame
    step: StepFn
    rounds_: int = field(default=0, init=False)

    def __call__(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        spec: FeatureSpec,
        config: TrainConfig,
        *,
        params: dict[str, Any] | None = None,
        progress: ProgressFn | None = None,
        weight: np.ndarray | None = None,
    ) -> lgb.Booster:
        from lightgbm.dask import DaskLGBMClassifier

        if weight is not None:
            raise ValueError("row weights are not supported on the Dask engine")
        params = dict(params or lgb_params(config, spec))
        sample = fit_booster(
            X_train, y_train, X_valid, y_valid, spec, config, params=params, progress=progress
        )
        self.rounds_ = sample.current_iteration()
        self.step(
            f"model on the cluster: {self.rounds_} rounds (early stopping on the sample of "
            f"{len(X_train):,} train rows)"
        )
        params.pop("num_threads", None)  # lightgbm.dask sets each worker's own thread count
        X = self.train.map_partitions(_model_matrix, spec, meta=_matrix_meta(spec))
        model = DaskLGBMClassifier(client=self.client, n_estimators=self.rounds_, **params)
        categorical = [c.name for c in spec.columns if c.kind == "categorical"]
        # The wrapper always passes n_jobs, which lightgbm.dask replaces by the worker's
        # threads with a warning each time: expected here, so not shown.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
            model.fit(X, self.train[LABEL], categorical_feature=categorical)
        booster = model.to_local().booster_
        # Fitted on level codes: record the levels as a booster fitted on `encode`'s
        # categoricals does, so both predict from either form alike.
        booster.pandas_categorical = [
            list(c.levels) for c in spec.columns if c.kind == "categorical"
        ]
        return lgb.Booster(model_str=booster.model_to_string())


@dataclass
class ClusterAssess:
    """`model.assess.Assess` on the cluster: the test window's rows scored once per
    partition through the bundle and the baselines, gathered as probabilities, labels and
    segments (plus a small encoded sample for SHAP), then measured here."""

    test: dd.DataFrame
    raw_columns: list[str]
    rows: int

    def __call__(
        self,
        bundle: Bundle,
        fitted: Fitted,
        raw: pd.DataFrame,
        y_all: pd.Series,
        cutoff: pd.Series,
        split: TimeSplit,
        config: Config,
        *,
        source: pd.Series | None,
        truth: pd.DataFrame | None,
        step: StepFn,
        rows: pd.DataFrame | None = None,
    ) -> Assessment:
        import dask

        step("test window (scored once, per partition)")
        tc = config.train
        share = min(1.0, 2 * tc.shap_sample / max(self.rows, 1))
        baselines = {"points": fitted.points, "logistic": fitted.logistic}
        parts = [
            dask.delayed(_scored_part)(part, bundle, baselines, self.raw_columns, share, tc.seed)
            for part in self.test.to_delayed()
        ]
        done = dask.compute(parts)[0]
        test_frame = _in_order(pd.concat([frame for frame, _ in done]))
        X_test = pd.concat([X for _, X in done]).sort_index()
        step("evaluation")
        return measure_test_window(test_frame, X_test, config, truth=truth)


def fit_and_evaluate_dask(
    leads: dd.DataFrame,
    events: dd.DataFrame,
    config: Config,
    client: Client,
    *,
    known: DataBounds | None = None,
    truth: pd.DataFrame | None = None,
    on_step: StepFn | None = None,
    on_round: ProgressFn | None = None,
) -> TrainedModel:
    """`model.pipeline.fit_and_evaluate` on co-partitioned Dask frames (whole leads per
    partition): the same rows, spec, bundle and measurements, with the booster fitted on
    the cluster and the sample-sized steps on this machine (see the module docstring).
    `known`: the data's end and earliest created_at when the read already found them."""
    import dask
    from distributed import wait

    step = on_step or (lambda _msg: None)
    tc, lc = config.train, config.labels
    _require_supported(config)

    step("labels and features at each snapshot (per partition)")
    snaps = snapshot_frames(leads, events, config, bounds=known)
    raw_columns = snaps.raw_columns

    step("split, spec and leakage guard")
    cut_all = _gathered_cutoffs(snaps.frame)
    split_all = snapshot_split(
        cut_all,
        train_fraction=tc.train_fraction,
        valid_fraction=tc.valid_fraction,
        window_days=lc.window_days,
    )
    bounds = split_bounds(
        cut_all.array,
        train_fraction=tc.train_fraction,
        valid_fraction=tc.valid_fraction,
        window_days=lc.window_days,
    )
    folded = snaps.frame.map_partitions(
        _with_fold, *bounds, lc.window_days, meta=snaps.frame._meta.assign(**{FOLD: "train"})
    ).persist()
    wait(folded)
    per_snapshot, end = snaps.per_snapshot, snaps.end
    del snaps  # the rows live on in `folded`: the cluster holds them once, not twice
    n_train = len(split_all.train)
    share = min(1.0, config.compute.sample_rows / n_train)
    gathered = _in_order(
        folded.map_partitions(_sampled, share, tc.seed, meta=folded._meta).compute()
    )
    rows = gathered[list(ROW_COLUMNS)]
    raw = gathered[raw_columns]
    y_all = gathered[LABEL]
    fold = gathered[FOLD]
    split = TimeSplit(
        train=gathered.index[(fold == "train").to_numpy()],
        valid=gathered.index[(fold == "valid").to_numpy()],
        test=pd.Index([], name=ROW, dtype=object),
        windows=split_all.windows,
    )
    # Train and test are checked whole, on the cluster (the validation window is gathered
    # whole); the train sample is checked apart, as its remedy is a setting.
    by_fold = {name: folded[folded[FOLD] == name][LABEL] for name in ("train", "test")}
    counted = dask.compute({name: (y.sum(), y.count()) for name, y in by_fold.items()})[0]
    require_classes("train", int(counted["train"][0]), int(counted["train"][1]))
    require_classes("valid", int(y_all.loc[split.valid].sum()), len(split.valid))
    require_classes("test", int(counted["test"][0]), int(counted["test"][1]))
    _require_sample_classes(y_all.loc[split.train], n_train, config.compute.sample_rows)
    train_dd = folded[folded[FOLD] == "train"]
    spec_rows = train_dd.map_partitions(lambda p: p.drop_duplicates(LEAD_ID), meta=train_dd._meta)
    spec = learn_spec_distributed(folded, spec_rows, config.features)
    X_train, _ = encode(raw.loc[split.train], spec)
    report = guard(X_train, y_all.loc[split.train].to_numpy(), tc.allow_leaky, EVENT_RULES)
    report.refuse()

    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    spread = by_lead_hash(train_dd[[LEAD_ID, *raw_columns, LABEL]], max(workers, leads.npartitions))
    fit = ClusterFit(client, spread[[*raw_columns, LABEL]], step)
    test_dd = folded[folded[FOLD] == "test"]
    assess = ClusterAssess(test_dd, raw_columns, len(split_all.test))
    trained = fit_core(
        raw,
        y_all,
        rows[CUTOFF],
        split,
        spec,
        snapshot_labels(rows, per_snapshot),
        config,
        leak_flags=report.allowed_flags,
        X_train=X_train,
        digest=data_digest(leads, events),
        source=raw["lead_source"],
        truth=truth,
        step=step,
        on_round=on_round,
        rows=rows,
        fit=fit,
        assess=assess,
    )
    trained.guard_report = report.to_dict() | {"sample_rows": len(split.train)}
    trained.snapshot_counts = per_snapshot
    trained.split = replace(split, test=trained.test_frame.index)
    ages = dask.compute(train_dd[AGE].min(), train_dd[AGE].max())
    trained.bundle = replace(
        trained.bundle,
        extra=trained.bundle.extra | {AGE_RANGE_KEY: [int(ages[0]), int(ages[1])]},
    )
    trained.notes.append(
        f"Dask engine: the booster was fitted on the cluster on all {n_train:,} train rows "
        f"with {fit.rounds_} rounds, chosen by early stopping on a sample of "
        f"{len(split.train):,} train rows; the leakage guard and the baselines used that "
        "sample"
    )
    trained.engine = {
        "engine": "dask",
        "workers": workers,
        "partitions": leads.npartitions,
        "sample_rows": len(split.train),
    }

    step("the one-cutoff view: test window (scored once) and drift reference")
    train_cut = cut_all.loc[split_all.train]
    valid_cut = cut_all.loc[split_all.valid]
    standard_moment(
        trained,
        leads,
        events,
        config,
        end=end,
        train_last=train_cut.max(),
        valid=(valid_cut.min(), valid_cut.max()),
        test_first=bounds[1],
        truth=truth,
    )
    return trained


def data_digest(leads: dd.DataFrame, events: dd.DataFrame) -> str:
    """A content hash of the training data that does not depend on how it is partitioned
    or ordered (a sum of row hashes per table), for lineage. Not equal to the local
    engine's `model.pipeline.data_digest`, which reads row order too."""
    import dask

    sums = dask.compute(
        [
            frame.map_partitions(_hash_sum, meta=(None, "u8")).to_delayed()
            for frame in (leads, events)
        ]
    )[0]
    digest = hashlib.sha256()
    for frame, parts in zip((leads, events), sums, strict=True):
        total = np.uint64(0)
        for part in parts:
            total = np.uint64(int(total) + int(np.asarray(part).sum()) & 0xFFFFFFFFFFFFFFFF)
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(int(total).to_bytes(8, "little"))
    return digest.hexdigest()[:16]


def _hash_sum(part: pd.DataFrame) -> pd.Series:
    hashed = pd.util.hash_pandas_object(part, index=False).to_numpy()
    return pd.Series([int(hashed.sum(dtype=np.uint64))], dtype="u8")


def _require_supported(config: Config) -> None:
    if not config.labels.uses_snapshots:
        raise InputError(
            "the Dask engine trains on snapshot rows only",
            setting="[labels] snapshot_every_days",
            value="0 with no snapshot_days (one-cutoff training)",
            expected="snapshot_every_days > 0 or snapshot_days (the default), "
            'or [compute] engine = "local"',
        )
    if config.train.snapshot_weighting == "lead":
        raise InputError(
            "per-lead row weights are not supported on the Dask engine",
            setting="[train] snapshot_weighting",
            value="lead",
            expected='"none" (the default), or [compute] engine = "local"',
        )


def _require_sample_classes(y_sample: pd.Series, n_train: int, sample_rows: int) -> None:
    """Refuse a train sample without both classes (the whole window has both): the
    sample chooses the rounds and fits the baselines, so it needs conversions too."""
    positives = int(y_sample.sum())
    if not 0 < positives < len(y_sample):
        raise InputError(
            f"the train sample gathered to this machine has only one class ({positives} "
            f"conversions in {len(y_sample):,} of the window's {n_train:,} rows)",
            setting="[compute] sample_rows",
            value=sample_rows,
            expected="a larger sample_rows, so the sample holds conversions and non-conversions",
        )


def _gathered_cutoffs(frame: dd.DataFrame) -> pd.Series:
    """Every row's cutoff, in ascending order (the split's one global input): eight
    bytes a row, without the row keys."""
    import dask

    parts = dask.compute([dask.delayed(_cutoffs)(p) for p in frame.to_delayed()])[0]
    values = pd.concat([pd.Series(p) for p in parts], ignore_index=True)
    return values.sort_values(kind="mergesort", ignore_index=True)


def _cutoffs(part: pd.DataFrame) -> Any:
    return part[CUTOFF].array


def _with_fold(
    part: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp, window_days: int
) -> pd.DataFrame:
    fold = split_folds(part[CUTOFF].array, valid_start, test_start, window_days=window_days)
    return part.assign(**{FOLD: fold})


def _sampled(part: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """The validation rows and a `share` of the train rows (by a hash of the row key)."""
    train = (part[FOLD] == "train").to_numpy()
    keep = (part[FOLD] == "valid").to_numpy().copy()
    keep[train] = kept_rows(part.index[train], share, seed, draw=TRAIN_SAMPLE_DRAW)
    return part[keep]


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in (cutoff, row key) order: the same whatever the partitioning."""
    frame = frame.sort_index()
    return frame.iloc[np.argsort(frame[CUTOFF].to_numpy(), kind="mergesort")]


def _model_matrix(part: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """One partition's model matrix: float64, categoricals as their level codes."""
    return pd.DataFrame(encode_numpy(part, spec), columns=spec.names, index=part.index)


def _matrix_meta(spec: FeatureSpec) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="float64") for name in spec.names})


def _scored_part(
    part: pd.DataFrame,
    bundle: Bundle,
    baselines: dict[str, Any],
    raw_columns: list[str],
    share: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = part[raw_columns]
    if part.empty:
        return pd.DataFrame(), pd.DataFrame()
    frame, X = scored_test_rows(
        bundle,
        baselines,
        raw,
        part[LABEL].to_numpy(),
        part[CUTOFF],
        source=raw["lead_source"],
        rows=part,
    )
    return frame, X[kept_rows(X.index, share, seed, draw=SHAP_DRAW)]
