"""A flat CRM export: one row per lead, engagement already rolled up, a converted flag.

The `[dataset]` section of `leadml.toml` maps such a file onto leadml's roles:

- `id_column` names the lead id (optional: without one, rows are numbered from 1);
- the label is `label` plus its `positive` values, or a `converted_at` column;
- `created_at` (optional) orders leads in time for a time-ordered split; without it
  the split is stratified random, with a warning saying what that costs;
- `[dataset.columns]` gives every other column a role (`source`, `engagement`,
  `firmographic`: model features; `ignore`, `pii`, `passthrough`: never features) and a
  type (`numeric` or `categorical`; inferred when left out);
- `missing` lists the tokens that mean "no value" ("Select", "", "NA", "unknown", ...).

`read_flat` reads the file as text; `flat_labels` turns it into labels. `mapping.draft`
writes the draft mapping of `leadml init-config`, every guess marked in a comment.
The features themselves live in `features/flat.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadml.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

Role = Literal["source", "engagement", "firmographic", "ignore", "pii", "passthrough"]
ColumnType = Literal["numeric", "categorical"]
SplitMode = Literal["auto", "time", "file_order", "random"]
FEATURE_ROLES: Final[tuple[str, ...]] = ("source", "engagement", "firmographic")
DEFAULT_MISSING: Final[tuple[str, ...]] = (
    "", "NA", "N/A", "NaN", "null", "None", "-", "Select", "unknown",
)  # fmt: skip
ROW_ID: Final = "lead_id"
"""The id field of a flat model's API requests and ranked list when the file has no id column."""
DATE_SHARE: Final = 0.95
"""init-config guesses a created-at column when this share of its sampled values are dates.
(A column is numeric only when EVERY present value parses as a number: see `infer_type`.)"""


