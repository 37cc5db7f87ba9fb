"""Reasons that read well on a messy CRM export: names in words, rounded numbers, units,
category text, no per-row ids, missing data and zero counts never argued for a lead (issue
13 §7, issue 14)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.batch import RankedBatch
from leadml.batch_flat import score_flat_rows
from leadml.config import load_config
from leadml.data.mapping.read import read_flat
from leadml.features.idlike import ID_LIKE_KEY
from leadml.features.spec import encode
from leadml.model.flat_pipeline import fit_and_evaluate_flat
from leadml.model.pipeline import TrainedModel
from leadml.ranked import NO_SOURCE, decode_reasons, render_reasons
from leadml.scoring import Scorer

COLUMNS = """
[dataset.columns]
LeadHash = { role = "source" }
LeadOrigin = { role = "source" }
"Lead Number" = { role = "engagement" }
TotalVisits = { role = "engagement" }
"Page.Views.Per.Visit" = { role = "engagement" }
"Total Time Spent on Website" = { role = "engagement", label = "Time on site", unit = "min" }
"nr.employed" = { role = "firmographic" }
AsymmetriqueActivityScore = { role = "engagement" }
ProfileCode = { role = "firmographic", type = "categorical" }
"""
HEAD = """
[dataset]
file = "export.csv"
id_column = "Prospect ID"
label = "Converted"
positive = ["1"]

