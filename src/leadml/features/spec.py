"""The feature spec: what the model expects, learned on training rows, shipped as JSON.

`learn_spec` fixes the column order, each column's kind, family and business field, the
category levels (from training rows only, never before the split) and the monotone
constraints. `encode_columns` turns raw feature arrays (`feature_columns`) into the model
matrix; `encode` does the same for a raw feature frame, through it, and `encode_numpy` is
`features.matrix.frame_matrix` (the one frame -> LightGBM matrix conversion) of `encode`.

Category levels: the levels present in the data the model is trained from (every row
of it, validation and test rows included: a level is a name, not a statistic, so knowing
it leaks no outcome), sorted, then the explicit 'unknown' level last. The booster itself
learns only from the training rows. Missing values and values absent from that data share
'unknown' (LightGBM's native categorical handling treats them alike anyway); the absent
ones also raise a warning, so a value in the training file is never reported as new.
`campaign` keeps its own level only for campaigns with at least `campaign_min_leads`
training leads; every other campaign, seen or not, maps to 'other' (the long tail, no
warning).

Codes (for `encode_columns` and `encode_numpy`, LightGBM's native categorical
representation): a value's code is its position in `levels`, as a float. That is exactly
the pandas category code of `encode`'s output, so a booster trained on `encode` predicts
identically from any of them.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from leadml import schema
from leadml.config import FeatureConfig
from leadml.errors import InputError
from leadml.features.build import ColumnInfo, Family, Kind, feature_catalogue
from leadml.features.engagement import count_column, recency_column, score_column
from leadml.features.matrix import FEW_ROWS, frame_matrix, level_codes, unseen_warnings

SPEC_VERSION: Final = 1
OTHER: Final = "other"
"""The shared level of the campaign long tail."""
LONG_TAIL: Final = frozenset({"campaign"})
"""Categoricals whose rare and unseen values map to OTHER instead of UNKNOWN."""
NEVER_DAYS: Final = 10_000.0
"""Model-matrix value of a recency ("days since last ...") when the event never happened.

Recencies carry a decreasing monotone constraint (more recent never lowers the score).
LightGBM sends missing values down a branch chosen by gain, outside the constraint, so a
lead going from 'never' to 'yesterday' could lose score; a large finite value instead puts
'never' at the far end of the constrained axis. Raw features keep NaN (the sentences say
'never')."""


@dataclass(frozen=True)
class FeatureColumn:
    """One model input column and what it means."""

    name: str
    kind: Kind
    family: Family
    field: str
    """The business field it comes from, e.g. 'employees' or 'demo_request events'."""
    levels: tuple[str, ...] = ()
    """Category levels in code order (categoricals only); 'unknown' is always present."""
    monotone: int = 0
    """+1: a larger value never lowers the score; -1: never raises it; 0: unconstrained."""
    _index: pd.Index = dataclasses.field(init=False, repr=False, compare=False)
    _position: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)
    _unknown: int = dataclasses.field(init=False, repr=False, compare=False)
    _fallback: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"{self.name}: kind must be numeric or categorical")
        if self.kind == "categorical" and schema.UNKNOWN not in self.levels:
            raise ValueError(f"{self.name}: categorical levels must include 'unknown'")
        if self.kind == "numeric" and self.levels:
            raise ValueError(f"{self.name}: a numeric column has no levels")
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"{self.name}: monotone must be -1, 0 or 1")
        object.__setattr__(self, "_index", pd.Index(list(self.levels), dtype=object))
        object.__setattr__(self, "_position", {v: i for i, v in enumerate(self.levels)})
        # Codes of missing values, and of values unseen in training (the long tail's 'other').
        unknown = self._position.get(schema.UNKNOWN, -1)
        fallback = self._position.get(OTHER, unknown) if self.name in LONG_TAIL else unknown
        object.__setattr__(self, "_unknown", unknown)
        object.__setattr__(self, "_fallback", fallback)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "field": self.field,
            "levels": list(self.levels),
            "monotone": self.monotone,
        }


@dataclass(frozen=True)
class FeatureSpec:
    """The ordered model columns plus the FeatureConfig that produced the raw features."""

    columns: tuple[FeatureColumn, ...]
    config: FeatureConfig
    _plan: _Plan = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _Plan(self.columns))

    @property
    def names(self) -> list[str]:
        """Column names in model order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> FeatureColumn:
        """The column called `name` (KeyError when the spec has none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `from_dict` restores an equal spec."""
        return {
            "version": SPEC_VERSION,
            "config": self.config.model_dump(mode="json"),
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Rebuild a spec written by `to_dict`."""
        if data.get("version") != SPEC_VERSION:
            raise InputError(
                "unsupported feature spec version",
                value=data.get("version"),
                expected=f"version {SPEC_VERSION}",
            )
        try:
            columns = tuple(
                FeatureColumn(
                    name=str(c["name"]),
                    kind=c["kind"],
                    family=c["family"],
                    field=str(c["field"]),
                    levels=tuple(str(v) for v in c.get("levels", ())),
                    monotone=int(c.get("monotone", 0)),
                )
                for c in data["columns"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"invalid feature spec: {exc}") from exc
        return cls(columns=columns, config=FeatureConfig.model_validate(data["config"]))


def learn_spec(
    features_train: pd.DataFrame,
    config: FeatureConfig,
    *,
    catalogue: list[ColumnInfo] | None = None,
    vocabulary: pd.DataFrame | None = None,
) -> FeatureSpec:
    """Learn levels and constraints from TRAINING rows of a `build_features` frame.

    `catalogue`: another family's columns (a flat export's, `features.flat.flat_catalogue`)
    instead of the event model's; those carry no monotone constraints. `vocabulary`: every
    row of the data trained from (same columns): its category values are levels too, so
    scoring never calls a value of the training file unseen. The long tail's own levels
    still need `campaign_min_leads` TRAINING rows.
    """
    if features_train.empty:
        raise InputError("no training rows to learn the feature spec from")
    columns = feature_catalogue(config) if catalogue is None else catalogue
    _require(features_train, [c.name for c in columns])
    names = categorical_names(columns)
    return spec_from_counts(
        category_counts(features_train, names),
        config,
        catalogue=catalogue,
        vocabulary=None if vocabulary is None else category_counts(vocabulary, names),
    )


def categorical_names(catalogue: list[ColumnInfo]) -> list[str]:
    """The categorical columns of a catalogue: the ones whose levels are learned."""
    return [c.name for c in catalogue if c.kind == "categorical"]


def category_counts(frame: pd.DataFrame, names: list[str]) -> dict[str, pd.Series]:
    """Per column of `names` in `frame` (text values): how many rows hold each value,
    missing values left out. Counts of several frames add up (`pd.concat` then a sum per
    value), so the Dask engine learns one spec from its partitions' counts."""
    return {name: frame[name].dropna().astype(str).value_counts() for name in names}


