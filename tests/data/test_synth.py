"""The synthetic funnel: determinism, atomic writes, realistic behaviour, truth and defects."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadml import schema
from leadml.data.synth import (
    EXTRACTED_AT,
    Funnel,
    generate_funnel,
    write_file_defects,
    write_funnel,
)
from leadml.data.synth.truth import true_probability_from_tables
from leadml.errors import InputError

CUTOFF = pd.Timedelta(days=schema.STANDARD_OBSERVATION_DAYS)
WINDOW = pd.Timedelta(days=schema.STANDARD_WINDOW_DAYS)
INBOUND = ("referral", "webinar", "direct")
OUTBOUND = ("outbound_call", "purchased_list")


@pytest.fixture(scope="module")
def funnel() -> Funnel:
    return generate_funnel(25_000, seed=7)


def canonical(values: pd.Series, aliases: dict[str, str]) -> pd.Series:
    mapping = {v: schema.canonical_category(v, aliases) for v in values.dropna().unique()}
    return values.map(mapping)


def window_labels(leads: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(label, usable): converted in (cutoff, cutoff + window]; eligible and not censored."""
    cutoff = leads[schema.CREATED_AT] + CUTOFF
    converted = leads[schema.CONVERTED_AT]
    label = (converted > cutoff) & (converted <= cutoff + WINDOW)
    usable = truth[schema.ELIGIBLE] & (cutoff + WINDOW <= EXTRACTED_AT)
    return label, usable


def file_hashes(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


# --- determinism and writing -------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    first = write_funnel(generate_funnel(1_500, seed=3), tmp_path / "a", fmt=fmt)
    second = write_funnel(generate_funnel(1_500, seed=3), tmp_path / "b", fmt=fmt)
    assert [p.name for p in first] == [f"leads.{fmt}", f"events.{fmt}", f"truth.{fmt}"]
    assert file_hashes(first) == file_hashes(second)


def test_same_seed_identical_across_processes(tmp_path: Path) -> None:
    """No hash-order or wall-clock dependence: a fresh interpreter writes the same bytes."""
    code = (
        "import sys; from pathlib import Path; from leadml.data.synth import generate_funnel, "
        "write_funnel; write_funnel(generate_funnel(800, seed=5), Path(sys.argv[1]), fmt='csv')"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "child")], check=True, env=env)
    here = write_funnel(generate_funnel(800, seed=5), tmp_path / "here", fmt="csv")
    child = [tmp_path / "child" / p.name for p in here]
    assert file_hashes(here) == file_hashes(child)


def test_different_seed_gives_different_data() -> None:
    a, b = generate_funnel(1_000, seed=1), generate_funnel(1_000, seed=2)
    assert not a.leads.equals(b.leads)
    assert not a.events.equals(b.events)
    assert not np.allclose(a.truth[schema.TRUE_PROBABILITY], b.truth[schema.TRUE_PROBABILITY])


def test_write_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="format"):
        write_funnel(generate_funnel(100, seed=1), tmp_path / "out", fmt="xlsx")


def test_failed_write_leaves_old_files_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    old = file_hashes(write_funnel(generate_funnel(200, seed=1), out))
    good = generate_funnel(200, seed=2)
    unwritable = good.events.assign(extra=[object()] * len(good.events))  # no Parquet type
    broken = Funnel(leads=good.leads, events=unwritable, truth=good.truth)
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, nothing is half-written
        write_funnel(broken, out)
    assert file_hashes(sorted(out.iterdir())) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_write_replaces_the_other_format(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    write_funnel(generate_funnel(200, seed=1), out, fmt="csv")
    write_funnel(generate_funnel(200, seed=1), out, fmt="parquet")
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet",
        "leads.parquet",
        "truth.parquet",
    ]


