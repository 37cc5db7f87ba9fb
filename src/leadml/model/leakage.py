"""A guard against label leakage: refuse columns that predict the outcome too well.

A feature computed as of the cutoff should never, on its own, separate converters
from the rest almost perfectly. When one does, it almost always carries information
recorded after the outcome (a status, a close date, a post-sale event). Training
refuses such columns loudly unless they are explicitly allowed in the config.

leadml's own event features are checked by single-column AUC (`refuse_leaks`). A flat
CRM export's columns were filled by people and tools at unknown times, so `guard`
checks them by three rules, each with its evidence:

- auc: alone the column reaches ROC AUC >= 0.90 or <= 0.10;
- missingness: it is missing far more often for one class than for the other
  (e.g. filled only for converted leads): shares differ by >= 0.40;
- outcome name or values: the name or its values look like an outcome or post-contact
  field (status, stage, tags, quality, won, closed, lost, reason, duration, last
  activity, close date, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadml.errors import LeakageError

AUC_HIGH = 0.90
AUC_LOW = 0.10
MISSING_GAP: Final = 0.40
"""Flag a column whose missing share differs by this much between the classes."""
OUTCOME_NAME_WORDS: Final = frozenset(
    {"status", "stage", "tag", "tags", "quality", "won", "closed", "lost", "reason",
     "duration", "outcome", "result", "disposition", "converted", "conversion", "churn",
     "churned", "deal", "opportunity", "closing"}
)  # fmt: skip
OUTCOME_NAME_PHRASES: Final = (
    "last activity", "last action", "last contact", "last touch", "close date",
    "closed date", "closed at", "won date", "lost date", "call length", "talk time",
)  # fmt: skip
OUTCOME_VALUE_PATTERN: Final = re.compile(
    r"\b(closed[ _-]?(won|lost)|won|lost|converted|disqualified|unqualified|junk|"
    r"not interested|wrong number|already a customer|lost to|closed by)\b",
    re.IGNORECASE,
)
_PREVIOUS: Final = frozenset({"previous", "prior", "prev"})
_EARLIER_OUTCOME: Final = frozenset({"outcome", "outcomes", "result", "results"})
"""'previous_outcome' / 'prior result' (bank data's poutcome) describe an earlier campaign:
only these words are exempted by a previous/prior/prev token (a 'prev_stage' still leaks)."""
_POST_CONTACT_AFTER_LAST: Final = frozenset(
    {"activity", "activities", "status", "stage", "contact", "contacted", "action", "touch",
     "call", "interaction"}
)  # fmt: skip
"""'last' with one of these (last_status, "Last Notable Activity") is recorded after contact."""
_OOF_FOLDS: Final = 5
"""Categorical level rates are computed out of fold, so a many-level noise column cannot
score its own rows (in-sample, 3,000 levels on 3,000 rows reach AUC ~0.96)."""
_VALUE_SHARE: Final = 0.01


@dataclass(frozen=True)
class LeakFlag:
    """One suspicious column and the evidence against it."""

    column: str
    rule: str
    evidence: str


def out_of_fold_rates(keys: np.ndarray, y: np.ndarray, folds: int = _OOF_FOLDS) -> np.ndarray:
    """Each row's level conversion rate learnt on the OTHER folds (fixed seed).

    A level not seen outside the row's fold gets the other folds' overall rate, so a
    column whose levels are (nearly) unique per row scores like a constant."""
    n = len(keys)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    fold = np.random.default_rng(0).permutation(n) % max(1, min(folds, n))
    codes, _ = pd.factorize(keys)
    n_levels = int(codes.max()) + 1
    for k in np.unique(fold):
        inside = fold == k
        outside = ~inside
        if not outside.any():  # one row only: nothing to learn from
            out[inside] = float(y.mean())
            continue
        sums = np.bincount(codes[outside], weights=y[outside], minlength=n_levels)
        counts = np.bincount(codes[outside], minlength=n_levels)
        prior = float(y[outside].mean())
        mine = codes[inside]
        seen = counts[mine] > 0
        out[inside] = np.where(seen, sums[mine] / np.maximum(counts[mine], 1), prior)
    return out


def single_column_auc(values: pd.Series, y: np.ndarray) -> float:
    """ROC AUC of one column used alone as a score (categoricals via their level rate,
    computed out of fold: see `out_of_fold_rates`)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        keys = values.astype("object").where(values.notna(), "__missing__").astype(str)
        score = out_of_fold_rates(keys.to_numpy(dtype=object), np.asarray(y, dtype=np.float64))
    else:
        score = values.to_numpy(dtype=np.float64)
        score = np.where(
            np.isnan(score), np.nanmedian(score) if np.isfinite(score).any() else 0, score
        )
    if len(np.unique(y)) < 2 or np.all(score == score[0]):
        return 0.5
    return float(roc_auc_score(y, score))


def screen(X: pd.DataFrame, y: np.ndarray) -> list[LeakFlag]:
    """Flag every column whose single-column AUC is >= 0.90 or <= 0.10."""
    flags = []
    for column in X.columns:
        auc = single_column_auc(X[column], y)
        if auc >= AUC_HIGH or auc <= AUC_LOW:
            flags.append(
                LeakFlag(
                    str(column),
                    "single-column AUC",
                    f"alone it reaches ROC AUC {auc:.3f} (limits: >= {AUC_HIGH} or <= {AUC_LOW})",
                )
            )
    return flags


def refuse_leaks(X: pd.DataFrame, y: np.ndarray, allowed: tuple[str, ...] = ()) -> list[LeakFlag]:
    """Raise LeakageError for flagged columns not in `allowed`; return the allowed flags."""
    flags = screen(X, y)
    blocked = [f for f in flags if f.column not in allowed]
    if blocked:
        lines = "\n".join(f"  - {f.column}: {f.evidence}" for f in blocked)
        raise LeakageError(
            "refusing to train: these columns look like they leak the label\n"
            f"{lines}\n"
            "Drop them from the data, or, if you are sure they are known at the cutoff, "
            'allow them in leadml.toml: [train] allow_leaky = ["column"]'
        )
    return [f for f in flags if f.column in allowed]


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def outcome_evidence(name: str, values: pd.Series | None = None) -> str | None:
    """Why a column's name or values look like an outcome or post-contact field, or None."""
    tokens = _name_tokens(name)
    joined = " ".join(tokens)
    for phrase in OUTCOME_NAME_PHRASES:
        if f" {phrase} " in f" {joined} ":
            return f"name {name!r} contains {phrase!r} (recorded after contact)"
    if "last" in tokens and set(tokens) & _POST_CONTACT_AFTER_LAST:
        return f"name {name!r} describes the last contact or status (recorded after contact)"
    hits = [t for t in tokens if t in OUTCOME_NAME_WORDS]
    if hits and set(tokens) & _PREVIOUS:  # an earlier campaign's outcome is known up front
        hits = [t for t in hits if t not in _EARLIER_OUTCOME]
    if hits:
        return f"name {name!r} contains {hits[0]!r} (looks like an outcome or post-contact field)"
    if values is None:
        return None
    present = values.dropna()
    if len(present) == 0 or pd.api.types.is_numeric_dtype(present):
        return None
    counts = present.astype(str).value_counts()
    matched = [v for v in counts.index if OUTCOME_VALUE_PATTERN.search(v)]
    share = float(counts[matched].sum() / len(present)) if matched else 0.0
    if matched and share >= _VALUE_SHARE:
        shown = ", ".join(repr(v) for v in matched[:3])
        return f"values look like outcomes: {shown} ({share:.0%} of rows)"
    return None


@dataclass(frozen=True)
class GuardReport:
    """What the guard checked and flagged, and which flags the config allows."""

    checked: tuple[str, ...]
    flags: tuple[LeakFlag, ...]
    allowed: tuple[str, ...] = ()
    details: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per checked column: auc, missing share among converted and among the rest."""

    @property
    def blocked(self) -> list[LeakFlag]:
        return [f for f in self.flags if f.column not in self.allowed]

    @property
    def allowed_flags(self) -> list[LeakFlag]:
        return [f for f in self.flags if f.column in self.allowed]

    @property
    def flagged_columns(self) -> list[str]:
        return list(dict.fromkeys(f.column for f in self.flags))

    def text(self) -> str:
        """One line per flag with its evidence (empty when nothing was flagged)."""
        return "\n".join(
            f"  - {f.column} [{f.rule}]: {f.evidence}"
            + (" (allowed by allow_leaky)" if f.column in self.allowed else "")
            for f in self.flags
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": list(self.checked),
            "flags": [f.__dict__ for f in self.flags],
            "allowed": list(self.allowed),
            "blocked": [f.column for f in self.blocked],
            "details": self.details,
        }

    def refuse(self) -> None:
        """Raise LeakageError naming every blocked column and its evidence."""
        blocked = self.blocked
        if not blocked:
            return
        lines = "\n".join(f"  - {f.column} [{f.rule}]: {f.evidence}" for f in blocked)
        names = ", ".join(f'"{c}"' for c in dict.fromkeys(f.column for f in blocked))
        raise LeakageError(
            "refusing to train: these columns look like they leak the label\n"
            f"{lines}\n"
            'Drop them (role = "ignore" in [dataset.columns]), or, if you are sure they '
            "are known before the outcome, allow them in leadml.toml: "
            f"[train] allow_leaky = [{names}]"
        )


def guard(frame: pd.DataFrame, y: np.ndarray, allowed: tuple[str, ...] = ()) -> GuardReport:
    """Check every column of `frame` (raw values, rows aligned with `y`) by all three rules."""
    yv = np.asarray(y, dtype=np.int64)
    flags: list[LeakFlag] = []
    details: dict[str, dict[str, float]] = {}
    for column in frame.columns:
        values = frame[column]
        name = str(column)
        auc = single_column_auc(values, yv)
        miss = values.isna().to_numpy()
        miss_pos = float(miss[yv == 1].mean()) if (yv == 1).any() else 0.0
        miss_neg = float(miss[yv == 0].mean()) if (yv == 0).any() else 0.0
        details[name] = {
            "auc": round(auc, 4),
            "missing_converted": round(miss_pos, 4),
            "missing_other": round(miss_neg, 4),
        }
        if auc >= AUC_HIGH or auc <= AUC_LOW:
            limits = f"limits: >= {AUC_HIGH} or <= {AUC_LOW}"
            flags.append(LeakFlag(name, "auc", f"alone it reaches ROC AUC {auc:.3f} ({limits})"))
        if abs(miss_pos - miss_neg) >= MISSING_GAP:
            gap = f"missing in {miss_pos:.0%} of converted leads vs {miss_neg:.0%} of the rest"
            flags.append(LeakFlag(name, "missingness", gap))
        evidence = outcome_evidence(name, values)
        if evidence:
            flags.append(LeakFlag(name, "outcome name or values", evidence))
    return GuardReport(tuple(map(str, frame.columns)), tuple(flags), tuple(allowed), details)
