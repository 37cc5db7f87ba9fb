"""init-config's guesses: each column of an export's sample judged by its values first,
its name as a hint. Pure (a frame of text in, a `Draft` out); `mapping.draft` writes it
as commented TOML.

- dates are found by parsing values; created-at is the date column with a created-like
  name (else the earliest one); other dates are not features;
- the label is a binary column (0/1, yes/no, won/lost, ...) with an outcome-like name or
  outcome values; with several, the best-named wins and the others are listed;
- every column unique per row with id-like values is an id: the best-named one becomes
  `id_column`, the others `ignore`;
- e-mail addresses and phone numbers are found by their values, names and addresses by
  their names; consent and opt-out flags ("Do Not Email") are features, not contact
  details, and so are `has_` / `is_` flags whatever noun follows;
- the source is a channel column with few levels, never an id-like or many-level one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
import pandas as pd

from leadml.data.mapping.config import SPLIT_VALUES, ColumnType, Role, infer_type
from leadml.data.mapping.hints import (
    CONSENT_WORDS,
    CONVERTED_DATE_WORDS,
    CREATED_WORDS,
    ENGAGEMENT_WORDS,
    FLAG_PREFIXES,
    ID_WORDS,
    LABEL_WORDS,
    NEGATIVE_VALUES,
    OUTCOME_VALUES,
    PASSTHROUGH_WORDS,
    PII_NAMES,
    PII_WORDS,
    POSITIVE_VALUES,
    SOURCE_WORDS,
    SPLIT_NAMES,
    name_hint,
)
from leadml.features.words import name_tokens

MAX_SOURCE_LEVELS: Final = 50
"""A source (channel) column has at most this many levels, and a distinct share of at
most `MAX_SOURCE_SHARE`: more is an id, a hash or free text, not a channel."""
MAX_SOURCE_SHARE: Final = 0.5
DATE_SHARE: Final = 0.95
"""A column is a date column when this share of its sampled values are dates. (A column
is numeric only when EVERY present value parses as a number: see `infer_type`.)"""
CONTENT_SHARE: Final = 0.8
"""Share of sampled values that must look like e-mails or phones (or ids) to say so."""
DATE_SAMPLE: Final = 1000
ID_MIN_ROWS: Final = 50

_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE: Final = re.compile(r"^\+?[\d\s().\-/]{7,24}$")
_PHONE_FORMAT: Final = re.compile(r"^\+|[\s()\-/]")
_ID_VALUE: Final = re.compile(r"^[A-Za-z0-9_\-:.{}#]+$")
_DIGIT: Final = re.compile(r".*\d")
_YEAR_OR_DAY: Final = re.compile(r"(?:19|20)\d\d|\b\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}\b")


@dataclass(frozen=True)
class Pick:
    """A column chosen for a `[dataset]` setting, and the evidence."""

    name: str
    why: str


@dataclass(frozen=True)
class ColumnGuess:
    """A `[dataset.columns]` entry and the evidence."""

    role: Role
    type: ColumnType
    why: str


@dataclass(frozen=True)
class Draft:
    """Every guess of `guess_mapping`, with its evidence."""

    id_column: Pick | None
    label: Pick | None
    positive: str | None
    converted_at: Pick | None
    created_at: Pick | None
    split_column: Pick | None
    columns: dict[str, ColumnGuess]
    notes: tuple[str, ...]
    """Lines for the reader: other label candidates, other dates."""


@dataclass(frozen=True)
class _Column:
    """One sampled column: its present values as text and what they look like."""

    name: str
    present: pd.Series
    rows: int
    kind: ColumnType

    @cached_property
    def distinct(self) -> int:
        return int(self.present.nunique())

    @property
    def unique(self) -> bool:
        return len(self.present) == self.rows > 1 and self.distinct == self.rows

    def share(self, pattern: re.Pattern[str]) -> float:
        sample = self.present.head(DATE_SAMPLE)
        return float(sample.str.match(pattern).mean()) if len(sample) else 0.0


def guess_mapping(frame: pd.DataFrame) -> Draft:
    """The draft mapping of a sample (text columns, missing tokens already None)."""
    columns = [
        _Column(str(n), frame[n].dropna().astype(str), len(frame), infer_type(frame[n]))
        for n in frame.columns
    ]
    guesses: dict[str, ColumnGuess] = {}
    dates: dict[str, pd.Timestamp] = {}
    binaries: dict[str, tuple[str, float]] = {}
    ids: list[_Column] = []
    split_column = None
    for col in columns:
        if col.distinct <= 1:
            guesses[col.name] = ColumnGuess("ignore", col.kind, "a single value, nothing to learn")
        elif split_column is None and _is_split(col):
            split_column = Pick(col.name, f"named {col.name!r}, holds only train/valid/test")
        elif (median := _date_median(col)) is not None:
            dates[col.name] = median
        elif (flag := _binary(col)) is not None and _label_rank(col.name, flag[0]) is not None:
            binaries[col.name] = flag
        elif col.unique and _id_like(col) and not _contact_by_content(col):
            ids.append(col)
        else:
            guesses[col.name] = _guess_role(col)
    _one_source(guesses)
    label, positive, notes = _pick_label(binaries)
    for name, (value, share) in binaries.items():
        if label is None or name != label.name:
            guesses[name] = ColumnGuess(
                "ignore",
                _kind(columns, name),
                f"another outcome-like flag ({share:.0%} {value!r}); as a feature it would "
                "leak the label",
            )
    created, converted_at, date_notes = _pick_dates(dates, label is None)
    for name in dates:
        if name not in {p.name for p in (created, converted_at) if p is not None}:
            guesses[name] = ColumnGuess(
                "ignore",
                "categorical",
                "a date: not a feature (dates recorded after first contact often leak the "
                "outcome; created_at orders the split)",
            )
    id_column = _pick_id(ids)
    for col in ids:
        if id_column is None or col.name != id_column.name:
            guesses[col.name] = ColumnGuess(
                "ignore", col.kind, "unique per row: another id, never a feature"
            )
    order = {c.name: i for i, c in enumerate(columns)}
    return Draft(
        id_column=id_column,
        label=label,
        positive=positive,
        converted_at=converted_at,
        created_at=created,
        split_column=split_column,
        columns=dict(sorted(guesses.items(), key=lambda item: order[item[0]])),
        notes=(*notes, *date_notes),
    )


def _guess_role(col: _Column) -> ColumnGuess:
    """The role of a column that is not the id, label, a date or the split."""
    from leadml.model.leakage import outcome_evidence

    name, kind, distinct = col.name, col.kind, col.distinct
    if (contact := _contact_by_content(col)) is not None:
        return ColumnGuess("pii", kind, contact)
    if hint := name_hint(name, CONSENT_WORDS):
        return ColumnGuess("engagement", kind, f"consent or opt-out flag (name hint {hint!r}): "
                           "a feature, not contact details")  # fmt: skip
    if (prefix := next(iter(name_tokens(name)), "")) in FLAG_PREFIXES:
        role: Role = "engagement" if name_hint(name, ENGAGEMENT_WORDS) else "firmographic"
        return ColumnGuess(role, kind, f"name starts with {prefix!r}: a flag, a feature")
    if leak := outcome_evidence(name, col.present):
        return ColumnGuess("ignore", kind, f"{leak}; the leakage guard would refuse it")
    if (hint := _pii_name(name)) and distinct > min(20, col.rows // 2):
        return ColumnGuess("pii", kind, f"name hint {hint!r}: contact details")
    if hint := name_hint(name, PASSTHROUGH_WORDS):
        return ColumnGuess("passthrough", kind, f"name hint {hint!r}: an account or owner")
    many = distinct > MAX_SOURCE_LEVELS or distinct > MAX_SOURCE_SHARE * len(col.present)
    coded = col.share(_ID_VALUE) >= CONTENT_SHARE
    if kind == "categorical" and many and coded and col.share(_DIGIT) >= CONTENT_SHARE:
        return ColumnGuess("ignore", kind, f"{distinct} distinct codes: id-like, not a feature")
    if kind == "categorical" and distinct > 20 and distinct > 0.5 * len(col.present):
        return ColumnGuess("ignore", kind, f"{distinct} distinct texts, mostly unique")
    if " ".join(name_tokens(name)) in SPLIT_NAMES:
        return ColumnGuess("ignore", kind, "named like a split assignment but not only "
                           "train/valid/test: not a feature")  # fmt: skip
    if kind == "categorical" and (hint := name_hint(name, SOURCE_WORDS)):
        if not many:
            return ColumnGuess("source", kind, f"name hint {hint!r}, {distinct} levels: a "
                               "channel")  # fmt: skip
        return ColumnGuess("firmographic", kind, f"name hint {hint!r}, but {distinct} levels "
                           "is too many for a channel; a plain feature")  # fmt: skip
    if hint := name_hint(name, ENGAGEMENT_WORDS):
        return ColumnGuess("engagement", kind, f"name hint {hint!r}: rolled-up engagement")
    return ColumnGuess("firmographic", kind, "default for a descriptive column")


def _one_source(guesses: dict[str, ColumnGuess]) -> None:
    """Keep role source for the best-named channel column only (the ranked list's
    lead_source); other channel-like columns stay features, as firmographic."""
    sources = [n for n, g in guesses.items() if g.role == "source"]
    if len(sources) < 2:
        return
    best = min(sources, key=lambda n: SOURCE_WORDS.index(name_hint(n, SOURCE_WORDS) or "contact"))
    for name in sources:
        if name != best:
            guess = guesses[name]
            guesses[name] = ColumnGuess(
                "firmographic", guess.type, f"{guess.why}, but {best!r} is the lead source"
            )


def _pick_label(
    binaries: dict[str, tuple[str, float]],
) -> tuple[Pick | None, str | None, list[str]]:
    """The best-ranked outcome flag, its positive value, and lines naming the others."""
    if not binaries:
        return None, None, []
    ranked = sorted(binaries, key=lambda n: _label_rank(n, binaries[n][0]) or (99, ""))
    best = ranked[0]
    value, share = binaries[best]
    _, hint = _label_rank(best, value) or (99, "")
    pick = Pick(best, f"binary, {share:.0%} {value!r}, {hint}")
    others = [f"{n!r} ({binaries[n][1]:.0%} {binaries[n][0]!r})" for n in ranked[1:]]
    notes = [f"other label candidates (set aside as ignore): {', '.join(others)}"] if others else []
    return pick, value, notes


def _label_rank(name: str, positive: str) -> tuple[int, str] | None:
    """How strongly a binary column looks like the outcome (lower is stronger), or None."""
    tokens = name_tokens(name)
    if name_hint(name, CONSENT_WORDS):
        return None
    hint = name_hint(name, LABEL_WORDS)
    if tokens[:1] and tokens[0] in FLAG_PREFIXES and hint is None:
        return None
    if hint is not None:
        return LABEL_WORDS.index(hint), f"name hint {hint!r}"
    if positive.lower() in OUTCOME_VALUES:
        return len(LABEL_WORDS), f"outcome value {positive!r}"
    return None


def _pick_dates(
    dates: dict[str, pd.Timestamp], want_converted: bool
) -> tuple[Pick | None, Pick | None, list[str]]:
    """created_at among the date columns (name hints, else the earliest), and a
    converted-at date when there is no label."""
    converted_at = None
    if want_converted:
        for name in dates:
            if hint := name_hint(name, CONVERTED_DATE_WORDS):
                converted_at = Pick(name, f"parses as dates, name hint {hint!r}")
                break
    rest = [n for n in dates if converted_at is None or n != converted_at.name]
    if not rest:
        return None, converted_at, []
    hinted = [(CREATED_WORDS.index(h), n, h) for n in rest if (h := name_hint(n, CREATED_WORDS))]
    if hinted:
        _, name, hint = min(hinted)
        created = Pick(name, f"parses as dates, name hint {hint!r}")
    else:
        name = min(rest, key=lambda n: dates[n])
        created = Pick(name, "parses as dates, the earliest of the date columns")
    others = [n for n in rest if n != created.name]
    notes = [f"other date columns (not features): {', '.join(map(repr, others))}"] if others else []
    return created, converted_at, notes


def _pick_id(ids: list[_Column]) -> Pick | None:
    if not ids:
        return None
    hinted = [
        (ID_WORDS.index(h), i, h) for i, c in enumerate(ids) if (h := name_hint(c.name, ID_WORDS))
    ]
    if hinted:
        _, i, hint = min(hinted)
        return Pick(ids[i].name, f"unique per row ({ids[i].rows} rows), name hint {hint!r}")
    return Pick(ids[0].name, f"unique per row ({ids[0].rows} rows)")


def _is_split(col: _Column) -> bool:
    values = set(col.present.str.strip().str.lower())
    named = " ".join(name_tokens(col.name)) in SPLIT_NAMES
    return named and len(col.present) == col.rows and values <= set(SPLIT_VALUES)


def _date_median(col: _Column) -> pd.Timestamp | None:
    """The median date when (nearly) every sampled value is a date with a year or a
    day/month/year shape ("may" or "12-15" are not), else None."""
    sample = col.present.head(DATE_SAMPLE)
    if col.kind == "numeric" or len(sample) == 0:
        return None
    if sample.str.contains(_YEAR_OR_DAY).mean() < DATE_SHARE:
        return None
    parsed = pd.to_datetime(sample, errors="coerce", utc=True, format="mixed")
    if parsed.notna().mean() < DATE_SHARE:
        return None
    return pd.Timestamp(parsed.dropna().median())


def _binary(col: _Column) -> tuple[str, float] | None:
    """(the positive value as written, its share) for a two-valued flag, else None."""
    if col.distinct != 2:
        return None
    counts = col.present.value_counts()
    lowered = {_flag_text(v): v for v in counts.index}
    positive = [lowered[v] for v in lowered if v in POSITIVE_VALUES]
    negative = [lowered[v] for v in lowered if v in NEGATIVE_VALUES]
    if len(positive) != 1 or len(negative) != 1:
        return None
    return str(positive[0]), float(counts[positive[0]] / len(col.present))


def _flag_text(value: str) -> str:
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number in (0.0, 1.0) else text


def _id_like(col: _Column) -> bool:
    """Integers or codes without spaces (P-00012, 3f9a...), not measurements or prose; in
    a sample of fewer than `ID_MIN_ROWS` rows only under an id-like name (30 ages can
    all differ)."""
    if col.rows < ID_MIN_ROWS and name_hint(col.name, ID_WORDS) is None:
        return False
    if col.kind == "numeric":
        numbers = pd.to_numeric(col.present, errors="coerce")
        return bool(np.all(np.mod(numbers, 1) == 0))
    return col.share(_ID_VALUE) >= CONTENT_SHARE


def _contact_by_content(col: _Column) -> str | None:
    """Why the values are e-mail addresses or phone numbers, or None."""
    email = col.share(_EMAIL)
    if email >= CONTENT_SHARE:
        return f"values look like e-mail addresses ({email:.0%} of sampled values)"
    sample = col.present.head(DATE_SAMPLE)
    if col.kind == "numeric" or len(sample) == 0:
        return None
    digits = sample.str.count(r"\d")
    phone = sample.str.match(_PHONE) & sample.str.contains(_PHONE_FORMAT) & digits.between(7, 15)
    if phone.mean() >= CONTENT_SHARE:
        return f"values look like phone numbers ({phone.mean():.0%} of sampled values)"
    return None


def _pii_name(name: str) -> str | None:
    joined = " ".join(name_tokens(name))
    return joined if joined in PII_NAMES else name_hint(name, PII_WORDS)


def _kind(columns: list[_Column], name: str) -> ColumnType:
    return next(c.kind for c in columns if c.name == name)
