"""The ranked list's contract: reasons encoding and text, formula escaping, the rank rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.ranked import (
    NO_SOURCE,
    PREVIOUS_GRADE,
    REASON_KEYS,
    REASONS_JSON,
    STRENGTH_LOG_ODDS,
    arrows,
    csv_cells,
    decode_reasons,
    encode_reasons,
    escape_formulas,
    rank_order,
    reason_columns,
    reasons_text,
    render_reasons,
    strength,
    top_reason,
    trend_of,
    with_trend,
)


def _reason(text: str, contribution: float) -> dict[str, object]:
    return {
        "field": "f",
        "feature": "f_col",
        "value": 1.5,
        "contribution": contribution,
        "probability_delta": contribution / 10,
        "text": text,
    }


def test_reasons_text_lists_three_for_and_one_against() -> None:
    reasons = {
        "positive": [_reason(f"good {k}", 1.0 / (k + 1)) for k in range(3)],
        "negative": [_reason("bad 0", -0.5), _reason("bad 1", -0.1)],
    }
    assert reasons_text(reasons) == "good 0; good 1; good 2 | Against: bad 0"
    assert top_reason(reasons) == "good 0"
    only_bad = {"positive": [], "negative": reasons["negative"]}
    assert reasons_text(only_bad) == "Against: bad 0"
    assert top_reason(only_bad) == "Against: bad 0"
    assert reasons_text({"positive": [], "negative": []}) == top_reason({}) == ""


def test_encoded_reasons_round_trip() -> None:
    reasons = {
        "positive": [_reason("Requested a demo 2 days ago", 0.123456789)],
        "negative": [{**_reason("Zürich – small team", -0.5), "value": None}],
    }
    back = decode_reasons(encode_reasons(reasons))
    assert back["positive"][0]["contribution"] == 0.123456789
    assert back["negative"][0]["text"] == "Zürich – small team"
    assert back["negative"][0]["value"] is None
    assert set(back["positive"][0]) == set(reasons["positive"][0])
    assert decode_reasons(None) == {"positive": [], "negative": []}


def test_csv_cells_that_start_like_formulas_get_a_quote() -> None:
    text = ["=1+1", "+44 20 7946", "-5", "@SUM(A1)", "\tx", "\rx", "ok", None, "-", "1e5"]
    frame = pd.DataFrame(
        {
            "company": pd.Series(text, dtype="str"),
            "score": np.arange(-5, 5),
            "mixed": pd.Series([-2.5, "=x", None, "+1.5e3", 7, "a", "b", "c", "d", "e"]),
        }
    )
    safe = escape_formulas(frame)
    want = ["'=1+1", "+44 20 7946", "-5", "'@SUM(A1)", "'\tx", "'\rx", "ok", None, "'-", "1e5"]
    got = safe["company"].tolist()
    assert [None if pd.isna(v) else v for v in got] == want
    assert safe["company"].dtype == frame["company"].dtype
    assert safe["score"].tolist() == list(range(-5, 5))  # numbers are not text
    assert safe["mixed"].tolist()[:5] == [-2.5, "'=x", None, "+1.5e3", 7]
    assert frame["company"].iloc[0] == "=1+1", "the input frame is left as it was"


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ('=HYPERLINK("http://x","y")', True),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3+cmd|' /C calc'!A0", True),
        ("@SUM(1+9)*cmd|' /C calc'!A0", True),
        ("|calc", True),
        ("\tx", True),
        ("\rx", True),
        ("\nx", True),
        ("\uff1d1+1", True),  # full-width =
        ("\uff0bcmd|' /C calc'!A0", True),  # full-width +
        ("\uff0d1", True),  # full-width -
        ("\uff20SUM(A1)", True),  # full-width @
        ("+44 20 7946 0000", False),
        ("+1 (555) 010 0100", False),
        ("+1-555-0100", True),  # a spreadsheet computes 1-555-100
        ("-5", False),
        ("+1.5e3", False),
        ("Acme | Co", False),
        ("plain", False),
    ],
)
def test_the_formula_guard_covers_the_owasp_list_and_leaves_numbers_and_phones(
    cell: str, escaped: bool
) -> None:
    safe = escape_formulas(pd.DataFrame({"text": pd.Series([cell], dtype=object)}))
    assert safe["text"].iloc[0] == ("'" + cell if escaped else cell)


def _pandas_rank(frame: pd.DataFrame) -> list[str]:
    """The batch rule as batch.py wrote it before `rank_order`: a pandas multi-key sort."""
    ordered = frame.sort_values(
        ["score", "probability", "raw_score", "lead_id"],
        ascending=[False, False, False, True],
        kind="mergesort",
    )
    return ordered["lead_id"].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_order_is_the_pandas_sort_on_heavily_tied_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    raw = rng.integers(0, 40, n) / 8.0  # few distinct raw scores: full ties happen
    probability = np.floor(raw / 1.5) / 10.0  # flat steps, like isotonic calibration
    frame = pd.DataFrame(
        {
            "score": (probability * 90).astype(np.int64) + 1,
            "probability": probability,
            "raw_score": raw,
            "lead_id": np.array([f"L{k:05d}" for k in rng.permutation(n)], dtype=object),
        }
    )
    assert frame.duplicated(["score", "probability", "raw_score"]).sum() > n // 2
    order = rank_order(frame["score"], frame["probability"], frame["raw_score"], frame["lead_id"])
    assert frame["lead_id"].to_numpy()[order].tolist() == _pandas_rank(frame)


@pytest.mark.parametrize(
    ("score", "probability", "raw", "ids", "expected"),
    [
        ([50, 60], [0.5, 0.5], [0.0, 0.0], ["a", "b"], ["b", "a"]),  # score first
        ([50, 50], [0.4, 0.5], [9.0, 0.0], ["a", "b"], ["b", "a"]),  # then probability
        ([50, 50], [0.5, 0.5], [0.1, 0.2], ["a", "b"], ["b", "a"]),  # then raw score
        ([50, 50], [0.5, 0.5], [0.2, 0.2], ["b", "a"], ["a", "b"]),  # then lead_id
        ([], [], [], [], []),
    ],
)
def test_rank_order_breaks_ties_in_its_order(
    score: list[int],
    probability: list[float],
    raw: list[float],
    ids: list[str],
    expected: list[str],
) -> None:
    order = rank_order(score, probability, raw, ids)
    assert [ids[i] for i in order] == expected


def test_rank_order_takes_numpy_arrays_of_either_text_kind() -> None:
    ids = ["L10", "L9", "L1"]
    args = (np.array([7, 7, 7]), np.array([0.2, 0.2, 0.2]), np.array([1.0, 1.0, 1.0]))
    as_text = rank_order(*args, np.array(ids))
    as_objects = rank_order(*args, np.array(ids, dtype=object))
    assert as_text.tolist() == as_objects.tolist() == [2, 0, 1]  # text order: L1 < L10 < L9


def test_the_renderer_lays_out_the_terminal_and_notebook_lines() -> None:
    reasons = {
        "positive": [_reason(f"good {k}", 1.0 / (k + 1)) for k in range(4)],
        "negative": [_reason("bad 0", -0.5), _reason("bad 1", -0.1)],
    }
    # contributions 1, 1/2, 1/3 for; -0.5 against: arrows give direction and size
    assert render_reasons(reasons, layout="lines").splitlines() == [
        "▲▲▲ good 0",
        "▲▲  good 1",
        "▲▲  good 2",
        "▼▼  bad 0",
    ]
    everything = render_reasons(reasons, layout="lines", positive=None, negative=None)
    assert everything.splitlines()[-1] == "▼   bad 1" and len(everything.splitlines()) == 6
    detailed = render_reasons(reasons, layout="detailed", positive=1, negative=1)
    assert detailed.splitlines() == [
        "+ good 0 (+1.00 log-odds, about +10.0% probability)",
        "- bad 0 (-0.50 log-odds, about -5.0% probability)",
    ]
    assert render_reasons(reasons, positive=0, negative=2) == "Against: bad 0; bad 1"
    assert render_reasons({}, layout="lines") == render_reasons({}, layout="detailed") == ""


def test_the_three_reason_texts_come_from_the_one_renderer() -> None:
    """The list's column, the terminal's table and the notebooks show the same reasons."""
    from leadml.monitor.insights import reason_lines

    reasons = decode_reasons(
        encode_reasons(
            {
                "positive": [_reason("Requested a demo 2 days ago", 0.9)],
                "negative": [_reason("Gmail address", -0.4), _reason("1 employee", -0.2)],
            }
        )
    )
    assert reasons_text(reasons) == "Requested a demo 2 days ago | Against: Gmail address"
    shown = render_reasons(reasons, layout="lines").splitlines()
    assert shown == ["▲▲▲ Requested a demo 2 days ago", "▼▼  Gmail address"]
    notebook = reason_lines(reasons)
    assert [line.split(" (")[0][2:] for line in notebook[:2]] == [s[4:] for s in shown]
    assert len(notebook) == 3 and reason_lines({}) == []


def test_the_terminal_table_shows_the_renderers_lines() -> None:
    """`leadml score`'s top-10 table prints each lead's reasons as the renderer lays them out."""
    from leadml.batch import RankedBatch
    from leadml.cli.common import console
    from leadml.cli.render import print_batch_outcome
    from leadml.jobs.score import BatchOutcome

    reasons = {
        "positive": [_reason(f"for {k}", 1.0 / (k + 1)) for k in range(4)],
        "negative": [_reason("against 0", -0.5), _reason("against 1", -0.2)],
    }
    stamp = pd.Timestamp("2025-06-30", tz="UTC")
    frame = pd.DataFrame(
        {
            "rank": [1],
            "lead_id": ["L1"],
            "company": ["Acme"],
            "lead_source": ["webinar"],
            "stage": ["MQL"],
            "score": [91],
            "grade": ["A"],
            "trend": ["improving"],
            "previous_score": pd.array([84], dtype="Int64"),
            REASONS_JSON: [encode_reasons(reasons)],
        }
    )
    batch = RankedBatch(frame, stamp, stamp, "3", "model", ())
    with console.capture() as captured:
        print_batch_outcome(BatchOutcome(batch, None, None, None))
    assert "Webinar / MQL" in captured.get() and "▲ from 84" in captured.get()
    shown = render_reasons(reasons, layout="lines").splitlines()
    cells = [line.strip(" │┃|") for line in captured.get().splitlines()]
    found = [next((c for c in cells if c.endswith(line)), None) for line in shown]
    assert None not in found, captured.get()
    assert "for 3" not in captured.get() and "against 1" not in captured.get()


@pytest.mark.parametrize("side", ["positive", "negative"])
def test_strength_grows_with_the_size_of_a_contribution_either_way(side: str) -> None:
    sign = 1 if side == "positive" else -1
    low, high = STRENGTH_LOG_ODDS
    sizes = [0.0, low / 2, low, (low + high) / 2, high, high * 4]
    found = [strength(sign * size) for size in sizes]
    assert found == [1, 1, 2, 2, 3, 3]
    assert found == sorted(found)  # never weaker for a bigger push
    arrow = "▲" if side == "positive" else "▼"
    assert [arrows(side, k) for k in (1, 2, 3)] == [arrow, arrow * 2, arrow * 3]  # type: ignore[arg-type]


def test_the_list_text_stays_plain_words_for_a_crm_import() -> None:
    reasons = {
        "positive": [_reason("Requested a demo 3 days ago", 2.0)],
        "negative": [_reason("4-person company", -1.0)],
    }
    text = reasons_text(reasons)
    assert text == "Requested a demo 3 days ago | Against: 4-person company"
    assert not set(text) & set("▲▼") and not set(top_reason(reasons)) & set("▲▼")


def test_old_stored_reasons_still_decode_and_render() -> None:
    """Rows written before the arrows (same packed layout) read and render as today's."""
    old = '{"p":[["demo_request events","days_since_last_demo_request",3.2,0.9,0.12,' \
        '"Last requested a demo 3 days before scoring"]],"n":[]}'  # fmt: skip
    back = decode_reasons(old)
    assert list(back["positive"][0]) == list(REASON_KEYS)
    assert back["positive"][0]["contribution"] == 0.9
    assert render_reasons(back, layout="lines") == (
        "▲▲▲ Last requested a demo 3 days before scoring"
    )


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reason layout"):
        render_reasons({}, layout="table")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sources", "line"),
    [
        (["webinar"] * 3 + ["unknown"], "Top sources among A leads: webinar 3, unknown 1"),
        ([NO_SOURCE] * 4, "Top sources among A leads: no source column mapped"),
    ],
)
def test_the_terminal_names_a_missing_source_column_instead_of_unknown_for_all(
    sources: list[str], line: str
) -> None:
    from leadml.batch import RankedBatch
    from leadml.cli.common import console
    from leadml.cli.render import print_batch_outcome
    from leadml.jobs.score import BatchOutcome

    stamp = pd.Timestamp("2025-06-30", tz="UTC")
    n = len(sources)
    frame = pd.DataFrame(
        {
            "rank": range(1, n + 1),
            "lead_id": [f"L{i}" for i in range(n)],
            "company": ["Acme"] * n,
            "lead_source": sources,
            "stage": ["none"] * n,
            "score": [91] * n,
            "grade": ["A"] * n,
            "trend": ["new"] * n,
            "previous_score": pd.array([None] * n, dtype="Int64"),
            REASONS_JSON: [encode_reasons({"positive": [_reason("Total visits: 5", 1.0)]})] * n,
        }
    )
    batch = RankedBatch(frame, stamp, stamp, "3", "model", (), flat=True)
    summary = batch.summary()
    assert summary.source_mapped is (NO_SOURCE not in sources)
    assert all(source != NO_SOURCE for source, _ in summary.top_sources_a)
    with console.capture() as captured:
        print_batch_outcome(BatchOutcome(batch, None, None, None))
    assert line in captured.get()
    if NO_SOURCE in sources:
        assert "unknown" not in captured.get()


