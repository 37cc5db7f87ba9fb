"""Explanations: exact TreeSHAP contributions turned into reasons a salesperson can read.

Units, stated once and used everywhere:

- `contribution` is in **log-odds** of the *uncalibrated* model score. For every lead the
  contributions plus the bias (expected value) sum exactly to the model's raw score.
- `probability_delta` is an **approximation** in calibrated probability: how much lower
  the lead's probability would be without this reason, computed through the logistic
  link around the lead's calibrated probability p: sigma(logit(p)) - sigma(logit(p) - c).
  Deltas of several reasons do not add up; contributions do.

Engineered columns are grouped back into the business field they come from (all
`demo_request` counts and recencies form one "demo_request events" reason), so a
reason list never repeats one fact in five disguises. A field's contribution is the
sum of its columns' contributions; its sentence (`features.field_words`) says what the
lead did or is, read from the lead's own columns ("Requested a demo 3 days ago"), and
the reason's `feature` and `value` are its strongest column's.

A field whose sentence says that something is not there (`FieldWords.absent`: missing
data such as "Lead quality not recorded", and absence facts such as "Has not opened an
email" or "No activity in the last 30 days") is never a reason *for* a lead, only
against: "we do not know" and "never unsubscribed" are no selling points. The next
strongest real field takes its place. Contributions are untouched: they still sum with
the bias to the raw score.

Speed: contributions come from `leadml.explain.treeshap.TreeShap` (the same values as LightGBM's
`pred_contrib`, many times faster), built once per booster. `Explainer(bundle)` holds a
bundle's TreeShap and field map for reuse across requests and threads; `reasons` picks
the reasons for all leads at once with array operations and only builds the output
dicts in Python.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.errors import InputError
from leadml.explain.treeshap import TreeShap, UnsupportedModelError
from leadml.features.field_words import FieldWords
from leadml.features.spec import FeatureSpec

if TYPE_CHECKING:
    from leadml.bundle import Bundle
    from leadml.data.mapping.config import DatasetConfig

RawFeatures = pd.DataFrame | Mapping[str, np.ndarray | Sequence[Any]]
"""Unencoded feature values per lead: a `build_features` frame, or column name -> values
(the serving path's columns, without a frame)."""
Reasons = dict[str, list[dict[str, Any]]]
"""One lead's reasons: {"positive": [...], "negative": [...]}, each reason a dict with
field, feature, value, contribution, probability_delta and text."""


@dataclass(frozen=True)
class FieldMap:
    """Engineered columns grouped by the business field they come from."""

    fields: tuple[str, ...]
    matrix: np.ndarray
    """(n_columns, n_fields) 0/1 matrix: column j belongs to field k."""

    @classmethod
    def from_spec(cls, spec: FeatureSpec) -> FieldMap:
        fields = tuple(dict.fromkeys(c.field for c in spec.columns))
        index = {f: k for k, f in enumerate(fields)}
        matrix = np.zeros((len(spec.columns), len(fields)))
        for j, column in enumerate(spec.columns):
            matrix[j, index[column.field]] = 1.0
        return cls(fields, matrix)

    def members(self) -> np.ndarray:
        """(n_fields, most columns in a field) column indices per field, in column order,
        padded with -1."""
        columns = [np.flatnonzero(self.matrix[:, k]) for k in range(len(self.fields))]
        out = np.full((len(columns), max((len(c) for c in columns), default=0)), -1)
        for k, found in enumerate(columns):
            out[k, : len(found)] = found
        return out


def _field_sums(per_column: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(n, n_fields) sums of each field's columns, added in column order one slot at a time.

    Not a matrix product: BLAS picks its kernel (and so its rounding) by the number of
    rows, and a lead's reasons must not change in the last bit with the size of the batch
    it was scored in (the API scores concurrent requests together).
    """
    gathered = np.where(members >= 0, per_column[:, np.maximum(members, 0)], 0.0)
    total = gathered[:, :, 0].copy()
    for slot in range(1, gathered.shape[2]):
        total += gathered[:, :, slot]
    return total


_TREESHAP: weakref.WeakKeyDictionary[lgb.Booster, tuple[tuple[int, int], TreeShap | None]] = (
    weakref.WeakKeyDictionary()
)
_TREESHAP_LOCK = threading.Lock()


def treeshap_for(booster: lgb.Booster) -> TreeShap | None:
    """The booster's TreeShap, built on first use and kept while the booster lives (None
    for a model TreeShap does not support). Adding or rolling back trees rebuilds it;
    editing leaf values in place (`set_leaf_output`) is not noticed."""
    key = (booster.num_trees(), booster.best_iteration)
    with _TREESHAP_LOCK:
        cached = _TREESHAP.get(booster)
    if cached is not None and cached[0] == key:
        return cached[1]
    shap: TreeShap | None
    try:
        shap = TreeShap.from_booster(booster)
    except UnsupportedModelError:
        shap = None
    with _TREESHAP_LOCK:
        _TREESHAP[booster] = (key, shap)
    return shap


def contributions(
    booster: lgb.Booster, X: pd.DataFrame | np.ndarray, *, num_threads: int = 1
) -> np.ndarray:
    """Exact TreeSHAP: (n, n_features + 1), last column the bias.

    Values are log-odds of the raw model score; each row sums to `raw_score`. They equal
    LightGBM's `pred_contrib` (which this falls back to for models TreeShap does not
    support). `X` is the encoded frame or the model matrix (categoricals as codes).
    """
    shap = treeshap_for(booster)
    if shap is None:
        return np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)
    return shap.contributions(X, num_threads=num_threads)


def probability_delta(p: np.ndarray, contribution: np.ndarray) -> np.ndarray:
    """Approximate probability change from one contribution, via the logistic link at p."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p))
    return p - 1.0 / (1.0 + np.exp(-(logit - contribution)))


