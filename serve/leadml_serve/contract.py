"""The OpenAPI document as the API's contract: what the server refuses, the schema says.

FastAPI documents its own 422 body (`HTTPValidationError`, application/json), knows nothing
of the 401/413 the key check and the body limit answer, and cannot express the list limits
of POST /v1/predict, whose body the route parses itself. `document_errors` fixes the
generated document in one pass, so every error is documented as the problem body it is.
"""

from __future__ import annotations

from typing import Any

from leadml_serve.problems import PROBLEM_JSON
from leadml_serve.schemas import Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_STANDARD = {
    401: "No valid API key (checked before the body is read).",
    403: "The key is not an admin key.",
    413: "The body is over serve.max_body_bytes (or too many leads).",
    422: "Invalid input: the problem body names each bad field, its value and what was expected.",
}
_METHODS = ("get", "post", "put", "patch", "delete")


def document_errors(schema: dict[str, Any], *, max_leads: int) -> dict[str, Any]:
    """Every 4xx/5xx response as `application/problem+json` (schema `Problem`), the 401,
    403, 413 and 422 each operation can answer, and POST /v1/predict's list bounds."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                _document(operation, admin=path.endswith("/reload"))
    predict = schema.get("paths", {}).get("/v1/predict", {}).get("post")
    if predict is not None:
        body = predict["requestBody"]["content"]["application/json"]["schema"]
        for option in body["oneOf"]:
            if option.get("type") == "array":
                # JSON Schema cannot say "unique by lead_id"; the extension and the text do.
                option.update(
                    minItems=1,
                    maxItems=max_leads,
                    description="Each lead_id at most once (a repeated one is a 422).",
                )
                option["x-unique-property"] = "lead_id"
    return schema


def _document(operation: dict[str, Any], *, admin: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    expected: list[int] = []
    if operation.get("security"):
        expected += [401, 403] if admin else [401]
    if operation.get("requestBody"):
        expected += [413, 422]
    if operation.get("parameters"):
        expected.append(422)
    for status in expected:
        responses.setdefault(str(status), {"description": _STANDARD[status]})
    for code, response in responses.items():
        if code[:1] in ("4", "5"):
            response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