def test_parquet_round_trip_keeps_types(tmp_path: Path) -> None:
    funnel = generate_funnel(300, seed=4)
    write_funnel(funnel, tmp_path / "d")
    leads = pd.read_parquet(tmp_path / "d" / "leads.parquet")
    pd.testing.assert_frame_equal(leads, funnel.leads)


def test_rejects_no_leads() -> None:
    with pytest.raises(InputError):
        generate_funnel(0, seed=1)


def test_steps_go_to_the_callback_only_and_leave_the_data_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    heard: list[str] = []
    told = generate_funnel(200, seed=1, with_defects=True, on_step=heard.append)
    assert heard == [
        "drawing leads",
        "events before the cutoff",
        "ground truth",
        "events after the cutoff",
        "building tables",
        "injecting defects",
    ]
    assert capsys.readouterr().out == ""  # the core prints nothing itself
    silent = generate_funnel(200, seed=1, with_defects=True)
    a = write_funnel(told, tmp_path / "told", fmt="csv")
    b = write_funnel(silent, tmp_path / "silent", fmt="csv")
    assert file_hashes(a) == file_hashes(b)


def test_the_data_stage_imports_no_terminal_code() -> None:
    # Progress is shown by the CLI (`leadml.cli.progress`); data/ only calls back.
    import ast

    src = Path(__file__).parents[2] / "src"
    found = []
    for path in sorted((src / "leadml" / "data").rglob("*.py")):
        package = list(path.relative_to(src).parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - max(node.level - 1, 0)] if node.level else []
                names = [".".join([*base, *([node.module] if node.module else [])])]
            found += [
                f"{path.name}: {name}"
                for name in names
                if name.split(".")[0] == "rich" or name.startswith("leadml.cli")
            ]
    assert found == []


# --- shape of the data -------------------------------------------------------


def test_columns_and_types(funnel: Funnel) -> None:
    leads, events, truth = funnel.leads, funnel.events, funnel.truth
    lead_columns = {*schema.LEAD_REQUIRED, *schema.LEAD_OPTIONAL}
    assert set(leads.columns) == lead_columns
    assert list(events.columns) == list(schema.EVENT_REQUIRED)
    assert list(truth.columns) == [schema.LEAD_ID, schema.TRUE_PROBABILITY, schema.ELIGIBLE]
    for frame, col in [(leads, schema.CREATED_AT), (leads, schema.CONVERTED_AT)]:
        assert str(frame[col].dt.tz) == "UTC"
    assert str(events[schema.OCCURRED_AT].dt.tz) == "UTC"
    assert leads[schema.LEAD_ID].is_unique
    assert truth[schema.LEAD_ID].tolist() == leads[schema.LEAD_ID].tolist()
    assert set(events[schema.LEAD_ID]) <= set(leads[schema.LEAD_ID])
    assert set(events[schema.EVENT_TYPE]) <= {*schema.EVENT_TYPES, *schema.POST_CONVERSION_EVENTS}


def test_timeline_and_extraction(funnel: Funnel) -> None:
    created = funnel.leads[schema.CREATED_AT]
    assert created.min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert created.max() < EXTRACTED_AT
    assert pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=730) == EXTRACTED_AT
    assert funnel.events[schema.OCCURRED_AT].max() <= EXTRACTED_AT
    assert funnel.leads[schema.CONVERTED_AT].max() <= EXTRACTED_AT


def test_conversion_rate_in_range(funnel: Funnel) -> None:
    rate = funnel.leads[schema.CONVERTED_AT].notna().mean()
    assert 0.05 <= rate <= 0.15


def test_inbound_converts_far_more_than_outbound(funnel: Funnel) -> None:
    source = canonical(funnel.leads[schema.LEAD_SOURCE], schema.SOURCE_ALIASES)
    by_source = funnel.leads[schema.CONVERTED_AT].notna().groupby(source).mean()
    assert by_source[list(INBOUND)].min() > 2 * by_source[list(OUTBOUND)].max()
    inbound = funnel.leads[schema.CONVERTED_AT].notna()[source.isin(INBOUND)].mean()
    outbound = funnel.leads[schema.CONVERTED_AT].notna()[source.isin(OUTBOUND)].mean()
    assert inbound > 5 * outbound


