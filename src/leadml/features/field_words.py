"""One sentence per business field of a lead, read from that lead's own columns.

A reason is about a business field (all `demo_request` counts and its recency form one
field, see `explain.reasons.FieldMap`); its sentence says what the lead did or what the
lead is, in the words a sales rep reads in two seconds:

- an event field names the action and when: "Requested a demo 3 days ago", "Attended 2
  webinars in the last 30 days", "Viewed pricing 4 times this week";
- the summary fields (engagement, a stage's recent activity, the funnel stage) name the
  lead's most sales-ready recent actions, weighed as the engagement score weighs them (a
  stage's weight, halving every half-life): "Requested a demo 3 days ago and viewed
  pricing 4 times this week". An action another reason of the same lead already names is
  not named twice: event fields keep their own action, and the stronger summary reason
  chooses first. A stage reason with nothing left to name gives the stage's total ("Demo,
  quote or consultation requests in the last 30 days: 4"), or, with none in the count
  windows, says what kind of activity it counts ("Recent demo, quote or consultation
  requests");
- firmographic fields are plain facts, with context from the lead's other firmographic
  columns that no other shown reason states: "VP at a 240-person software company";
- any other field (a flat export's columns, unknown ones) describes its strongest column
  (`describe.describe`).

`FieldWords.absent` is the one rule for which fields say that something is *not* there
(missing data, never did it, no activity lately): those are never shown for a lead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from leadml import schema
from leadml.data.mapping.config import DatasetConfig
from leadml.features.describe import (
    STAGE_ACTIVITY,
    Action,
    absent,
    action,
    ago,
    company,
    describe,
    did,
    employee_count,
    first_upper,
    seniority_words,
    stage_token,
    window_words,
)
from leadml.features.engagement import ALL_TIME, STAGE_ORDINAL, STAGE_WEIGHT, score_column
from leadml.features.spec import FeatureSpec
from leadml.vocabulary import label

_Memo = dict[str, tuple[list[str], np.ndarray]]
Columns = Callable[[str], np.ndarray]
"""A raw feature column by name, one value per lead, in its own dtype."""

QUIET_DAYS: Final = 30
"""A lead with no action in this many days has "no activity lately": an absence fact."""
RECENT_DAYS: Final = 30
"""The shortest window of a stage's total ("Demo, quote or consultation requests in the
last 30 days: 4"), said when a stronger reason already named each of its actions."""
SHOWN_ACTIONS: Final = 2
"""Actions a summary sentence names at most."""

_COUNT: Final = re.compile(r"^count_(?P<event>[a-z_]+)_(?P<window>\d+d|all)$")
_RECENCY: Final = re.compile(r"^days_since_last_(?P<event>[a-z_]+)$")
_SUMMARY: Final = frozenset({"total_events", "engagement_score", "days_since_last_event"})
_STAGE_SCORE: Final = {score_column(stage): stage for stage in schema.STAGES}

Kind = Literal[
    "event", "engagement", "stage", "funnel", "source", "country", "seniority", "industry",
    "employees", "column",
]  # fmt: skip


@dataclass(frozen=True)
class _Field:
    kind: Kind
    columns: tuple[str, ...]
    event: str = ""  # an event field's type
    stage: str = ""  # a stage field's stage


