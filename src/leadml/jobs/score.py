"""The `leadml score` job: read the leads, score them with a registered model, write the
ranked list (CSV, Excel or Parquet, atomically) and the batch into the scores store.

The scoring itself is the pure core in `leadml.batch`; this module only wires it to
files, the registry and the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from leadml.batch import Progress, RankedBatch, parse_as_of, score_flat_rows, score_open_leads
from leadml.config import Config
from leadml.data.atomic import TABLE_SUFFIXES, StagedFile, stage_table
from leadml.data.load import Dataset, load_dataset
from leadml.data.mapping.config import mapping_changes
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError, WriteError
from leadml.features.idlike import ID_LIKE_KEY
from leadml.handoff.webhook import WebhookTarget, hand_back, webhook_target
from leadml.ranked import RANKED_COLUMNS, csv_cells, with_trend
from leadml.scoring import Scorer
from leadml.tracking.registry import load_model

Step = Callable[[str], None]
ListFile = tuple[RankedBatch, StagedFile | None]


@dataclass(frozen=True)
class BatchOutcome:
    """What `run_batch` did: the batch, where the list went, and the stored batch id.

    `batch.frame` carries each lead's trend, previous_score and previous_grade against the
    store (as stored, or as read from it with `--no-store`)."""

    batch: RankedBatch
    out_path: Path | None
    store_url: str | None
    batch_id: int | None


def run_batch(
    data: Path | None,
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
    `leadml train` reads it).
    """
    step = on_step or (lambda _message: None)
    flat = data is None or data.is_file()
    data = export_path(config) if data is None else data
    _check_request(data, config, as_of=as_of, out=out, top=top, store=store, flat=flat)
    hook = webhook_target(config.score, os.environ, store=store)  # refused before any work
    reference = model or f"models:/{config.mlflow.model_name}@champion"
    if flat:  # a flat export: the (flat) model says how to read it
        step(f"loading model {reference}")
        scorer = Scorer(load_model(reference, config))
        batch = _score_flat_file(data, scorer, config, step, on_progress)
        return _hand_back(_write_batch(batch, config, out, top, store, step), hook, step)
    step(f"reading and validating {data}")
    dataset = load_dataset(data)
    step(f"loading model {reference}")
    scorer = Scorer(load_model(reference, config))
    moment = parse_as_of(as_of, dataset.leads, dataset.events)
    step(f"scoring open leads as of {moment.isoformat()}")
    batch = rank_open_leads(dataset, scorer, config, moment, on_progress, source=str(data))
    return _hand_back(_write_batch(batch, config, out, top, store, step), hook, step)


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
        grade_mode=config.score.grade_mode,
        grade_shares=config.grades.fractions(),
        max_open_days=config.score.max_open_days,
        pass_through=config.score.pass_through,
        chunk_size=config.score.chunk_size,
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
    data: Path,
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
    if out is not None and not out.name.endswith(TABLE_SUFFIXES):
        raise InputError(
            "unsupported output file type",
            file=out,
            expected="a .csv, .csv.gz, .xlsx or .parquet name",
        )
    if not flat:  # a flat model adds its mapping's columns: checked once they are known
        check_renames(config.score.columns, [*RANKED_COLUMNS, *config.score.pass_through])
    if data.is_file() and as_of is not None and as_of.strip().lower() != "now":
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


def check_renames(renames: dict[str, str], columns: list[str]) -> None:
    """Refuse `[score.columns]` keys that are not columns of the list, and new names that
    another column of the list already has (one line each)."""
    unknown = [name for name in renames if name not in columns]
    if unknown:
        raise InputError(
            f"[score.columns] renames {', '.join(map(repr, unknown))}, which the ranked list "
            "does not have",
            setting="[score.columns]",
            value=unknown[0],
            expected=f"keys among the list's columns: {', '.join(columns)}",
        )
    kept = [name for name in columns if name not in renames]
    clash = next((new for new in renames.values() if new in kept), None)
    if clash is not None:
        raise InputError(
            f"[score.columns] gives a column the name {clash!r}, which another column of the "
            "list keeps",
            setting="[score.columns]",
            value=clash,
            expected="new names that no other list column has (rename that column too)",
        )


