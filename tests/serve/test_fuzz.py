"""Schemathesis over the real app: requests generated from the app's own OpenAPI
document, valid ones and invalid ones, with an admin key, every default check. Once in
process (the ASGI app) and once over HTTP against `leadml serve` in a subprocess
(gunicorn, uvicorn, the real headers and connection handling).

A small run here (a few examples per operation); `make fuzz` runs a bigger one
(LEADML_FUZZ_EXAMPLES in process, LEADML_FUZZ_SERVER_EXAMPLES over HTTP).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from leadml.data.load import Dataset
from leadml.model.pipeline import TrainedModel
from leadml_serve.app import create_app
from leadml_serve.security import digest
from tests.serve.conftest import ADMIN, ADMIN_KEY
from tests.serve.test_leads import app_config, fill_store
from tests.serve.test_server import running

EXAMPLES = int(os.environ.get("LEADML_FUZZ_EXAMPLES", "12"))
SERVER_EXAMPLES = int(os.environ.get("LEADML_FUZZ_SERVER_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def api_schema(
    bundle_dir: Path,
    small_data: Dataset,
    trained: TrainedModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The app's schema, read from the app (schemathesis runs its lifespan, so the model
    is loaded as in production), over a store holding two scored batches."""
    folder = tmp_path_factory.mktemp("fuzz")
    store_url = f"sqlite:///{folder / 'scores.db'}"
    fill_store(store_url, small_data, trained)
    app = create_app(app_config(folder, bundle_dir, store_url))
    return _with_admin_key(schemathesis.openapi.from_asgi("/openapi.json", app))


def _with_admin_key(schema: Any) -> Any:
    schema.config.update(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    # The key above on every request, not a generated one (which would make nearly every
    # valid request a 401); ignored_auth still sends requests without it.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def test_the_api_keeps_its_openapi_contract(api_schema: Any) -> None:
    """Every operation, valid and invalid inputs, every default check (not_a_server_error,
    status and content-type conformance, response schema, negative_data_rejection,
    positive_data_acceptance, ignored auth, unsupported methods, ...)."""
    failures = _fuzz(api_schema, EXAMPLES)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_the_running_server_keeps_its_openapi_contract(
    bundle_dir: Path, small_data: Dataset, trained: TrainedModel, tmp_path: Path
) -> None:
    """The same, over HTTP against `leadml serve` (one worker) on a store holding two
    scored batches, with the schema the server itself publishes."""
    fill_store(f"sqlite:///{tmp_path / 'scores.db'}", small_data, trained)
    keys = f"ops:{digest(ADMIN_KEY)}:admin"
    model = shutil.copytree(bundle_dir, tmp_path / "models" / "7")  # the default model_roots
    with running(tmp_path, "--model", str(model), api_keys=keys) as (base, log):
        ranked = httpx.get(f"{base}/v1/leads/ranked", headers=ADMIN, timeout=10)
        assert ranked.json()["total"] > 0, ranked.text  # the server reads the filled store
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        failures = _fuzz(_with_admin_key(schema), SERVER_EXAMPLES)
    # After the server stopped, so that its log (which says why) is complete.
    assert not failures, "\n\n".join([*failures, "server log (last 40 lines):", *log[-40:]])


def _fuzz(schema: Any, examples: int) -> list[str]:
    """Every operation in both modes, `examples` cases each; returns every failure."""
    tally: Counter[str] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run(operation, mode, tally, examples)
            except Unsatisfiable:  # nothing to get wrong: no parameters, no body
                tally["operations without invalid input"] += 1
            except (Exception, BaseExceptionGroup) as exc:  # reported together by the caller
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    print(f"schemathesis: {dict(tally)}; {len(failures)} failing operation(s)")
    assert tally["cases"] > 0
    return failures


def _cases(operation: Any, mode: GenerationMode) -> Any:
    """The operation's cases. A valid list of leads also has unique lead ids, which JSON
    Schema cannot say (the document says it as `x-unique-property`); valid cases keep it."""
    cases = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and operation.label == "POST /v1/predict":
        cases = cases.filter(lambda case: _unique_ids(case.body))
    return cases


def _unique_ids(body: Any) -> bool:
    if not isinstance(body, list):
        return True
    ids = [lead.get("lead_id") for lead in body if isinstance(lead, dict)]
    return len(ids) == len(set(ids))


def _run(operation: Any, mode: GenerationMode, tally: Counter[str], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=_cases(operation, mode))
    def run(case: Any) -> None:
        tally["cases"] += 1
        response = case.call_and_validate()
        tally[f"{response.status_code // 100}xx"] += 1

    run()
