"""The Scorer: bundle -> features -> probability, score, grade and reasons.

Every path that turns leads into scores goes through this class: the training
pipeline's evaluation of a champion, batch scoring, the API and the notebooks.
It calls the same feature functions as training, with the bundle's spec.

Two entry points share everything after the inputs:

- `score` / `score_features` take pandas frames (files, notebooks, batch scoring);
- `score_columns` takes plain column arrays (the API: one lead without pandas overhead).

Both build features with `features.build.feature_columns` (which `build_features` wraps),
encode with `features.spec.encode_columns`, and finish in `_finish`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle, grades_from_probability, scores_from_probability
from leadml.config import FeatureConfig, LabelConfig
from leadml.data.mapping.config import DatasetConfig as DatasetConfig
from leadml.errors import InputError
from leadml.explain.reasons import Explainer
from leadml.features.build import build_features, feature_columns
from leadml.features.build import warm_up as warm_up_features
from leadml.features.flat import flat_columns, flat_features, value_text
from leadml.features.kernels import NEVER
from leadml.features.spec import LONG_TAIL, OTHER, FeatureSpec, encode_columns
from leadml.model.labels import cutoffs as label_cutoffs
from leadml.warning_lines import LeadCount

STAGE_NAMES = (schema.NO_STAGE, *schema.STAGES)

MAX_EVENT_AGE_NS = (int(NEVER) - 1) * 10**9
"""The oldest event age the engagement features tell apart (about 136 years): an older
event counts as exactly that old, so callers warn about one."""


@dataclass(frozen=True)
class Scored:
    """Scores for a set of leads (index lead_id, input order) and the warnings raised."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScoredColumns:
    """Scores for leads given as column arrays, in input order."""

    probability: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    raw_score: np.ndarray
    stage: np.ndarray
    reasons: list[dict[str, list[dict[str, Any]]]] | None
    warnings: list[str] = field(default_factory=list)


class MatrixScores(NamedTuple):
    """A model matrix scored by a bundle: log-odds and calibrated probability per row."""

    raw_score: np.ndarray
    probability: np.ndarray


