"""The registered model as an MLflow pyfunc: leadml's own calibrated probability, score and
grade for `mlflow.pyfunc.load_model`, `mlflow models serve` and `spark_udf` users.

It is logged as a *model from code*, never pickled: `pyfunc_model.py` is copied into the
logged model and run when it loads; it builds `LeadmlModel`, whose `load_context` reads the
bundle folder logged beside it (native `model.txt`, checked against its digest, and
`bundle.json`) and whose `predict` calls the Scorer, the feature code of training and the API.

Input, one row per lead:
- event model: the contract's scoring columns (`lead_id`, `created_at`, `lead_source`, ...;
  an absent optional column is missing), `as_of` (optional: the scoring moment, as in the
  API; empty = the bundle's own rule) and `events`, a list of {"event_type", "occurred_at"}
  per lead. The rows are checked by the data contract's validator, as a data folder is.
- flat model: the export's columns, as `leadml score` reads the export.
Output, one row per lead in input order: lead_id, probability, score, grade.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from leadml import schema
from leadml.errors import InputError

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from leadml.bundle import Bundle
    from leadml.data.mapping.config import DatasetConfig
    from leadml.scoring import Scorer

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
"""The model-from-code file MLflow copies into the logged model."""
BUNDLE_KEY = "bundle"
"""The pyfunc artifact holding the bundle folder."""
AS_OF = "as_of"
EVENTS = "events"
OUTPUT_COLUMNS = ("probability", "score", "grade")
_INPUT = "model input"


class LeadmlModel(PythonModel):
    """The pyfunc MLflow loads: the bundle's Scorer, built in `load_context`."""

    def load_context(self, context: PythonModelContext) -> None:
        from leadml.bundle import load_bundle
        from leadml.scoring import Scorer

        # Artifacts were downloaded: the model file is checked against its digest and
        # parsed in a child process first (as a registry download is).
        bundle = load_bundle(Path(context.artifacts[BUNDLE_KEY]), trusted=False)
        self.scorer = Scorer(bundle)

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        return score_rows(self.scorer, pd.DataFrame(model_input))


def score_rows(scorer: Scorer, rows: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's predict: rows in the input format above -> lead_id, probability,
    score, grade in input order (a lead the Scorer cannot score is a one-line error)."""
    flat = scorer.bundle.flat
    if flat is not None:
        leads = flat_rows(rows, flat)
        scored = scorer.score(leads, pd.DataFrame(), explain=False).frame
        ids = leads.index
    else:
        leads, events = lead_frames(rows)
        cutoff = _cutoffs(scorer, leads, rows)
        scored = scorer.score(leads, events, cutoff=cutoff, explain=False).frame
        ids = pd.Index(leads[schema.LEAD_ID])
    out = scored.reindex(ids)[list(OUTPUT_COLUMNS)]
    return out.rename_axis(schema.LEAD_ID).reset_index()


def lead_frames(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated leads and events from pyfunc rows, by the data contract's own checks."""
    from leadml.data.io import RawTable
    from leadml.data.validate.checks import TableCheck
    from leadml.data.validate.events import check_events
    from leadml.data.validate.folder import utc_now
    from leadml.data.validate.leads import check_leads
    from leadml.data.validate.report import ProblemLog

    columns = [c for c in rows.columns if c not in (AS_OF, EVENTS)]
    lead_table = RawTable(Path(f"{_INPUT} rows"), rows[columns].reset_index(drop=True), "parquet")
    event_table = RawTable(Path(f"{_INPUT} events"), _event_rows(rows), "parquet")
    now = utc_now(None)
    log = ProblemLog()
    checked = check_leads(TableCheck(lead_table, log), now)
    events = check_events(TableCheck(event_table, log), checked, now)
    errors = [p for p in log.problems() if p.severity == "error"]
    if errors or checked is None or events is None:
        first = errors[0].describe() if errors else "no rows"
        raise InputError(
            f"{_INPUT}: {len(errors):,} problem(s), the first: {first}",
            expected="one row per lead with the contract's columns, as_of and events "
            "(see the README's MLflow section)",
        )
    return checked.frame, events


def _event_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows' `events` lists as one events table (lead_id, event_type, occurred_at)."""
    names = [schema.LEAD_ID, schema.EVENT_TYPE, schema.OCCURRED_AT]
    if EVENTS not in rows.columns or schema.LEAD_ID not in rows.columns:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
    table: dict[str, list[Any]] = {name: [] for name in names}
    for lead_id, listed in zip(rows[schema.LEAD_ID], rows[EVENTS], strict=True):
        for event in listed if isinstance(listed, list | tuple) else list(listed or ()):
            table[schema.LEAD_ID].append(lead_id)
            table[schema.EVENT_TYPE].append(event.get(schema.EVENT_TYPE))
            table[schema.OCCURRED_AT].append(event.get(schema.OCCURRED_AT))
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in table.items()})


