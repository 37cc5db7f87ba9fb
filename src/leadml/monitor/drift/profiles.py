"""Binned reference profiles and the population stability index (see `leadml.monitor.drift`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from leadml.errors import LeadmlError
from leadml.features.spec import OTHER as OTHER_LEVEL
from leadml.features.spec import FeatureSpec

REFERENCE_KEY: Final = "drift_reference"
"""Key of the reference profile in `Bundle.extra`."""
PROFILE_VERSION: Final = 1
PSI_WATCH: Final = 0.10
PSI_ALERT: Final = 0.25
EPSILON: Final = 1e-4
"""Shares are floored at this before the PSI's logarithm (a bin empty on one side)."""
NUMERIC_BINS: Final = 10
MAX_LEVELS: Final = 2000
"""Categorical levels kept by name in a profile; rarer ones share the other-levels bin."""
GONE_MIN_SHARE: Final = 0.001
"""A reference level counts as gone when it had at least this share and now has none."""
MISSING: Final = "(missing)"
OTHER: Final = "(other or new)"
SCORE: Final = "score"
"""The name of the calibrated-probability row in drift tables."""

Kind = Literal["numeric", "categorical"]
Status = Literal["stable", "watch", "alert"]


@dataclass(frozen=True)
class Profile:
    """One binned distribution. The last bin holds missing values; a categorical's
    second-to-last bin holds every level not named in `levels`."""

    name: str
    kind: Kind
    shares: tuple[float, ...]
    n: int
    edges: tuple[float, ...] = ()
    """Numeric: inner bin edges (right-closed bins: <= e0, (e0, e1], ..., > e_last)."""
    levels: tuple[str, ...] = ()
    """Categorical: the named bins (levels the model tells apart)."""
    seen: tuple[str, ...] = ()
    """Categorical: every raw level of the reference (most common first, capped)."""
    seen_shares: tuple[float, ...] = ()
    """Share of the reference rows holding each `seen` level."""

    def bin_labels(self) -> list[str]:
        """Readable bin names, in bin order."""
        if self.kind == "categorical":
            return [*self.levels, OTHER, MISSING]
        if not self.edges:
            return ["all values", MISSING]
        e = [_short(x) for x in self.edges]
        inner = [f"({a}, {b}]" for a, b in zip(e[:-1], e[1:], strict=True)]
        return [f"<= {e[0]}", *inner, f"> {e[-1]}", MISSING]

    def counts(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """How many of `values` fall in each of this profile's bins."""
        if self.kind == "categorical":
            text = as_text(values)
            missing = int(text.isna().sum())
            present = text.dropna().value_counts()
            named = present.reindex(list(self.levels), fill_value=0).to_numpy(dtype=np.int64)
            other = int(present.sum()) - int(named.sum())
            return np.concatenate([named, [other, missing]])
        v = as_float(values, self.name)
        present = v[~np.isnan(v)]
        idx = np.searchsorted(np.asarray(self.edges, dtype=np.float64), present, side="left")
        inner = np.bincount(idx, minlength=len(self.edges) + 1)
        return np.concatenate([inner, [len(v) - len(present)]]).astype(np.int64)

    def distribution(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Shares of `values` in this profile's bins (all zero for no values)."""
        return shares(self.counts(values))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `from_dict` restores an equal profile."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "shares": list(self.shares),
            "seen": list(self.seen),
            "seen_shares": list(self.seen_shares),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a profile written by `to_dict`."""
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            n=int(data["n"]),
            edges=tuple(float(x) for x in data.get("edges", ())),
            levels=tuple(str(x) for x in data.get("levels", ())),
            shares=tuple(float(x) for x in data["shares"]),
            seen=tuple(str(x) for x in data.get("seen", ())),
            seen_shares=tuple(float(x) for x in data.get("seen_shares", ())),
        )


def profile(
    name: str,
    kind: Kind,
    values: pd.Series | np.ndarray,
    *,
    levels: tuple[str, ...] | None = None,
) -> Profile:
    """Learn the bins of one reference distribution and its shares in them.

    A categorical's bins are `levels` when given (the spec's), else every level seen.
    """
    if kind == "categorical":
        counts = as_text(values).dropna().value_counts()
        ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[:MAX_LEVELS]
        seen = tuple(str(level) for level, _ in ordered)
        seen_shares = tuple(float(count) / max(len(values), 1) for _, count in ordered)
        named = seen if levels is None else tuple(levels)
        binned = Profile(name, kind, (), 0, levels=named)
        shares = tuple(float(s) for s in binned.distribution(values))
        return Profile(
            name, kind, shares, len(values), levels=named, seen=seen, seen_shares=seen_shares
        )
    v = as_float(values, name)
    present = v[~np.isnan(v)]
    edges: tuple[float, ...] = ()
    if present.size:
        quantiles = np.quantile(present, np.arange(1, NUMERIC_BINS) / NUMERIC_BINS)
        edges = tuple(float(x) for x in np.unique(quantiles))
    binned = Profile(name, kind, (), 0, edges=edges)
    shares = tuple(float(s) for s in binned.distribution(values))
    return Profile(name, kind, shares, len(values), edges=binned.edges, levels=binned.levels)


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts per bin as shares of their total (all zero when there are none). Counts add
    up over parts of the data, so the shares of summed counts are the whole data's."""
    counts = np.asarray(counts)
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def psi(reference: np.ndarray, current: np.ndarray, *, eps: float = EPSILON) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(reference, dtype=np.float64), eps)
    a = np.maximum(np.asarray(current, dtype=np.float64), eps)
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def status(value: float, alert: float = PSI_ALERT) -> Status:
    """'stable' below 0.1, 'watch' up to the alert threshold, 'alert' at or above it."""
    if value >= alert:
        return "alert"
    return "watch" if value >= PSI_WATCH else "stable"


