"""The ranked list's contract: its columns, its reasons, its text and its one rank rule.

Every path that shows leads in order uses this module: `leadml score` (the CSV and the
terminal table), the scores store (and so `/v1/leads/ranked` and the sales page), the
API's `/v1/predict` list and the notebooks. It holds no I/O and imports nothing else
from leadml, so the store, batch scoring, the jobs and the API can all depend on it.

- **Rank** (`rank_order`): score descending; ties by calibrated probability, then raw
  model score, then `lead_id`, so the order is total and stable across runs and paths
  (isotonic calibration has flat steps, so tied probabilities are common).
- **Reasons** are kept per lead as compact JSON (`encode_reasons`) and shown as text by
  one renderer (`render_reasons`): the list's column has the top three positive reasons
  and the strongest negative one, in plain words (a CRM imports it); `reason_columns`
  gives the same words one per column. The terminal shows each reason's direction and
  size as arrows (`strength`, `arrows`: "▲▲▲" strong for, "▼" slightly against).
- **Trend** (`trend_of`, `with_trend`): a lead's score against its previous stored score,
  the one rule the list file, the store and the API all show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

Reasons = dict[str, list[dict[str, Any]]]
"""Structured reasons: {"positive": [...], "negative": [...]}, strongest first."""

RANKED_COLUMNS = (
    "rank",
    "lead_id",
    "company",
    "lead_source",
    "stage",
    "probability",
    "score",
    "grade",
    "trend",
    "previous_score",
    "reasons",
    "reason_1",
    "reason_2",
    "reason_3",
    "against_1",
    "model_version",
    "scored_at",
)
"""The ranked list's columns, in order; configured pass-through columns follow them."""
REASONS_JSON = "reasons_json"
"""Internal column: the structured reasons, packed by `encode_reasons`."""
REASON_KEYS = ("field", "feature", "value", "contribution", "probability_delta", "text")
TOP_REASON = "top_reason"
"""Internal column: the one reason a table row has room for."""
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3", "against_1")
"""One reason per column, for CRM imports: the top three positive ones, the strongest negative."""
PREVIOUS_GRADE = "previous_grade"
"""Internal column: the lead's grade in its previous stored score (None when new)."""
TREND_POINTS = 5
"""Default: a score change of at least this many points is improving or declining."""
TRENDS = ("new", "improving", "steady", "declining")
"""A lead's trend: new on its first score, else by how far its score moved."""
NO_SOURCE = "(no source column)"
"""`lead_source` of every lead of a flat model whose mapping has no usable source column
(a lead whose source column is empty says "unknown")."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection): the
OWASP list (= + - @ tab, carriage return), line feed, a pipe (DDE) and the full-width
forms of = + - @ (＝ ＋ － ＠), which some spreadsheets read as the ASCII ones."""
_HARMLESS = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"  # a number: -5, +1.5e3
    r"|\+[0-9][0-9 ().]*"  # a phone number: +44 20 7946 0000, +1 (555) 010 0100
)
"""Text that starts like a formula but can compute nothing: ASCII digits, spaces, dots
and parentheses call no function and name no cell. A dash can compute: a spreadsheet
opens "+1-555-0100" as the sum =1-555-100 and shows -654, so such a phone number is
quoted (write phone numbers with spaces, or turn the guard off for a CRM loader)."""
POSITIVE_IN_TEXT = 3
NEGATIVE_IN_TEXT = 1
STRENGTH_LOG_ODDS = (0.25, 0.75)
"""|contribution| (log-odds) from which a reason is of strength 2 and 3. 0.25 moves the
odds by about a quarter (x1.28), 0.75 about doubles them (x2.1). Measured on the demo's
open leads (45,002 leads, 268,730 shown reasons, model 1): 44% of the reasons shown are
of strength 1, 35% of strength 2 and 21% of strength 3 (median |contribution| 0.31)."""
ARROW = {"positive": "▲", "negative": "▼"}

ReasonLayout = Literal["inline", "lines", "detailed"]


class BatchRecord(Protocol):
    """What the store records of a ranked batch besides its rows (the Dask engine loads
    the rows partition by partition: `leadml.store.write.write_batch_parts`)."""

    @property
    def as_of(self) -> pd.Timestamp: ...
    @property
    def scored_at(self) -> pd.Timestamp: ...
    @property
    def model_version(self) -> str: ...
    @property
    def grade_mode(self) -> str: ...
    @property
    def pass_through(self) -> tuple[str, ...]: ...
    @property
    def source(self) -> str: ...
    @property
    def flat(self) -> bool: ...
    @property
    def excluded_converted(self) -> int: ...
    @property
    def excluded_not_created(self) -> int: ...
    @property
    def excluded_stale(self) -> int: ...


