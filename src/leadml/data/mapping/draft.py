"""`leadml init-config`: a draft `[dataset]` mapping for a flat export, guesses commented.

The guesses come from `mapping.guess` (values first, names as hints); this module reads
the export's first rows and writes those guesses as TOML, each with its evidence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from leadml.data.mapping.config import DEFAULT_MISSING
from leadml.data.mapping.guess import Draft, Pick, guess_mapping
from leadml.data.mapping.read import clean_missing
from leadml.errors import InputError


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
    draft = guess_mapping(frame)
    distinct = {name: int(frame[name].nunique()) for name in frame.columns}
    lines_cols = [
        f"{_key(name)} = {{ role = {_q(guess.role)}, type = {_q(guess.type)} }}  "
        f"# guessed: {guess.why}; {distinct[name]} distinct values"
        for name, guess in draft.columns.items()
    ]
    return "\n".join(
        [
            *_dataset_lines(path, file_value, delimiter, draft),
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


def _dataset_lines(path: Path, file_value: str | None, delimiter: str, draft: Draft) -> list[str]:
    """The draft's header and `[dataset]` lines, each guess with its evidence."""
    return [
        f"# Draft mapping written by `leadml init-config {path.name}`.",
        "# Every guess is marked with its evidence; check each line, then run `leadml train`.",
        "# Roles: source, engagement, firmographic (features); ignore, pii, passthrough (never",
        "# features; pii and passthrough columns are copied to the ranked list for sales).",
        "",
        "[dataset]",
        f"file = {_q(file_value if file_value is not None else str(path))}",
        'format = "csv"',
        f"delimiter = {_q(delimiter)}  # guessed from the header line",
        _setting("id_column", draft.id_column, "none found: rows are numbered from 1"),
        *_label_lines(draft),
        _setting(
            "created_at",
            draft.created_at,
            "none found: the split will be stratified random (optimistic when leads "
            "change over time)",
        ),
        *(f"# {note}" for note in draft.notes),
        _setting("split_column", draft.split_column, "none: leadml splits the rows itself")
        + ("; training uses exactly this split" if draft.split_column else ""),
        'split = "auto"  # or "file_order" when the rows are already in time order',
    ]


def _setting(key: str, pick: Pick | None, otherwise: str) -> str:
    if pick is None:
        return f'# {key} = ""  # {otherwise}'
    return f"{key} = {_q(pick.name)}  # guessed: {pick.why}"


def _label_lines(draft: Draft) -> list[str]:
    if draft.label is not None:
        return [
            _setting("label", draft.label, ""),
            f"positive = [{_q(draft.positive)}]  # guessed: the value that means converted",
        ]
    if draft.converted_at is not None:
        return [_setting("converted_at", draft.converted_at, "")]
    return [
        'label = "CHANGE_ME"  # no binary outcome column found: name the converted flag',
        'positive = ["1", "yes", "true"]',
    ]


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