@pytest.mark.parametrize(
    ("score", "previous", "expected"),
    [
        (50, None, "new"),
        (55, 50, "improving"),
        (54, 50, "steady"),
        (46, 50, "steady"),
        (45, 50, "declining"),
    ],
)
def test_trend_is_one_rule_against_the_previous_score(
    score: int, previous: int | None, expected: str
) -> None:
    before = np.nan if previous is None else previous
    assert trend_of(np.array([score]), np.array([before]), 5).tolist() == [expected]


def test_with_trend_sets_previous_score_grade_and_trend_by_lead_id() -> None:
    frame = pd.DataFrame({"lead_id": ["a", "b", "c"], "score": [80, 40, 60]})
    previous = pd.DataFrame({"score": [60, 70], "grade": ["B", "A"]}, index=["a", "b"])
    out = with_trend(frame, previous, points=5)
    assert out["trend"].tolist() == ["improving", "declining", "new"]
    assert out["previous_score"].tolist()[:2] == [60, 70] and pd.isna(out["previous_score"][2])
    assert out[PREVIOUS_GRADE].tolist() == ["B", "A", None]
    assert "trend" not in frame  # the input is left as it was


def test_reason_columns_use_the_words_of_the_reasons_text() -> None:
    def reason(text: str) -> dict[str, object]:
        return {"field": "f", "feature": "f", "value": 1, "contribution": 0.1,
                "probability_delta": 0.01, "text": text}  # fmt: skip

    reasons = {
        "positive": [reason(f"for {k}") for k in range(4)],
        "negative": [reason("against 0"), reason("against 1")],
    }
    cells = reason_columns(reasons)
    assert cells == ("for 0", "for 1", "for 2", "against 0")
    text = reasons_text(reasons)  # the same words as the joined column, in its order
    assert [text.index(c) for c in cells] == sorted(text.index(c) for c in cells)
    assert reason_columns({"positive": [reason("only")], "negative": []}) == ("only", "", "", "")


def test_csv_cells_guard_and_rename_as_the_settings_say() -> None:
    table = pd.DataFrame({"company": ["=1+1", "Acme"], "score": [91, 12]})
    guarded = csv_cells(table, {"score": "Lead_Score__c"})
    assert list(guarded.columns) == ["company", "Lead_Score__c"]
    assert guarded["company"].tolist() == ["'=1+1", "Acme"]
    raw = csv_cells(table, {}, formula_guard=False)
    assert raw["company"].tolist() == ["=1+1", "Acme"] and list(raw.columns) == ["company", "score"]
