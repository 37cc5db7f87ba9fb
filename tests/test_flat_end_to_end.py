"""A user with only a CSV export: init-config, edit, train, score, serve (README flow)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadml.bundle import load_bundle
from leadml.cli import app
from leadml.config import load_config
from leadml.store import open_store, ranked
from leadml_serve.app import create_app
from tests.flat_export import synthetic_export
from tests.serve.conftest import USER, serve_config

runner = CliRunner()
FAST_TRAIN = (
    "[train]\nbootstrap_rounds = 20\nshap_sample = 300\nmax_rounds = 300\nnum_threads = 1\n"
)


def _set_role(text: str, column: str, role: str) -> str:
    pattern = rf'^("{re.escape(column)}"|{re.escape(column)}) = {{ role = "\w+"'
    out, count = re.subn(pattern, rf'\1 = {{ role = "{role}"', text, flags=re.MULTILINE)
    assert count == 1, column
    return out


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crm")
    synthetic_export(2500, seed=11).to_csv(folder / "export.csv", index=False)
    made = _invoke("init-config", str(folder / "export.csv"), "--out", str(folder / "draft.toml"))
    assert made.exit_code == 0, made.output
    return folder


@pytest.fixture(scope="module")
def trained_project(project: Path) -> Path:
    """The draft, edited: one outcome-like column kept on purpose (allow_leaky)."""
    text = (project / "draft.toml").read_text(encoding="utf-8")
    for column in ("Score After Call", "Budget"):  # as the guard said (see the test below)
        text = _set_role(text, column, "ignore")
    text = _set_role(text, "Sales Comment", "engagement")
    text = text.replace("[train]\n", FAST_TRAIN + 'allow_leaky = ["Sales Comment"]\n')
    (project / "leadml.toml").write_text(text, encoding="utf-8")
    result = _invoke(
        "train", "--config", str(project / "leadml.toml"), "--metrics-out", str(project / "m.json")
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    (project / "train_output.txt").write_text(result.output, encoding="utf-8")
    return project


def test_the_guard_refuses_the_unedited_draft_and_names_the_evidence(project: Path) -> None:
    """init-config sets outcome-like names aside itself; the guard catches what names
    cannot show: a column that separates the classes, one filled only for converters."""
    text = (project / "draft.toml").read_text(encoding="utf-8")
    assert 'Lead Status" = { role = "ignore"' in text
    (project / "leaky.toml").write_text(text.replace("[train]\n", FAST_TRAIN), encoding="utf-8")
    result = _invoke("train", "--config", str(project / "leaky.toml"))
    assert result.exit_code == 1
    message = result.output + str(result.exception)
    assert "Score After Call [auc]" in message and "ROC AUC" in message
    assert "Budget [missingness]" in message and "converted leads" in message
    assert "allow_leaky" in message


def test_training_registers_a_flat_bundle_and_logs_the_guard(trained_project: Path) -> None:
    metrics = json.loads((trained_project / "m.json").read_text(encoding="utf-8"))
    assert metrics["model"]["roc_auc"] > 0.65
    assert metrics["model"]["roc_auc"] > metrics["baselines"]["logistic"]["roc_auc"] - 0.05
    # The points rules read leadml's events: left out for a flat export, and the run says why.
    assert "points" not in metrics["baselines"]
    assert any(note.startswith("points baseline left out") for note in metrics["notes"])
    bundle = load_bundle(Path(metrics["bundle_path"]))
    assert bundle.flat is not None and bundle.flat.id_name == "Prospect ID"
    assert "Sales Comment" in bundle.spec.names
    assert "Email" not in bundle.spec.names and "Notes" not in bundle.spec.names
    config = load_config(trained_project / "leadml.toml")
    mlflow.set_tracking_uri(config.tracking_uri)
    run = mlflow.get_run(metrics["mlflow"]["run_id"])
    assert "Sales Comment" in run.data.tags["leadml.leakage_warning"]
    client = mlflow.MlflowClient(config.tracking_uri)
    path = client.download_artifacts(run.info.run_id, "model_spec/leakage_guard.json")
    logged = json.loads(Path(path).read_text(encoding="utf-8"))
    assert logged["allowed"] == ["Sales Comment"] and logged["blocked"] == []
    assert logged["split"] == "time"
    assert any(f["column"] == "Sales Comment" for f in logged["flags"])
    table = {row["column"]: row for row in logged["table"]}
    assert set(table) == set(bundle.flat.feature_names)  # every checked column
    assert table["Sales Comment"]["verdict"] == "allowed"
    assert {table[c]["verdict"] for c in ("Page Views", "Time On Site", "Industry")} == {"ok"}
    listed = {a.path for a in client.list_artifacts(run.info.run_id, "model_spec")}
    assert "model_spec/leakage_guard_table.json" in listed


def test_train_prints_the_guard_table_for_a_flat_export(trained_project: Path) -> None:
    output = (trained_project / "train_output.txt").read_text(encoding="utf-8")
    assert "Leakage guard (training window)" in output
    table = output.split("Leakage guard (training window)")[1].split("Test window")[0]
    assert "Sales Comment" in table and "allowed" in table and "Time On Site" in table


@pytest.fixture(scope="module")
def scored(trained_project: Path) -> pd.DataFrame:
    out = trained_project / "ranked.csv"
    result = _invoke(
        "score",
        "--data",
        str(trained_project / "export.csv"),
        "--config",
        str(trained_project / "leadml.toml"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return pd.read_csv(out, dtype={"lead_id": str})


def test_score_ranks_the_open_rows_with_reasons_and_the_contact_columns(
    scored: pd.DataFrame, trained_project: Path
) -> None:
    export = synthetic_export(2500, seed=11)
    open_ids = set(export.loc[export["Converted"] != "1", "Prospect ID"])
    assert set(scored["lead_id"]) == open_ids
    assert scored["rank"].tolist() == list(range(1, len(scored) + 1))
    assert scored["score"].is_monotonic_decreasing
    assert {"Company Name", "Email", "Phone"} <= set(scored.columns)  # for sales to act on
    assert scored["reasons"].str.len().gt(0).all()
    config = load_config(trained_project / "leadml.toml")
    engine = open_store(config.store_url)
    try:
        rows, total = ranked(engine, limit=5)
    finally:
        engine.dispose()
    assert total == len(scored)
    assert [r["lead_id"] for r in rows] == scored["lead_id"].head(5).tolist()


def test_score_warns_when_the_config_mapping_differs_from_the_champion(
    scored: pd.DataFrame, trained_project: Path
) -> None:
    """The champion reads the export with its own mapping; an edited config says so."""
    text = (trained_project / "leadml.toml").read_text(encoding="utf-8")
    (trained_project / "edited.toml").write_text(
        _set_role(text, "Industry", "ignore"), encoding="utf-8"
    )
    out = trained_project / "ranked_edited.csv"
    args = ["score", "--data", str(trained_project / "export.csv"), "--no-store"]
    result = _invoke(*args, "--config", str(trained_project / "edited.toml"), "--out", str(out))
    assert result.exit_code == 0, result.output + repr(result.exception)
    warned = [line for line in result.output.splitlines() if "[dataset] mapping" in line]
    assert len(warned) == 1 and "features only in the model: Industry" in warned[0]
    assert pd.read_csv(out)["probability"].tolist() == scored["probability"].tolist()


@pytest.fixture(scope="module")
def client(trained_project: Path) -> Iterator[TestClient]:
    metrics = json.loads((trained_project / "m.json").read_text(encoding="utf-8"))
    config = serve_config(trained_project / "serve", Path(metrics["bundle_path"]))
    with TestClient(create_app(config)) as test_client:
        yield test_client


def test_the_api_scores_a_flat_row_exactly_like_the_batch(
    client: TestClient, scored: pd.DataFrame
) -> None:
    export = synthetic_export(2500, seed=11).set_index("Prospect ID")
    lead_id = str(scored["lead_id"].iloc[0])
    row = export.loc[lead_id]
    body: dict[str, Any] = {"Prospect ID": lead_id}
    for name in ("Lead Source", "Industry", "Sales Comment", "Email"):
        body[name] = row[name]
    for name in ("Page Views", "Time On Site", "Employees"):
        body[name] = None if row[name] in ("", "NA", "-", "Select") else float(row[name])
    answer = client.post("/v1/predict", json=body, headers=USER)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["lead_id"] == lead_id
    assert found["probability"] == pytest.approx(float(scored["probability"].iloc[0]), abs=1e-12)
    assert found["score"] == int(scored["score"].iloc[0])
    assert found["reasons"]["positive"] or found["reasons"]["negative"]


def test_the_api_validates_the_mapping_fields_with_clear_422s(client: TestClient) -> None:
    bad = client.post("/v1/predict", json={"Prospect ID": "x", "Page Views": "lots"}, headers=USER)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.Page Views"
    missing_id = client.post("/v1/predict", json={"Page Views": 3}, headers=USER)
    assert missing_id.status_code == 422
    assert "Prospect ID" in missing_id.json()["errors"][0]["field"]
    extra = client.post(
        "/v1/predict", json={"Prospect ID": "x", "Industry": "mining", "Shoe": 9}, headers=USER
    )
    assert extra.status_code == 200
    warnings = extra.json()["warnings"]
    assert any("mining" in w for w in warnings) and any("Shoe" in w for w in warnings)


def test_the_api_reads_ids_tokens_and_numbers_like_the_file(client: TestClient) -> None:
    """A numeric id, a missing token in a numeric field and a number in a text field are
    what a CRM's JSON holds: scored like the same row of the file, not refused."""
    as_text = {"Prospect ID": "12", "Page Views": None, "Industry": "7", "Employees": "300"}
    as_json = {"Prospect ID": 12, "Page Views": "NA", "Industry": 7, "Employees": 300}
    select = as_json | {"Page Views": "Select"}
    answers = [client.post("/v1/predict", json=b, headers=USER) for b in (as_text, as_json, select)]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    found = [a.json() for a in answers]
    assert {f["lead_id"] for f in found} == {"12"}
    assert found[0]["probability"] == found[1]["probability"] == found[2]["probability"]
    assert found[0]["warnings"] == found[1]["warnings"]