def test_sources_differ_in_volume_and_cost(funnel: Funnel) -> None:
    source = canonical(funnel.leads[schema.LEAD_SOURCE], schema.SOURCE_ALIASES)
    assert set(source) == set(schema.LEAD_SOURCES)
    share = source.value_counts(normalize=True)
    assert share.max() > 3 * share.min()
    cost = funnel.leads[schema.ACQUISITION_COST].groupby(source).median()
    assert cost["event"] > 10 * cost["purchased_list"]
    assert (funnel.leads[schema.ACQUISITION_COST] > 0).all()


def test_stages_follow_behaviour(funnel: Funnel) -> None:
    from leadml.data.summary import highest_stage

    stage = highest_stage(funnel.leads, funnel.events)
    counts = stage.value_counts()
    assert counts["IQL"] > counts["MQL"] > counts["SQL"] > counts["PQL"]
    rate = funnel.leads[schema.CONVERTED_AT].notna().groupby(stage).mean()
    assert rate["SQL"] > 5 * rate["IQL"]
    assert rate["PQL"] > 5 * rate["IQL"]
    assert rate["MQL"] > rate["IQL"]


def test_purchased_lists_engage_least(funnel: Funnel) -> None:
    source = canonical(funnel.leads[schema.LEAD_SOURCE], schema.SOURCE_ALIASES)
    per_lead = funnel.leads[schema.LEAD_ID].map(funnel.events[schema.LEAD_ID].value_counts())
    per_lead = per_lead.fillna(0)
    mean_events = per_lead.groupby(source).mean()
    assert mean_events.idxmin() == "purchased_list"
    assert (per_lead[source == "purchased_list"] == 0).mean() > 0.5


def test_missing_firmographics_per_column(funnel: Funnel) -> None:
    missing = funnel.leads[list(schema.FIRMOGRAPHIC_COLUMNS)].isna().mean()
    assert missing.between(0.10, 0.30).all(), missing


@pytest.mark.parametrize(
    ("column", "levels", "aliases"),
    [
        (schema.LEAD_SOURCE, schema.LEAD_SOURCES, schema.SOURCE_ALIASES),
        (schema.INDUSTRY, schema.INDUSTRIES, schema.INDUSTRY_ALIASES),
        (schema.SENIORITY, schema.SENIORITIES, schema.SENIORITY_ALIASES),
    ],
)
def test_messy_spellings_resolve(
    funnel: Funnel, column: str, levels: tuple[str, ...], aliases: dict[str, str]
) -> None:
    raw = funnel.leads[column].dropna()
    assert set(canonical(raw, aliases)) <= set(levels)
    assert (~raw.isin(levels)).mean() > 0.05  # really messy


def test_duplicate_people_not_duplicate_ids(funnel: Funnel) -> None:
    leads = funnel.leads
    assert leads[schema.LEAD_ID].is_unique
    emails = leads[schema.EMAIL].dropna()
    repeated = emails[emails.duplicated(keep=False)]
    assert 0.005 < len(repeated) / len(leads) < 0.05
    same_person = leads.loc[repeated.index].groupby(schema.EMAIL)[schema.CONTACT_NAME].nunique()
    assert (same_person == 1).mean() > 0.95


def test_email_domains_mix_corporate_and_free_mail(funnel: Funnel) -> None:
    domain = funnel.leads[schema.EMAIL].dropna().str.split("@").str[1]
    free = domain.isin(schema.FREE_MAIL_DOMAINS).mean()
    assert 0.1 < free < 0.6
    assert funnel.leads[schema.PHONE].dropna().str.match(r"^\+\d{1,3} \d{3} \d{7}$").all()