def spec_from_counts(
    train: Mapping[str, pd.Series],
    config: FeatureConfig,
    *,
    catalogue: list[ColumnInfo] | None = None,
    vocabulary: Mapping[str, pd.Series] | None = None,
) -> FeatureSpec:
    """`learn_spec` from category counts (`category_counts`) of the training rows and of
    every row (`vocabulary`), instead of the frames themselves."""
    constraints = monotone_constraints(config) if catalogue is None else {}
    catalogue = feature_catalogue(config) if catalogue is None else catalogue
    columns = []
    for info in catalogue:
        levels: tuple[str, ...] = ()
        if info.kind == "categorical":
            known = None if vocabulary is None else vocabulary.get(info.name)
            levels = _learn_levels(train.get(info.name), info.name, config, known)
        monotone = constraints.get(info.name, 0)
        columns.append(FeatureColumn(*info, levels=levels, monotone=monotone))
    return FeatureSpec(columns=tuple(columns), config=config)


def monotone_constraints(config: FeatureConfig) -> dict[str, int]:
    """Where the domain is unambiguous: another demo, quote or consultation request never
    lowers the score. Every column such a request moves is constrained in the direction
    the request moves it: its counts, its recency, the overall and SQL-stage engagement
    scores and recency, the stage reached and (for a request in the last 7 days) the
    velocity."""
    windows = (*config.windows_days, None)
    out = {count_column(t, w): 1 for t in schema.SALES_REQUEST_EVENTS for w in windows}
    out |= {recency_column(t): -1 for t in schema.SALES_REQUEST_EVENTS}
    out |= {
        "total_events": 1,
        "distinct_event_types": 1,
        "engagement_score": 1,
        score_column("SQL"): 1,
        "engagement_velocity": 1,
        "stage_reached": 1,
        "days_since_last_event": -1,
    }
    return out


class _Plan:
    """Where each kind of column goes in the model matrix (computed once per spec)."""

    def __init__(self, columns: tuple[FeatureColumn, ...]) -> None:
        self.names = [c.name for c in columns]
        self.categorical = [(j, c) for j, c in enumerate(columns) if c.kind == "categorical"]
        never = [[c.monotone == -1] for c in columns]
        self.never_mask = np.array(never, dtype=bool).reshape(len(columns), 1)
        """Per column: a missing value means 'never' (NEVER_DAYS)."""
        self.never_mask.flags.writeable = False
        self._get = operator.itemgetter(*self.names) if self.names else None

    def values(self, columns: Mapping[str, Any]) -> list[Any]:
        """The spec's columns in spec order (InputError naming the first one missing)."""
        if self._get is None:
            return []
        try:
            found = self._get(columns)
        except KeyError:
            missing = [name for name in self.names if name not in columns]
            raise InputError(
                f"{len(missing)} feature columns missing",
                column=missing[0],
                expected="columns made by feature_columns or build_features with the spec's config",
            ) from None
        return [found] if len(self.names) == 1 else list(found)


def encode_columns(
    columns: Mapping[str, np.ndarray], spec: FeatureSpec
) -> tuple[np.ndarray, list[str]]:
    """The model matrix (float64, rows x spec columns) and warnings about unseen values.

    `columns` maps feature names to 1-D arrays, as `feature_columns` returns them (extra
    names are ignored). Categoricals become their level codes; a missing recency of a
    decreasing-monotone column becomes NEVER_DAYS. Warnings name the column and the
    category value, never contact details.
    """
    return _encode(columns, spec, order="C")