def test_openapi_shows_the_mapping_as_the_request_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    lead = document["components"]["schemas"]["LeadIn"]
    assert lead["required"] == ["Prospect ID"]
    assert lead["properties"]["Page Views"]["anyOf"][0]["type"] == "number"
    assert "software" in lead["properties"]["Industry"]["description"]
    assert "events" not in lead["properties"]


@pytest.mark.parametrize("split", ["random", "file_order", "time"])
def test_the_split_follows_the_mapping_and_warns_when_random(tmp_path: Path, split: str) -> None:
    from leadml.data.mapping.read import read_flat
    from leadml.model.flat_pipeline import fit_and_evaluate_flat
    from leadml.model.split import RANDOM_SPLIT_WARNING
    from tests.flat_export import write_export

    frame = synthetic_export(1500, seed=4)
    config = load_config(
        write_export(tmp_path, frame),
        overrides={"train": {"bootstrap_rounds": 0, "shap_sample": 100, "num_threads": 1}},
    )
    assert config.dataset is not None
    dataset = config.dataset.model_copy(update={"split": split})
    config = config.model_copy(update={"dataset": dataset})
    rows = read_flat(tmp_path / "export.csv", dataset)
    warnings: list[str] = []
    trained = fit_and_evaluate_flat(rows, config, on_warning=warnings.append)
    assert (RANDOM_SPLIT_WARNING in warnings) is (split == "random")
    assert trained.guard_report["split"] == split
    ids = trained.split
    assert len(ids.train) + len(ids.valid) + len(ids.test) == len(rows)
    assert not set(ids.train) & set(ids.test)
    y = rows["Converted"].astype(int)
    if split == "random":  # stratified: every window holds the base rate
        rates = [y.loc[part].mean() for part in (ids.train, ids.valid, ids.test)]
        assert max(rates) - min(rates) < 0.01
    else:  # time order (file rows are in created order): test comes after train
        position = {lead_id: i for i, lead_id in enumerate(rows.index)}
        assert max(position[i] for i in ids.train) < min(position[i] for i in ids.test)