def raw_from_matrix(bundle: Bundle, X: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Uncalibrated log-odds of the encoded model matrix (numpy, or `spec.encode`'s frame)."""
    return np.asarray(bundle.booster.predict(X, raw_score=True, num_threads=1), dtype=np.float64)


def probability_from_matrix(bundle: Bundle, X: np.ndarray | pd.DataFrame) -> MatrixScores:
    """The one bundle -> probability step: booster log-odds, then the calibration map.

    The Scorer and training's test-window evaluation both call it, so the probabilities a
    model is judged on are the ones it serves."""
    raw = raw_from_matrix(bundle, X)
    return MatrixScores(raw, bundle.calibrator.apply(raw))


class Scorer:
    """Scores leads with one bundle. Stateless between calls, so it is safe to share."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @cached_property
    def explainer(self) -> Explainer:
        """The bundle's TreeSHAP and field map, built on first use and then shared."""
        return Explainer(self.bundle)

    @property
    def model_version(self) -> str:
        return self.bundle.version or "unregistered"

    def warm_up(self) -> None:
        """Load the compiled feature loops this bundle's features run (see `warm_up`)."""
        warm_up(self.bundle.spec.config)

    def cutoff_for(self, leads: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Series:
        """Each lead's scoring moment: `as_of` for all; without it, now for a model trained on
        snapshots (every age), else the bundle's one training cutoff (created + observation)."""
        if as_of is None:
            if not self.bundle.labels.uses_snapshots:
                return label_cutoffs(leads, self.bundle.labels)
            as_of = pd.Timestamp.now(tz="UTC")  # trained across ages: score as of now
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        snapshot = LabelConfig(
            observation_days=self.bundle.labels.observation_days,
            window_days=self.bundle.labels.window_days,
            snapshot=stamp.to_pydatetime(),
        )
        return label_cutoffs(leads, snapshot)

    def age_warnings(self, leads: pd.DataFrame, cutoff: pd.Series) -> list[str]:
        """One line when leads are older at their cutoff than any lead the model was trained
        on (snapshot models record that age); the trees then score them as that age."""
        oldest = self.bundle.max_age_days
        if oldest is None or cutoff.empty:
            return []
        created = pd.Series(leads[schema.CREATED_AT].array, index=leads[schema.LEAD_ID])
        age = (cutoff - created.reindex(cutoff.index)).dt.total_seconds() / 86_400
        older = int((age > oldest).sum())
        if not older:
            return []
        return [
            LeadCount(
                "{n} leads are older than any lead the model was trained on "
                f"({oldest:,} days): they are scored as leads of that age",
                older,
            )
        ]

    @staticmethod
    def event_age_warnings(events: pd.DataFrame, cutoff: pd.Series) -> list[str]:
        """One line when events lie further before their lead's cutoff than the engagement
        features tell apart (`MAX_EVENT_AGE_NS`, about 136 years): they count as that old.
        The API's request path says the same per lead (`leadml_serve.convert`)."""
        if events.empty or cutoff.empty:
            return []
        limit = pd.Timedelta(MAX_EVENT_AGE_NS, "ns")
        at = events[schema.OCCURRED_AT]
        if not (at < cutoff.max() - limit).any():  # the common case, without a join
            return []
        cut = events[schema.LEAD_ID].map(cutoff)
        ancient = int(((cut - at) > limit).sum())
        if not ancient:
            return []
        years = MAX_EVENT_AGE_NS // (86_400 * 10**9 * 365)
        return [
            LeadCount(
                f"{{n}} event(s) more than {years} years before their lead's scoring moment: "
                f"counted as {years} years old (check occurred_at in the events file)",
                ancient,
            )
        ]

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

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds from the booster (X: the encoded model matrix)."""
        return raw_from_matrix(self.bundle, X)

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
        """Score leads as of their cutoff (explicit, `as_of`, or the bundle's own).

        A flat model takes `leads` as export rows (index the lead id) and ignores `events`,
        `cutoff` and `as_of`: the export's columns are already as of its date."""
        if self.bundle.flat is not None:  # a flat export: one row per lead, no events
            return self.score_features(self.flat_features(leads), explain=explain, top_k=top_k)
        if cutoff is None:
            cutoff = self.cutoff_for(leads, as_of)
        raw = self.raw_features(leads, events, cutoff)
        return self.score_features(raw, explain=explain, top_k=top_k)

    def score_features(self, raw: pd.DataFrame, *, explain: bool = True, top_k: int = 3) -> Scored:
        """Score an already-built raw feature frame (index lead_id)."""
        if len(raw) == 0:
            return Scored(_empty_frame(raw.index, explain))
        columns = {name: raw[name].to_numpy() for name in raw.columns}
        result = self._finish(columns, explain=explain, top_k=top_k)
        frame = pd.DataFrame(
            {
                "probability": result.probability,
                "score": result.score,
                "grade": result.grade,
                "raw_score": result.raw_score,
                "stage": result.stage,
                "model_version": self.model_version,
            },
            index=raw.index,
        )
        if result.reasons is not None:
            frame["reasons"] = pd.Series(result.reasons, index=frame.index, dtype=object)
        return Scored(frame, result.warnings)

    def score_columns(
        self,
        leads: Mapping[str, Sequence[Any] | np.ndarray],
        events: Mapping[str, Sequence[Any] | np.ndarray],
        cutoff: np.ndarray,
        *,
        explain: bool = True,
        top_k: int = 3,
    ) -> ScoredColumns:
        """Score leads given as columns (see `features.build.feature_columns`) at `cutoff`
        (datetime64[ns] UTC, one per lead). The API's path: no pandas on the way."""
        if self.bundle.flat is not None:  # a flat model: the row's fields, no events
            raw = flat_columns(leads, self.bundle.flat)
        else:
            raw = feature_columns(leads, events, cutoff, self.bundle.spec.config)
        return self._finish(raw, explain=explain, top_k=top_k)

    def flat_features(self, rows: pd.DataFrame) -> pd.DataFrame:
        """A flat model's raw features of export rows (`mapping.read_flat`'s frame, index
        the lead id), built by the same `features.flat` code as training."""
        if self.bundle.flat is None:
            raise InputError(
                "this model was trained on leads and events, not on a flat export",
                expected="a leads + events folder",
            )
        return flat_features(rows, self.bundle.flat)

    def _finish(self, raw: Mapping[str, np.ndarray], *, explain: bool, top_k: int) -> ScoredColumns:
        """Encode raw feature columns and turn them into probability, score, grade, reasons."""
        X, warnings = encode_columns(raw, self.bundle.spec)
        raw_score, p = probability_from_matrix(self.bundle, X)
        explained = None
        if explain and len(p):
            explained = self.explainer.explain(X, raw, p, top_k=top_k)
        return ScoredColumns(
            probability=p,
            score=scores_from_probability(p, self.bundle.score_quantiles),
            grade=grades_from_probability(p, self.bundle.grade_thresholds),
            raw_score=raw_score,
            stage=stage_names(raw),
            reasons=explained if explain else None,
            warnings=warnings,
        )


def _empty_frame(index: pd.Index, explain: bool) -> pd.DataFrame:
    columns = ["probability", "score", "grade", "raw_score", "stage", "model_version"]
    return pd.DataFrame(columns=columns + (["reasons"] if explain else []), index=index)


def stage_names(raw: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Funnel stage names (none/IQL/MQL/SQL/PQL) from raw features' stage_reached."""
    if "stage_reached" not in raw:
        n = len(raw) if isinstance(raw, pd.DataFrame) else len(next(iter(raw.values()), ()))
        return np.full(n, schema.NO_STAGE, dtype=object)
    reached = np.asarray(raw["stage_reached"], dtype=np.float64)
    codes = np.nan_to_num(reached, nan=0.0).astype(np.int64)
    return np.asarray(STAGE_NAMES, dtype=object)[codes]


# --- serving's door to the feature code ---------------------------------------------------
# serve/ reaches the model only through the Scorer, the bundle and registry loading. What it
# needs from features/ is here: the warm-up, the spec's categories, a flat value's text, and
# the bundle parts' types (`FeatureSpec`, `DatasetConfig`) for its signatures.


def warm_up(config: FeatureConfig) -> None:
    """Load the feature code's compiled loops now: numba's own start-up costs about half a
    second on the first call in a process, which a server pays before it takes requests."""
    warm_up_features(config)


@dataclass(frozen=True)
class Category:
    """A categorical model input, as a request for it is checked and documented."""

    levels: frozenset[str]
    """Every value the model codes as itself ('unknown' included)."""
    known: tuple[str, ...]
    """The learned values to show a caller, in code order (no 'unknown', no 'other')."""
    long_tail: bool
    """Unseen values quietly share the long tail's 'other' level (campaign) instead of being
    scored as unknown with a warning."""


def categories(spec: FeatureSpec) -> dict[str, Category]:
    """The categorical inputs of a bundle's spec by column name, in model order."""
    return {
        c.name: Category(
            frozenset(c.levels),
            tuple(v for v in c.levels if v not in (schema.UNKNOWN, OTHER)),
            c.name in LONG_TAIL,
        )
        for c in spec.columns
        if c.kind == "categorical"
    }


def export_text(value: Any) -> str | None:
    """A flat export's value as text, the way the file path reads it (7.0 -> "7")."""
    return value_text(value)