def encode(features: pd.DataFrame, spec: FeatureSpec) -> tuple[pd.DataFrame, list[str]]:
    """The model matrix in spec order, and warnings about values unseen in training.

    Categoricals become pandas Categoricals with exactly the spec's levels; numerics
    float64. The values are `encode_columns`' values.
    """
    matrix, warnings = _encode(_frame_columns(features, spec), spec, order="F")
    data: dict[str, Any] = {}
    for j, column in enumerate(spec.columns):
        if column.kind == "categorical":
            dtype = pd.CategoricalDtype(list(column.levels))
            data[column.name] = pd.Categorical.from_codes(
                matrix[:, j].astype(np.int64), dtype=dtype
            )
        else:
            data[column.name] = matrix[:, j]
    return pd.DataFrame(data, index=features.index, copy=False), warnings


def encode_numpy(features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The model matrix as float64 numpy, categoricals as their level codes.

    Defined as the one conversion, `frame_matrix(encode(features, spec))`: not a second
    fast path (the Scorer encodes arrays with `encode_columns`, the same values).
    """
    return frame_matrix(encode(features, spec)[0])


def _encode(
    columns: Mapping[str, Any], spec: FeatureSpec, *, order: Literal["C", "F"]
) -> tuple[np.ndarray, list[str]]:
    plan = spec._plan
    parts = plan.values(columns)
    n = len(parts[0]) if parts else 0
    warnings: list[str] = []
    few: list[list[int]] = []
    for j, column in plan.categorical:
        codes, unseen = level_codes(
            parts[j],
            column._position,
            column._index,
            column._unknown,
            column._fallback,
            column.name in LONG_TAIL,
        )
        if isinstance(codes, list):
            few.append(codes)
        else:
            parts[j] = codes
        if unseen:
            warnings += unseen_warnings(column.name, unseen)
    if few:  # a few rows: one array for every categorical's codes
        for (j, _), codes in zip(plan.categorical, np.array(few, dtype=np.float64), strict=True):
            parts[j] = codes
    block = _stack(parts, n, spec)
    if plan.never_mask.any():
        np.copyto(block, NEVER_DAYS, where=np.isnan(block) & plan.never_mask)
    matrix = block.T
    return (np.ascontiguousarray(matrix) if order == "C" else matrix), warnings


def _stack(parts: list[Any], n: int, spec: FeatureSpec) -> np.ndarray:
    """The columns (codes for categoricals) as one float64 (columns x rows) block."""
    try:
        block = np.array(parts, dtype=np.float64)  # refuses ragged columns itself
        if block.shape == (len(parts), n):
            return block
    except (TypeError, ValueError):  # ragged, or values numpy cannot cast (pd.NA, text)
        pass
    for column, part in zip(spec.columns, parts, strict=True):
        if np.ndim(part) != 1 or len(part) != n:
            raise InputError("columns differ in length", column=column.name, expected=f"{n} values")
    block = np.empty((len(parts), n))
    for k, (column, part) in enumerate(zip(spec.columns, parts, strict=True)):
        block[k] = _numeric(pd.Series(part), column)
    return block


def _frame_columns(features: pd.DataFrame, spec: FeatureSpec) -> dict[str, Any]:
    """The spec's columns of a raw feature frame: object arrays for a few rows (one lead
    in an API call: cheaper than pandas' per-column costs), numpy or pandas otherwise."""
    _require(features, spec.names)
    if len(features) <= FEW_ROWS:
        where = features.columns.get_indexer(pd.Index(spec.names))
        values = features.to_numpy(dtype=object)[:, np.asarray(where, dtype=np.intp)]
        return {name: values[:, j] for j, name in enumerate(spec.names)}
    out: dict[str, Any] = {}
    for column in spec.columns:
        series = features[column.name]
        out[column.name] = _numeric(series, column) if column.kind == "numeric" else series
    return out


def _learn_levels(
    counts: pd.Series | None, name: str, config: FeatureConfig, known: pd.Series | None
) -> tuple[str, ...]:
    counts = pd.Series(dtype=np.int64) if counts is None else counts
    if name in LONG_TAIL:
        kept = counts.index[counts >= config.campaign_min_leads]
        own = sorted(set(kept) - {OTHER, schema.UNKNOWN})
        return (*own, OTHER, schema.UNKNOWN)
    seen = set(counts.index) | (set() if known is None else set(known.index))
    return (*sorted(seen - {schema.UNKNOWN}), schema.UNKNOWN)


def _numeric(values: pd.Series, column: FeatureColumn) -> np.ndarray:
    try:
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(
            "feature column is not numeric", column=column.name, expected="numbers or missing"
        ) from exc
    return out


def _require(features: pd.DataFrame, names: list[str]) -> None:
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise InputError(
            f"{len(missing)} feature columns missing",
            column=missing[0],
            expected="a frame made by build_features with the spec's config",
        )