def test_training_uses_exactly_the_split_column_and_knows_every_level_of_the_file(
    tmp_path: Path,
) -> None:
    """`split_column`: the test rows are exactly the file's `test` rows, the column is no
    feature; a level seen only in the test rows is never called unseen when scoring."""
    from leadml.batch_flat import score_flat_rows
    from leadml.data.mapping.read import read_flat
    from leadml.model.flat_pipeline import fit_and_evaluate_flat
    from leadml.scoring import Scorer
    from tests.flat_export import write_export

    frame = synthetic_export(900, seed=6)
    rng = np.random.default_rng(0)
    frame["Split"] = rng.choice(["Train", "valid", "TEST"], len(frame), p=[0.6, 0.2, 0.2])
    only_test = frame.index[frame["Split"] == "TEST"][:5]
    frame.loc[only_test, "Industry"] = "mining"
    path = write_export(tmp_path, frame)
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "[dataset]\n", '[dataset]\nsplit_column = "Split"\n', 1
        ),
        encoding="utf-8",
    )
    config = load_config(
        path, overrides={"train": {"bootstrap_rounds": 0, "shap_sample": 100, "num_threads": 1}}
    )
    assert config.dataset is not None
    rows = read_flat(tmp_path / "export.csv", config.dataset)
    trained = fit_and_evaluate_flat(rows, config)
    by_split = frame.groupby("Split")["Prospect ID"].agg(set)
    assert set(trained.split.test) == by_split["TEST"]
    assert set(trained.split.valid) == by_split["valid"]
    assert set(trained.split.train) == by_split["Train"]
    assert set(trained.test_frame.index) == by_split["TEST"]
    assert trained.guard_report["split"] == "column"
    assert "Split" not in trained.bundle.spec.names
    assert "mining" in trained.bundle.spec.column("Industry").levels
    batch = score_flat_rows(rows, Scorer(trained.bundle))
    assert not [w for w in batch.warnings if "mining" in w]
    unseen = rows.assign(Industry="quarrying")
    warned = score_flat_rows(unseen, Scorer(trained.bundle)).warnings
    assert any("'quarrying' is not in the data the model was trained on" in w for w in warned)


