"""A guard against label leakage: refuse columns whose evidence says they were filled in
after the outcome (a status, a deal amount, a sales rep's score, a close date).

`guard` checks every column on the training window and keeps a table of its figures and
verdict (`leak_figures` computes the figures, `leak_uplift` the uplift check):

- auc: alone the column reaches ROC AUC >= 0.90 or <= 0.10;
- presence: a value is present (almost) only among one class, at any fill rate
  (filled for 8% of converters and nobody else), or far more often;
- missingness: the missing rate differs by a large ratio between the classes (judged
  relative to how sparse the column is, not as a fixed gap);
- levels: some categorical values are held only by one class, with enough rows that
  chance (over all the column's levels) cannot explain it;
- uplift: with the column, a quick model's validation AUC rises far beyond what the
  column's own AUC suggests (checked for suspects only);
- name hint: the name or values look like an outcome or a post-contact field (status,
  stage, score, profile, duration, owner, ...). A hint is reported, and NEVER refuses a
  column on its own; with moderate evidence it does (limits are lower with a hint).

Each finding is strong (refuses alone) or moderate (refuses with a hint). leadml's own
event features are computed as of the cutoff, so for them (`EVENT_RULES`) only the AUC
rule refuses; the other figures are still reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from leadml.errors import LeakageError
from leadml.model.leak_figures import (
    ColumnFigures,
    column_figures,
    out_of_fold_rates,
    single_column_auc,
)
from leadml.model.leak_names import name_hint, outcome_evidence
from leadml.model.leak_uplift import Uplift, uplift

__all__ = [
    "EVENT_RULES",
    "GuardReport",
    "GuardRules",
    "LeakFlag",
    "guard",
    "guard_table",
    "name_hint",
    "out_of_fold_rates",
    "outcome_evidence",
    "refuse_leaks",
    "screen",
    "single_column_auc",
]

AUC_HIGH = 0.90
AUC_LOW = 0.10
MAX_UPLIFT_SUSPECTS: Final = 10

Strength = Literal["strong", "moderate"]
Verdict = Literal["refused", "allowed", "watch", "hint only", "ok"]
"""refused; allowed: refused but kept by allow_leaky; watch: moderate evidence without a
name hint (reported, kept); hint only: a name hint without evidence (kept); ok."""


@dataclass(frozen=True)
class GuardRules:
    """The guard's limits. Strong evidence refuses alone; moderate evidence with a hint."""

    by_evidence: bool = True
    """False: only the AUC rule refuses (leadml's own event features); figures still shown."""
    check_uplift: bool = True
    seed: int = 0
    auc_high: float = AUC_HIGH
    auc_low: float = AUC_LOW
    hinted_auc_high: float = 0.75
    hinted_auc_low: float = 0.25
    only_lift: float = 20.0
    """Presence (almost) only in one class: fill rates differ this many times..."""
    only_min_rows: int = 5
    """...with at least this many filled rows in that class (at any fill rate)..."""
    only_other_fill: float = 0.01
    """...and the other class filled at most this often: 'almost only'. Anything less
    one-sided (an honest "demo requested: yes" flag filled for 26% vs 2%) is moderate."""
    lift: float = 5.0
    gap: float = 0.40
    """Strong asymmetry: fill or missing rates differ >= `lift` times and >= `gap` (alone
    such a column's presence reaches AUC >= 0.70); anything less needs a name hint."""
    hinted_lift: float = 2.5
    hinted_gap: float = 0.05
    pure_share: float = 0.05
    """Strong: levels held only by converted leads cover this share of them (levels held
    only by the rest, a segment that never converts, are moderate at most)."""
    hinted_pure_share: float = 0.01
    uplift_gain: float = 0.03
    """Moderate: the quick model's AUC rises >= this and more than the column's own
    AUC distance from 0.5."""


EVENT_RULES: Final = GuardRules(by_evidence=False, check_uplift=False)


@dataclass(frozen=True)
class LeakFlag:
    """One suspicious column and the evidence against it."""

    column: str
    rule: str
    evidence: str


@dataclass(frozen=True)
class Finding:
    """One piece of evidence against a column."""

    rule: str
    strength: Strength
    text: str


def _hinted_lift_limit(rules: GuardRules) -> str:
    gap = rules.hinted_gap * 100
    return f"limit with a name hint >= {rules.hinted_lift:g}x and >= {gap:g} points"