def test_campaigns_have_a_long_tail(funnel: Funnel) -> None:
    campaign = funnel.leads[schema.CAMPAIGN].dropna()
    counts = campaign.value_counts()
    assert 200 <= len(counts) <= 1500
    assert counts.iloc[0] / len(campaign) < 0.05
    assert (counts < 10).mean() > 0.3


def test_source_mix_drifts_and_review_sites_are_new(funnel: Funnel) -> None:
    source = canonical(funnel.leads[schema.LEAD_SOURCE], schema.SOURCE_ALIASES)
    created = funnel.leads[schema.CREATED_AT]
    review = created[source == "review_site"]
    assert len(review) > 0
    assert review.min() >= EXTRACTED_AT - pd.Timedelta(days=92)
    first = source[created < pd.Timestamp("2024-04-01", tz="UTC")].value_counts(normalize=True)
    last = source[created >= pd.Timestamp("2025-07-01", tz="UTC")].value_counts(normalize=True)
    assert last["purchased_list"] < 0.6 * first["purchased_list"]
    assert last["paid_search"] > 1.2 * first["paid_search"]


def test_post_conversion_events_only_after_conversion(funnel: Funnel) -> None:
    events = funnel.events
    post = events[events[schema.EVENT_TYPE].isin(schema.POST_CONVERSION_EVENTS)]
    assert len(post) > 0
    converted_at = post[schema.LEAD_ID].map(
        funnel.leads.set_index(schema.LEAD_ID)[schema.CONVERTED_AT]
    )
    assert converted_at.notna().all()
    assert (post[schema.OCCURRED_AT] > converted_at).all()


def test_converters_peak_before_converting(funnel: Funnel) -> None:
    """Converters keep engaging after the cutoff and convert some days after their last push."""
    leads = funnel.leads.set_index(schema.LEAD_ID)
    events = funnel.events[~funnel.events[schema.EVENT_TYPE].isin(schema.POST_CONVERSION_EVENTS)]
    cutoff = events[schema.LEAD_ID].map(leads[schema.CREATED_AT] + CUTOFF)
    converted_at = events[schema.LEAD_ID].map(leads[schema.CONVERTED_AT])
    between = events[(events[schema.OCCURRED_AT] >= cutoff) & (converted_at.notna())]
    before_buying = between[between[schema.OCCURRED_AT] < converted_at[between.index]]
    gap = converted_at[before_buying.index] - before_buying[schema.OCCURRED_AT]
    last_push = gap.groupby(before_buying[schema.LEAD_ID]).min().dt.total_seconds() / 86_400
    assert len(last_push) > 500
    assert 1.0 < last_push.median() < 10.0


# --- ground truth --------------------------------------------------------------


def test_eligibility_marks_conversions_before_cutoff(funnel: Funnel) -> None:
    leads, truth = funnel.leads, funnel.truth
    cutoff = leads[schema.CREATED_AT] + CUTOFF
    early = leads[schema.CONVERTED_AT] <= cutoff
    recorded = cutoff <= EXTRACTED_AT
    assert (early[recorded] == ~truth[schema.ELIGIBLE][recorded]).all()
    assert 0.003 < (~truth[schema.ELIGIBLE]).mean() < 0.05
    assert truth[schema.TRUE_PROBABILITY].isna().equals(~truth[schema.ELIGIBLE])
    assert truth[schema.TRUE_PROBABILITY].dropna().between(0, 1).all()


def test_some_conversions_come_after_the_window(funnel: Funnel) -> None:
    cutoff = funnel.leads[schema.CREATED_AT] + CUTOFF
    late = funnel.leads[schema.CONVERTED_AT] > cutoff + WINDOW
    assert 0.002 < late.mean() < 0.03