def _cutoffs(scorer: Scorer, leads: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """Each lead's scoring moment by the Scorer's own rule, per distinct `as_of`."""
    as_of = rows[AS_OF] if AS_OF in rows.columns else pd.Series(None, index=rows.index)
    stamps = pd.to_datetime(
        as_of.reset_index(drop=True), utc=True, errors="coerce", format="ISO8601"
    )
    bad = stamps.isna() & as_of.reset_index(drop=True).notna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(
            f"{_INPUT}: as_of is not a timestamp",
            row=row + 1,
            column=AS_OF,
            value=as_of.iloc[row],
            expected="an ISO 8601 timestamp such as 2026-11-16T00:00:00Z, or empty",
        )
    parts = [
        scorer.cutoff_for(leads.loc[group.index], None if pd.isna(moment) else moment)
        for moment, group in stamps.groupby(stamps, dropna=False, sort=False)
    ]
    cutoff = pd.concat(parts) if len(parts) > 1 else parts[0]
    dropped = leads[schema.LEAD_ID][~leads[schema.LEAD_ID].isin(cutoff.index)]
    if len(dropped):
        raise InputError(
            f"{_INPUT}: lead {dropped.iloc[0]!r} was created after its as_of",
            row=int(dropped.index[0]) + 1,
            column=AS_OF,
            expected="as_of at or after created_at (or empty: the bundle's own moment)",
        )
    return cutoff


def flat_rows(rows: pd.DataFrame, dataset: DatasetConfig) -> pd.DataFrame:
    """A flat model's rows as `leadml score` reads the export: text (a number as the file
    shows it, 7.0 -> "7", as the API reads it), missing tokens None, indexed by the lead id
    (absent feature columns are all missing)."""
    from leadml.data.mapping.read import clean_missing
    from leadml.scoring import export_text

    frame = rows.reset_index(drop=True).astype(object).map(export_text)
    for name in dataset.feature_names:
        if name not in frame.columns:
            frame[name] = None
    frame = clean_missing(frame, dataset.missing)
    if dataset.id_column is None:
        ids = [str(i) for i in range(1, len(frame) + 1)]
    elif dataset.id_column not in frame.columns:
        raise InputError(
            f"{_INPUT}: no id column", column=dataset.id_column, expected="the export's id column"
        )
    else:
        ids = [str(v) for v in frame[dataset.id_column]]
        given = frame[dataset.id_column]
        bad = given.isna() | given.duplicated()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise InputError(
                f"{_INPUT}: {'empty' if given.isna().iloc[row] else 'duplicate'} lead id",
                row=row + 1,
                column=dataset.id_column,
                value=given.iloc[row],
                expected="one row per lead, each with its own id",
            )
    frame.index = pd.Index(ids, name=dataset.id_name)
    return frame


def model_input(
    leads: pd.DataFrame, events: pd.DataFrame, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Leads and events frames (a data folder's, `load_dataset`'s) as pyfunc rows: the
    scoring columns, `as_of` and each lead's events (what `predict` takes)."""
    columns = [c for c in schema.scoring_columns() if c.name in leads.columns]
    rows = pd.DataFrame(
        {
            c.name: leads[c.name].to_numpy(dtype=float)
            if c.kind == "number"
            else pd.Series([_plain(v) for v in leads[c.name]], dtype=object)
            for c in columns
        }
    )
    listed: dict[str, list[dict[str, str]]] = {}
    for lead_id, kind, at in zip(
        events[schema.LEAD_ID], events[schema.EVENT_TYPE], events[schema.OCCURRED_AT], strict=True
    ):
        listed.setdefault(lead_id, []).append(
            {schema.EVENT_TYPE: str(kind), schema.OCCURRED_AT: _plain(at)}
        )
    rows[AS_OF] = None if as_of is None else _plain(pd.Timestamp(as_of))
    rows[EVENTS] = pd.Series(
        [listed.get(lead_id, []) for lead_id in rows[schema.LEAD_ID]], dtype=object
    )
    return rows


def _plain(value: Any) -> Any:
    """A value as JSON carries it: a timestamp as ISO 8601 text, a missing value as None."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return None if pd.api.types.is_scalar(value) and pd.isna(value) else value


def signature(bundle: Bundle) -> ModelSignature:
    """The pyfunc's signature: its input columns (event model: the contract's scoring
    columns, `as_of` and `events` as a list of objects; flat model: the export's columns,
    any JSON value) and the output frame's columns."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, Array, ColSpec, Object, Property, Schema, TensorSpec

    flat = bundle.flat
    inputs: list[ColSpec | TensorSpec]
    if flat is not None:
        names = [flat.id_column, *flat.feature_names, flat.created_at]
        inputs = [
            ColSpec(AnyType(), name, required=name == flat.id_column)
            for name in dict.fromkeys(names)
            if name
        ]
    else:
        # Numbers and timestamps: any type (an int, a float, ISO text, a pandas Timestamp);
        # the contract's validator reads and checks them, as it reads a Parquet file.
        inputs = [
            ColSpec("string" if c.kind == "text" else AnyType(), c.name, required=c.required)
            for c in schema.scoring_columns()
        ]
        event = Object(
            [Property(schema.EVENT_TYPE, "string"), Property(schema.OCCURRED_AT, "string")]
        )
        inputs += [
            ColSpec(AnyType(), AS_OF, required=False),
            ColSpec(Array(event), EVENTS, required=False),
        ]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", schema.LEAD_ID),
        ColSpec("double", "probability"),
        ColSpec("long", "score"),
        ColSpec("string", "grade"),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))
