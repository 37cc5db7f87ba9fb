"""The [dataset] mapping of a flat CRM export: config, reading, labels, the draft config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.config import load_config
from leadml.data.mapping.config import (
    DEFAULT_MISSING,
    DatasetConfig,
    FlatColumn,
    infer_type,
    mapping_changes,
    resolve_types,
)
from leadml.data.mapping.draft import draft_config
from leadml.data.mapping.read import read_flat
from leadml.errors import InputError
from leadml.model.labels import flat_labels
from tests.flat_export import LEAKY, TOKEN_ROWS, synthetic_export, write_export
from tests.machine import run_leadml

runner = CliRunner()


def _dataset(**changes: object) -> DatasetConfig:
    base: dict[str, object] = {
        "id_column": "id",
        "label": "won_flag",
        "columns": {"views": FlatColumn(role="engagement"), "email": FlatColumn(role="pii")},
    }
    return DatasetConfig.model_validate(base | changes)


def test_the_dataset_section_is_read_from_leadml_toml(tmp_path: Path) -> None:
    config = load_config(write_export(tmp_path, synthetic_export(50)))
    dataset = config.dataset
    assert dataset is not None
    assert dataset.id_name == "Prospect ID"
    assert dataset.feature_names == [
        "Lead Source", "Page Views", "Time On Site", "Industry", "Employees",
    ]  # fmt: skip
    assert dataset.names_with("pii") == ["Email", "Phone"]
    assert dataset.names_with("passthrough") == ["Company Name"]
    assert dataset.effective_split() == "time"
    assert DatasetConfig.from_dict(dataset.to_dict()) == dataset


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"converted_at": "closed_on"}, "exactly one of label"),
        ({"label": None}, "exactly one of label"),
        ({"columns": {"id": FlatColumn(role="engagement")}}, "id_column and is also listed"),
        ({"columns": {"email": FlatColumn(role="pii")}}, "no feature columns"),
        ({"split": "time"}, "needs a created_at"),
    ],
)
def test_an_invalid_mapping_names_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _dataset(**changes)


def test_an_unknown_role_is_an_input_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "leadml.toml"
    path.write_text(
        '[dataset]\nlabel = "y"\n[dataset.columns]\nage = { role = "feature" }\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match="dataset.columns.age.role"):
        load_config(path)


def test_every_missing_token_reads_as_missing(tmp_path: Path) -> None:
    frame = synthetic_export(200)
    config = load_config(write_export(tmp_path, frame))
    assert config.dataset is not None
    rows = read_flat(tmp_path / "export.csv", config.dataset)
    for column, first in TOKEN_ROWS.items():
        for k in range(len(DEFAULT_MISSING)):
            assert rows[column].iloc[first + k] is None, (column, DEFAULT_MISSING[k])
    assert rows.index.name == "Prospect ID"
    assert rows["Industry"].iloc[-1] in {"software", "retail", "finance"}


def test_read_flat_names_the_missing_column_and_the_duplicate_row(tmp_path: Path) -> None:
    frame = synthetic_export(30)
    config = load_config(write_export(tmp_path, frame))
    assert config.dataset is not None
    frame.drop(columns=["Industry"]).to_csv(tmp_path / "no_industry.csv", index=False)
    with pytest.raises(InputError, match="'Industry'"):
        read_flat(tmp_path / "no_industry.csv", config.dataset)
    scoring = read_flat(tmp_path / "no_industry.csv", config.dataset, scoring=True)
    assert scoring["Industry"].isna().all()
    frame.loc[5, "Prospect ID"] = frame.loc[2, "Prospect ID"]
    frame.to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(InputError, match="duplicate lead id") as info:
        read_flat(tmp_path / "dup.csv", config.dataset)
    assert info.value.row == 7  # header is row 1, the sixth data row is row 7


def test_read_flat_refuses_a_column_named_twice(tmp_path: Path) -> None:
    frame = synthetic_export(10)
    config = load_config(write_export(tmp_path, frame))
    assert config.dataset is not None
    names = list(frame.columns)
    second = names.index("Industry")
    frame.insert(len(names), "Industry ", frame["Industry"], allow_duplicates=True)
    frame.to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(InputError, match="'Industry' appears twice") as info:
        read_flat(tmp_path / "twice.csv", config.dataset)
    assert f"columns {second + 1} and {len(names) + 1}" in str(info.value)


def test_labels_from_positive_values_are_case_insensitive() -> None:
    frame = pd.DataFrame({"won_flag": ["Yes", "no", None, "YES"]}, index=list("abcd"))
    labels = flat_labels(frame, _dataset(positive=("yes",)), window_days=30)
    assert labels.y.to_dict() == {"a": 1, "b": 0, "d": 1}
    assert labels.n_unlabelled == 1


def test_labels_from_converted_at_respect_the_window_and_censoring() -> None:
    frame = pd.DataFrame(
        {
            "created": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-03-20"],
            "closed_on": ["2024-01-10", "2024-03-01", None, None],
        },
        index=list("abcd"),
    )
    dataset = _dataset(label=None, converted_at="closed_on", created_at="created")
    labels = flat_labels(frame, dataset, window_days=30)
    # a: inside the window; b: converted too late; c: never; d: window not closed yet.
    assert labels.y.to_dict() == {"a": 1, "b": 0, "c": 0}
    assert labels.n_unlabelled == 1


def test_a_label_with_one_class_is_refused() -> None:
    frame = pd.DataFrame({"won_flag": ["no", "no"]}, index=["a", "b"])
    with pytest.raises(InputError, match="only one class"):
        flat_labels(frame, _dataset(), window_days=30)


def test_types_are_inferred_when_the_mapping_leaves_them_out() -> None:
    assert infer_type(pd.Series(["1", "2.5", None, "-3"])) == "numeric"
    assert infer_type(pd.Series(["1", "two", "3"])) == "categorical"
    assert infer_type(pd.Series([None, None], dtype=object)) == "categorical"
    frame = pd.DataFrame({"views": ["1", "2"], "email": ["a@x", "b@y"]})
    resolved = resolve_types(frame, _dataset())
    assert resolved.type_of("views") == "numeric"


def test_the_draft_config_guesses_roles_and_marks_every_guess(tmp_path: Path) -> None:
    write_export(tmp_path, synthetic_export(400))
    text = draft_config(tmp_path / "export.csv")
    parsed = tomllib.loads(text)["dataset"]
    dataset = DatasetConfig.model_validate(parsed)
    assert dataset.id_column == "Prospect ID"
    assert dataset.label == "Converted"
    assert dataset.positive == ("1",)
    assert dataset.created_at == "Created Date"
    roles = {name: column.role for name, column in dataset.columns.items()}
    assert roles["Email"] == roles["Phone"] == "pii"
    assert roles["Company Name"] == "passthrough"
    assert roles["Lead Source"] == "source"
    assert roles["Page Views"] == roles["Time On Site"] == "engagement"
    assert roles["Industry"] == "firmographic"
    assert roles["Notes"] == "ignore"  # unique free text
    assert roles["Lead Status"] == roles["Sales Comment"] == "ignore"  # outcome-like
    assert dataset.columns["Page Views"].type == "numeric"
    for line in text.splitlines():
        if " = { role = " in line:
            assert "# guessed:" in line, line
    assert set(LEAKY) <= set(dataset.columns)


def test_init_config_writes_a_file_and_never_overwrites_silently(tmp_path: Path) -> None:
    write_export(tmp_path, synthetic_export(100))
    out = tmp_path / "draft.toml"
    result = runner.invoke(app, ["init-config", str(tmp_path / "export.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[dataset.columns]" in out.read_text(encoding="utf-8")
    again = runner.invoke(app, ["init-config", str(tmp_path / "export.csv"), "--out", str(out)])
    assert again.exit_code != 0
    assert "overwrite" in str(again.exception) + again.output


def test_semicolon_exports_are_sniffed(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"age": np.arange(30), "y": ["no", "yes"] * 15, "job": ["a", "b", "c"] * 10}
    )
    frame.to_csv(tmp_path / "bank.csv", sep=";", index=False)
    text = draft_config(tmp_path / "bank.csv")
    parsed = tomllib.loads(text)["dataset"]
    assert parsed["delimiter"] == ";"
    assert parsed["label"] == "y"
    assert parsed["columns"]["age"]["type"] == "numeric"


def test_a_column_is_numeric_only_when_every_present_value_is_a_number() -> None:
    """One "lots" among 99 numbers used to be inferred numeric (95% rule), then crashed."""
    mostly = pd.Series([str(i) for i in range(99)] + ["lots"], dtype=object)
    assert infer_type(mostly) == "categorical"
    assert infer_type(pd.Series(["1", " 2 ", None, "1e3", "-0.5"], dtype=object)) == "numeric"
    frame = pd.DataFrame({"views": [*mostly], "email": ["a@x"] * 100})
    assert resolve_types(frame, _dataset()).type_of("views") == "categorical"


def test_init_config_then_train_reads_a_mostly_numeric_column_as_text(tmp_path: Path) -> None:
    from leadml.features.flat import flat_features

    frame = synthetic_export(400)
    frame.loc[200, "Page Views"] = "lots"
    write_export(tmp_path, frame)
    text = draft_config(tmp_path / "export.csv")
    (tmp_path / "draft.toml").write_text(text, encoding="utf-8")
    dataset = load_config(tmp_path / "draft.toml").dataset
    assert dataset is not None and dataset.columns["Page Views"].type == "categorical"
    rows = read_flat(tmp_path / "export.csv", dataset)
    raw = flat_features(rows, resolve_types(rows, dataset))
    assert raw["Page Views"].iloc[200] == "lots"


def test_a_non_number_in_a_numeric_column_names_the_file_and_its_line(tmp_path: Path) -> None:
    frame = synthetic_export(60)
    frame.loc[40, "Page Views"] = "lots"  # data row 41 = line 42 (the header is line 1)
    config = load_config(write_export(tmp_path, frame))  # the mapping says numeric
    assert config.dataset is not None
    for scoring in (False, True):
        with pytest.raises(InputError, match="line 42") as info:
            read_flat(tmp_path / "export.csv", config.dataset, scoring=scoring)
        assert info.value.file == tmp_path / "export.csv"
        assert info.value.row == 42 and info.value.column == "Page Views"
        assert info.value.value == "lots"
        assert "export.csv" in str(info.value) and "categorical" in str(info.value)


def test_the_bank_benchmark_mapping_finds_the_data_from_any_clone(tmp_path: Path) -> None:
    """bench/uci_bank.toml names the export relative to the repository (never /work/...)."""
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "bench" / "uci_bank.toml").read_text(encoding="utf-8")
    dataset = tomllib.loads(text)["dataset"]
    assert not Path(dataset["file"]).is_absolute()
    clone = tmp_path / "elsewhere" / "leadml"
    (clone / "bench").mkdir(parents=True)
    (clone / "bench" / "uci_bank.toml").write_text(text, encoding="utf-8")
    config = load_config(clone / "bench" / "uci_bank.toml")
    assert config.dataset is not None and config.dataset.file is not None
    found = config.resolve(config.dataset.file).resolve()
    expected = clone.parent / "shared" / "datasets" / "uci-bank-marketing"
    assert found == (expected / "bank-additional-full.csv").resolve()


def test_a_config_error_is_one_line_naming_the_column_and_the_fix(tmp_path: Path) -> None:
    """A label also listed under [dataset.columns] used to dump the whole section."""
    path = tmp_path / "leadml.toml"
    path.write_text(
        '[dataset]\nlabel = "Converted"\n[dataset.columns]\n'
        'Converted = { role = "engagement" }\nviews = { role = "engagement" }\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_config(path)
    text = str(info.value)
    assert "\n" not in text and "{" not in text and "Value error" not in text
    assert "'Converted' is the label" in text and "delete its line" in text
    assert str(path) in text


@pytest.mark.parametrize("setting", ["id_column", "created_at", "split_column"])
def test_a_named_column_may_not_also_be_a_feature(setting: str) -> None:
    with pytest.raises(ValueError, match=f"'views' is the {setting} and is also listed"):
        _dataset(**{setting: "views"})


def test_the_split_column_is_read_case_insensitively_and_a_bad_value_names_its_line(
    tmp_path: Path,
) -> None:
    frame = synthetic_export(40)
    frame["fold"] = ["Train", "VALID", "test", "train"] * 10
    write_export(tmp_path, frame)
    dataset = _mapping_with(tmp_path, 'split_column = "fold"')
    rows = read_flat(tmp_path / "export.csv", dataset)
    assert rows["fold"].head(4).tolist() == ["train", "valid", "test", "train"]
    assert "fold" not in dataset.feature_names and dataset.effective_split() == "column"
    scoring = read_flat(tmp_path / "export.csv", dataset, scoring=True)
    assert scoring["fold"].iloc[0] == "Train"  # scoring never reads the split
    frame.loc[6, "fold"] = "holdout"  # data row 7 = line 8
    frame.to_csv(tmp_path / "export.csv", index=False)
    with pytest.raises(InputError, match="line 8") as info:
        read_flat(tmp_path / "export.csv", dataset)
    assert (info.value.column, info.value.value) == ("fold", "holdout")
    assert "train, valid or test" in str(info.value) and "\n" not in str(info.value)


def _mapping_with(folder: Path, line: str) -> DatasetConfig:
    path = folder / "leadml.toml"
    text = path.read_text(encoding="utf-8").replace("[dataset]\n", f"[dataset]\n{line}\n", 1)
    path.write_text(text, encoding="utf-8")
    dataset = load_config(path).dataset
    assert dataset is not None
    return dataset


def test_the_cli_prints_a_config_error_as_one_line(tmp_path: Path) -> None:
    path = tmp_path / "leadml.toml"
    path.write_text(
        '[dataset]\nlabel = "y"\nid_column = "a_rather_long_lead_identifier_column"\n'
        '[dataset.columns]\na_rather_long_lead_identifier_column = { role = "ignore" }\n'
        'views = { role = "engagement" }\n',
        encoding="utf-8",
    )
    done = run_leadml("train", "--config", str(path), cwd=tmp_path)  # not a terminal: 80 wide
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "is the id_column" in lines[0] and "delete its line" in lines[0]


def test_mapping_changes_name_the_columns_and_ignore_an_inferred_type() -> None:
    model = DatasetConfig(
        label="won",
        columns={
            "views": FlatColumn(role="engagement", type="numeric"),
            "region": FlatColumn(role="firmographic", type="categorical"),
        },
    )
    inferred = DatasetConfig(
        label="won",
        columns={"views": FlatColumn(role="engagement"), "region": FlatColumn(role="firmographic")},
    )
    assert mapping_changes(inferred, model) is None
    edited = DatasetConfig(
        label="won",
        columns={
            "views": FlatColumn(role="engagement", type="categorical"),
            "pages": FlatColumn(role="engagement"),
        },
    )
    assert mapping_changes(edited, model) == (
        "features only in the config: pages; features only in the model: region; "
        "role or type changed: views"
    )
