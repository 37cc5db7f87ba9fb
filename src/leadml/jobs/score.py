"""The `leadml score` job: read the leads, score them with a registered model, write the
ranked list (CSV, Excel or Parquet, atomically) and the batch into the scores store.

The scoring itself is the pure core in `leadml.batch` (on the Dask engine, per partition:
`leadml.engine.score`); this module wires it to the data, the registry and
`leadml.jobs.output`, which writes the list and the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.batch import (
    Progress,
    RankedBatch,
    parse_as_of,
    score_open_leads,
)
from leadml.batch_flat import score_flat_rows
from leadml.config import Config
from leadml.data.atomic import TABLE_SUFFIXES
from leadml.data.load import Dataset, load_dataset
from leadml.data.mapping.config import mapping_changes
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError
from leadml.features.idlike import ID_LIKE_KEY
from leadml.handoff.webhook import WebhookTarget, hand_back, webhook_target
from leadml.jobs.output import (
    BatchOutcome,
    check_renames,
    write_batch_file,
    write_dask_batch,
)
from leadml.ranked import RANKED_COLUMNS
from leadml.scoring import Scorer
from leadml.tracking.registry import load_model

Step = Callable[[str], None]


def run_batch(
    data: Path | str | None,
    config: Config,
    *,
    model: str | None = None,
    as_of: str | None = None,
    out: Path | None = None,
    top: int | None = None,
    store: bool = True,
    on_step: Step | None = None,
    on_progress: Progress | None = None,
) -> BatchOutcome:
    """The `leadml score` job: load, score every open lead, write the list, store it.

    The arguments and the store's schema revision are checked first, so a store that
    would refuse the batch costs no work and leaves an existing list file as it was. The
    list is staged in a temp file and renamed into place only after the store committed
    the batch (one transaction), so the list and the store never disagree, and a crash,
    a full disk or bad input never leaves a truncated file.

    `data` None: the config's `[dataset] file` (resolved against the project folder, as
    `leadml train` reads it). With `[compute] engine = "dask"`, `data` is a folder or URL
    of partitioned leads and events, scored on the cluster (`_run_dask_batch`).
    """
    step = on_step or (lambda _message: None)
    if config.compute.engine == "dask":
        if config.score.webhook:
            raise InputError(
                "the webhook hand-back is not available on the Dask engine yet",
                setting="[score] webhook",
                value=config.score.webhook,
                expected="no --webhook (and no [score] webhook) with --engine dask, or "
                "--engine local",
            )
        return _run_dask_batch(
            data,
            config,
            model=model,
            as_of=as_of,
            out=out,
            top=top,
            store=store,
            step=step,
            on_progress=on_progress,
        )
    if isinstance(data, str):
        raise InputError(
            "a URL is read by the Dask engine only",
            option="--data",
            value=data,
            expected='--engine dask (or [compute] engine = "dask"), or a local path',
        )
    flat = data is None or data.is_file()
    data = export_path(config) if data is None else data
    _check_request(data, config, as_of=as_of, out=out, top=top, store=store, flat=flat)
    hook = webhook_target(config.score, os.environ, store=store)  # refused before any work
    reference = model or f"models:/{config.mlflow.model_name}@champion"
    if flat:  # a flat export: the (flat) model says how to read it
        step(f"loading model {reference}")
        scorer = Scorer(load_model(reference, config))
        batch = _score_flat_file(data, scorer, config, step, on_progress)
        return _hand_back(write_batch_file(batch, config, out, top, store, step), hook, step)
    step(f"reading and validating {data}")
    dataset = load_dataset(data)
    step(f"loading model {reference}")
    scorer = Scorer(load_model(reference, config))
    moment = parse_as_of(as_of, dataset.leads, dataset.events)
    step(f"scoring open leads as of {moment.isoformat()}")
    batch = rank_open_leads(dataset, scorer, config, moment, on_progress, source=str(data))
    return _hand_back(write_batch_file(batch, config, out, top, store, step), hook, step)


def list_settings(config: Config) -> dict[str, Any]:
    """The [score] and [grades] settings a ranked list is scored with, on either engine
    (`batch.score_open_leads` and `engine.score.score_partitions` take the same names)."""
    return {
        "grade_mode": config.score.grade_mode,
        "grade_shares": config.grades.fractions(),
        "max_open_days": config.score.max_open_days,
        "pass_through": config.score.pass_through,
        "chunk_size": config.score.chunk_size,
    }


def rank_open_leads(
    dataset: Dataset,
    scorer: Scorer,
    config: Config,
    moment: pd.Timestamp,
    on_progress: Progress | None = None,
    *,
    source: str = "",
) -> RankedBatch:
    """Every open lead of `dataset` as of `moment`, ranked with the config's [score] and
    [grades] settings: the list `leadml score` writes (and `leadml.api.rank` returns)."""
    return score_open_leads(
        dataset.leads,
        dataset.events,
        scorer,
        as_of=moment,
        **list_settings(config),
        on_progress=on_progress,
        source=source,
    )


def _hand_back(outcome: BatchOutcome, hook: WebhookTarget | None, step: Step) -> BatchOutcome:
    """POST the stored batch's changed leads to the webhook, once the store and the list
    are done (a failed delivery then loses nothing, and says so in one line)."""
    if hook is not None and outcome.batch_id is not None:
        step(f"sending the changed leads to {hook.shown}")
        hand_back(hook, outcome.batch, outcome.batch_id, out_path=outcome.out_path)
    return outcome


def export_path(config: Config) -> Path:
    """The flat export `[dataset] file` names, for a `leadml score` without `--data`."""
    from leadml.jobs.train import flat_path

    if config.dataset is None:
        raise InputError(
            "no data to score",
            option="--data",
            expected="--data FOLDER_OR_FILE, or a [dataset] section with file = ... in the config",
        )
    return flat_path(None, config)


def _check_request(
    data: Path | str,
    config: Config,
    *,
    as_of: str | None,
    out: Path | None,
    top: int | None,
    store: bool,
    flat: bool = False,
) -> None:
    """Refuse, before any work, what the job could not finish: bad arguments, column
    renames of columns the list will not have, a store the writer would refuse (older, or
    written by a newer leadml; a new one is fine)."""
    if top is not None and top < 1:
        raise InputError("--top must be at least 1", option="--top", value=top)
    dask = config.compute.engine == "dask"
    if out is not None and not out.name.endswith(TABLE_SUFFIXES) and not (dask and not out.suffix):
        raise InputError(
            "unsupported output file type",
            file=out,
            expected="a .csv, .csv.gz, .xlsx or .parquet name"
            + (" (or a folder name for Parquet part files)" if dask else ""),
        )
    if not flat:  # a flat model adds its mapping's columns: checked once they are known
        check_renames(config.score.columns, [*RANKED_COLUMNS, *config.score.pass_through])
    if isinstance(data, Path) and data.is_file() and as_of and as_of.strip().lower() != "now":
        raise InputError(
            "--as-of cannot be applied to a flat export: its columns are already as of "
            "the day it was exported, and it has no events to cut at a moment",
            file=data,
            option="--as-of",
            value=as_of,
            expected="no --as-of (or 'now') for a flat export; export the CRM again to "
            "score as of a later day",
        )
    if store:
        from leadml.store.schema_version import require_writable  # SQLAlchemy: storing only

        require_writable(config.store_url)


def _score_flat_file(
    data: Path,
    scorer: Scorer,
    config: Config,
    step: Step,
    on_progress: Progress | None,
) -> RankedBatch:
    """Read a flat export with the model's own mapping and rank its open rows."""
    flat = scorer.bundle.flat
    if flat is None:
        raise InputError(
            "this model was trained on leads and events, not on a flat export",
            file=data,
            expected="a leads + events folder for this model, or a flat model (--model)",
        )
    step(f"reading the flat export {data} with model {scorer.model_version}'s mapping")
    notice = mapping_notice(config, scorer)
    rows = read_flat(data, flat, scoring=True)
    # Sales act on the list: the mapping's passthrough and pii (contact) columns follow
    # the ranked columns, then any other [score] pass_through column the file holds.
    # Neither is ever a feature, and pii is never logged to MLflow.
    wanted = flat.names_with("passthrough", "pii")
    wanted += [c for c in config.score.pass_through if c in rows.columns and c not in wanted]
    batch = score_flat_rows(
        rows,
        scorer,
        grade_mode=config.score.grade_mode,
        grade_shares=config.grades.fractions(),
        pass_through=wanted,
        chunk_size=config.score.chunk_size,
        on_progress=on_progress,
        source=str(data),
    )
    return batch if notice is None else replace(batch, warnings=(notice, *batch.warnings))