[train]
# A "score" whose missingness carries signal: the guard's uplift + name rule may refuse it
# (rightly, on a real export). Here it is the fixture for missing-value reasons: kept.
allow_leaky = ["AsymmetriqueActivityScore"]
bootstrap_rounds = 0
shap_sample = 100
num_threads = 1
"""
ORIGINS = ["API", "Landing Page Submission", "Lead Add Form"]


def messy_export(n: int, seed: int = 7) -> pd.DataFrame:
    """A CRM export the way users sent them: CamelCase and dotted names, a hash and a
    record number mapped as features, unrounded floats, missing values that mean "not
    asked", and an activity score whose very absence goes with conversion."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(ORIGINS, n, p=[0.5, 0.3, 0.2])
    visits = rng.poisson(3, n).astype(float)
    minutes = rng.gamma(2.0, 20.0, n)
    unasked = rng.random(n) < 0.3
    logit = (
        -1.5
        + 0.3 * visits
        + 0.02 * minutes
        + np.where(origin == "Lead Add Form", 1.5, 0.0)
        + np.where(unasked, 1.0, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    visits_text = np.where(rng.random(n) < 0.05, "", visits.astype(int).astype(str))
    return pd.DataFrame(
        {
            "Prospect ID": [f"P{i:05d}" for i in range(n)],
            "Converted": y.astype(str),
            "LeadHash": [hashlib.sha1(f"lead {i}".encode()).hexdigest() for i in range(n)],
            "LeadOrigin": origin,
            "Lead Number": (660_737 - 9 * np.arange(n)).astype(str),
            "TotalVisits": visits_text,
            "Page.Views.Per.Visit": (visits / rng.integers(1, 4, n)).round(8).astype(str),
            "Total Time Spent on Website": minutes.round(8).astype(str),
            "nr.employed": rng.choice(["5191.0", "5099.1", "5228.1"], n),
            "AsymmetriqueActivityScore": np.where(
                unasked, "", rng.integers(12, 19, n).astype(float).astype(str)
            ),
            "ProfileCode": rng.choice(["1", "2", "3"], n),
        }
    )


def _train(folder: Path, frame: pd.DataFrame, columns: str) -> tuple[TrainedModel, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "export.csv", index=False)
    (folder / "leadml.toml").write_text(HEAD + columns, encoding="utf-8")
    config = load_config(folder / "leadml.toml")
    assert config.dataset is not None
    rows = read_flat(folder / "export.csv", config.dataset)
    warnings: list[str] = []
    trained = fit_and_evaluate_flat(rows, config, on_warning=warnings.append)
    trained.guard_report["warnings"] = warnings
    return trained, rows


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, pd.DataFrame]:
    return _train(tmp_path_factory.mktemp("messy"), messy_export(1500), COLUMNS)


@pytest.fixture(scope="module")
def batch(messy: tuple[TrainedModel, pd.DataFrame]) -> RankedBatch:
    trained, rows = messy
    return score_flat_rows(rows, Scorer(trained.bundle))


def _all_reasons(batch: RankedBatch) -> list[dict[str, list[dict[str, object]]]]:
    return [decode_reasons(payload) for payload in batch.frame["reasons_json"]]


def test_hash_ids_and_record_numbers_are_set_aside_with_a_warning(
    messy: tuple[TrainedModel, pd.DataFrame], batch: RankedBatch
) -> None:
    trained, _ = messy
    flat = trained.bundle.flat
    assert flat is not None
    assert flat.columns["LeadHash"].role == flat.columns["Lead Number"].role == "ignore"
    assert set(trained.bundle.extra[ID_LIKE_KEY]) == {"LeadHash", "Lead Number"}
    assert set(trained.guard_report[ID_LIKE_KEY]) == {"LeadHash", "Lead Number"}
    warned = [w for w in trained.guard_report["warnings"] if "per-row id" in w]
    assert len(warned) == 2 and all('role = "ignore"' in w for w in warned)
    assert "LeadHash" not in trained.bundle.spec.names
    assert "Lead Number" not in trained.bundle.spec.names
    fields = {r["field"] for lead in _all_reasons(batch) for side in lead.values() for r in side}
    assert not fields & {"LeadHash", "Lead Number"}
    # The ranked list's source is the first usable source column, never the hash.
    assert set(batch.frame["lead_source"]) <= {*ORIGINS, "unknown"}
    assert batch.summary().source_mapped


def test_reason_text_reads_in_words_with_rounded_numbers_and_units(batch: RankedBatch) -> None:
    texts = [str(r["text"]) for lead in _all_reasons(batch) for side in lead.values()
             for r in side]  # fmt: skip
    labels = {t.split(":")[0].removesuffix(" not recorded") for t in texts}
    assert labels <= {
        "Lead origin", "Total visits", "Page views per visit", "Time on site",
        "Nr employed", "Asymmetrique activity score", "Profile code",
    }  # fmt: skip
    assert {"Total visits", "Time on site", "Lead origin"} <= labels
    assert not [t for t in texts if re.search(r"\.\d{4,}", t)]  # rounded: 0.667, 2.33, 45.1
    assert not [t for t in texts if re.search(r"\d\.0\b", t)]  # integers as integers
    assert all(t.endswith(" min") for t in texts if t.startswith("Time on site:"))
    assert all(re.fullmatch(r"Profile code: [123]", t) for t in texts
               if t.startswith("Profile code:"))  # fmt: skip
    assert all(": unknown" not in t and "nan" not in t.lower().split() for t in texts)


def test_missing_data_is_said_in_words_and_never_argued_for_a_lead(
    messy: tuple[TrainedModel, pd.DataFrame], batch: RankedBatch
) -> None:
    trained, rows = messy
    scorer = Scorer(trained.bundle)
    raw = scorer.flat_features(rows)
    X, _ = encode(raw, trained.bundle.spec)
    contrib = scorer.explainer.contributions(X)
    j = trained.bundle.spec.names.index("AsymmetriqueActivityScore")
    pushed_up = raw["AsymmetriqueActivityScore"].isna().to_numpy() & (contrib[:, j] > 0.2)
    assert pushed_up.sum() > 50  # a missing score does raise many scores: not vacuous
    reasons = _all_reasons(batch)
    assert not [r for lead in reasons for r in lead["positive"] if "not recorded" in r["text"]]
    shown = "\n".join(render_reasons(lead, layout="lines") for lead in reasons)
    assert not re.search(r"^▲+ +.*not recorded", shown, flags=re.MULTILINE)
    # A zero count of an engagement column is an absence too: "Total visits: 0" is no
    # selling point.
    zero = re.compile(r"^(Total visits|Time on site|Page views per visit): 0( min)?$")
    assert not [r for lead in reasons for r in lead["positive"] if zero.match(r["text"])]


def test_without_a_usable_source_column_the_list_says_so(
    tmp_path: Path,
) -> None:
    columns = COLUMNS.replace(
        'LeadOrigin = { role = "source" }', 'LeadOrigin = { role = "ignore" }'
    )
    trained, rows = _train(tmp_path, messy_export(600, seed=3), columns)
    batch = score_flat_rows(rows, Scorer(trained.bundle))
    assert set(batch.frame["lead_source"]) == {NO_SOURCE}
    summary = batch.summary()
    assert not summary.source_mapped and summary.top_sources_a == []


def test_labels_and_units_travel_in_the_bundle_and_old_bundles_still_load(
    messy: tuple[TrainedModel, pd.DataFrame], tmp_path: Path
) -> None:
    from leadml.bundle import load_bundle, save_bundle
    from leadml.data.mapping.config import DatasetConfig

    trained, rows = messy
    loaded = load_bundle(save_bundle(trained.bundle, tmp_path / "bundle"))
    assert loaded.flat is not None
    column = loaded.flat.columns["Total Time Spent on Website"]
    assert (column.label, column.unit) == ("Time on site", "min")
    texts = [
        r["text"]
        for payload in score_flat_rows(rows.head(200), Scorer(loaded)).frame["reasons_json"]
        for side in decode_reasons(payload).values()
        for r in side
    ]
    assert any(re.fullmatch(r"Time on site: [\d,.]+ min", t) for t in texts)
    old = loaded.flat.to_dict()
    for spec in old["columns"].values():
        del spec["label"], spec["unit"]
    assert DatasetConfig.from_dict(old).columns["TotalVisits"].label is None
