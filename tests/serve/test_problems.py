"""Problem bodies echo the offending value, and must stay writable whatever it is."""

from __future__ import annotations

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from leadml_serve.problems import validation_errors


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (b'{"x": -2231966020270513025187840}', "-2231966020270513025187840"),
        (b'{"x": 18446744073709551616}', "18446744073709551616"),
        (b'{"x": 18446744073709551615}', 18446744073709551615),
        (b'{"x": -9223372036854775808}', -9223372036854775808),
    ],
)
def test_an_integer_beyond_64_bits_is_echoed_as_text(sent: bytes, shown: object) -> None:
    """Schemathesis found it: a reload body with a huge extra number answered 500."""
    with pytest.raises(ValidationError) as caught:
        Strict.model_validate_json(sent)
    errors = validation_errors(list(caught.value.errors()), ("body",))
    assert errors[0]["value"] == shown
    assert orjson.loads(orjson.dumps(errors))[0]["field"] == "body.x"