def mapping_notice(config: Config, scorer: Scorer) -> str | None:
    """One line when the config's [dataset] mapping differs from the model's, which is the
    one scoring reads the export with (None: no [dataset] in the config, or the same)."""
    flat = scorer.bundle.flat
    if config.dataset is None or flat is None:
        return None
    changes = mapping_changes(config.dataset, flat, scorer.bundle.extra.get(ID_LIKE_KEY, {}))
    if changes is None:
        return None
    version = scorer.bundle.version
    model = f"model version {version}" if version else "the model"
    return (
        f"the config's [dataset] mapping differs from the one {model} was trained with, and "
        f"scoring reads the export with the model's ({changes}); train a new model to score "
        "with the config's mapping, or pass --model for another version"
    )


# --- the Dask engine ---------------------------------------------------------------------------


def _run_dask_batch(
    data: Path | str | None,
    config: Config,
    *,
    model: str | None,
    as_of: str | None,
    out: Path | None,
    top: int | None,
    store: bool,
    step: Step,
    on_progress: Progress | None,
) -> BatchOutcome:
    """`leadml score` on a Dask cluster: the partitioned leads and events are scored per
    partition and ranked globally (`leadml.engine.score`); the list and the store are
    written from the ranked partitions one at a time (`write_dask_batch`)."""
    if data is None or (isinstance(data, Path) and data.is_file()):
        raise InputError(
            "the Dask engine scores a folder (or URL) of leads and events, not a flat export",
            option="--data",
            value=data,
            expected="--data FOLDER with leads/ and events/ Parquet datasets, or --engine "
            "local for a flat export",
        )
    _check_request(data, config, as_of=as_of, out=out, top=top, store=store)
    from leadml.engine.cluster import dask_client
    from leadml.engine.read import read_tables
    from leadml.engine.score import score_partitions, scoring_moment

    reference = model or f"models:/{config.mlflow.model_name}@champion"
    with dask_client(config.compute, on_step=step) as client:
        step(f"reading and validating {data}")
        tables = read_tables(data, config.compute)
        step(f"loading model {reference}")
        bundle = load_model(reference, config)
        moment = scoring_moment(as_of, tables.bounds)
        step(f"scoring open leads as of {moment.isoformat()} in {tables.npartitions} partitions")
        scored = score_partitions(
            client,
            tables.leads,
            tables.events,
            bundle,
            as_of=moment,
            **list_settings(config),
            on_progress=on_progress,
            source=str(data),
        )
        return write_dask_batch(scored, config, out=out, top=top, store=store, step=step)