class FieldWords:
    """Sentences and absence of a spec's business fields, for many leads at once."""

    def __init__(
        self,
        spec: FeatureSpec,
        fields: Sequence[str],
        columns: Sequence[Sequence[str]],
        dataset: DatasetConfig | None = None,
    ) -> None:
        self.spec = spec
        self.dataset = dataset
        self.fields = [_field(cols, dataset) for cols in columns]
        self._index = {f: k for k, f in enumerate(fields)}
        names = set(spec.names)
        self.events = tuple(
            t for t in schema.EVENT_TYPES if f"days_since_last_{t}" in names and t in _WEIGHT
        )
        """Event types a summary sentence may name: those with a recency and a stage."""
        self._event_field = np.array([self._field_of(columns, t) for t in self.events], np.int64)
        self._half_life = spec.config.half_life_days

    def _field_of(self, columns: Sequence[Sequence[str]], event: str) -> int:
        recency = f"days_since_last_{event}"
        return next((k for k, cols in enumerate(columns) if recency in cols), -1)

    def absent(self, raw: Columns, n: int) -> np.ndarray:
        """(n, n_fields): does the field's sentence for the lead say that something is not
        there (missing data, never did it, no activity lately)? Such a field is never a
        reason for the lead."""
        out = np.zeros((n, len(self.fields)), dtype=bool)
        for k, field in enumerate(self.fields):
            if field.kind == "event":
                out[:, k] = ~(_count(raw(f"days_since_last_{field.event}")) >= 0)
            elif field.kind == "engagement":
                out[:, k] = _quiet(raw, field.columns)
            else:
                found = np.ones(n, dtype=bool)
                for name in field.columns:
                    found &= absent(name, raw(name), self.dataset)
                out[:, k] = found
        return out

    def texts(
        self,
        raw: Columns,
        n: int,
        rows: np.ndarray,
        fields: np.ndarray,
        columns: np.ndarray,
        shown: np.ndarray,
    ) -> list[str]:
        """The sentence of each reason: lead rows[r], field fields[r], whose strongest
        column is columns[r] (a spec column index). `shown` (n, n_fields) marks every field
        shown for each lead, so that no sentence repeats another's fact."""
        out = [""] * len(rows)
        summaries = []
        memo: _Memo = {}
        for k in np.unique(fields).tolist():
            where = np.flatnonzero(fields == k)
            field = self.fields[k]
            if field.kind in ("engagement", "stage", "funnel"):
                summaries.append(k)
                continue
            if field.kind == "event":
                said = self._event_texts(raw, field, rows[where], memo)
            elif field.kind in ("seniority", "industry", "employees"):
                said = self._firm_texts(raw, field, rows[where], shown)
            else:
                said = self._column_texts(raw, field, rows[where], columns[where])
            for r, text in zip(where.tolist(), said, strict=True):
                out[r] = text
        if summaries:
            self._summary_texts(raw, n, rows, fields, shown, summaries, out, memo)
        return out

    def _event_texts(self, raw: Columns, field: _Field, rows: np.ndarray, memo: _Memo) -> list[str]:
        windows, codes = self._codes(raw, field.event, memo)
        return _decoded(action(field.event), windows, codes[rows])

    def _codes(self, raw: Columns, event: str, memo: _Memo) -> tuple[list[str], np.ndarray]:
        """An event type's count windows (smallest first) and `_code` of every lead,
        worked out once per call (`memo`)."""
        found = memo.get(event)
        if found is None:
            found = memo[event] = self._coded(raw, event)
        return found

    def _coded(self, raw: Columns, event: str) -> tuple[list[str], np.ndarray]:
        k = next((k for k, f in enumerate(self.fields) if f.event == event), -1)
        windows = _windows(self.fields[k].columns if k >= 0 else ())
        counts = [_count(raw(name)) for _, name in windows]
        days = _count(raw(f"days_since_last_{event}"))
        return [w for w, _ in windows], _code([w for w, _ in windows], counts, days)

    def _firm_texts(
        self, raw: Columns, field: _Field, rows: np.ndarray, shown: np.ndarray
    ) -> list[str]:
        """Seniority, industry and company size, with the lead's other two of these as
        context when no other shown reason of the lead states them."""
        # Context goes to the seniority sentence first: a size or an industry is said
        # once, by the field's own reason or else by the lead's seniority reason.
        hide = ("seniority",) if field.kind != "seniority" else ()
        industry = self._context(raw, "industry", ("industry", *hide), rows, shown)
        size = _people(self._context(raw, "employees_log", ("employees", *hide), rows, shown))
        value = raw(field.columns[0])[rows]
        missing = absent(field.columns[0], value, self.dataset).tolist()
        said_value = _people(value.tolist()) if field.kind == "employees" else value.tolist()
        said: dict[tuple[object, ...], str] = {}
        out = []
        for key in zip(missing, said_value, industry, size, strict=True):
            try:
                text = said.get(key)
            except TypeError:
                text = None
            if text is None:
                text = _firm(field, *key, self.spec, self.dataset)
                said[key] = text
            out.append(text)
        return out

    def _context(
        self,
        raw: Columns,
        column: str,
        kinds: tuple[Kind, ...],
        rows: np.ndarray,
        shown: np.ndarray,
    ) -> list[object]:
        """The lead's value of a context column; None where it is unknown or where a field
        of one of `kinds` (the column's own, or one that says it first) is shown for the
        lead."""
        own = [k for k, f in enumerate(self.fields) if f.kind == kinds[0] and column in f.columns]
        if not own:
            return [None] * len(rows)
        values = raw(column)[rows]
        ks = own + [k for k, f in enumerate(self.fields) if f.kind in kinds[1:]]
        hide = shown[rows][:, ks].any(axis=1) | absent(column, values, self.dataset)
        out = np.asarray(values, dtype=object).copy()
        out[hide] = None
        return out.tolist()

    def _column_texts(
        self, raw: Columns, field: _Field, rows: np.ndarray, columns: np.ndarray
    ) -> list[str]:
        """The strongest column's sentence; a source or country field says its most
        specific column (the source, the country) whenever that is known."""
        names = self.spec.names
        chosen = [names[j] for j in columns.tolist()]
        if field.kind in ("source", "country"):
            first = field.columns[0]
            known = ~absent(first, raw(first)[rows], self.dataset)
            chosen = [first if ok else name for ok, name in zip(known, chosen, strict=True)]
        out = [""] * len(rows)
        for name in dict.fromkeys(chosen):
            values = raw(name)
            said: dict[object, str] = {}
            for r, (i, c) in enumerate(zip(rows.tolist(), chosen, strict=True)):
                if c != name:
                    continue
                value = values[i]
                key = _key(value)
                try:
                    text = said.get(key)
                except TypeError:  # unhashable: describe it every time
                    text, key = None, _UNHASHABLE
                if text is None:
                    text = describe(name, value, self.spec, self.dataset)
                    if key is not _UNHASHABLE:
                        said[key] = text
                out[r] = text
        return out

    def _summary_texts(
        self,
        raw: Columns,
        n: int,
        rows: np.ndarray,
        fields: np.ndarray,
        shown: np.ndarray,
        summaries: list[int],
        out: list[str],
        memo: _Memo,
    ) -> None:
        """Engagement, stage and funnel sentences: the lead's top actions not yet named by
        another of its reasons, the lead's reasons in order (strongest first)."""
        todo = np.flatnonzero(np.isin(fields, summaries))  # lead by lead, strongest first
        types = self.events
        days = np.column_stack([_count(raw(f"days_since_last_{t}")) for t in types] or
                               [np.full(n, np.nan)])  # fmt: skip
        weight = np.array([_WEIGHT[t] for t in types]) * np.exp2(-days[:, : len(types)]
                                                                   / self._half_life)  # fmt: skip
        weight = np.where(days[:, : len(types)] >= 0, weight, -np.inf)
        level = np.array([STAGE_ORDINAL[schema.EVENT_STAGE[t]] for t in types], dtype=np.int64)
        coded = [self._codes(raw, t, memo) for t in types]
        # Actions already named: the event fields shown for the lead.
        has_field = self._event_field >= 0
        named = np.zeros((n, len(types)), dtype=bool)
        named[:, has_field] = shown[:, self._event_field[has_field]]
        quiet = self._quiet_texts(raw, rows[todo])
        reached = _count(raw("stage_reached")) if "stage_reached" in self.spec.names else None
        # The stronger reason chooses first, so a lead's top reason names its best
        # actions: the i-th summary reasons of all leads go together.
        lead = rows[todo]
        first = np.r_[True, lead[1:] != lead[:-1]] if len(todo) else np.ones(0, dtype=bool)
        turn = np.arange(len(todo)) - np.maximum.accumulate(
            np.where(first, np.arange(len(todo)), 0)
        )
        said: dict[tuple[int, int], str] = {}
        for step in sorted(set(turn.tolist())):
            now = todo[turn == step]
            leads = rows[now]
            kind_of = fields[now]
            allowed = np.ones((len(now), len(types)), dtype=bool)
            for k in np.unique(kind_of).tolist():
                field, at = self.fields[k], kind_of == k
                if field.kind == "stage":
                    allowed[at] = level == STAGE_ORDINAL[field.stage]
                elif field.kind == "funnel" and reached is not None:
                    allowed[at] = level[None, :] == reached[leads[at], None]
            score = np.where(allowed & ~named[leads], weight[leads], -np.inf)
            top = np.argsort(-score, axis=1, kind="stable")[:, :SHOWN_ACTIONS]
            found = np.take_along_axis(score, top, axis=1) > -np.inf
            named[leads[:, None], top] |= found
            for r, i, k, picked, ok in zip(
                now.tolist(), leads.tolist(), kind_of.tolist(), top.tolist(), found.tolist(),
                strict=True,
            ):  # fmt: skip
                field = self.fields[k]
                if field.kind == "engagement" and i in quiet:
                    out[r] = quiet[i]
                    continue
                parts = []
                for t, yes in zip(picked, ok, strict=True):
                    if not yes:
                        break
                    code = int(coded[t][1][i])
                    text = said.get((t, code))
                    if text is None:
                        text = said[(t, code)] = _sentence(action(types[t]), coded[t][0], code)
                    parts.append(text)
                out[r] = self._summary(raw, field, i, parts, reached)

    def _quiet_texts(self, raw: Columns, leads: np.ndarray) -> dict[int, str]:
        """The engagement sentence of each quiet lead among `leads`."""
        if "days_since_last_event" not in self.spec.names:
            return {}
        last = _count(raw("days_since_last_event"))[leads]
        quiet = ~(last <= QUIET_DAYS)
        whole = np.where(last[quiet] >= 0, np.round(np.nan_to_num(last[quiet])), -1)
        said: dict[float, str] = {}
        out = {}
        for i, days in zip(leads[quiet].tolist(), whole.tolist(), strict=True):
            text = said.get(days)
            if text is None:
                text = said[days] = (
                    f"No activity in the last {QUIET_DAYS} days (last active {ago(days)})"
                    if days >= 0
                    else "No activity yet"
                )
            out[i] = text
        return out

    def _recent_total(self, raw: Columns, stage: str, i: int) -> tuple[int, int]:
        """Lead i's actions of one stage in the shortest count window that holds any,
        from RECENT_DAYS days on: (days, total), or (0, 0) when none holds any."""
        for days in sorted(d for d in self.spec.config.windows_days if d >= RECENT_DAYS):
            names = [
                f"count_{t}_{days}d"
                for t, at in schema.EVENT_STAGE.items()
                if at == stage and f"count_{t}_{days}d" in self.spec.names
            ]
            total = int(sum(np.nan_to_num(_count(raw(name))[i]) for name in names))
            if total:
                return days, total
        return 0, 0

    def _summary(
        self, raw: Columns, field: _Field, i: int, said: list[str], reached: np.ndarray | None
    ) -> str:
        """One summary sentence of lead i naming the actions `said`."""
        if said:
            text = _and(said)
            if field.kind == "funnel" and reached is not None:
                stage = label("stage", stage_token(reached[i]))
                return f"Reached {stage}: {text[:1].lower()}{text[1:]}"
            return text
        days, total = self._recent_total(raw, field.stage, i) if field.kind == "stage" else (0, 0)
        if total:  # every action was named by a stronger reason: the stage's total is new
            activity = STAGE_ACTIVITY[field.stage]
            return f"{activity[:1].upper()}{activity[1:]} in the last {days} days: {total:,}"
        name = "distinct_event_types" if field.kind == "engagement" else field.columns[0]
        if name not in field.columns:
            name = field.columns[0]
        return describe(name, raw(name)[i], self.spec, self.dataset)