def _lift_findings(f: ColumnFigures, rules: GuardRules) -> list[Finding]:
    """Presence and missingness asymmetry, each in whichever direction it leans."""
    out: list[Finding] = []
    presence = f.presence_lift
    richer = "converted leads" if presence >= 1 else "the rest"
    times = max(presence, 1 / presence)
    rows = f.filled_converted if presence >= 1 else f.filled_other
    gap = abs(f.fill_converted - f.fill_other)
    poorer = min(f.fill_converted, f.fill_other)
    said = f"{f.fill_text()}: {times:,.1f}x"
    if times >= rules.only_lift and rows >= rules.only_min_rows and poorer <= rules.only_other_fill:
        limit = (
            f"present (almost) only among {richer}; limit >= {rules.only_lift:g}x with "
            f">= {rules.only_min_rows} rows, the others <= {rules.only_other_fill:.0%} filled"
        )
        out.append(Finding("presence", "strong", f"{said} ({limit})"))
    elif times >= rules.lift and gap >= rules.gap:
        limit = f"limit >= {rules.lift:g}x and >= {rules.gap * 100:g} points apart"
        out.append(Finding("presence", "strong", f"{said} ({limit})"))
    elif times >= rules.hinted_lift and gap >= rules.hinted_gap:
        limit = _hinted_lift_limit(rules)
        out.append(Finding("presence", "moderate", f"{said} ({limit} apart)"))
    missing = f.missing_lift
    times = max(missing, 1 / missing)
    said = f"{f.missing_text()}: {times:,.1f}x"
    if times >= rules.lift and gap >= rules.gap:
        limit = f"limit >= {rules.lift:g}x and >= {rules.gap * 100:g} points apart"
        out.append(Finding("missingness", "strong", f"{said} ({limit})"))
    elif times >= rules.hinted_lift and gap >= rules.hinted_gap:
        limit = _hinted_lift_limit(rules)
        out.append(Finding("missingness", "moderate", f"{said} ({limit} apart)"))
    return out


def findings(f: ColumnFigures, rules: GuardRules, gain: Uplift | None = None) -> list[Finding]:
    """Every finding against one column's figures (the AUC rule alone for event rules)."""
    out: list[Finding] = []
    said = f"alone it reaches ROC AUC {f.auc:.3f}"
    if f.auc >= rules.auc_high or f.auc <= rules.auc_low:
        limits = f"limits: >= {rules.auc_high} or <= {rules.auc_low}"
        out.append(Finding("auc", "strong", f"{said} ({limits})"))
    elif rules.by_evidence and (f.auc >= rules.hinted_auc_high or f.auc <= rules.hinted_auc_low):
        limits = f"limits with a name hint: >= {rules.hinted_auc_high} or <= {rules.hinted_auc_low}"
        out.append(Finding("auc", "moderate", f"{said} ({limits})"))
    if not rules.by_evidence:
        return out
    out += _lift_findings(f, rules)
    for pure, label in ((f.pure_converted, "converted leads"), (f.pure_other, "the rest")):
        if pure is None:
            continue
        if pure.share >= rules.pure_share and label == "converted leads":
            limit = f"limit >= {rules.pure_share:.0%}"
            out.append(Finding("levels", "strong", f"{pure.text(label)} ({limit})"))
        elif pure.share >= rules.hinted_pure_share:
            limit = f"limit with a name hint >= {rules.hinted_pure_share:.0%}"
            out.append(Finding("levels", "moderate", f"{pure.text(label)} ({limit})"))
    if gain is not None and gain.gain >= rules.uplift_gain and gain.gain > abs(f.auc - 0.5):
        out.append(
            Finding(
                "uplift",
                "moderate",
                f"a quick model's validation AUC rises from {gain.without:.3f} without it to "
                f"{gain.with_column:.3f} with it (+{gain.gain:.3f}, more than its own AUC "
                f"{f.auc:.3f} suggests; limit with a name hint +{rules.uplift_gain})",
            )
        )
    return out


