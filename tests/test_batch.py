"""Batch scoring's core: open leads as of a moment, ranked, explained and graded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import schema
from leadml.batch import (
    drop_stale,
    grades_within_batch,
    open_leads,
    parse_as_of,
    score_open_leads,
)
from leadml.config import GradesConfig
from leadml.data.load import Dataset
from leadml.errors import InputError
from leadml.features.matrix import unseen_warnings
from leadml.model.labels import data_end
from leadml.model.pipeline import TrainedModel
from leadml.ranked import RANKED_COLUMNS, REASONS_JSON, decode_reasons, reasons_text
from leadml.scoring import Scorer
from leadml.warning_lines import LeadCount, merge_warnings

PII = ("contact_name", "email", "phone")


@pytest.fixture(scope="module")
def as_of(small_data: Dataset) -> pd.Timestamp:
    return parse_as_of("latest", small_data.leads, small_data.events)


@pytest.fixture(scope="module")
def batch_small(small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp) -> object:
    return score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        pass_through=PII,
        chunk_size=700,
    )


def test_open_leads_are_created_and_not_yet_converted() -> None:
    stamp = pd.Timestamp("2025-03-01", tz="UTC")
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: ["open", "won", "won_later", "future"],
            schema.CREATED_AT: pd.to_datetime(
                ["2025-01-01", "2025-01-01", "2025-01-01", "2025-04-01"], utc=True
            ),
            schema.CONVERTED_AT: pd.to_datetime(
                pd.Series([None, "2025-02-01", "2025-05-01", None]), utc=True
            ),
        }
    )
    todo, converted, unborn = open_leads(leads, stamp)
    assert todo[schema.LEAD_ID].tolist() == ["open", "won_later"]
    assert (converted, unborn) == (1, 1)


def test_batch_scores_only_open_leads_in_rank_order(
    batch_small: object, small_data: Dataset, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    frame = batch_small.frame
    expected, converted, unborn = open_leads(small_data.leads, as_of)
    assert sorted(frame["lead_id"]) == sorted(expected[schema.LEAD_ID])
    assert batch_small.excluded_converted == converted > 0
    assert batch_small.excluded_not_created == unborn
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    columns = (-frame["score"], -frame["probability"], -frame["raw_score"], frame["lead_id"])
    keys = list(zip(*columns, strict=True))
    assert keys == sorted(keys)
    assert frame["score"].between(1, 99).all()
    assert set(frame["grade"]) <= set("ABCD")
    table = batch_small.table()
    assert list(table.columns) == [*RANKED_COLUMNS, *PII]
    by_id = small_data.leads.set_index(schema.LEAD_ID)
    first = table.iloc[0]
    for column in ("company", "lead_source", *PII):
        assert first[column] == by_id.loc[first["lead_id"], column]
    assert batch_small.table(top=7)["rank"].tolist() == list(range(1, 8))


def test_batch_numbers_and_reasons_are_the_scorers(
    batch_small: object, small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    frame = batch_small.frame.set_index("lead_id")
    sample = frame.index[:: max(1, len(frame) // 150)]
    leads = small_data.leads[small_data.leads[schema.LEAD_ID].isin(sample)]
    direct = Scorer(trained.bundle).score(leads, small_data.events, as_of=as_of).frame
    np.testing.assert_allclose(
        frame.loc[direct.index, "probability"], direct["probability"], rtol=0, atol=1e-12
    )
    assert frame.loc[direct.index, "grade"].tolist() == direct["grade"].tolist()
    assert frame.loc[direct.index, "stage"].tolist() == direct["stage"].tolist()
    for lead_id, reasons in direct["reasons"].items():
        assert frame.loc[lead_id, "reasons"] == reasons_text(reasons)
        stored = decode_reasons(frame.loc[lead_id, REASONS_JSON])
        assert [r["text"] for r in stored["positive"]] == [r["text"] for r in reasons["positive"]]


def test_chunk_size_changes_nothing_and_progress_reaches_the_end(
    small_data: Dataset, trained: TrainedModel, batch_small: object, as_of: pd.Timestamp
) -> None:
    from leadml.batch import RankedBatch

    assert isinstance(batch_small, RankedBatch)
    seen: list[tuple[int, int]] = []
    whole = score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        pass_through=PII,
        chunk_size=1_000_000,
        on_progress=lambda done, total: seen.append((done, total)),
        scored_at=batch_small.scored_at,
    )
    pd.testing.assert_frame_equal(whole.frame, batch_small.frame)
    n = len(whole.frame)
    assert seen == [(0, n), (n, n)]


def test_batch_grade_mode_takes_the_shares_of_this_batch(
    small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    relative = score_open_leads(
        small_data.leads,
        small_data.events,
        Scorer(trained.bundle),
        as_of=as_of,
        grade_mode="batch",
    )
    shares = relative.frame["grade"].value_counts(normalize=True)
    assert shares["A"] == pytest.approx(0.10, abs=0.03)
    assert shares["B"] == pytest.approx(0.20, abs=0.04)
    assert shares["C"] == pytest.approx(0.30, abs=0.05)
    assert relative.grade_mode == "batch"
    # Grades still follow the ranking: no A below a B.
    order = relative.frame["grade"].map({"A": 0, "B": 1, "C": 2, "D": 3}).to_numpy()
    assert (np.diff(order) >= 0).all()


def test_relative_grades_keep_ties_together() -> None:
    p = np.array([0.9, 0.9, 0.9, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
    grades = grades_within_batch(p)
    assert grades[0] == grades[1] == grades[2] == "A"
    assert grades[8] == grades[9] == "D"
    assert grades_within_batch(np.array([])).size == 0


def test_unknown_grade_mode_is_a_named_error(small_data: Dataset, trained: TrainedModel) -> None:
    with pytest.raises(InputError) as caught:
        score_open_leads(
            small_data.leads.head(5),
            small_data.events,
            Scorer(trained.bundle),
            as_of=pd.Timestamp("2025-01-01", tz="UTC"),
            grade_mode="curve",
        )
    assert caught.value.column == "grade_mode"


def test_missing_pass_through_columns_are_empty_with_a_warning(
    small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    leads = small_data.leads.drop(columns=["phone"]).head(300)
    batch = score_open_leads(
        leads, small_data.events, Scorer(trained.bundle), as_of=as_of, pass_through=PII
    )
    assert batch.frame["phone"].isna().all()
    assert any("'phone'" in w for w in batch.warnings)


def test_no_open_leads_gives_an_empty_list(small_data: Dataset, trained: TrainedModel) -> None:
    early = small_data.leads[schema.CREATED_AT].min() - pd.Timedelta(days=1)
    batch = score_open_leads(
        small_data.leads, small_data.events, Scorer(trained.bundle), as_of=early
    )
    assert len(batch.frame) == 0
    assert list(batch.table().columns) == list(RANKED_COLUMNS)
    assert batch.summary().leads_scored == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-30", "2025-06-30T00:00:00+00:00"),
        ("2025-06-30T08:30", "2025-06-30T08:30:00+00:00"),
        ("2025-06-30T10:30+02:00", "2025-06-30T08:30:00+00:00"),
        ("now", "2024-02-03T04:05:06+00:00"),
        (None, "2024-02-03T04:05:06+00:00"),
    ],
)
def test_as_of_is_read_as_utc(text: str | None, expected: str) -> None:
    empty = pd.DataFrame()
    now = pd.Timestamp("2024-02-03T04:05:06Z")
    assert parse_as_of(text, empty, empty, now=now).isoformat() == expected


def test_as_of_latest_is_the_midnight_after_the_data(small_data: Dataset) -> None:
    stamp = parse_as_of("latest", small_data.leads, small_data.events)
    end = data_end(small_data.leads, small_data.events)
    assert stamp > end and stamp - end <= pd.Timedelta(days=1)
    assert stamp == stamp.floor("D")


@pytest.mark.parametrize("text", ["yesterday-ish", "2025-13-45"])
def test_a_bad_as_of_names_the_option(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_as_of(text, pd.DataFrame(), pd.DataFrame())
    assert caught.value.option == "--as-of"


def test_events_older_than_the_features_tell_apart_are_warned_about(
    small_data: Dataset, trained: TrainedModel, as_of: pd.Timestamp
) -> None:
    """The batch path says what the API says: an event ~136 years before the scoring moment
    counts as exactly that old. A normal batch has no such warning."""
    leads = small_data.leads.head(200)
    events = small_data.events[small_data.events[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    events = events.copy()
    events.loc[events.index[:3], schema.OCCURRED_AT] = pd.Timestamp("1850-01-01", tz="UTC")
    scorer = Scorer(trained.bundle)
    clean = score_open_leads(leads, small_data.events, scorer, as_of=as_of)
    assert not any("years before" in w for w in clean.warnings)
    batch = score_open_leads(leads, events, scorer, as_of=as_of)
    found = [w for w in batch.warnings if "years before" in w]
    assert len(found) == 1 and found[0].startswith("3 event(s) more than 136 years")


def test_stale_leads_are_left_out_and_counted_and_batch_shares_come_from_config(
    small_data: Dataset, trained: TrainedModel
) -> None:
    leads = small_data.leads.sort_values(schema.CREATED_AT).head(900)
    as_of = leads[schema.CREATED_AT].iloc[800].ceil("D")
    everyone, converted, _ = open_leads(leads, as_of)
    age = (as_of - everyone[schema.CREATED_AT]).dt.total_seconds() / 86_400
    old = set(everyone.loc[np.floor(age) > 60, schema.LEAD_ID])
    assert 0 < len(old) < len(everyone)
    shares = GradesConfig(shares=(25, 25, 25, 25)).fractions()
    batch = score_open_leads(
        leads, small_data.events, Scorer(trained.bundle), as_of=as_of,
        grade_mode="batch", grade_shares=shares, max_open_days=60,
    )  # fmt: skip
    listed = set(batch.frame["lead_id"])
    assert not listed & old and listed | old == set(everyone[schema.LEAD_ID])
    summary = batch.summary()
    assert summary.excluded_stale == len(old) and summary.max_open_days == 60
    assert summary.excluded_converted == converted
    counts = batch.frame["grade"].value_counts(normalize=True)
    for grade in "ABCD":
        assert counts[grade] == pytest.approx(0.25, abs=0.05)
    unlimited, _ = drop_stale(everyone, as_of, 0)
    assert len(unlimited) == len(everyone)


def test_warnings_of_chunks_or_partitions_merge_as_if_scored_at_once() -> None:
    older = "{n} leads are older than any lead the model was trained on (400 days): ..."
    # 8 unseen values: 5 named, "3 more"; 'fax' once in one chunk, 3 times in the other.
    first = ["fax", *(f"v{i}" for i in range(7)), "v0"]
    second = ["fax", "fax", "fax", "v6", "w1"]
    parts = [
        [LeadCount(older, 3), *unseen_warnings("industry", first), "column 'phone' is empty"],
        [LeadCount(older, 1200), "column 'phone' is empty", *unseen_warnings("industry", second)],
        ["another warning", *unseen_warnings("country", ["Atlantis"])],
    ]
    merged = merge_warnings(parts)
    assert merged == (
        older.format(n="1,203"),
        *unseen_warnings("industry", first + second),
        "column 'phone' is empty",
        "another warning",
        *unseen_warnings("country", ["Atlantis"]),
    )
    industry = [line for line in merged if "industry" in line]
    assert industry[0] == (
        "industry 'fax' is not in the data the model was trained on (4 leads): "
        "scored as unknown, like a missing value"
    )
    # 9 distinct values in all: 5 named and "4 more" (values, not leads, and not 3 + 3)
    assert industry[-1].startswith("4 more industry values") and len(industry) == 6
    # the merged lines merge again (a batch's warnings with another partition's)
    assert merge_warnings([merged, parts[1]]) == merge_warnings([*parts, parts[1]])