_WEIGHT: Final[dict[str, float]] = {
    t: STAGE_WEIGHT[stage] for t, stage in schema.EVENT_STAGE.items()
}
"""Each staged event type's weight in the engagement score; `unsubscribe` has none."""


def _field(columns: Sequence[str], dataset: DatasetConfig | None) -> _Field:
    """What kind of sentence a field of these columns gets."""
    cols = tuple(columns)
    if dataset is not None and any(c in dataset.columns or c in dataset.calendar_columns
                                   for c in cols):  # fmt: skip
        return _Field("column", cols)
    events = {m["event"] for c in cols if (m := _COUNT.match(c) or _RECENCY.match(c))}
    if len(events) == 1 and f"days_since_last_{next(iter(events))}" in cols:
        event = next(iter(events))
        if event != "event":
            return _Field("event", cols, event=event)
    if _SUMMARY & set(cols):
        return _Field("engagement", cols)
    if len(cols) == 1 and cols[0] in _STAGE_SCORE:
        return _Field("stage", cols, stage=_STAGE_SCORE[cols[0]])
    if cols == ("stage_reached",):
        return _Field("funnel", cols)
    first = cols[0]
    kinds: dict[str, Kind] = {
        "lead_source": "source",
        "country": "country",
        "seniority": "seniority",
        "industry": "industry",
        "employees_log": "employees",
    }
    return _Field(kinds.get(first, "column"), cols)


