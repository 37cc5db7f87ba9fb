"""The `leadml score` job: read the leads, score them with a registered model, write the
ranked list (CSV or Parquet, atomically) and the batch into the scores store.

The scoring itself is the pure core in `leadml.batch`; this module only wires it to
files, the registry and the store.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from leadml.batch import Progress, RankedBatch, parse_as_of, score_flat_rows, score_open_leads
from leadml.config import Config
from leadml.data.atomic import StagedFile, stage_table
from leadml.data.load import load_dataset
from leadml.data.mapping.config import mapping_changes
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError, WriteError
from leadml.features.idlike import ID_LIKE_KEY
from leadml.ranked import escape_formulas
from leadml.scoring import Scorer
from leadml.tracking.registry import load_model

Step = Callable[[str], None]


@dataclass(frozen=True)
class BatchOutcome:
    """What `run_batch` did: the batch, where the list went, and the stored batch id."""

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
    _check_request(data, config, as_of=as_of, out=out, top=top, store=store)
    reference = model or f"models:/{config.mlflow.model_name}@champion"
    if flat:  # a flat export: the (flat) model says how to read it
        step(f"loading model {reference}")
        scorer = Scorer(load_model(reference, config))
        batch = _score_flat_file(data, scorer, config, step, on_progress)
        return _write_batch(batch, config, out, top, store, step)
    step(f"reading and validating {data}")
    dataset = load_dataset(data)
    step(f"loading model {reference}")
    scorer = Scorer(load_model(reference, config))
    moment = parse_as_of(as_of, dataset.leads, dataset.events)
    step(f"scoring open leads as of {moment.isoformat()}")
    batch = score_open_leads(
        dataset.leads,
        dataset.events,
        scorer,
        as_of=moment,
        grade_mode=config.score.grade_mode,
        pass_through=config.score.pass_through,
        chunk_size=config.score.chunk_size,
        on_progress=on_progress,
        source=str(data),
    )
    return _write_batch(batch, config, out, top, store, step)


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
) -> None:
    """Refuse, before any work, what the job could not finish: bad arguments, a store
    the writer would refuse (older, or written by a newer leadml; a new one is fine)."""
    if top is not None and top < 1:
        raise InputError("--top must be at least 1", option="--top", value=top)
    if out is not None and not out.name.endswith((".csv", ".csv.gz", ".parquet")):
        raise InputError(
            "unsupported output file type", file=out, expected="a .csv, .csv.gz or .parquet name"
        )
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


def _write_batch(
    batch: RankedBatch,
    config: Config,
    out: Path | None,
    top: int | None,
    store: bool,
    step: Step,
) -> BatchOutcome:
    """Write the list (CSV cells escaped against formulas) and the store, as asked.

    The list is staged first (a complete 0600 temp file beside `out`), the store takes
    the batch in one transaction, and only after its commit is the list renamed into
    place: a full, read-only or killed store write leaves the previous list, which still
    matches the store's latest batch. A failure removes the temp file.
    """
    staged = None
    if out is not None:
        step(f"writing {out}")
        table = batch.table(top)
        if not out.name.endswith(".parquet"):
            table = escape_formulas(table)
        staged = stage_table(table, out, "the ranked list")
    with staged or nullcontext():
        if not store:
            return BatchOutcome(batch, staged.commit() if staged else None, None, None)
        batch_id = _store_batch(batch, config, staged, step)
    return BatchOutcome(batch, out, config.store_url, batch_id)


def _store_batch(batch: RankedBatch, config: Config, staged: StagedFile | None, step: Step) -> int:
    """Write the batch to the store; the staged list is put in place right after the
    commit. A store failure says what became of the list (one line)."""
    from leadml.store import StoreError, open_store, write_batch  # SQLAlchemy: storing only

    def place(batch_id: int) -> None:
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

    existed = staged is not None and staged.path.exists()
    step("writing the scores store")
    try:
        engine = open_store(config.store_url)
        try:
            return write_batch(
                engine, batch, trend_points=config.store.trend_points, on_commit=place
            )
        finally:
            engine.dispose()
    except StoreError as exc:
        if staged is None:
            raise
        if existed:
            kept = (
                f"The ranked list {staged.path} was left as it was, so it still matches the store."
            )
        else:
            kept = f"No ranked list was written to {staged.path}."
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
