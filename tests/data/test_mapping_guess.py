"""init-config's guesses (`mapping.guess`): values first, names as hints. Each test
rebuilds one way a name-only guess went wrong on a real export."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.data.mapping.config import DatasetConfig
from leadml.data.mapping.draft import draft_config
from leadml.data.mapping.guess import Draft, guess_mapping

N = 300


def _export(**columns: object) -> pd.DataFrame:
    """A small export as text: an id, a plain feature and a 0/1 outcome, plus `columns`."""
    rng = np.random.default_rng(1)
    base: dict[str, object] = {
        "Prospect ID": [f"P-{i:05d}" for i in range(N)],
        "Page Views": rng.poisson(4, N).astype(str),
        "Converted": np.where(rng.random(N) < 0.2, "1", "0"),
    }
    return pd.DataFrame(base | columns).astype(object)


def _guess(frame: pd.DataFrame) -> Draft:
    return guess_mapping(frame.astype(object).where(frame.notna(), None))


def _roles(draft: Draft) -> dict[str, str]:
    return {name: guess.role for name, guess in draft.columns.items()}


def test_every_unique_column_is_an_id_and_the_best_named_is_the_id_column() -> None:
    rng = np.random.default_rng(2)
    frame = _export(**{"Lead Number": rng.permutation(np.arange(660_000, 660_000 + N)).astype(str)})
    frame = frame[["Lead Number", "Prospect ID", "Page Views", "Converted"]]
    draft = _guess(frame)
    assert draft.id_column is not None and draft.id_column.name == "Prospect ID"
    assert draft.columns["Lead Number"].role == "ignore"
    assert "another id" in draft.columns["Lead Number"].why
    assert "Prospect ID" not in draft.columns


def test_a_consent_flag_is_a_feature_not_contact_details() -> None:
    frame = _export(
        **{"Do Not Email": ["No", "Yes", "No"] * (N // 3), "Unsubscribed": ["0", "1"] * (N // 2)}
    )
    roles = _roles(_guess(frame))
    assert roles["Do Not Email"] == roles["Unsubscribed"] == "engagement"


def test_a_first_contact_date_is_created_at_and_other_dates_are_not_features() -> None:
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(N) * 2, unit="D")
    frame = _export(
        **{
            "Last Activity": (start + pd.Timedelta(days=40)).strftime("%Y-%m-%d"),
            "First Contact Date": start.strftime("%d/%m/%Y"),
            "Contact Channel": ["phone", "web", "fair"] * (N // 3),
            "month": ["may", "jun", "jul"] * (N // 3),  # month names are not dates
        }
    )
    draft = _guess(frame)
    assert draft.created_at is not None and draft.created_at.name == "First Contact Date"
    assert "first contact" in draft.created_at.why
    assert draft.columns["Last Activity"].role == "ignore"
    assert "leak" in draft.columns["Last Activity"].why
    assert draft.columns["Contact Channel"].role == "source"
    assert draft.columns["month"].role == "firmographic"
    undated = _guess(frame.rename(columns={"First Contact Date": "Touched"}))
    assert undated.created_at is not None and undated.created_at.name == "Touched"  # earliest


@pytest.mark.parametrize(
    ("name", "values", "positive"),
    [
        ("Purchased", ["0", "0", "0", "1"], "1"),
        ("Subscribed", ["no", "no", "no", "yes"], "yes"),
        ("y", ["no", "yes", "no", "no"], "yes"),
        ("deal_closed", ["false", "false", "true", "false"], "true"),
        ("Result", ["Lost", "Lost", "Won", "Lost"], "Won"),  # outcome values, plain name
    ],
)
def test_a_binary_outcome_with_a_business_name_is_the_label(
    name: str, values: list[str], positive: str
) -> None:
    frame = _export(**{name: values * (N // 4)}).drop(columns=["Converted"])
    draft = _guess(frame)
    assert draft.label is not None and draft.label.name == name
    assert draft.positive == positive
    assert name not in draft.columns  # never a feature


def test_with_several_label_candidates_the_best_named_wins_and_the_others_are_listed() -> None:
    frame = _export(Purchased=["0", "1", "0", "0"] * (N // 4), housing=["no", "yes"] * (N // 2))
    draft = _guess(frame)
    assert draft.label is not None and draft.label.name == "Converted"
    assert draft.columns["Purchased"].role == "ignore"
    assert any("'Purchased'" in note for note in draft.notes)
    assert draft.columns["housing"].role == "firmographic"  # a yes/no feature, no outcome name


def test_has_and_is_flags_are_features_whatever_noun_follows() -> None:
    frame = _export(
        has_company_page=["0", "1", "1"] * (N // 3), is_account_owner=["true", "false"] * (N // 2)
    )
    roles = _roles(_guess(frame))
    assert roles["has_company_page"] in ("engagement", "firmographic")
    assert roles["is_account_owner"] in ("engagement", "firmographic")


def test_a_hash_or_many_level_column_is_never_the_source() -> None:
    rng = np.random.default_rng(3)
    hashes = [f"{h:08x}" for h in rng.integers(0, 2**32, 120)]
    frame = _export(
        **{
            "utm_source": [hashes[i] for i in rng.integers(0, 120, N)],
            "Lead Source": ["Google", "Referral", "Event"] * (N // 3),
            "Origin Page": [f"page about topic {i % 80}" for i in range(N)],
        }
    )
    draft = _guess(frame)
    assert draft.columns["utm_source"].role == "ignore"
    assert draft.columns["Lead Source"].role == "source"
    assert draft.columns["Origin Page"].role != "source"


def test_emails_and_phones_are_found_by_their_values() -> None:
    frame = _export(
        Reach=[f"p{i}@mail.example.org" for i in range(N)],
        Line=[f"+44 7700 9{i:05d}" for i in range(N)],
        Contact=[f"(555) 010-{i:04d}" for i in range(N)],
        Owner=[f"Agent {i % 7}" for i in range(N)],
    )
    draft = _guess(frame)
    assert draft.columns["Reach"].role == "pii" and "e-mail" in draft.columns["Reach"].why
    assert draft.columns["Line"].role == draft.columns["Contact"].role == "pii"
    assert "phone" in draft.columns["Line"].why
    assert draft.columns["Owner"].role == "passthrough"


def test_a_split_column_is_found_only_when_it_holds_train_valid_test() -> None:
    frame = _export(split=["train", "Valid", "TEST"] * (N // 3))
    draft = _guess(frame)
    assert draft.split_column is not None and draft.split_column.name == "split"
    assert "split" not in draft.columns
    folds = _guess(_export(fold=["1", "2", "3"] * (N // 3)))
    assert folds.split_column is None and folds.columns["fold"].role == "ignore"


def test_the_draft_writes_each_guess_with_its_evidence(tmp_path: Path) -> None:
    start = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.arange(N), unit="h")
    frame = _export(
        **{"First Contact": start.strftime("%Y-%m-%d %H:%M"), "fold": ["train"] * N}
    ).rename(columns={"Converted": "Purchased"})
    frame.loc[: N // 2, "fold"] = "test"
    frame.loc[: N // 4, "fold"] = "valid"
    frame.to_csv(tmp_path / "export.csv", index=False)
    text = draft_config(tmp_path / "export.csv")
    dataset = DatasetConfig.model_validate(tomllib.loads(text)["dataset"])
    assert (dataset.label, dataset.created_at, dataset.split_column) == (
        "Purchased", "First Contact", "fold",
    )  # fmt: skip
    assert dataset.effective_split() == "column"
    label_line = next(line for line in text.splitlines() if line.startswith("label ="))
    assert "binary" in label_line and "% '1'" in label_line and "'purchased'" in label_line
    for line in text.splitlines():
        if " = { role = " in line or line.startswith(("id_column", "created_at", "split_column")):
            assert "# guessed: " in line, line


def test_a_binary_column_named_in_another_script_does_not_stop_the_draft() -> None:
    """Seen in review: a 0/1 column named without ASCII letters crashed the label guess."""
    frame = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(60)],
            "Конвертирован": ["0", "1"] * 30,
            "Größe": [str(i % 7) for i in range(60)],
        },
        dtype=object,
    )
    draft = guess_mapping(frame)
    assert draft.id_column is not None and draft.id_column.name == "id"
    assert draft.columns["Größe"].role not in ("ignore", "pii")  # words of any script
    assert "Конвертирован" in draft.columns or draft.label is not None