def list_table(batch: RankedBatch, config: Config, out: Path, top: int | None) -> pd.DataFrame:
    """The list as written to `out`: Parquet keeps canonical names and values; CSV cells
    that a spreadsheet would run are escaped (`[score] csv_formula_guard`); Excel gets
    scored_at as a date; CSV and Excel columns take their `[score.columns]` names."""
    table = batch.table(top)
    if out.name.endswith(".parquet"):
        return table
    check_renames(config.score.columns, list(table.columns))
    if out.name.endswith(".xlsx"):
        table["scored_at"] = pd.to_datetime(table["scored_at"], utc=True)
        return table.rename(columns=config.score.columns)
    return csv_cells(table, config.score.columns, formula_guard=config.score.csv_formula_guard)


def _write_batch(
    batch: RankedBatch,
    config: Config,
    out: Path | None,
    top: int | None,
    store: bool,
    step: Step,
) -> BatchOutcome:
    """Write the list and the store, as asked; the list carries the store's trend.

    With the store, the list is staged inside the store's transaction, from the frame
    whose trend was just set against the stored scores (a complete 0600 temp file beside
    `out`), and renamed into place only after the commit: a full, read-only or killed
    store write leaves the previous list, which still matches the store's latest batch. A
    failure removes the temp file. Without the store (`--no-store`), the trend is read
    from an existing store by the same rule, and nothing is written to it.
    """
    if not store:
        batch = _trend_from_store(batch, config)
        _, staged = _stage_list(batch, config, out, top, step)
        with staged or nullcontext():
            return BatchOutcome(batch, staged.commit() if staged else None, None, None)
    listed: list[ListFile] = []

    def stage(frame: pd.DataFrame) -> None:
        listed.append(_stage_list(replace(batch, frame=frame), config, out, top, step))

    try:
        batch_id = _store_batch(config, out, step, batch, stage, listed)
    finally:
        for _, staged in listed:
            if staged is not None:
                staged.discard()  # a no-op once committed
    return BatchOutcome(listed[0][0], out, config.store_url, batch_id)


def _stage_list(
    batch: RankedBatch, config: Config, out: Path | None, top: int | None, step: Step
) -> ListFile:
    """The batch and its list staged beside `out` (None: no list file asked for)."""
    if out is None:
        return batch, None
    step(f"writing {out}")
    return batch, stage_table(list_table(batch, config, out, top), out, "the ranked list")


def _trend_from_store(batch: RankedBatch, config: Config) -> RankedBatch:
    """`--no-store`: the batch's trend against the store's latest scores, when a store
    exists (it is only read); a store that cannot be read leaves a warning."""
    from leadml.store import StoreError, stored_previous_scores  # SQLAlchemy: storing only

    try:
        previous = stored_previous_scores(config.store_url)
    except StoreError as exc:
        note = f"{exc}; every lead's trend says new".replace("\n", " ")
        return replace(batch, warnings=(*batch.warnings, note))
    if previous is None:
        return batch
    return replace(batch, frame=with_trend(batch.frame, previous, config.store.trend_points))


def _store_batch(
    config: Config,
    out: Path | None,
    step: Step,
    batch: RankedBatch,
    stage: Callable[[pd.DataFrame], None],
    listed: list[ListFile],
) -> int:
    """Write the batch to the store; `stage` stages the list from the trended frame inside
    the transaction, and the staged list is put in place right after the commit. A store
    failure says what became of the list (one line)."""
    from leadml.store import StoreError, open_store, write_batch  # SQLAlchemy: storing only

    def place(batch_id: int) -> None:
        staged = listed[0][1] if listed else None
        if staged is None:
            return
        try:
            staged.commit()
        except WriteError as exc:
            raise replace(
                exc,
                note=f"Batch {batch_id} is in the scores store, but the ranked list was not "
                f"updated: run `leadml score` again. {exc.note}".strip(),
            ) from exc

    existed = out is not None and out.exists()
    step("writing the scores store")
    try:
        engine = open_store(config.store_url)
        try:
            return write_batch(
                engine,
                batch,
                trend_points=config.store.trend_points,
                on_trend=stage,
                on_commit=place,
            )
        finally:
            engine.dispose()
    except StoreError as exc:
        if out is None:
            raise
        if existed:
            kept = f"The ranked list {out} was left as it was, so it still matches the store."
        else:
            kept = f"No ranked list was written to {out}."
        said = str(exc).rstrip()
        raise StoreError(f"{said}{'' if said.endswith('.') else '.'} {kept}") from exc


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