@dataclass(frozen=True)
class GuardRow:
    """One checked column: its figures, hint, findings and verdict."""

    column: str
    figures: ColumnFigures
    hint: str | None
    findings: tuple[Finding, ...]
    uplift: Uplift | None = None

    @property
    def refused(self) -> bool:
        """Strong evidence, or moderate evidence together with a name hint."""
        return any(
            x.strength == "strong" or (self.hint is not None and x.strength == "moderate")
            for x in self.findings
        )

    def flags(self) -> list[LeakFlag]:
        """The findings that refuse this column (a moderate one carries its hint)."""
        out = []
        for x in self.findings:
            if x.strength == "strong":
                out.append(LeakFlag(self.column, x.rule, x.text))
            elif self.hint is not None:
                out.append(LeakFlag(self.column, f"{x.rule} + name", f"{x.text}; {self.hint}"))
        return out if self.refused else []

    def verdict(self, allowed: tuple[str, ...]) -> Verdict:
        if self.refused:
            return "allowed" if self.column in allowed else "refused"
        if self.findings:
            return "watch"
        return "hint only" if self.hint else "ok"

    def record(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The table row: verdict, figures, uplift, hint and findings as text."""
        return {
            "column": self.column,
            "verdict": self.verdict(allowed),
            **self.figures.as_row(),
            "uplift": None if self.uplift is None else round(self.uplift.gain, 4),
            "hint": self.hint or "",
            "evidence": " | ".join(f"{x.rule} ({x.strength}): {x.text}" for x in self.findings),
        }


TABLE_COLUMNS: Final = {
    "verdict": "verdict",
    "auc": "auc",
    "fill_converted": "filled share converted",
    "fill_other": "filled share rest",
    "presence_lift": "presence lift",
    "missing_lift": "missing lift",
    "pure_levels_converted": "pure levels share converted",
    "pure_levels_other": "pure levels share rest",
    "uplift": "uplift",
}
"""The CLI table's columns and headers ('share' headers render as percentages)."""


def guard_table(details: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """A guard report's `details` (also as logged) as the table the CLI prints."""
    frame = pd.DataFrame.from_dict(details, orient="index")
    frame = frame.reindex(columns=list(TABLE_COLUMNS)).rename(columns=TABLE_COLUMNS)
    frame.index.name = "column"
    return frame


@dataclass(frozen=True)
class GuardReport:
    """What the guard checked and flagged, and which flags the config allows."""

    checked: tuple[str, ...]
    flags: tuple[LeakFlag, ...]
    allowed: tuple[str, ...] = ()
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per checked column: its table row (verdict, figures, uplift, hint, evidence)."""
    rules: str = "flat"
    """'flat': every rule; 'event': only the AUC rule refuses."""

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

    def table(self) -> pd.DataFrame:
        """Every checked column with its verdict and figures (index: column)."""
        return guard_table(self.details)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "checked": list(self.checked),
            "flags": [f.__dict__ for f in self.flags],
            "allowed": list(self.allowed),
            "blocked": [f.column for f in self.blocked],
            "details": self.details,
            "table": list(self.details.values()),
        }

    def refuse(self) -> None:
        """Raise LeakageError naming every blocked column and its evidence."""
        blocked = self.blocked
        if not blocked:
            return
        lines = "\n".join(f"  - {f.column} [{f.rule}]: {f.evidence}" for f in blocked)
        names = ", ".join(f'"{c}"' for c in dict.fromkeys(f.column for f in blocked))
        drop = (
            'Drop them (role = "ignore" in [dataset.columns]), or, if you are sure they '
            "are known before the outcome,"
            if self.rules == "flat"
            else "Drop them from the data, or, if you are sure they are known at the cutoff,"
        )
        raise LeakageError(
            "refusing to train: these columns look like they leak the label\n"
            f"{lines}\n{drop} allow them in leadml.toml: [train] allow_leaky = [{names}]"
        )


def guard(
    frame: pd.DataFrame,
    y: np.ndarray,
    allowed: tuple[str, ...] = (),
    rules: GuardRules = GuardRules(),  # noqa: B008 (frozen)
) -> GuardReport:
    """Check every column of `frame` (raw values, rows aligned with `y`) by every rule."""
    yv = np.asarray(y, dtype=np.int64)
    rows: dict[str, GuardRow] = {}
    for column in frame.columns:
        name, values = str(column), frame[column]
        figures = column_figures(values, yv)
        hint = name_hint(name, values) if rules.by_evidence else None
        rows[name] = GuardRow(name, figures, hint, tuple(findings(figures, rules)))
    if rules.by_evidence and rules.check_uplift:
        rows = _with_uplift(frame, yv, rows, rules)
    flags = tuple(flag for row in rows.values() for flag in row.flags())
    details = {name: row.record(allowed) for name, row in rows.items()}
    kind = "flat" if rules.by_evidence else "event"
    return GuardReport(tuple(rows), flags, tuple(allowed), details, kind)


def _with_uplift(
    frame: pd.DataFrame, y: np.ndarray, rows: dict[str, GuardRow], rules: GuardRules
) -> dict[str, GuardRow]:
    """Run the uplift check for suspects (a hint or moderate evidence, not yet refused)
    against the unsuspected columns, and add what it finds."""
    base = [n for n, r in rows.items() if not r.findings and r.hint is None]
    suspects = [n for n, r in rows.items() if not r.refused and n not in base]
    suspects.sort(key=lambda n: -abs(rows[n].figures.auc - 0.5))
    suspects = suspects[:MAX_UPLIFT_SUSPECTS]
    named = frame.set_axis([str(c) for c in frame.columns], axis=1)
    gains = uplift(named, y, base, suspects, seed=rules.seed)
    out = dict(rows)
    for name, gain in gains.items():
        row = rows[name]
        out[name] = replace(row, findings=tuple(findings(row.figures, rules, gain)), uplift=gain)
    return out


def screen(X: pd.DataFrame, y: np.ndarray) -> list[LeakFlag]:
    """Flag every column whose single-column AUC is >= 0.90 or <= 0.10."""
    return list(guard(X, y, rules=EVENT_RULES).flags)


def refuse_leaks(X: pd.DataFrame, y: np.ndarray, allowed: tuple[str, ...] = ()) -> list[LeakFlag]:
    """Raise LeakageError for flagged columns not in `allowed`; return the allowed flags."""
    report = guard(X, y, allowed, EVENT_RULES)
    report.refuse()
    return report.allowed_flags
