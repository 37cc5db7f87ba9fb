"""The flat request model: JSON rows are read exactly like the export file's rows."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError

from leadml.config import FeatureConfig
from leadml.data.mapping.config import DatasetConfig, FlatColumn
from leadml.features.flat import flat_catalogue, flat_columns, flat_features
from leadml.features.spec import FeatureSpec, learn_spec
from leadml_serve.convert import flat_to_columns
from leadml_serve.schemas import flat_lead_model
from tests.flat_export import synthetic_export

DATASET = DatasetConfig(
    id_column="Prospect ID",
    label="Converted",
    positive=("1",),
    columns={
        "Lead Source": FlatColumn(role="source", type="categorical"),
        "Page Views": FlatColumn(role="engagement", type="numeric"),
        "Industry": FlatColumn(role="firmographic", type="categorical"),
        "Employees": FlatColumn(role="firmographic", type="numeric"),
        "Email": FlatColumn(role="pii"),
    },
)


@pytest.fixture(scope="module")
def model() -> tuple[type[BaseModel], FeatureSpec]:
    frame = synthetic_export(200).set_index("Prospect ID").astype(object)
    raw = flat_features(frame, DATASET)
    spec = learn_spec(raw, FeatureConfig(), catalogue=flat_catalogue(DATASET))
    return flat_lead_model(DATASET, spec), spec


def _columns(lead_model: type[BaseModel], spec: FeatureSpec, body: dict[str, Any]) -> Any:
    lead = lead_model.model_validate(body)
    columns = flat_to_columns([lead], DATASET, spec)
    return lead, columns, flat_columns(columns.leads, DATASET)


def _from_file(row: dict[str, str]) -> dict[str, object]:
    """The same row read by the file path (text, as a CSV holds it)."""
    frame = pd.DataFrame([row], dtype=object).set_index("Prospect ID")
    raw = flat_features(frame, DATASET)
    return {str(name): raw[name].iloc[0] for name in raw.columns}


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _same(a: object, b: object) -> bool:
    return _missing(a) and _missing(b) if _missing(a) or _missing(b) else a == b


def test_a_numeric_json_id_is_read_as_text(model: tuple[type[BaseModel], FeatureSpec]) -> None:
    lead_model, spec = model
    for sent, expected in ((12, "12"), (12.0, "12"), ("P-1", "P-1")):
        lead, columns, _ = _columns(lead_model, spec, {"Prospect ID": sent})
        assert getattr(lead, "lead_id") == expected  # noqa: B009  (a create_model field)
        assert columns.leads["Prospect ID"] == [expected]


@pytest.mark.parametrize("token", ["NA", "Select", " na ", "-", ""])
def test_numeric_fields_accept_the_mappings_missing_tokens_like_the_file(
    model: tuple[type[BaseModel], FeatureSpec], token: str
) -> None:
    lead_model, spec = model
    body = {"Prospect ID": "P-1", "Page Views": token, "Employees": "1200", "Industry": token}
    _, _, raw = _columns(lead_model, spec, body)
    file_row = _from_file({"Prospect ID": "P-1", "Page Views": token, "Employees": "1200",
                           "Industry": token})  # fmt: skip
    assert np.isnan(raw["Page Views"][0]) and raw["Employees"][0] == 1200.0
    assert raw["Industry"][0] is None
    for name, value in file_row.items():
        assert _same(raw[name][0], value), name


def test_categorical_fields_accept_json_numbers_like_the_file_text(
    model: tuple[type[BaseModel], FeatureSpec],
) -> None:
    lead_model, spec = model
    for sent, text in ((3, "3"), (3.0, "3"), (2.5, "2.5"), (-7, "-7")):
        _, columns, raw = _columns(lead_model, spec, {"Prospect ID": "P", "Industry": sent})
        assert (
            raw["Industry"][0]
            == text
            == _from_file({"Prospect ID": "P", "Industry": text})["Industry"]
        )
        assert any(text in w for w in columns.warnings[0])  # unseen level, named as text


def test_bad_values_are_refused_naming_the_field(
    model: tuple[type[BaseModel], FeatureSpec],
) -> None:
    lead_model, _ = model
    for field, value in (
        ("Page Views", "lots"),
        ("Page Views", True),
        ("Page Views", [1]),
        ("Industry", True),
        ("Industry", {"a": 1}),
        ("Prospect ID", True),
    ):
        body: dict[str, Any] = {"Prospect ID": "P-1", field: value}
        with pytest.raises(ValidationError) as info:
            lead_model.model_validate(body)
        assert info.value.errors()[0]["loc"][0] == field, (field, value, info.value.errors())


def test_the_openapi_schema_still_shows_numbers_first_and_text_accepted(
    model: tuple[type[BaseModel], FeatureSpec],
) -> None:
    lead_model, _ = model
    schema = lead_model.model_json_schema(by_alias=True)
    views = schema["properties"]["Page Views"]
    assert [t.get("type") for t in views["anyOf"]] == ["number", "string", "null"]
    assert "'NA'" in views["description"]
    industry = [t.get("type") for t in schema["properties"]["Industry"]["anyOf"]]
    assert "string" in industry and "number" in industry
    assert schema["required"] == ["Prospect ID"]


@pytest.mark.parametrize(
    "value",
    ["Infinity", "inf", "-inf", "NaN", "1e400", "1_000", "1e16", " 12 ", "NA", "-", "3.5e2", "x"],
)
def test_a_numeric_field_takes_text_exactly_as_its_schema_pattern_says(
    model: tuple[type[BaseModel], FeatureSpec], value: str
) -> None:
    """A number as text (an exponent of at most two digits: always finite) or a missing
    token: the server and the OpenAPI pattern agree on every value (non-finite text used
    to pass `float()` and reach the model)."""
    lead_model, _ = model
    field = lead_model.model_json_schema()["properties"]["Page Views"]
    text = next(option for option in field["anyOf"] if option["type"] == "string")
    by_schema = re.match(text["pattern"], value) is not None
    try:
        lead_model.model_validate({"Prospect ID": "P-1", "Page Views": value})
        by_server = True
    except ValidationError:
        by_server = False
    assert by_server == by_schema, (value, text["pattern"])
    finite = value.strip() in {"12", "3.5e2", "1e16"}
    token = value.strip().lower() in {t.lower() for t in DATASET.missing}
    assert by_server == (finite or token), value


@pytest.mark.parametrize("value", [True, 1e16, -1e16])
def test_a_numeric_field_refuses_booleans_and_huge_numbers(
    model: tuple[type[BaseModel], FeatureSpec], value: object
) -> None:
    lead_model, _ = model
    with pytest.raises(ValidationError, match="Page Views"):
        lead_model.model_validate({"Prospect ID": "P-1", "Page Views": value})
