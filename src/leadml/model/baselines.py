"""Two baselines the model must beat: a hand-configured points score and a logistic regression.

Both read the feature frame built by `leadml.features` and follow the scikit-learn
estimator contract: `fit` learns the trailing-underscore attributes (`classes_` = [0, 1])
and `predict_proba` returns an (n, 2) array, column 1 the probability of conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from leadml import schema
from leadml.errors import InputError
from leadml.model.calibration import Calibrator, fit_platt

COUNT_SUFFIXES: tuple[str, ...] = ("all", "90d", "30d", "7d")
"""Which count column an action rule reads: the all-time count, else the widest window."""
MISSING_LEVEL = "missing"


@dataclass(frozen=True)
class ActionRule:
    """Points per occurrence of one event type, with at most `cap` points in total."""

    event_type: str
    points: float
    cap: float


ACTION_RULES: tuple[ActionRule, ...] = (
    ActionRule("demo_request", 30, 60),
    ActionRule("quote_request", 30, 60),
    ActionRule("consultation_request", 30, 60),
    ActionRule("trial_signup", 25, 25),
    ActionRule("trial_activity", 3, 30),
    ActionRule("pricing_page_view", 10, 30),
    ActionRule("webinar_attendance", 10, 30),
    ActionRule("webinar_registration", 5, 10),
    ActionRule("whitepaper_download", 8, 24),
    ActionRule("ebook_download", 8, 24),
    ActionRule("newsletter_signup", 5, 5),
    ActionRule("email_click", 3, 15),
    ActionRule("email_open", 1, 5),
    ActionRule("page_view", 1, 15),
    ActionRule("blog_view", 1, 15),
)
UNSUBSCRIBE_POINTS = -20.0
DIRECTOR_PLUS_POINTS = 10.0
CORPORATE_EMAIL_POINTS = 5.0
TARGET_INDUSTRY_POINTS = 5.0
DEFAULT_TARGET_INDUSTRIES: tuple[str, ...] = (
    "software",
    "financial_services",
    "professional_services",
)
DIRECTOR_LEVEL = schema.SENIORITIES.index("director")
"""Seniority is ordinal 0..4 (entry..c_level); director and above earn fit points."""


class PointsScore(BaseEstimator):
    """A rule-based lead score of the kind marketing teams configure in HubSpot or Pardot.

    The points are fixed rules, not learned; `fit` only learns a Platt map from points
    to probability so log loss and ECE compare fairly with the model. Columns that are
    absent or missing score 0. Rules (counts read from `count_<event>_all`, else the
    widest window present):

    | Rule                                   | Points            | Cap          |
    |----------------------------------------|-------------------|--------------|
    | demo / quote / consultation request    | +30 each          | +60 per type |
    | trial signup                           | +25               | +25          |
    | trial activity                         | +3 each           | +30          |
    | pricing page view                      | +10 each          | +30          |
    | webinar attendance                     | +10 each          | +30          |
    | webinar registration                   | +5 each           | +10          |
    | whitepaper / ebook download            | +8 each           | +24 per type |
    | newsletter signup                      | +5                | +5           |
    | email click                            | +3 each           | +15          |
    | email open                             | +1 each           | +5           |
    | page view / blog view                  | +1 each           | +15 per type |
    | inactivity decay (activity points)     | -5 per full 7 days since the last event, floor 0 |
    | unsubscribed                           | -20 (once)        |              |
    | seniority director, VP or C-level      | +10               |              |
    | corporate email domain                 | +5                |              |
    | target industry                        | +5                |              |

    points = max(activity - decay, 0) + fit points + unsubscribe penalty.
    """

    def __init__(
        self,
        *,
        target_industries: tuple[str, ...] = DEFAULT_TARGET_INDUSTRIES,
        decay_points: float = 5.0,
        decay_every_days: float = 7.0,
    ) -> None:
        self.target_industries = target_industries
        self.decay_points = decay_points
        self.decay_every_days = decay_every_days

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """The raw points per lead (no fitting needed: the rules are fixed)."""
        n = len(X)
        activity = np.zeros(n)
        for rule in ACTION_RULES:
            count = _first_column(X, [f"count_{rule.event_type}_{s}" for s in COUNT_SUFFIXES])
            activity += np.minimum(np.clip(count, 0, None) * rule.points, rule.cap)
        days_since_last = self._days_since_last_event(X)
        periods = np.floor(np.nan_to_num(days_since_last, nan=0.0) / self.decay_every_days)
        decayed = np.maximum(activity - self.decay_points * np.clip(periods, 0, None), 0.0)

        unsubscribed = _first_column(X, [f"count_unsubscribe_{s}" for s in COUNT_SUFFIXES]) > 0
        fit = DIRECTOR_PLUS_POINTS * (_numeric(X, "seniority") >= DIRECTOR_LEVEL)
        fit += CORPORATE_EMAIL_POINTS * (_numeric(X, "is_corporate_email") > 0)
        if "industry" in X.columns:
            industry = X["industry"].astype(object).where(X["industry"].notna(), "")
            fit += TARGET_INDUSTRY_POINTS * industry.isin(self.target_industries).to_numpy()
        return decayed + fit + UNSUBSCRIBE_POINTS * unsubscribed

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PointsScore:
        """Learn the Platt map from points to probability (pass the validation window)."""
        self.calibrator_: Calibrator = fit_platt(self.points(X), np.asarray(y))
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 2): P(not converting), P(converting) from the points via the Platt map."""
        check_is_fitted(self, "calibrator_")
        p = self.calibrator_.apply(self.points(X))
        return np.column_stack([1.0 - p, p])

    @staticmethod
    def _days_since_last_event(X: pd.DataFrame) -> np.ndarray:
        """Days since the most recent event of any type (NaN when the lead has none)."""
        cols = [f"days_since_last_{e}" for e in schema.EVENT_TYPES]
        present = [c for c in cols if c in X.columns]
        if not present:
            return np.full(len(X), np.nan)
        values = np.column_stack([_numeric(X, c) for c in present])
        all_nan = np.isnan(values).all(axis=1)
        out = np.full(len(X), np.nan)
        out[~all_nan] = np.nanmin(values[~all_nan], axis=1)
        return out


