"""A real Dask cluster for the engine tests: a LocalCluster of two worker processes on
loopback, started once per test session (per xdist worker) and shared by every test here.

Tests that need a scheduler and workers started as separate processes (`dask scheduler`,
`dask worker`) or a worker killed mid-job build their own; everything else uses this one,
which keeps the engine tests' share of the suite small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from leadml.config import ComputeConfig
from leadml.engine.cluster import dask_client

if TYPE_CHECKING:
    from distributed import Client

CLUSTER = ComputeConfig(engine="dask", workers=2, threads_per_worker=1, memory_limit="2GiB")


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    with dask_client(CLUSTER) as c:
        yield c