def test_truth_is_a_function_of_the_tables_at_the_cutoff(funnel: Funnel) -> None:
    """Recomputed from the exported leads and pre-cutoff events alone, the truth is exact."""
    recomputed = true_probability_from_tables(funnel.leads, funnel.events)
    cutoff = funnel.leads[schema.CREATED_AT] + CUTOFF
    check = funnel.truth[schema.ELIGIBLE] & (cutoff <= EXTRACTED_AT)
    np.testing.assert_allclose(
        recomputed[check], funnel.truth[schema.TRUE_PROBABILITY][check], rtol=1e-9
    )
    # events after the cutoff must not matter
    before = funnel.events[
        funnel.events[schema.OCCURRED_AT]
        < funnel.events[schema.LEAD_ID].map(
            funnel.leads.set_index(schema.LEAD_ID)[schema.CREATED_AT] + CUTOFF
        )
    ]
    only_before = true_probability_from_tables(funnel.leads, before)
    np.testing.assert_allclose(only_before[check], recomputed[check], rtol=1e-12)


def test_oracle_auc_in_realistic_band(funnel: Funnel) -> None:
    label, usable = window_labels(funnel.leads, funnel.truth)
    auc = roc_auc_score(label[usable], funnel.truth[schema.TRUE_PROBABILITY][usable])
    assert 0.80 <= auc <= 0.92


def test_truth_is_calibrated() -> None:
    """Binned true probability matches the realised window rate on 100k leads."""
    funnel = generate_funnel(100_000, seed=11)
    label, usable = window_labels(funnel.leads, funnel.truth)
    p = funnel.truth[schema.TRUE_PROBABILITY][usable]
    y = label[usable].astype(float)
    bins = pd.qcut(p, 10, labels=False, duplicates="drop")
    table = pd.DataFrame({"p": p, "y": y}).groupby(bins).agg(["mean", "size"])
    predicted, observed, size = table[("p", "mean")], table[("y", "mean")], table[("p", "size")]
    tolerance = 4 * np.sqrt(predicted * (1 - predicted) / size) + 0.002
    assert ((observed - predicted).abs() <= tolerance).all(), table
    assert abs(y.mean() - p.mean()) < 0.005


# --- shape of the truth: not additive, not monotone -------------------------------

GOOD_FIT = {
    schema.LEAD_SOURCE: "organic_search",
    schema.INDUSTRY: "software",
    schema.EMPLOYEES: 300,
    schema.ANNUAL_REVENUE: 50_000_000,
    schema.COUNTRY: "US",
    schema.SENIORITY: "director",
    schema.EMAIL: "ann.lee@acme.com",
}
CREATED = pd.Timestamp("2024-03-01", tz="UTC")


def true_logit(lead: dict[str, object], events: list[tuple[str, float]]) -> float:
    """True log-odds of one hand-built lead; events as (type, days before the cutoff)."""
    leads = pd.DataFrame(
        [{schema.LEAD_ID: "L1", schema.CREATED_AT: CREATED, **GOOD_FIT, **lead}]
    ).astype({schema.EMPLOYEES: "Float64", schema.ANNUAL_REVENUE: "Float64"})
    cutoff = CREATED + CUTOFF
    frame = pd.DataFrame(
        {
            schema.LEAD_ID: ["L1"] * len(events),
            schema.OCCURRED_AT: pd.Series(
                [cutoff - pd.Timedelta(days=d) for _, d in events], dtype="datetime64[us, UTC]"
            ),
            schema.EVENT_TYPE: pd.Series([t for t, _ in events], dtype="str"),
        }
    )
    p = float(true_probability_from_tables(leads, frame).iloc[0])
    return float(np.log(p / (1 - p)))


def demo_lift(lead: dict[str, object]) -> float:
    """How much one fresh demo request raises a lead's true log-odds."""
    return true_logit(lead, [("demo_request", 1.0)]) - true_logit(lead, [])


