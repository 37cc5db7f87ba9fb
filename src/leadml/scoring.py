"""The Scorer: bundle -> features -> probability, score, grade and reasons.

Every path that turns leads into scores goes through this class: the training
pipeline's evaluation of a champion, batch scoring, the API and the notebooks.
It calls the same feature functions as training, with the bundle's spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle, grades_from_probability, scores_from_probability
from leadml.config import LabelConfig
from leadml.explain import contributions, reasons
from leadml.features.build import build_features
from leadml.features.spec import encode
from leadml.labels import cutoffs as label_cutoffs

STAGE_NAMES = (schema.NO_STAGE, *schema.STAGES)


@dataclass(frozen=True)
class Scored:
    """Scores for a set of leads (index lead_id, input order) and the warnings raised."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


class Scorer:
    """Scores leads with one bundle. Stateless between calls, so it is safe to share."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @property
    def model_version(self) -> str:
        return self.bundle.version or "unregistered"

    def cutoff_for(self, leads: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Series:
        """Each lead's scoring moment: `as_of` for all, or the bundle's training cutoff."""
        if as_of is None:
            return label_cutoffs(leads, self.bundle.labels)
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        snapshot = LabelConfig(
            observation_days=self.bundle.labels.observation_days,
            window_days=self.bundle.labels.window_days,
            snapshot=stamp.to_pydatetime(),
        )
        return label_cutoffs(leads, snapshot)

    def raw_features(
        self, leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series
    ) -> pd.DataFrame:
        """The unencoded feature frame, built by the same code as training."""
        return build_features(
            leads.loc[leads[schema.LEAD_ID].isin(cutoff.index)],
            events,
            cutoff,
            self.bundle.spec.config,
        )

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds from the booster."""
        return np.asarray(self.bundle.booster.predict(X, raw_score=True), dtype=np.float64)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability from the raw score, through the bundle's calibration map."""
        return self.bundle.calibrator.apply(raw)

    def score(
        self,
        leads: pd.DataFrame,
        events: pd.DataFrame,
        *,
        cutoff: pd.Series | None = None,
        as_of: pd.Timestamp | None = None,
        explain: bool = True,
        top_k: int = 3,
    ) -> Scored:
        """Score leads as of their cutoff (explicit, `as_of`, or the bundle's own)."""
        if cutoff is None:
            cutoff = self.cutoff_for(leads, as_of)
        raw = self.raw_features(leads, events, cutoff)
        return self.score_features(raw, explain=explain, top_k=top_k)

    def score_features(self, raw: pd.DataFrame, *, explain: bool = True, top_k: int = 3) -> Scored:
        """Score an already-built raw feature frame (index lead_id)."""
        X, warnings = encode(raw, self.bundle.spec)
        if len(X) == 0:
            return Scored(_empty_frame(raw.index, explain), warnings)
        raw_score = self.raw_score(X)
        p = self.probability(raw_score)
        frame = pd.DataFrame(
            {
                "probability": p,
                "score": scores_from_probability(p, self.bundle.score_quantiles),
                "grade": grades_from_probability(p, self.bundle.grade_thresholds),
                "raw_score": raw_score,
                "stage": stage_names(raw),
                "model_version": self.model_version,
            },
            index=raw.index,
        )
        if explain:
            contrib = contributions(self.bundle.booster, X)
            explained = reasons(contrib, raw, p, self.bundle.spec, top_k=top_k)
            frame["reasons"] = pd.Series(explained, index=frame.index, dtype=object)
        return Scored(frame, warnings)


def _empty_frame(index: pd.Index, explain: bool) -> pd.DataFrame:
    columns = ["probability", "score", "grade", "raw_score", "stage", "model_version"]
    return pd.DataFrame(columns=columns + (["reasons"] if explain else []), index=index)


def stage_names(raw: pd.DataFrame) -> np.ndarray:
    """Funnel stage names (none/IQL/MQL/SQL/PQL) from a raw feature frame's stage_reached."""
    if "stage_reached" not in raw:
        return np.full(len(raw), schema.NO_STAGE, dtype=object)
    codes = raw["stage_reached"].fillna(0).to_numpy(dtype=np.int64)
    return np.asarray(STAGE_NAMES, dtype=object)[codes]