def _windows(columns: Sequence[str]) -> list[tuple[str, str]]:
    """An event field's (window, count column), smallest window first, 'all' last."""
    found = [(m["window"], c) for c in columns if (m := _COUNT.match(c))]
    return sorted(found, key=lambda wc: float("inf") if wc[0] == ALL_TIME else int(wc[0][:-1]))


_ONE: Final = -1
"""`_code`'s window slot for "did it once (in its smallest window): say when"."""


def _code(windows: Sequence[str], counts: Sequence[np.ndarray], days: np.ndarray) -> np.ndarray:
    """Per lead, an int64 holding exactly what its sentence about one event type says (see
    `_sentence`): -2 never; else (window slot, count, whole days ago) packed as
    (slot + 1) * 10**13 + count * 10**6 + days + 1, where the slot is that of the smallest
    window holding two or more (days kept for 'all' only), or _ONE when the smallest
    window with any holds one (count dropped)."""
    n = len(days)
    whole = np.where(days >= 1, np.round(np.nan_to_num(days, nan=0.0)), -1).astype(np.int64)
    if counts:
        matrix = np.nan_to_num(np.column_stack(counts), nan=0.0)
        first = np.argmax(matrix >= 1, axis=1)
        count = matrix[np.arange(n), first].astype(np.int64)
        many = count >= 2
    else:
        first = np.zeros(n, dtype=np.int64)
        count = np.zeros(n, dtype=np.int64)
        many = np.zeros(n, dtype=bool)
    slot = np.where(many, first, _ONE)
    all_time = np.array([w == ALL_TIME for w in windows] or [False])[np.minimum(first, len(
        windows) - 1 if windows else 0)]  # fmt: skip
    keep_days = ~many | all_time
    code = (slot + 1) * 10**13 + np.where(many, np.minimum(count, 10**6 - 1), 0) * 10**6
    code += np.where(keep_days, whole + 1, 0)
    return np.where(days >= 0, code, -2)