def test_intent_counts_far_more_from_a_good_fit() -> None:
    good = demo_lift({})
    student = demo_lift({schema.SENIORITY: "entry", schema.EMAIL: "ann.lee42@gmail.com"})
    assert good > 1.5
    assert student < 0.1 * good
    assert demo_lift({schema.SENIORITY: "entry"}) < 0.2 * good  # researchers, interns
    # a gmail address from an owner-operator of a tiny firm is not a warning sign
    owner = {schema.SENIORITY: "c_level", schema.EMPLOYEES: 6}
    gmail_owner = {**owner, schema.EMAIL: "ann.lee42@gmail.com"}
    assert demo_lift(gmail_owner) == pytest.approx(demo_lift(owner))


def test_seniority_and_size_are_not_monotone() -> None:
    def fit(**values: object) -> float:
        return true_logit({getattr(schema, k.upper()): v for k, v in values.items()}, [])

    assert fit(employees=300) > fit(employees=8) + 0.5  # a mid-market sweet spot
    assert fit(employees=300) > fit(employees=100_000) + 0.5
    assert fit(seniority="c_level", employees=20) > fit(seniority="c_level", employees=5_000) + 1
    assert fit(seniority="director", employees=5_000) > fit(seniority="c_level", employees=5_000)
    assert fit(seniority="c_level", employees=20) > fit(seniority="manager", employees=20)
    free_mail = "ann.lee42@gmail.com"
    assert fit(employees=8) - fit(employees=8, email=free_mail) < 0.3
    assert fit(employees=500) - fit(employees=500, email=free_mail) > 1


def test_trial_counts_from_the_third_session_and_saturates() -> None:
    def trial(sessions: int) -> float:
        return true_logit({}, [("trial_signup", 10.0)] + [("trial_activity", 5.0)] * sessions)

    assert trial(2) == pytest.approx(trial(0))
    assert trial(3) > trial(2) + 0.3
    assert trial(6) > trial(3) + 1
    assert trial(9) == pytest.approx(trial(6))


def test_webinar_counts_when_attended_not_when_registered() -> None:
    nothing = true_logit({}, [])
    registered = true_logit({}, [("webinar_registration", 5.0)])
    attended = true_logit({}, [("webinar_registration", 5.0), ("webinar_attendance", 4.0)])
    assert registered - nothing < 0.1
    assert attended - registered > 0.3


def test_hand_raises_fade_faster_than_content() -> None:
    def kept(event: str) -> float:
        """Share of an event's value left when it is 13 days old instead of 1 day."""
        base = true_logit({}, [("pricing_page_view", 2.0)])  # a buying signal either way
        old = true_logit({}, [("pricing_page_view", 2.0), (event, 13.0)]) - base
        new = true_logit({}, [("pricing_page_view", 2.0), (event, 1.0)]) - base
        return old / new

    assert kept("demo_request") < 0.5
    assert kept("whitepaper_download") > 0.7


def test_source_scales_what_engagement_is_worth() -> None:
    organic = demo_lift({})
    assert demo_lift({schema.LEAD_SOURCE: "purchased_list"}) < 0.2 * organic
    assert demo_lift({schema.LEAD_SOURCE: "referral"}) < 0.3 * organic
    # ... but a referred lead converts well without engaging at all
    assert true_logit({schema.LEAD_SOURCE: "referral"}, []) > true_logit({}, []) + 1