@dataclass(frozen=True)
class Reference:
    """The training distribution stored with a model."""

    features: tuple[Profile, ...]
    score: Profile
    window: dict[str, str] = field(default_factory=dict)
    """First and last cutoff of the leads the feature profiles describe."""

    def feature(self, name: str) -> Profile:
        """The profile of feature `name` (KeyError when absent)."""
        for p in self.features:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, stored as `Bundle.extra["drift_reference"]`."""
        return {
            "version": PROFILE_VERSION,
            "window": dict(self.window),
            "score": self.score.to_dict(),
            "features": [p.to_dict() for p in self.features],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        """Rebuild a reference written by `to_dict`."""
        if data.get("version") != PROFILE_VERSION:
            raise LeadmlError(
                f"unsupported drift reference version {data.get('version')!r}; "
                f"expected {PROFILE_VERSION}. Retrain the model with this leadml version."
            )
        return cls(
            features=tuple(Profile.from_dict(p) for p in data["features"]),
            score=Profile.from_dict(data["score"]),
            window={str(k): str(v) for k, v in data.get("window", {}).items()},
        )


def build_reference(
    raw_train: pd.DataFrame,
    spec: FeatureSpec,
    score_probability: np.ndarray,
    *,
    window: dict[str, str] | None = None,
) -> Reference:
    """Profile every spec feature of the training rows and the held-out score distribution."""
    missing = [c.name for c in spec.columns if c.name not in raw_train.columns]
    if missing:
        raise LeadmlError(f"cannot profile the training data: no column {missing[0]!r}")
    features = tuple(
        profile(c.name, c.kind, raw_train[c.name], levels=_named_levels(c.levels))
        if c.kind == "categorical"
        else profile(c.name, c.kind, raw_train[c.name])
        for c in spec.columns
    )
    score = profile(SCORE, "numeric", np.asarray(score_probability, dtype=np.float64))
    return Reference(features=features, score=score, window=dict(window or {}))


def _named_levels(levels: tuple[str, ...]) -> tuple[str, ...]:
    """The spec levels that stand for themselves (not the long tail's shared 'other')."""
    return tuple(level for level in levels if level != OTHER_LEVEL)


def as_text(values: pd.Series | np.ndarray) -> pd.Series:
    """Values as an object Series of str, missing as None/NaN."""
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    series = series.astype(object)
    return series.where(series.isna(), series.astype(str))


def as_float(values: pd.Series | np.ndarray, name: str) -> np.ndarray:
    try:
        if isinstance(values, pd.Series):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LeadmlError(f"feature {name!r} is not numeric: {exc}") from exc


def _short(x: float) -> str:
    return f"{x:.4g}"
