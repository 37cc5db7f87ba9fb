"""Many threads explaining leads on one shared model give exactly the serial answers.

LightGBM's pred_contrib once crashed under concurrent calls on one booster (LightGBM
#5482); the API shares one model across its thread pool, so this must hold.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.serve.conftest import USER


def test_concurrent_explanations_equal_a_serial_run(
    client: TestClient, test_leads: list[dict[str, Any]]
) -> None:
    def score(i: int) -> dict[str, Any]:
        response = client.post("/v1/predict", json=test_leads[i % len(test_leads)], headers=USER)
        assert response.status_code == 200
        return dict(response.json())

    serial = [score(i) for i in range(len(test_leads))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(score, range(len(test_leads) * 3)))
    for i, answer in enumerate(parallel):
        assert answer == serial[i % len(test_leads)]