class FlatColumn(BaseModel):
    """One export column: what it is for, and how to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    type: ColumnType | None = None
    """None: inferred from the values when training (and written into the bundle)."""


class DatasetConfig(BaseModel):
    """The `[dataset]` section: how to read a flat CRM export."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path | None = None
    """The export (relative to the project folder). `--data` overrides it."""
    format: Literal["csv", "parquet"] = "csv"
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    id_column: str | None = None
    label: str | None = None
    positive: tuple[str, ...] = ("1", "yes", "true", "converted", "won")
    """Values of `label` that mean converted (compared case-insensitively)."""
    converted_at: str | None = None
    created_at: str | None = None
    split: SplitMode = "auto"
    """auto: time-ordered by created_at when there is one, else stratified random.
    file_order: the file's rows are in time order (earliest first)."""
    missing: tuple[str, ...] = DEFAULT_MISSING
    columns: dict[str, FlatColumn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        if (self.label is None) == (self.converted_at is None):
            raise ValueError("set exactly one of label (with positive values) or converted_at")
        named = (self.id_column, self.label, self.converted_at, self.created_at)
        clash = sorted({n for n in named if n is not None} & set(self.columns))
        if clash:
            raise ValueError(
                f"column {clash[0]!r} is the id, label or a date column; "
                "remove it from [dataset.columns]"
            )
        if not self.feature_names:
            raise ValueError("no feature columns: give at least one column a role of "
                             "source, engagement or firmographic")  # fmt: skip
        if self.split == "time" and self.created_at is None:
            raise ValueError("split = 'time' needs a created_at column")
        return self

    @property
    def id_name(self) -> str:
        """The id field's name in requests and lists."""
        return self.id_column or ROW_ID

    @property
    def feature_names(self) -> list[str]:
        """Feature columns in mapping order."""
        return [n for n, c in self.columns.items() if c.role in FEATURE_ROLES]

    def names_with(self, *roles: str) -> list[str]:
        """Columns with any of these roles, in mapping order."""
        return [n for n, c in self.columns.items() if c.role in roles]

    @property
    def source_column(self) -> str | None:
        """The first source column: the ranked list's lead_source."""
        found = self.names_with("source")
        return found[0] if found else None

    def type_of(self, name: str) -> ColumnType:
        found = self.columns[name].type
        if found is None:
            raise InputError("column type not resolved", column=name, expected="resolve_types")
        return found

    def effective_split(self) -> Literal["time", "file_order", "random"]:
        if self.split == "auto":
            return "time" if self.created_at else "random"
        return self.split

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (for bundle.json)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetConfig:
        return cls.model_validate(data)


def read_flat(path: Path, dataset: DatasetConfig, *, scoring: bool = False) -> pd.DataFrame:
    """The export as text columns (object dtype, None for missing tokens), ids as str.

    Columns named in the mapping but absent from the file are an error naming them; when
    `scoring`, only the id column is required (the label may be absent and an absent
    feature column is all missing).
    """
    import pandas as pd

    if not path.exists():
        raise InputError("file not found", file=path, expected="the CRM export named in [dataset]")
    try:
        if dataset.format == "parquet":
            frame = pd.read_parquet(path).astype(object)
        else:
            frame = pd.read_csv(
                path,
                sep=dataset.delimiter,
                dtype=object,
                keep_default_na=False,
                encoding=dataset.encoding,
            )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(
            f"cannot read the export: {exc}",
            file=path,
            expected=f"a {dataset.format} file (delimiter {dataset.delimiter!r})",
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    needed = [dataset.id_column, dataset.label, dataset.converted_at, dataset.created_at]
    required = [n for n in needed if n] + list(dataset.columns)
    if scoring:
        required = [dataset.id_column] if dataset.id_column else []
        for name in dataset.feature_names:
            if name not in frame.columns:
                frame[name] = None
    for name in required:
        if name not in frame.columns:
            raise InputError(
                "column named in [dataset] is not in the file",
                file=path,
                column=name,
                expected=f"one of {', '.join(map(str, frame.columns[:30]))}",
            )
    frame = clean_missing(frame, dataset.missing)
    check_numbers(frame, dataset, path)
    ids = _ids(frame, dataset, path)
    frame.index = pd.Index(ids, name=dataset.id_name)
    return frame


def clean_missing(frame: pd.DataFrame, tokens: tuple[str, ...]) -> pd.DataFrame:
    """Text stripped; missing tokens (case-insensitive) and NaN become None."""
    import pandas as pd

    lowered = {t.strip().lower() for t in tokens}
    out = {}
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object)
        cleaned = np.empty(len(values), dtype=object)
        for i, value in enumerate(values.tolist()):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                cleaned[i] = None
                continue
            text = str(value).strip()
            cleaned[i] = None if text.lower() in lowered else text
        out[name] = pd.Series(cleaned, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index)


def _ids(frame: pd.DataFrame, dataset: DatasetConfig, path: Path) -> np.ndarray:
    if dataset.id_column is None:
        return np.array([str(i) for i in range(1, len(frame) + 1)], dtype=object)
    ids = frame[dataset.id_column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 2
        raise InputError("empty lead id", file=path, row=row, column=dataset.id_column)
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise InputError(
            "duplicate lead id",
            file=path,
            row=row,
            column=dataset.id_column,
            value=ids.iloc[row - 2],
            expected="one row per lead",
        )
    return ids.to_numpy(dtype=object)


@dataclass(frozen=True)
class FlatLabels:
    """Labelled rows of a flat export: 0/1 label and (when known) the creation time."""

    y: pd.Series
    """Index = lead id; int 0/1. Only rows with a known label."""
    created: pd.Series | None
    """UTC creation time per labelled row (None without a created_at column)."""
    n_rows: int
    n_unlabelled: int


def flat_labels(frame: pd.DataFrame, dataset: DatasetConfig, *, window_days: int) -> FlatLabels:
    """The label per row from `label` + `positive`, or from `converted_at`.

    With `converted_at` and `created_at`, a lead is positive when it converted within
    `window_days` of creation; leads whose window had not closed by the newest date in
    the file are left out (they are neither positives nor negatives yet).
    """
    import pandas as pd

    created = None
    if dataset.created_at:
        created = _dates(frame[dataset.created_at], dataset.created_at)
    if dataset.label:
        raw = frame[dataset.label]
        positive = {p.strip().lower() for p in dataset.positive}
        known = raw.notna().to_numpy()
        y = raw.map(lambda v: int(str(v).lower() in positive), na_action="ignore")
    else:
        assert dataset.converted_at is not None
        converted = _dates(frame[dataset.converted_at], dataset.converted_at)
        if created is None:
            y = converted.notna().astype(int)
            known = np.ones(len(frame), dtype=bool)
        else:
            end = pd.concat([created, converted]).max()
            window = pd.Timedelta(days=window_days)
            inside = converted.notna() & (converted - created <= window)
            closed = (created + window) <= end
            known = (inside | closed).to_numpy() & created.notna().to_numpy()
            y = inside.astype(int)
    y = y[known].astype(np.int64)
    if y.nunique() < 2:
        raise InputError(
            "the label has only one class",
            column=dataset.label or dataset.converted_at,
            value=f"{int(y.sum())} positives in {len(y)} rows",
            expected=f"converted and not converted leads (positive values: {dataset.positive})",
        )
    return FlatLabels(
        y=y,
        created=None if created is None else created[known],
        n_rows=len(frame),
        n_unlabelled=int((~known).sum()),
    )


def _dates(values: pd.Series, name: str) -> pd.Series:
    import pandas as pd

    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & values.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            "not a date",
            row=i + 2,
            column=name,
            value=values.iloc[i],
            expected="an ISO 8601 date or time",
        )
    return parsed


def infer_type(values: pd.Series) -> ColumnType:
    """numeric when every present value parses as a number (the way `features.flat` reads
    it), else categorical: one "lots" among numbers makes the column text, never a crash."""
    present = values.dropna()
    if len(present) == 0:
        return "categorical"
    return "numeric" if first_non_number(present.to_numpy(dtype=object)) is None else "categorical"


def first_non_number(values: np.ndarray) -> int | None:
    """Position of the first value that `float()` cannot read (missing values are skipped),
    or None when all are numbers."""
    import pandas as pd

    values = np.asarray(values, dtype=object)
    present = np.flatnonzero(~pd.isna(values))
    try:
        values[present].astype(np.float64)  # float() per value, in C
        return None
    except (ValueError, TypeError):
        pass
    for i in present.tolist():
        try:
            float(values[i])
        except (ValueError, TypeError):
            return int(i)
    return None


def check_numbers(frame: pd.DataFrame, dataset: DatasetConfig, path: Path) -> None:
    """Raise InputError naming the file, its line, the column and the value for the first
    value of a numeric-typed column that is not a number (`frame`: `read_flat`, file order)."""
    for name, column in dataset.columns.items():
        if column.type != "numeric" or column.role not in FEATURE_ROLES or name not in frame:
            continue
        bad = first_non_number(frame[name].to_numpy(dtype=object))
        if bad is not None:
            csv = dataset.format == "csv"
            raise InputError(
                f"not a number (line {bad + 2} of the file)" if csv else "not a number",
                file=path,
                row=bad + 2 if csv else bad + 1,
                column=name,
                value=frame[name].iloc[bad],
                expected='a number or a missing-value token, or set type = "categorical" '
                "for this column in [dataset.columns]",
            )


def resolve_types(frame: pd.DataFrame, dataset: DatasetConfig) -> DatasetConfig:
    """The mapping with every column's type filled in (inferred from `frame` when absent)."""
    columns = {
        name: col if col.type else FlatColumn(role=col.role, type=infer_type(frame[name]))
        for name, col in dataset.columns.items()
    }
    return dataset.model_copy(update={"columns": columns})