def test_the_registered_pyfunc_scores_export_rows_like_the_scorer(trained_project: Path) -> None:
    """`mlflow.pyfunc.load_model` of the flat version takes the export's rows as they are
    and gives the Scorer's probability, score and grade (issue 14)."""
    from leadml.data.mapping.read import read_flat
    from leadml.scoring import Scorer

    metrics = json.loads((trained_project / "m.json").read_text(encoding="utf-8"))
    config = load_config(trained_project / "leadml.toml")
    bundle = load_bundle(Path(metrics["bundle_path"]))
    assert bundle.flat is not None
    mlflow.set_tracking_uri(config.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{bundle.name}/{bundle.version}")
    export = pd.read_csv(trained_project / "export.csv", dtype=object, keep_default_na=False)
    rows = export.head(300).drop(columns=["Email", "Phone", "Converted"])
    got = model.predict(rows)
    # Numbers sent as numbers (JSON) read as the file shows them: the same scores.
    typed = rows.assign(**{"Page Views": pd.to_numeric(rows["Page Views"], errors="coerce")})
    assert model.predict(typed).equals(got)
    flat = read_flat(trained_project / "export.csv", bundle.flat)
    want = Scorer(bundle).score(flat, pd.DataFrame(), explain=False)
    want_rows = want.frame.loc[rows["Prospect ID"]]
    assert got["lead_id"].tolist() == rows["Prospect ID"].tolist()
    assert np.abs(got["probability"].to_numpy() - want_rows["probability"].to_numpy()).max() <= 1e-9
    assert got["score"].tolist() == want_rows["score"].tolist()
    assert got["grade"].tolist() == want_rows["grade"].tolist()
