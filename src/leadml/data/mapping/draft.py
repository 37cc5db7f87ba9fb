"""`leadml init-config`: a draft `[dataset]` mapping for a flat export, guesses commented.

It infers each column's type, finds the id, label and created-at columns, and guesses
each other column's role from its name and values. Outcome-like names are set aside as
`ignore` (to the leakage guard such a name is a hint: with moderate evidence it refuses).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pandas as pd

from leadml.data.mapping.config import DATE_SHARE, DEFAULT_MISSING, infer_type
from leadml.data.mapping.read import clean_missing
from leadml.errors import InputError

_MAX_LEVELS_GUESS: Final = 100
_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "id": ("id", "lead id", "prospect id", "lead number", "record id", "uuid"),
    "label": ("converted", "is converted", "y", "target", "label", "won", "is won"),
    "created": (
        "created",
        "created at",
        "created date",
        "create date",
        "lead date",
        "date created",
        "timestamp",
    ),  # fmt: skip
    "pii": (
        "email",
        "e mail",
        "phone",
        "mobile",
        "name",
        "first name",
        "last name",
        "full name",
        "contact name",
        "address",
        "street",
        "zip",
        "postcode",
    ),  # fmt: skip
    "passthrough": ("company", "account", "owner", "organisation", "organization"),
    "source": (
        "source",
        "lead source",
        "channel",
        "campaign",
        "utm",
        "origin",
        "referrer",
        "medium",
        "origin",
        "contact",
    ),  # fmt: skip
    "engagement": (
        "visits",
        "views",
        "page",
        "pages",
        "time",
        "clicks",
        "click",
        "opens",
        "open",
        "calls",
        "emails",
        "count",
        "sessions",
        "downloads",
        "previous",
        "pdays",
        "days",
        "webinar",
        "activity",
        "score",
    ),  # fmt: skip
}


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _matches(name: str, kind: str) -> bool:
    tokens = _tokens(name)
    joined = " ".join(tokens)
    return any(
        joined == w or f" {w} " in f" {joined} " or (len(w.split()) == 1 and w in tokens)
        for w in _WORDS[kind]
    )


def draft_config(
    path: Path,
    *,
    delimiter: str | None = None,
    sample_rows: int = 50_000,
    file_value: str | None = None,
) -> str:
    """A draft `[dataset]` section for an export, as TOML text with every guess commented.

    `file_value`: the `file =` entry (default: `path` as given); the CLI writes it relative
    to the config's folder, which is how `load_config` resolves it."""
    delimiter = delimiter or _sniff_delimiter(path)
    frame = _read_sample(path, delimiter, sample_rows)
    n = len(frame)
    id_col = label_col = created_col = None
    lines_cols: list[str] = []
    for name in frame.columns:
        values = frame[name]
        distinct = values.nunique()
        if id_col is None and (_matches(name, "id") and distinct == values.notna().sum() == n):
            id_col = name
            continue
        if label_col is None and _matches(name, "label") and distinct == 2:
            label_col = name
            continue
        if created_col is None and _matches(name, "created") and _parses_as_dates(values):
            created_col = name
            continue
        kind = infer_type(values)
        role, why = _guess_role(name, values, kind, distinct, n)
        lines_cols.append(
            f"{_key(name)} = {{ role = {_q(role)}, type = {_q(kind)} }}  # {why}; "
            f"{distinct} distinct values"
        )
    head = _dataset_lines(path, file_value, delimiter, id_col, created_col)
    return "\n".join(
        [
            *head[:-2],
            *_label_lines(frame, label_col),
            *head[-2:],
            f"missing = [{', '.join(_q(t) for t in DEFAULT_MISSING)}]",
            "",
            "[dataset.columns]",
            *lines_cols,
            "",
            "[train]",
            "# allow_leaky = []  # flagged columns you know are set before the outcome",
            "",
        ]
    )


def _read_sample(path: Path, delimiter: str, sample_rows: int) -> pd.DataFrame:
    """The export's first rows as text, missing tokens cleaned (the default tokens)."""
    try:
        raw = pd.read_csv(
            path, sep=delimiter, dtype=object, keep_default_na=False, nrows=sample_rows
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(
            f"cannot read the export: {exc}", file=path, expected="a CSV file"
        ) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    return clean_missing(raw, DEFAULT_MISSING)


def _guess_role(name: str, values: pd.Series, kind: str, distinct: int, n: int) -> tuple[str, str]:
    """A column's guessed role and the comment saying why, from its name and values."""
    from leadml.model.leakage import outcome_evidence

    leak = outcome_evidence(name, values)
    if leak:
        return "ignore", f"guessed: {leak}; the leakage guard checks such columns hardest"
    if distinct <= 1:
        return "ignore", "guessed: a single value, nothing to learn"
    if _matches(name, "passthrough"):
        return "passthrough", "guessed: name looks like an account or owner"
    if _matches(name, "pii"):
        return "pii", "guessed: name looks like contact details"
    if kind == "categorical" and distinct > _MAX_LEVELS_GUESS and distinct > 0.5 * n:
        return "ignore", f"guessed: {distinct} distinct texts, mostly unique"
    if kind == "categorical" and _matches(name, "source"):
        return "source", "guessed: name looks like a lead source or channel"
    if _matches(name, "engagement"):
        return "engagement", "guessed: name looks like rolled-up engagement"
    return "firmographic", "guessed: default for a descriptive column"


def _dataset_lines(
    path: Path,
    file_value: str | None,
    delimiter: str,
    id_col: str | None,
    created_col: str | None,
) -> list[str]:
    """The draft's header and `[dataset]` lines; the label lines go before the last two."""
    return [
        f"# Draft mapping written by `leadml init-config {path.name}`.",
        "# Every guess is marked; check each line, then run `leadml train`.",
        "# Roles: source, engagement, firmographic (features); ignore, pii, passthrough (never",
        "# features; pii and passthrough columns are copied to the ranked list for sales).",
        "",
        "[dataset]",
        f"file = {_q(file_value if file_value is not None else str(path))}",
        'format = "csv"',
        f"delimiter = {_q(delimiter)}  # guessed from the header line",
        f"id_column = {_q(id_col)}  # guessed: unique per row"
        if id_col
        else '# id_column = ""  # none found: rows are numbered from 1',
        f"created_at = {_q(created_col)}  # guessed: parses as dates; used for a time-ordered split"
        if created_col
        else '# created_at = ""  # none found: the split will be stratified random '
        "(optimistic when leads change over time)",
        'split = "auto"  # or "file_order" when the rows are already in time order',
    ]


def _label_lines(frame: pd.DataFrame, label_col: str | None) -> list[str]:
    if label_col is None:
        return [
            'label = "CHANGE_ME"  # no label column found: name the converted flag',
            'positive = ["1", "yes", "true"]',
        ]
    counts = frame[label_col].value_counts()
    rarer = str(counts.index[-1])
    return [
        f"label = {_q(label_col)}  # guessed: name looks like an outcome flag, two values",
        f"positive = [{_q(rarer)}]  # guessed: the rarer value ({int(counts.iloc[-1])} rows)",
    ]


def _parses_as_dates(values: pd.Series) -> bool:
    present = values.dropna().head(1000)
    if len(present) == 0 or pd.to_numeric(present, errors="coerce").notna().all():
        return False
    parsed = pd.to_datetime(present, errors="coerce", utc=True, format="mixed")
    return bool(parsed.notna().mean() >= DATE_SHARE)


def _sniff_delimiter(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def _q(text: str | None) -> str:
    value = "" if text is None else text
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _q(name)