class RankedList(BatchRecord, Protocol):
    """What the store needs of a ranked batch (`leadml.batch.RankedBatch` is one)."""

    @property
    def frame(self) -> pd.DataFrame:
        """RANKED_COLUMNS, the pass-through columns and REASONS_JSON, in rank order."""


def rank_order(
    score: npt.ArrayLike,
    probability: npt.ArrayLike,
    raw_score: npt.ArrayLike,
    lead_id: npt.ArrayLike,
) -> np.ndarray:
    """Row positions in rank order: score, probability and raw score descending, then
    lead_id ascending. The one rank rule; it takes plain arrays so a request ranks its
    leads without building a DataFrame."""
    return np.lexsort(
        (
            np.asarray(lead_id),
            -np.asarray(raw_score, dtype=np.float64),
            -np.asarray(probability, dtype=np.float64),
            -np.asarray(score, dtype=np.int64),
        )
    )


def strength(contribution: float) -> int:
    """A reason's size, 1 (slight), 2 or 3 (strong), from its |contribution| in log-odds
    (thresholds `STRENGTH_LOG_ODDS`)."""
    size = abs(float(contribution))
    return 1 + sum(size >= edge for edge in STRENGTH_LOG_ODDS)


def arrows(side: Literal["positive", "negative"], size: int) -> str:
    """Direction and size as arrows: 'positive', 3 -> '▲▲▲'; 'negative', 1 -> '▼'."""
    return ARROW[side] * size


def render_reasons(
    reasons: Reasons,
    *,
    layout: ReasonLayout = "inline",
    positive: int | None = POSITIVE_IN_TEXT,
    negative: int | None = NEGATIVE_IN_TEXT,
) -> str:
    """The text of a reason list: the one renderer every path uses.

    Shows the first `positive` reasons for and `negative` against (None: all of them).
    - inline (the list's reasons column): "Requested a demo 3 days ago; Software company
      | Against: 4-person company";
    - lines (the terminal's table): one line per reason, its direction and size as
      arrows ("▲▲▲ Requested a demo 3 days ago", "▼ 4-person company");
    - detailed (notebooks): "+ ..." or "- ..." lines that give the size in numbers, as
      log-odds and the probability change.
    """
    sides: tuple[tuple[Literal["positive", "negative"], str, int | None], ...] = (
        ("positive", "+", positive),
        ("negative", "-", negative),
    )
    chosen = [
        (sign, reason, side)
        for side, sign, limit in sides
        for reason in reasons.get(side, [])[:limit]
    ]
    if layout == "inline":
        text = "; ".join(str(r["text"]) for sign, r, _ in chosen if sign == "+")
        against = [str(r["text"]) for sign, r, _ in chosen if sign == "-"]
        if against:
            text += (" | " if text else "") + "Against: " + "; ".join(against)
        return text
    if layout == "lines":
        return "\n".join(
            f"{arrows(side, strength(r['contribution'])):<3} {r['text']}" for _, r, side in chosen
        )
    if layout != "detailed":
        raise ValueError(f"unknown reason layout {layout!r}: inline, lines or detailed")
    return "\n".join(
        f"{sign} {r['text']} ({float(r['contribution']):+.2f} log-odds, "
        f"about {sign}{abs(float(r['probability_delta'])):.1%} probability)"
        for sign, r, _ in chosen
    )


def reasons_text(reasons: Reasons) -> str:
    """The list's reasons column: top three positive reasons, then the strongest negative."""
    return render_reasons(reasons)


def top_reason(reasons: Reasons) -> str:
    """The single strongest reason for a table row (a negative one when none is positive)."""
    if reasons.get("positive"):
        return render_reasons(reasons, positive=1, negative=0)
    return render_reasons(reasons, positive=0, negative=1)


