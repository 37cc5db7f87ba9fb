"""The `[dataset]` mapping of a flat CRM export, as pure configuration (no file reading).

One row per lead, engagement already rolled up, a converted flag. The mapping puts such a
file onto leadml's roles:

- `id_column` names the lead id (optional: without one, rows are numbered from 1);
- the label is `label` plus its `positive` values, or a `converted_at` column;
- `created_at` (optional) orders leads in time for a time-ordered split; without it
  the split is stratified random, with a warning saying what that costs;
- `split_column` (optional) names a column holding `train`, `valid` or `test` per row:
  training then uses exactly that split (to compare leadml with another model on the
  same rows); it is never a feature;
- `[dataset.columns]` gives every other column a role (`source`, `engagement`,
  `firmographic`: model features; `ignore`, `pii`, `passthrough`: never features) and a
  type (`numeric` or `categorical`; inferred when left out: `infer_type`, `resolve_types`),
  and optionally the `label` and `unit` its reasons show ("Time on site: 12 min");
- `missing` lists the tokens that mean "no value" ("Select", "", "NA", "unknown", ...).

Pure so that the flat feature family, the bundle and the config can hold it without
importing the reader (`mapping.read`).
"""

from __future__ import annotations

from collections.abc import Collection
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
SPLIT_VALUES: Final[tuple[str, ...]] = ("train", "valid", "test")
"""The values of a `split_column` (read case-insensitively)."""
FEATURE_ROLES: Final[tuple[str, ...]] = ("source", "engagement", "firmographic")
DEFAULT_MISSING: Final[tuple[str, ...]] = (
    "", "NA", "N/A", "NaN", "null", "None", "-", "Select", "unknown",
)  # fmt: skip
ROW_ID: Final = "lead_id"
"""The id field of a flat model's API requests and ranked list when the file has no id column."""


class FlatColumn(BaseModel):
    """One export column: what it is for, and how to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    type: ColumnType | None = None
    """None: inferred from the values when training (and written into the bundle)."""
    label: str | None = None
    """The column's name in reason text; None: the column name in words (`humanise`)."""
    unit: str | None = None
    """Shown with the column's numbers in reason text: "min" (12 min), "%" or "€"."""


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
    split_column: str | None = None
    """A column holding train, valid or test per row: training uses exactly that split
    (`split` is then not used). Never a feature."""
    missing: tuple[str, ...] = DEFAULT_MISSING
    calendar: Literal["auto", "on", "off"] = "auto"
    """Calendar features from `created_at` (`features.flat.CALENDAR`): auto lets the
    validation window decide whether they help; on/off force the choice."""
    calendar_columns: tuple[str, ...] = ()
    """Set by training in the bundle's copy of the mapping (leave it out of leadml.toml):
    the calendar features the model reads."""
    columns: dict[str, FlatColumn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        if (self.label is None) == (self.converted_at is None):
            raise ValueError("set exactly one of label (with positive values) or converted_at")
        named = {
            "id_column": self.id_column,
            "label": self.label,
            "converted_at": self.converted_at,
            "created_at": self.created_at,
            "split_column": self.split_column,
        }
        for setting, name in named.items():
            if name is not None and name in self.columns:
                raise ValueError(
                    f"column {name!r} is the {setting} and is also listed in "
                    f"[dataset.columns] (as {self.columns[name].role!r}); delete its line "
                    f"there: the {setting} is never a feature"
                )
        if not self.feature_names:
            raise ValueError("no feature columns: give at least one column a role of "
                             "source, engagement or firmographic")  # fmt: skip
        if self.split == "time" and self.created_at is None:
            raise ValueError("split = 'time' needs a created_at column")
        if self.calendar == "on" and self.created_at is None:
            raise ValueError("calendar = 'on' needs a created_at column")
        return self

    @property
    def id_name(self) -> str:
        """The id field's name in requests and lists."""
        return self.id_column or ROW_ID

    @property
    def feature_names(self) -> list[str]:
        """Feature columns in mapping order."""
        return [n for n, c in self.columns.items() if c.role in FEATURE_ROLES]

    @property
    def model_columns(self) -> list[str]:
        """The model's feature columns: the export's feature columns, then the calendar
        features derived from `created_at` (when training chose them)."""
        return [*self.feature_names, *self.calendar_columns]

    def names_with(self, *roles: str) -> list[str]:
        """Columns with any of these roles, in mapping order."""
        return [n for n, c in self.columns.items() if c.role in roles]

    @property
    def source_column(self) -> str | None:
        """The first source column: the ranked list's lead_source (training sets aside an
        id-like one, `features.idlike`, so it is a low-cardinality column)."""
        found = self.names_with("source")
        return found[0] if found else None

    def type_of(self, name: str) -> ColumnType:
        found = self.columns[name].type
        if found is None:
            raise InputError("column type not resolved", column=name, expected="resolve_types")
        return found

    def effective_split(self) -> Literal["time", "file_order", "random", "column"]:
        """How training splits: "column" when `split_column` is set, else `split` resolved."""
        if self.split_column is not None:
            return "column"
        if self.split == "auto":
            return "time" if self.created_at else "random"
        return self.split

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (for bundle.json)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetConfig:
        return cls.model_validate(data)


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


def resolve_types(frame: pd.DataFrame, dataset: DatasetConfig) -> DatasetConfig:
    """The mapping with every column's type filled in (inferred from `frame` when absent)."""
    columns = {
        name: col if col.type else col.model_copy(update={"type": infer_type(frame[name])})
        for name, col in dataset.columns.items()
    }
    return dataset.model_copy(update={"columns": columns})


def mapping_changes(
    config: DatasetConfig, model: DatasetConfig, set_aside: Collection[str] = ()
) -> str | None:
    """How a config's mapping differs from a model's, naming the columns (None: the same).

    Compared: the feature columns, their roles and types (a type left out of the config is
    inferred, so it matches any), the id and label columns and the missing tokens.
    `set_aside`: feature columns training itself left out (id-like ones): not a difference.
    """
    mine = [c for c in config.feature_names if c not in set_aside]
    theirs = model.feature_names
    parts = []
    only_config = [c for c in mine if c not in theirs]
    only_model = [c for c in theirs if c not in mine]
    changed = [
        c
        for c in mine
        if c in theirs
        and (
            config.columns[c].role != model.columns[c].role
            or config.columns[c].type not in (None, model.columns[c].type)
        )
    ]
    for words, names in (
        ("features only in the config", only_config),
        ("features only in the model", only_model),
        ("role or type changed", changed),
    ):
        if names:
            parts.append(f"{words}: {', '.join(names)}")
    for key in ("id_column", "label", "converted_at"):
        if getattr(config, key) != getattr(model, key):
            parts.append(f"{key} {getattr(config, key)!r} vs {getattr(model, key)!r}")
    if {t.lower() for t in config.missing} != {t.lower() for t in model.missing}:
        parts.append("missing tokens differ")
    return "; ".join(parts) or None
