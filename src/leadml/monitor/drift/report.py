"""Comparing a current population with a reference: PSI table, level changes, unseen
sources and calibration on recent outcomes (see `leadml.monitor.drift`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml import schema
from leadml.features.spec import FeatureSpec
from leadml.monitor.drift.profiles import (
    GONE_MIN_SHARE,
    PSI_ALERT,
    PSI_WATCH,
    SCORE,
    Profile,
    Reference,
    as_text,
    psi,
    status,
)


@dataclass(frozen=True)
class Calibration:
    """Calibration on current leads whose outcome window has closed."""

    n: int
    positives: int
    observed_rate: float
    mean_predicted: float
    ece: float
    brier: float
    roc_auc: float
    table: pd.DataFrame
    """The current leads in the ECE's equal-width probability bins (those holding leads):
    n, share, mean predicted, observed rate and gap (see `reliability_table`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the table)."""
        return {
            "n": self.n,
            "positives": self.positives,
            "observed_rate": _finite(self.observed_rate),
            "mean_predicted": _finite(self.mean_predicted),
            "ece": _finite(self.ece),
            "brier": _finite(self.brier),
            "roc_auc": _finite(self.roc_auc),
        }


def calibration_check(y: np.ndarray, p: np.ndarray) -> Calibration | None:
    """ECE, Brier, AUC and a reliability table for labelled leads; None without labels."""
    from sklearn.metrics import roc_auc_score

    from leadml.model.evaluate import expected_calibration_error

    yv = np.asarray(y, dtype=np.float64)
    pv = np.asarray(p, dtype=np.float64)
    if len(yv) == 0:
        return None
    positives = int(yv.sum())
    return Calibration(
        n=len(yv),
        positives=positives,
        observed_rate=float(yv.mean()),
        mean_predicted=float(pv.mean()),
        ece=expected_calibration_error(yv, pv),
        brier=float(np.mean((pv - yv) ** 2)),
        roc_auc=float(roc_auc_score(yv, pv)) if 0 < positives < len(yv) else math.nan,
        table=reliability_table(yv, pv),
    )


def reliability_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """The ECE's own equal-width bins (`evaluate.calibration_bins`) that hold leads: n,
    share of leads, mean predicted, observed rate and gap. The ECE is sum(share * |gap|)."""
    from leadml.model.evaluate import calibration_bins

    binned = calibration_bins(y, p)
    seen = binned.seen
    count = binned.count[seen]
    mean_predicted = binned.probability_sum[seen] / count
    observed_rate = binned.positives[seen] / count
    edges = binned.edges
    labels = [
        f"{lo:.0%}-{hi:.0%}" for lo, hi in zip(edges[:-1][seen], edges[1:][seen], strict=True)
    ]
    return pd.DataFrame(
        {
            "n": count,
            "share": count / binned.count.sum(),
            "mean_predicted": mean_predicted,
            "observed_rate": observed_rate,
            "gap": observed_rate - mean_predicted,
        },
        index=pd.Index(labels, name="predicted_probability"),
    )


@dataclass(frozen=True)
class Current:
    """The current population: raw features and calibrated probability per lead."""

    raw: pd.DataFrame
    probability: np.ndarray
    labels: pd.Series | None
    """0/1 outcome of leads whose window has closed (index lead_id); None without outcomes."""
    counts: dict[str, int]
    """How the current leads were counted: total, scored and each exclusion."""


def compare(
    reference: Reference,
    current: Current,
    spec: FeatureSpec,
    *,
    alert: float = PSI_ALERT,
    model: str = "",
) -> DriftReport:
    """PSI per feature and for the score, level changes, unseen sources and calibration."""
    rows: list[dict[str, Any]] = []
    distributions: dict[str, pd.DataFrame] = {}
    level_rows: list[dict[str, Any]] = []
    targets: list[tuple[Profile, str, str, pd.Series | np.ndarray]] = [
        (reference.score, "score", "model", current.probability)
    ]
    for column in spec.columns:
        ref = reference.feature(column.name)
        targets.append((ref, column.field, column.family, current.raw[column.name]))
    for ref, field_name, family, values in targets:
        row, distributions[ref.name] = _psi_row(ref, field_name, family, values, alert)
        rows.append(row)
        if ref.kind == "categorical":
            level_rows += _level_changes(ref.name, ref, values)
    table = pd.DataFrame(rows).set_index("feature")
    table = table.sort_values("psi", ascending=False, kind="stable")
    levels = pd.DataFrame(
        level_rows, columns=["feature", "change", "level", "reference_share", "current_share"]
    )
    unseen = _unseen_sources(current.raw, spec)
    n = max(len(current.raw), 1)
    calibration = None
    if current.labels is not None:
        p = pd.Series(current.probability, index=current.raw.index).reindex(current.labels.index)
        calibration = calibration_check(current.labels.to_numpy(), p.to_numpy())
    return DriftReport(
        model=model,
        alert_threshold=alert,
        psi=table,
        levels=levels,
        distributions=distributions,
        unseen_sources=unseen,
        unseen_source_share=float(sum(unseen.values()) / n) if len(current.raw) else 0.0,
        calibration=calibration,
        counts=dict(current.counts),
        reference_window=dict(reference.window),
    )


def _psi_row(
    ref: Profile, field_name: str, family: str, values: pd.Series | np.ndarray, alert: float
) -> tuple[dict[str, Any], pd.DataFrame]:
    """One feature's (or the score's) PSI table row, and its reference and current shares
    per bin."""
    now = ref.distribution(values)
    before = np.asarray(ref.shares)
    value = psi(before, now)
    labels = ref.bin_labels()
    distribution = pd.DataFrame(
        {"reference": before, "current": now}, index=pd.Index(labels, name="bin")
    )
    biggest = int(np.argmax(np.abs(now - before)))
    row = {
        "feature": ref.name,
        "field": field_name,
        "family": family,
        "kind": ref.kind,
        "psi": value,
        "status": status(value, alert),
        "largest_change": f"{labels[biggest]}: {before[biggest]:.1%} -> {now[biggest]:.1%}",
    }
    return row, distribution


@dataclass(frozen=True)
class DriftReport:
    """Everything `leadml drift` prints, plots and logs."""

    model: str
    alert_threshold: float
    psi: pd.DataFrame
    """Index feature ('score' included); field, family, kind, psi, status, largest_change.
    Sorted by PSI, largest first."""
    levels: pd.DataFrame
    """Categorical levels that are new (absent from the reference) or gone (absent now)."""
    distributions: dict[str, pd.DataFrame]
    """Per feature: reference and current share in each bin."""
    unseen_sources: dict[str, int]
    """Lead sources the model never saw in training, with their current lead counts."""
    unseen_source_share: float
    calibration: Calibration | None
    counts: dict[str, int]
    reference_window: dict[str, str] = field(default_factory=dict)

    @property
    def score_psi(self) -> float:
        """PSI of the calibrated probability."""
        return float(self.psi["psi"].get(SCORE, 0.0))

    @property
    def max_psi(self) -> float:
        """The largest PSI of any feature or the score."""
        return float(self.psi["psi"].max()) if len(self.psi) else 0.0

    @property
    def alerts(self) -> list[str]:
        """Features (and 'score') whose PSI reaches the alert threshold."""
        return [str(name) for name in self.psi.index[self.psi["psi"] >= self.alert_threshold]]

    @property
    def alert(self) -> bool:
        """True when any PSI reaches the alert threshold (the CLI then exits 2)."""
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary: the whole PSI table, level changes and calibration."""
        return {
            "model": self.model,
            "alert_threshold": self.alert_threshold,
            "watch_threshold": PSI_WATCH,
            "alert": self.alert,
            "alerts": self.alerts,
            "max_psi": self.max_psi,
            "score_psi": self.score_psi,
            "unseen_source_share": self.unseen_source_share,
            "unseen_sources": dict(self.unseen_sources),
            "counts": dict(self.counts),
            "reference_window": dict(self.reference_window),
            "psi": {
                str(name): {"psi": float(row["psi"]), "status": str(row["status"])}
                for name, row in self.psi.iterrows()
            },
            "levels": self.levels.to_dict(orient="records"),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for MLflow (psi.<feature>, psi.max, shares, calibration)."""
        out = {f"psi.{name}": float(v) for name, v in self.psi["psi"].items()}
        out |= {
            "psi.max": self.max_psi,
            "alerts": float(len(self.alerts)),
            "unseen_source_share": self.unseen_source_share,
            "leads.current": float(self.counts.get("scored", 0)),
        }
        if self.calibration is not None:
            cal = self.calibration.to_dict()
            out |= {f"calibration.{k}": float(v) for k, v in cal.items() if v is not None}
        return out


def _level_changes(name: str, ref: Profile, values: pd.Series | np.ndarray) -> list[dict[str, Any]]:
    text = as_text(values).dropna()
    shares = text.value_counts(normalize=True) if len(text) else pd.Series(dtype="float64")
    total = len(values) or 1
    counts = text.value_counts()
    known = set(ref.seen)
    out = [
        {
            "feature": name,
            "change": "new",
            "level": str(level),
            "reference_share": 0.0,
            "current_share": float(count / total),
        }
        for level, count in counts.items()
        if str(level) not in known
    ]
    for level, share in zip(ref.seen, ref.seen_shares, strict=True):
        if share >= GONE_MIN_SHARE and shares.get(level, 0.0) == 0.0:
            out.append(
                {
                    "feature": name,
                    "change": "gone",
                    "level": level,
                    "reference_share": float(share),
                    "current_share": 0.0,
                }
            )
    return out


def _unseen_sources(raw: pd.DataFrame, spec: FeatureSpec) -> dict[str, int]:
    """Current lead sources that are not among the model's learned levels."""
    try:
        known = set(spec.column(schema.LEAD_SOURCE).levels) - {schema.UNKNOWN}
    except KeyError:
        return {}
    source = as_text(raw[schema.LEAD_SOURCE]).dropna()
    unseen = source[~source.isin(known)]
    return {str(k): int(v) for k, v in unseen.value_counts().items()}


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