class Explainer:
    """A bundle's explanation machinery, built once: its booster's TreeShap and its
    column-to-field map. Holds no per-call state, so one object serves every request and
    thread."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.treeshap = treeshap_for(bundle.booster)
        self._reasoner = _Reasoner(bundle.spec, bundle.flat)

    @property
    def fields(self) -> FieldMap:
        """The spec's columns grouped by business field."""
        return self._reasoner.fields

    def contributions(self, X: pd.DataFrame | np.ndarray, *, num_threads: int = 1) -> np.ndarray:
        """Exact TreeSHAP of the encoded leads (see `contributions`)."""
        if self.treeshap is None:
            return contributions(self.bundle.booster, X)
        return self.treeshap.contributions(X, num_threads=num_threads)

    def explain(
        self,
        X: pd.DataFrame | np.ndarray,
        raw_features: RawFeatures,
        probability: np.ndarray,
        *,
        top_k: int = 3,
        num_threads: int = 1,
    ) -> list[Reasons]:
        """Reasons for encoded leads `X` whose raw values are `raw_features`."""
        contrib = self.contributions(X, num_threads=num_threads)
        return self.reasons(contrib, raw_features, probability, top_k=top_k)

    def reasons(
        self,
        contrib: np.ndarray,
        raw_features: RawFeatures,
        probability: np.ndarray,
        *,
        top_k: int = 3,
    ) -> list[Reasons]:
        """Top positive and negative reasons per lead, each grouped by business field.

        `raw_features` holds the unencoded feature values (the words in the sentence), as
        a frame or as column name -> values; `contrib` comes from `contributions` on the
        encoded matrix of the same leads.
        """
        return self._reasoner.reasons(contrib, raw_features, probability, top_k)


def reasons(
    contrib: np.ndarray,
    raw_features: RawFeatures,
    probability: np.ndarray,
    spec: FeatureSpec,
    *,
    top_k: int = 3,
    dataset: DatasetConfig | None = None,
) -> list[Reasons]:
    """Top positive and negative reasons per lead (see `Explainer.reasons`), for callers
    that hold a spec rather than a bundle (`dataset`: a flat model's mapping, for its
    column labels and units)."""
    return _Reasoner(spec, dataset).reasons(contrib, raw_features, probability, top_k)