def test_more_hand_raises_never_lower_the_truth(funnel: Funnel) -> None:
    """The model's monotone constraint on hand-raise counts is true of the data."""
    leads = funnel.leads.iloc[:3000]
    events = funnel.events[funnel.events[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    before = true_probability_from_tables(leads, events)
    for kind, days in [("demo_request", 0.5), ("quote_request", 6.0), ("consultation_request", 13)]:
        extra = pd.DataFrame(
            {
                schema.LEAD_ID: leads[schema.LEAD_ID].to_numpy(),
                schema.OCCURRED_AT: leads[schema.CREATED_AT] + CUTOFF - pd.Timedelta(days=days),
                schema.EVENT_TYPE: pd.Series([kind] * len(leads), dtype="str"),
            }
        )
        after = true_probability_from_tables(leads, pd.concat([events, extra], ignore_index=True))
        assert (after >= before).all()
        assert (after > before).mean() > 0.95


# --- defects ----------------------------------------------------------------------

ROW_LEVEL_CODES = {
    "missing_value",
    "unparseable_timestamp",
    "future_timestamp",
    "duplicate_lead_id",
    "unknown_lead",
    "negative_value",
    "not_a_number",
    "converted_before_created",
    "unknown_event_type",
}


@pytest.fixture(scope="module")
def defective() -> Funnel:
    return generate_funnel(600, seed=9, with_defects=True)


def test_defects_cover_every_row_level_code(defective: Funnel) -> None:
    assert set(defective.defects["code"]) >= ROW_LEVEL_CODES
    by_table = defective.defects.groupby("code")["table"].agg(set)
    assert by_table["unknown_lead"] == {schema.EVENTS}
    assert by_table["missing_value"] == {schema.LEADS, schema.EVENTS}
    negative = defective.defects[defective.defects["code"] == "negative_value"]
    assert set(negative["column"]) == set(schema.LEAD_NON_NEGATIVE)


def test_defect_records_point_at_the_bad_rows(defective: Funnel) -> None:
    tables = {schema.LEADS: defective.leads, schema.EVENTS: defective.events}
    for record in defective.defects.itertuples():
        row = tables[record.table].iloc[record.row - 1]  # rows are 1-based
        value = row[record.column]
        if record.value is None or record.value != record.value:
            assert pd.isna(value), record
        else:
            assert value == record.value, record
    ids = defective.leads[schema.LEAD_ID]
    dup_rows = defective.defects[defective.defects["code"] == "duplicate_lead_id"]
    for record in dup_rows.itertuples():
        first = ids[ids == record.lead_id].index.min()
        assert first < record.row - 1  # the flagged row is the repeat
    known = set(ids.dropna())
    unknown = defective.defects[defective.defects["code"] == "unknown_lead"]
    assert not set(unknown["lead_id"]) & known


def test_defects_keep_the_clean_rows() -> None:
    clean = generate_funnel(600, seed=9)
    bad = generate_funnel(600, seed=9, with_defects=True)
    assert len(bad.leads) == len(clean.leads) + (bad.defects["table"] == schema.LEADS).sum()
    assert len(bad.events) == len(clean.events) + (bad.defects["table"] == schema.EVENTS).sum()
    pd.testing.assert_frame_equal(bad.truth, clean.truth)
    assert set(clean.leads[schema.LEAD_ID]) <= set(bad.leads[schema.LEAD_ID])


def test_defective_funnel_writes_both_formats(tmp_path: Path, defective: Funnel) -> None:
    for fmt in schema.TABLE_FORMATS:
        paths = write_funnel(defective, tmp_path / fmt, fmt=fmt)
        assert all(p.stat().st_size > 0 for p in paths)


def test_write_file_defects(tmp_path: Path) -> None:
    folders = write_file_defects(tmp_path)
    assert set(folders) == {
        "missing_file",
        "empty_file",
        "bad_encoding",
        "bad_delimiter",
        "missing_column",
    }
    assert all(f.parent == tmp_path / "file_defects" for f in folders.values())
    assert not (folders["missing_file"] / "events.csv").exists()
    assert (folders["empty_file"] / "leads.csv").stat().st_size == 0
    with pytest.raises(UnicodeDecodeError):
        (folders["bad_encoding"] / "leads.csv").read_bytes().decode("utf-8")
    header = (folders["bad_delimiter"] / "leads.csv").read_text().splitlines()[0]
    assert ";" in header and "," not in header
    header = (folders["missing_column"] / "leads.csv").read_text().splitlines()[0]
    assert schema.CREATED_AT not in header.split(",") and schema.LEAD_ID in header.split(",")
    for code in ("empty_file", "bad_encoding", "missing_column"):
        events = pd.read_csv(folders[code] / "events.csv")
        assert list(events.columns) == list(schema.EVENT_REQUIRED)


# --- learnability ---------------------------------------------------------------


def _cutoff_features(leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Plain features as of the cutoff: counts per type over 7/30/90 days and all time,
    days since the last event of each type, a decayed score, firmographics and source."""
    created = leads.set_index(schema.LEAD_ID)[schema.CREATED_AT]
    cutoff = events[schema.LEAD_ID].map(created + CUTOFF)
    seen = events[
        (events[schema.OCCURRED_AT] < cutoff)
        & ~events[schema.EVENT_TYPE].isin(schema.POST_CONVERSION_EVENTS)
    ]
    age = (cutoff[seen.index] - seen[schema.OCCURRED_AT]).dt.total_seconds() / 86_400
    seen = seen.assign(age=age)
    features = pd.DataFrame(index=created.index)
    for days in (7, 30, 90, None):
        part = seen if days is None else seen[seen["age"] <= days]
        counts = part.groupby([schema.LEAD_ID, schema.EVENT_TYPE]).size().unstack(fill_value=0)
        features = features.join(counts.add_prefix(f"count_{days or 'all'}_"))
    last = seen.groupby([schema.LEAD_ID, schema.EVENT_TYPE])["age"].min().unstack()
    features = features.join(last.add_prefix("days_since_"))
    features["decayed"] = (0.5 ** (seen["age"] / 14)).groupby(seen[schema.LEAD_ID]).sum()
    counts_only = [c for c in features.columns if not c.startswith("days_since_")]
    features[counts_only] = features[counts_only].fillna(0)
    lead = leads.set_index(schema.LEAD_ID)
    for column, aliases in [
        (schema.LEAD_SOURCE, schema.SOURCE_ALIASES),
        (schema.INDUSTRY, schema.INDUSTRY_ALIASES),
        (schema.SENIORITY, schema.SENIORITY_ALIASES),
        (schema.COUNTRY, {}),
    ]:
        features[column] = canonical(lead[column], aliases).astype("category")
    features[schema.EMPLOYEES] = lead[schema.EMPLOYEES].astype("float64")
    features[schema.ANNUAL_REVENUE] = lead[schema.ANNUAL_REVENUE].astype("float64")
    domain = lead[schema.EMAIL].str.split("@").str[1]
    features["free_mail"] = (
        domain.isin(schema.FREE_MAIL_DOMAINS).astype(float).where(domain.notna())
    )
    return features


def test_lightgbm_approaches_the_oracle() -> None:
    """On 50k leads, gradient boosting on cutoff features gets within 3% of the oracle AUC."""
    import lightgbm as lgb

    funnel = generate_funnel(50_000, seed=7)
    label, usable = window_labels(funnel.leads, funnel.truth)
    features = _cutoff_features(funnel.leads, funnel.events)[usable.to_numpy()]
    y = label[usable].to_numpy()
    oracle = funnel.truth[schema.TRUE_PROBABILITY][usable].to_numpy()
    train, valid = int(0.7 * len(y)), int(0.85 * len(y))  # split in time (leads are sorted)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 50,
        "verbose": -1,
        "seed": 1,
        "num_threads": 1,
    }
    model = lgb.train(
        params,
        lgb.Dataset(features.iloc[:train], y[:train]),
        1_000,
        valid_sets=[lgb.Dataset(features.iloc[train:valid], y[train:valid])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    scores = model.predict(features.iloc[valid:], num_iteration=model.best_iteration)
    model_auc = roc_auc_score(y[valid:], scores)
    oracle_auc = roc_auc_score(y[valid:], oracle[valid:])
    assert model_auc >= 0.97 * oracle_auc, (model_auc, oracle_auc)
    assert model_auc <= oracle_auc + 0.01  # nothing leaks beyond what is known at the cutoff