class LogisticBaseline(BaseEstimator):
    """Logistic regression on the feature frame: impute, scale, one-hot, then fit.

    Numeric and boolean columns get median imputation with missing indicators and
    scaling; text and category columns get one-hot levels (rare ones pooled, unseen
    ones ignored). Identifier, contact and datetime columns are never used.
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        max_iter: int = 2000,
        min_frequency: int = 20,
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.min_frequency = min_frequency
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        """Split columns by dtype, build and fit the pipeline."""
        usable = [c for c in X.columns if _usable(X[c])]
        self.numeric_features_ = [c for c in usable if _is_numeric(X[c])]
        self.categorical_features_ = [c for c in usable if not _is_numeric(X[c])]
        if not usable:
            raise InputError("no usable feature columns", expected="a feature frame")
        self.pipeline_: Pipeline = self._build()
        self.pipeline_.fit(X[usable], np.asarray(y).astype(np.int64))
        self.classes_: np.ndarray = self.pipeline_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 2): P(not converting), P(converting), columns in `classes_` order."""
        check_is_fitted(self, "pipeline_")
        needed = [*self.numeric_features_, *self.categorical_features_]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise InputError(
                "feature columns missing", column=missing[0], value=missing, expected="as in fit"
            )
        proba: np.ndarray = self.pipeline_.predict_proba(X[needed])
        return proba

    def _build(self) -> Pipeline:
        """The unfitted pipeline for the columns found in fit."""
        numeric = make_pipeline(
            FunctionTransformer(_as_float, feature_names_out="one-to-one"),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        categorical = make_pipeline(
            FunctionTransformer(_as_text, feature_names_out="one-to-one"),
            OneHotEncoder(handle_unknown="ignore", min_frequency=self.min_frequency),
        )
        columns = ColumnTransformer(
            [
                ("numeric", numeric, self.numeric_features_),
                ("categorical", categorical, self.categorical_features_),
            ]
        )
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        return Pipeline([("columns", columns), ("model", model)])


def _first_column(X: pd.DataFrame, candidates: list[str]) -> np.ndarray:
    """Values of the first candidate column present (NaN -> 0), else zeros."""
    for col in candidates:
        if col in X.columns:
            return np.nan_to_num(_numeric(X, col), nan=0.0)
    return np.zeros(len(X))


def _numeric(X: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float64 with NaN for missing; NaN everywhere if absent."""
    if col not in X.columns:
        return np.full(len(X), np.nan)
    s = X[col]
    if not _is_numeric(s):
        s = pd.to_numeric(s.astype(object), errors="coerce")
    return np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan))


def _is_numeric(s: pd.Series) -> bool:
    """Numbers and booleans (incl. nullable ones); category dtype counts as text."""
    return pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)


def _usable(s: pd.Series) -> bool:
    """Not an identifier, contact detail or timestamp."""
    never = {schema.LEAD_ID, *schema.PII_COLUMNS, schema.CONVERTED_AT}
    return s.name not in never and not pd.api.types.is_datetime64_any_dtype(s)


def _as_float(X: pd.DataFrame) -> np.ndarray:
    """Numeric frame (nullable ints/booleans included) as float64 with NaN."""
    if not len(X.columns):
        return np.empty((len(X), 0))
    return np.column_stack([_numeric(X, c) for c in X.columns])


def _as_text(X: pd.DataFrame) -> Any:
    """Categoricals as object strings, NaN as an explicit 'missing' level."""
    out = X.astype(object)
    return out.where(X.notna(), MISSING_LEVEL).astype(str).astype(object)