def _sentence(event: Action, windows: Sequence[str], code: int) -> str:
    """The sentence a `_code` stands for: 'Requested a demo 3 days ago', 'Viewed pricing 4
    times this week', 'Read 5 blog posts, the last 120 days ago', 'Has not ...'."""
    if code == -2:
        return event.never
    slot, rest = divmod(code, 10**13)
    count, days = divmod(rest, 10**6)
    when = ago(days - 1 if days > 0 else 0.0)
    if slot - 1 == _ONE:
        return f"{event.one} {when}"
    window = windows[slot - 1]
    many = did(event, count)
    return f"{many}, the last {when}" if window == ALL_TIME else many + window_words(window)


def _decoded(event: Action, windows: Sequence[str], codes: np.ndarray) -> list[str]:
    """The sentences of many codes, each distinct one written once."""
    said: dict[int, str] = {}
    out = []
    for code in codes.tolist():
        text = said.get(code)
        if text is None:
            text = said[code] = _sentence(event, windows, code)
        out.append(text)
    return out


def _people(employees_log: list[object]) -> list[int | None]:
    """Head counts of `employees_log` values (None stays None; NaN becomes None)."""
    return [None if v is None else employee_count(v) for v in employees_log]


def _firm(
    field: _Field,
    missing: bool,
    value: object,
    industry: object,
    size: int | None,
    spec: FeatureSpec,
    dataset: DatasetConfig | None,
) -> str:
    """A seniority, industry or size sentence with the context it may use (`missing`: the
    value is absent, and the sentence says so; a size field's value is its head count)."""
    name = field.columns[0]
    if missing:
        return describe(name, None, spec, dataset)
    if field.kind == "seniority":
        who = seniority_words(value)
        if industry is None and size is None:
            return _ROLE_ALONE.get(who, f"{who}-level contact")
        where = company(industry, size)
        return f"{_ROLE.get(who, who)} at {_article(where)} {where}"
    if field.kind == "industry":
        return first_upper(company(value, size))
    return first_upper(company(industry, value if isinstance(value, int) else None))