def reason_columns(reasons: Reasons) -> tuple[str, ...]:
    """The REASON_COLUMNS cells: each reason alone, in the words of the reasons column.

    Each is rendered by `render_reasons` as a list of one, put on the "for" side so the
    text comes without the "Against:" label (the column's name says it); empty when the
    lead has fewer reasons."""
    positive = reasons.get("positive", [])[:POSITIVE_IN_TEXT]
    negative = reasons.get("negative", [])[:NEGATIVE_IN_TEXT]
    cells = [render_reasons({"positive": [r]}, positive=1, negative=0) for r in positive]
    cells += [""] * (POSITIVE_IN_TEXT - len(cells))
    cells += [render_reasons({"positive": [r]}, positive=1, negative=0) for r in negative]
    cells += [""] * (NEGATIVE_IN_TEXT - len(negative))
    return tuple(cells)


def trend_of(
    score: npt.ArrayLike, previous_score: npt.ArrayLike, points: int = TREND_POINTS
) -> np.ndarray:
    """Each lead's trend: "new" without a previous score (NaN), "improving" / "declining"
    when the score moved by at least `points` since it, "steady" otherwise. The one rule:
    the store keeps what this returns, and the list files show the same."""
    if points < 1:
        raise ValueError("trend points must be at least 1")
    now = np.asarray(score, dtype=np.float64)
    before = np.asarray(previous_score, dtype=np.float64)
    out = np.full(now.shape, "steady", dtype=object)
    out[now - before >= points] = "improving"
    out[before - now >= points] = "declining"
    out[np.isnan(before)] = "new"
    return out


def with_trend(
    frame: pd.DataFrame, previous: pd.DataFrame, points: int = TREND_POINTS
) -> pd.DataFrame:
    """A copy of a ranked frame with trend, previous_score and PREVIOUS_GRADE set against
    `previous` (index lead_id; columns score, grade: each lead's latest stored score)."""
    before = previous.reindex(frame["lead_id"].astype(str).to_numpy())
    out = frame.copy()
    out["previous_score"] = pd.array(before["score"].to_numpy(), dtype="Int64")
    grade = np.array(before["grade"].to_numpy(dtype=object), dtype=object)
    grade[pd.isna(grade)] = None
    out[PREVIOUS_GRADE] = pd.Series(grade, index=out.index, dtype=object)
    out["trend"] = trend_of(
        out["score"].to_numpy(), out["previous_score"].to_numpy(np.float64, na_value=np.nan), points
    )
    return out


def encode_reasons(reasons: Reasons) -> str:
    """Reasons as compact JSON for storage: one array per reason, in REASON_KEYS order.

    About a kilobyte per lead; a million leads encode in a few seconds (orjson).
    """
    packed = {
        key: [[r.get(k) for k in REASON_KEYS] for r in reasons.get(name, [])]
        for key, name in (("p", "positive"), ("n", "negative"))
    }
    return orjson.dumps(packed, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def decode_reasons(payload: str | None) -> Reasons:
    """Structured reasons ({"positive": [...], "negative": [...]}) from `encode_reasons`."""
    data = orjson.loads(payload) if payload else {}
    return {
        name: [dict(zip(REASON_KEYS, item, strict=True)) for item in data.get(key, [])]
        for key, name in (("p", "positive"), ("n", "negative"))
    }


def csv_cells(
    table: pd.DataFrame, renames: Mapping[str, str], *, formula_guard: bool = True
) -> pd.DataFrame:
    """The list as a CSV file holds it, the one rule for `leadml score`'s file and the
    API's download: text a spreadsheet would run escaped (`escape_formulas`, unless
    `[score] csv_formula_guard` is off) and columns under their `[score.columns]` names."""
    cells = escape_formulas(table) if formula_guard else table
    return cells.rename(columns=dict(renames))


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to open in a spreadsheet: text cells that start like a formula get a '.

    Cells starting with one of `FORMULA_START` (e.g. a company "=HYPERLINK(...)",
    "|calc", "＝1+1") are prefixed with a single quote, as OWASP advises for CSV files.
    Numbers are left alone, whether numeric columns or text that is just a number
    ("-5", "+1.5e3"), and so are phone numbers ("+44 20 7946 0000"). Use it for CSV output
    only; Parquet keeps the values as they are.
    """
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object and not pd.api.types.is_string_dtype(column.dtype):
            continue
        values = column.to_numpy(dtype=object)
        risky = [
            i
            for i, v in enumerate(values)
            if isinstance(v, str) and v[:1] in FORMULA_START and not _HARMLESS.fullmatch(v)
        ]
        if not risky:
            continue
        values = values.copy()
        for i in risky:
            values[i] = "'" + values[i]
        out[name] = pd.Series(values, index=out.index, dtype=column.dtype, name=name)
    return out