class _Reasoner:
    """Picks reasons for many leads at once: array operations choose the fields and their
    strongest columns; Python only builds the output and describes distinct values."""

    def __init__(self, spec: FeatureSpec, dataset: DatasetConfig | None = None) -> None:
        self.spec = spec
        self.dataset = dataset
        self.fields = FieldMap.from_spec(spec)
        self._field_of = self.fields.matrix.argmax(axis=1)
        self._names = spec.names
        self._members = self.fields.members()
        self._column_names = np.array(self._names, dtype=object)
        self._field_names = np.array(self.fields.fields, dtype=object)
        self.words = FieldWords(
            spec,
            self.fields.fields,
            [[self._names[j] for j in row if j >= 0] for row in self._members.tolist()],
            dataset,
        )

    def reasons(
        self,
        contrib: np.ndarray,
        raw_features: RawFeatures,
        probability: np.ndarray,
        top_k: int,
    ) -> list[Reasons]:
        """See `Explainer.reasons`."""
        contrib, probability = self._checked(contrib, probability, top_k)
        n = contrib.shape[0]
        if n == 0:
            return []
        per_column = contrib[:, : len(self._names)]
        per_field = _field_sums(per_column, self._members)
        raw = _Columns(raw_features, n)
        # Absent fields (missing data, absence facts) never argue for a lead: they are
        # ranked last for the positives. Largest first, stable on ties; negatives are
        # read from the other end of the plain order.
        absent = self.words.absent(raw, n)
        k = min(top_k, per_field.shape[1])
        ahead = np.argsort(-np.where(absent, -np.inf, per_field), axis=1, kind="stable")
        behind = np.argsort(-per_field, axis=1, kind="stable")[:, ::-1]
        picks = np.concatenate([ahead[:, :k], behind[:, :k]], axis=1)
        picked = np.take_along_axis(per_field, picks, axis=1)
        strongest = self._strongest(per_column, picks)
        for_lead = (picked[:, :k] > 0) & ~np.take_along_axis(absent, picks[:, :k], axis=1)
        keep = np.concatenate([for_lead, picked[:, k:] < 0], axis=1)
        delta = probability_delta(np.broadcast_to(probability[:, None], picked.shape), picked)

        rows, slots = np.nonzero(keep)  # lead by lead, positives before negatives
        columns = strongest[rows, slots, 0]
        fields = picks[rows, slots]
        shown = np.zeros(per_field.shape, dtype=bool)
        shown[rows, fields] = True
        values = self._values(raw, rows, columns, n)
        texts = self.words.texts(raw, n, rows, fields, columns, shown)
        out: list[Reasons] = [{"positive": [], "negative": []} for _ in range(n)]
        sides = ["positive"] * k + ["negative"] * k
        for i, side, field, feature, value, contribution, change, text in zip(
            rows.tolist(),
            [sides[s] for s in slots.tolist()],
            self._field_names[fields].tolist(),
            self._column_names[columns].tolist(),
            values,
            picked[rows, slots].tolist(),
            delta[rows, slots].tolist(),
            texts,
            strict=True,
        ):
            out[i][side].append(
                {
                    "field": field,
                    "feature": feature,
                    "value": value,
                    "contribution": contribution,
                    "probability_delta": change,
                    "text": text,
                }
            )
        return out

    def _checked(
        self, contrib: np.ndarray, probability: np.ndarray, top_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Contributions and probabilities as float arrays; refuses a negative top_k and
        shapes that do not cover the spec's columns or do not match each other."""
        if top_k < 0:
            raise ValueError(f"top_k must be at least 0, got {top_k}")
        names = self._names
        contrib = np.asarray(contrib, dtype=np.float64)
        if contrib.ndim != 2 or contrib.shape[1] < len(names):
            raise ValueError(
                f"contributions of shape {contrib.shape} do not cover the spec's "
                f"{len(names)} columns"
            )
        n = contrib.shape[0]
        probability = np.asarray(probability, dtype=np.float64).reshape(-1)
        if len(probability) != n:
            raise ValueError(f"{len(probability)} probabilities for {n} leads")
        return contrib, probability

    def _strongest(self, per_column: np.ndarray, picks: np.ndarray) -> np.ndarray:
        """The strongest column (first largest |contribution|) inside each picked field."""
        n = per_column.shape[0]
        candidates = self._members[picks]
        strength = np.abs(per_column)[np.arange(n)[:, None, None], np.maximum(candidates, 0)]
        strength = np.where(candidates >= 0, strength, -np.inf)
        return np.take_along_axis(candidates, strength.argmax(axis=2)[..., None], axis=2)

    def _values(self, raw: _Columns, rows: np.ndarray, columns: np.ndarray, n: int) -> list[object]:
        """The JSON-friendly value of each reason's strongest column (lead rows[r], column
        columns[r]): Python numbers and text, None for a missing value."""
        values: list[object] = [None] * len(rows)
        for j in np.unique(columns).tolist():
            where = np.flatnonzero(columns == j)
            chosen = raw(self._names[j])[rows[where]]
            if chosen.dtype.kind == "f":
                found: list[object] = chosen.tolist()
                for r in np.flatnonzero(np.isnan(chosen)).tolist():
                    found[r] = None
            elif chosen.dtype.kind in "iub":
                found = chosen.tolist()
            else:
                found = [_plain(v) for v in chosen.tolist()]
            for r, value in zip(where.tolist(), found, strict=True):
                values[r] = value
        return values


class _Columns:
    """Raw feature columns by name as arrays in their own dtype, each read and checked
    once per call."""

    def __init__(self, raw: RawFeatures, n: int) -> None:
        self.raw = raw
        self.n = n
        self._read: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        found = self._read.get(name)
        if found is None:
            found = self._read[name] = _array(self.raw, name, self.n)
        return found


def _column(raw: RawFeatures, name: str, n: int) -> list[object]:
    """One raw feature column as Python objects (as a frame's `to_numpy(object)` gives
    them), checked to be present and to hold one value per lead."""
    if isinstance(raw, pd.DataFrame):
        _present(raw.columns, name, "build_features output")
        values = raw[name].to_numpy(dtype=object).tolist()
    else:
        _present(raw, name, "feature_columns output")
        column = raw[name]
        values = column.tolist() if isinstance(column, np.ndarray) else list(column)
    _counted(len(values), name, n)
    return values


def _array(raw: RawFeatures, name: str, n: int) -> np.ndarray:
    """One raw feature column as an array in its own dtype (checked like `_column`)."""
    if isinstance(raw, pd.DataFrame):
        _present(raw.columns, name, "build_features output")
        values = raw[name].to_numpy()
    else:
        _present(raw, name, "feature_columns output")
        values = np.asarray(raw[name])
    _counted(len(values), name, n)
    return values


def _present(names: Any, name: str, expected: str) -> None:
    if name not in names:
        raise InputError("raw feature column missing", column=name, expected=expected)


def _counted(length: int, name: str, n: int) -> None:
    if length != n:
        raise InputError(
            f"raw feature column has {length} values for {n} leads",
            column=name,
            expected="one value per lead",
        )


def _plain(value: object) -> object:
    """A JSON-friendly scalar: numpy numbers become Python numbers, NaN becomes None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