_ROLE: Final = {"Entry level": "Entry-level contact", "C-level": "C-level executive"}
"""A seniority label as a person: 'VP at a software company'."""
_ROLE_ALONE: Final = _ROLE
"""A seniority label said alone: 'VP-level contact', 'C-level executive'."""


def _and(sentences: list[str]) -> str:
    """'Requested a demo 3 days ago and a quote 9 days ago', 'Used the trial 3 days ago
    and viewed pricing 2 times this week': one sentence, a verb said once."""
    out = sentences[0]
    for text in sentences[1:]:
        verb, _, rest = text.partition(" ")
        if verb == "Requested" and out.startswith(verb):
            out += f" and {rest}"
        else:
            out += f" and {text[:1].lower()}{text[1:]}"
    return out


def _article(phrase: str) -> str:
    """'a' or 'an' as the phrase is spoken: 'an 80-person company', 'an 11-person company',
    'an 18,000-person company', 'an education organisation'."""
    head = phrase.split("-")[0]
    if head[:1].isdigit():
        groups = head.split(",")  # 11,000 is spoken "eleven thousand"
        return "an" if head[0] == "8" or groups[0] in ("11", "18") else "a"
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _count(values: np.ndarray) -> np.ndarray:
    """A numeric column as float64 (None -> NaN)."""
    if values.dtype.kind == "f":
        return values.astype(np.float64, copy=False)
    return np.asarray(
        [np.nan if v is None or v != v else float(v) for v in values.tolist()]
        if values.dtype.kind == "O"
        else values,
        dtype=np.float64,
    )


def _quiet(raw: Columns, columns: Sequence[str]) -> np.ndarray:
    """Per lead: no action at all, or none in the last QUIET_DAYS days."""
    if "days_since_last_event" in columns:
        last = _count(raw("days_since_last_event"))
        return ~(last <= QUIET_DAYS)
    if "total_events" in columns:
        return ~(_count(raw("total_events")) > 0)
    return absent(columns[0], raw(columns[0]))


def _key(value: object) -> object:
    """A cache key telling apart exactly the values `describe` may tell apart: all NaNs
    are alike, 0.0 and -0.0 are not."""
    if isinstance(value, float):
        if value != value:
            return _NAN
        if value == 0.0:
            return (_ZERO, str(value))
    return value


_NAN = object()
_ZERO = object()
_UNHASHABLE = object()
