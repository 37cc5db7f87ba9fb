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
sum of its columns' contributions; its sentence describes its strongest column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.features.describe import describe
from leadml.features.spec import FeatureSpec

if TYPE_CHECKING:
    from leadml.bundle import Bundle


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


def contributions(booster: lgb.Booster, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Exact TreeSHAP via LightGBM `pred_contrib`: (n, n_features + 1), last column the bias.

    Values are log-odds of the raw model score; each row sums to `raw_score`.
    """
    return np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)


def probability_delta(p: np.ndarray, contribution: np.ndarray) -> np.ndarray:
    """Approximate probability change from one contribution, via the logistic link at p."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p))
    return p - 1.0 / (1.0 + np.exp(-(logit - contribution)))


def reasons(
    contrib: np.ndarray,
    raw_features: pd.DataFrame,
    probability: np.ndarray,
    spec: FeatureSpec,
    *,
    top_k: int = 3,
) -> list[dict[str, list[dict[str, Any]]]]:
    """Top positive and negative reasons per lead, each grouped by business field.

    `raw_features` holds the unencoded feature values (the words in the sentence);
    `contrib` comes from `contributions` on the encoded matrix of the same leads.
    """
    fmap = FieldMap.from_spec(spec)
    per_column = contrib[:, : len(spec.columns)]
    per_field = per_column @ fmap.matrix
    # The strongest column (by |contribution|) inside each field tells the story.
    names = [c.name for c in spec.columns]
    field_of = np.argmax(fmap.matrix, axis=1)
    out: list[dict[str, list[dict[str, Any]]]] = []
    order = np.argsort(-per_field, axis=1, kind="stable")
    values = raw_features[names].to_numpy(dtype=object)
    for i in range(per_field.shape[0]):
        row = per_field[i]
        pos = [k for k in order[i, :top_k] if row[k] > 0]
        neg = [k for k in order[i, ::-1][:top_k] if row[k] < 0]
        lead: dict[str, list[dict[str, Any]]] = {"positive": [], "negative": []}
        for key, picked in (("positive", pos), ("negative", neg)):
            for k in picked:
                members = np.flatnonzero(field_of == k)
                j = int(members[np.argmax(np.abs(per_column[i, members]))])
                value = values[i, j]
                lead[key].append(
                    {
                        "field": fmap.fields[k],
                        "feature": names[j],
                        "value": _plain(value),
                        "contribution": float(row[k]),
                        "probability_delta": float(
                            probability_delta(np.array([probability[i]]), np.array([row[k]]))[0]
                        ),
                        "text": describe(names[j], value, spec),
                    }
                )
        out.append(lead)
    return out


def _plain(value: object) -> object:
    """A JSON-friendly scalar: numpy numbers become Python numbers, NaN becomes None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def explain(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    model: Bundle,
    *,
    as_of: pd.Timestamp | None = None,
    top_k: int = 3,
) -> pd.DataFrame:
    """Score leads and explain each score: one row per lead with probability and reasons.

    Without `as_of`, each lead is scored at the bundle's own cutoff (created_at +
    observation_days), as in training. With `as_of`, every lead is scored at that moment.
    """
    from leadml.scoring import Scorer

    return Scorer(model).score(leads, events, as_of=as_of, explain=True, top_k=top_k).frame
