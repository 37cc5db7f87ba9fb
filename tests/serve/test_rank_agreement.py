"""One rank rule on every path: leads whose calibrated probabilities tie come back in the
same order from a `/v1/predict` list, `leadml score`'s CSV, the store's `ranked()` and
`GET /v1/leads/ranked`.

The model is the session's booster with an isotonic calibration fitted on its own raw
scores, so its probabilities have flat steps: several leads share one probability (and
so one score) while their raw scores differ. Those are exactly the leads on which the
API's old rule (probability, then lead_id) and batch's rule parted ways.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadml import schema
from leadml.batch import drop_stale, open_leads, parse_as_of
from leadml.bundle import save_bundle
from leadml.cli import app as cli_app
from leadml.config import ScoreConfig
from leadml.data.load import Dataset
from leadml.model.calibration import fit_isotonic
from leadml.model.pipeline import TrainedModel
from leadml.ranked import rank_order
from leadml.scoring import Scorer
from leadml.store import open_store, ranked
from leadml_serve.app import create_app
from tests.serve.conftest import USER, lead_payload, serve_config

TIE_GROUPS = 6
"""Tied-probability groups in the chosen leads (each with raw scores that differ)."""
PER_GROUP = 5


@dataclasses.dataclass(frozen=True)
class Stepped:
    """A stepped model, the leads chosen from its ties, and the moment they are scored."""

    bundle_dir: Path
    as_of: pd.Timestamp
    lead_ids: list[str]
    expected: list[str]
    """The chosen leads in the one rule's order, from the scores of a direct Scorer call."""
    old_api_order: list[str]
    """The same leads by probability, then lead_id: the API's order before the one rule."""
    tied_groups: int


def _choose(frame: pd.DataFrame) -> list[str]:
    """Up to TIE_GROUPS groups of leads that share a probability but not a raw score."""
    chosen: list[str] = []
    groups = frame.groupby("probability", sort=True)["raw_score"]
    for _, raw in groups:
        if raw.nunique() >= 2 and len(chosen) < TIE_GROUPS * PER_GROUP:
            chosen += [str(i) for i in raw.sort_values().index[:PER_GROUP]]
    return chosen


@pytest.fixture(scope="module")
def stepped(
    small_data: Dataset, trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Stepped:
    as_of = parse_as_of("latest", small_data.leads, small_data.events)
    todo, _, _ = open_leads(small_data.leads, as_of)
    todo, _ = drop_stale(todo, as_of, ScoreConfig().max_open_days)  # as `leadml score` lists
    plain = Scorer(trained.bundle).score(todo, small_data.events, as_of=as_of, explain=False)
    raw = plain.frame["raw_score"].to_numpy()
    coin = np.random.default_rng(11).random(len(raw)) < plain.frame["probability"].to_numpy()
    bundle = dataclasses.replace(trained.bundle, calibrator=fit_isotonic(raw, coin))
    bundle = bundle.with_registry("lead-conversion", "11")
    scored = Scorer(bundle).score(todo, small_data.events, as_of=as_of, explain=False).frame
    chosen = _choose(scored)
    picked = scored.loc[chosen]
    order = rank_order(picked["score"], picked["probability"], picked["raw_score"], chosen)
    old = np.lexsort((np.array(chosen), -picked["probability"].to_numpy()))
    groups = picked.groupby("probability")["raw_score"].nunique()
    return Stepped(
        bundle_dir=save_bundle(bundle, tmp_path_factory.mktemp("stepped") / "11"),
        as_of=as_of,
        lead_ids=chosen,
        expected=[chosen[i] for i in order],
        old_api_order=[chosen[i] for i in old],
        tied_groups=int((groups >= 2).sum()),
    )


@pytest.fixture(scope="module")
def scored_by_cli(
    stepped: Stepped, small_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, str]:
    """`leadml score` on a folder holding only the chosen leads: (its CSV, its store URL)."""
    work = tmp_path_factory.mktemp("agreement")
    data = work / "data"
    data.mkdir()
    for table in small_data_dir.iterdir():
        frame = pd.read_parquet(table)
        if schema.LEAD_ID in frame.columns:
            frame = frame[frame[schema.LEAD_ID].isin(stepped.lead_ids)]
        frame.to_parquet(data / table.name, index=False)
    out, url = work / "ranked.csv", f"sqlite:///{work / 'scores.db'}"
    args = ["score", "--data", str(data), "--model", str(stepped.bundle_dir)]
    args += ["--as-of", stepped.as_of.isoformat(), "--out", str(out), "--store", url]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)  # no leadml.toml here: the defaults, as in a fresh project
        done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 0, done.output
    return pd.read_csv(out, dtype={"lead_id": str}), url


@pytest.fixture(scope="module")
def api(
    stepped: Stepped,
    scored_by_cli: tuple[pd.DataFrame, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    config = serve_config(tmp_path_factory.mktemp("project"), stepped.bundle_dir)
    store = config.store.model_copy(update={"url": scored_by_cli[1]})
    with TestClient(create_app(config.model_copy(update={"store": store}))) as client:
        yield client


def _predict_payloads(stepped: Stepped, data: Dataset) -> list[dict[str, Any]]:
    """The chosen leads as one /v1/predict list, shuffled so the order is the API's work."""
    ids = list(stepped.lead_ids)
    random.Random(5).shuffle(ids)
    return [lead_payload(data.leads, data.events, i, stepped.as_of) for i in ids]


def test_the_stepped_model_really_ties_and_the_old_rule_differs(stepped: Stepped) -> None:
    assert stepped.tied_groups >= 3
    assert len(stepped.lead_ids) >= 3 * 2
    assert stepped.expected != stepped.old_api_order


def test_every_path_ranks_tied_leads_alike(
    stepped: Stepped,
    scored_by_cli: tuple[pd.DataFrame, str],
    api: TestClient,
    small_data: Dataset,
) -> None:
    listed, url = scored_by_cli
    answer = api.post("/v1/predict", json=_predict_payloads(stepped, small_data), headers=USER)
    assert answer.status_code == 200, answer.text
    predicted = answer.json()["results"]
    assert [r["rank"] for r in predicted] == list(range(1, len(stepped.lead_ids) + 1))
    engine = open_store(url)
    try:
        stored, total = ranked(engine, limit=None)
    finally:
        engine.dispose()
    page = api.get("/v1/leads/ranked?limit=1000", headers=USER).json()["results"]
    assert total == len(stepped.lead_ids)
    assert [r["lead_id"] for r in predicted] == stepped.expected
    assert listed["lead_id"].tolist() == stepped.expected
    assert [r["lead_id"] for r in stored] == stepped.expected
    assert [r["lead_id"] for r in page] == stepped.expected
    assert listed["rank"].tolist() == [r["rank"] for r in page] == [r["rank"] for r in predicted]


def test_paths_agree_on_the_tied_numbers(
    stepped: Stepped, scored_by_cli: tuple[pd.DataFrame, str], api: TestClient, small_data: Dataset
) -> None:
    """Tied leads tie on every path: the same probability and score, not merely close."""
    listed, _ = scored_by_cli
    body = _predict_payloads(stepped, small_data)
    predicted = api.post("/v1/predict?explain=false", json=body, headers=USER).json()["results"]
    by_id = listed.set_index("lead_id")
    for row in predicted:
        assert row["score"] == by_id.loc[row["lead_id"], "score"]
        assert row["probability"] == pytest.approx(by_id.loc[row["lead_id"], "probability"])
    ties = pd.DataFrame(predicted).groupby("probability")["lead_id"].count()
    assert (ties >= 2).sum() >= 3
