"""A Dask client for one job: an existing scheduler, or a LocalCluster on this machine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from leadml.config import ComputeConfig
from leadml.errors import InputError

if TYPE_CHECKING:
    from distributed import Client

WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_TRIM_THRESHOLD_": "65536"}
"""Set in every LocalCluster worker: OpenMP threads wait passively instead of spinning
against the other workers, and freed memory goes back to the system (Dask's advice)."""


@contextmanager
def dask_client(
    compute: ComputeConfig, *, on_step: Callable[[str], None] | None = None
) -> Iterator[Client]:
    """A client on `compute.scheduler`, or on a LocalCluster of `compute.workers` worker
    processes (closed on exit). `on_step` hears the dashboard link first."""
    step = on_step or (lambda _message: None)
    from distributed import Client, LocalCluster

    if compute.scheduler:
        try:
            client = Client(compute.scheduler, timeout=compute.connect_timeout_seconds)
        except OSError as exc:
            raise InputError(
                f"cannot reach the Dask scheduler: {exc}",
                setting="[compute] scheduler",
                value=compute.scheduler,
                expected="the address a running `dask scheduler` prints (tcp://host:8786), given "
                "by --scheduler or [compute] scheduler, answering within [compute] "
                f"connect_timeout_seconds ({compute.connect_timeout_seconds:g} s); or neither, to "
                "start a LocalCluster here",
            ) from exc
        with client:
            where = f"{_workers(client)} on {compute.scheduler}"
            step(f"Dask dashboard: {client.dashboard_link} ({where})")
            yield client
        return
    cluster = LocalCluster(
        n_workers=compute.workers,
        threads_per_worker=compute.threads_per_worker,
        memory_limit=compute.memory_limit,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
        silence_logs=logging.ERROR,
        env={**WORKER_ENV, "OMP_NUM_THREADS": str(compute.threads_per_worker)},
    )
    with cluster, Client(cluster) as client:
        step(f"Dask dashboard: {client.dashboard_link} ({_workers(client)}, LocalCluster)")
        yield client


def _workers(client: Client) -> str:
    info = client.scheduler_info(n_workers=-1)["workers"]
    threads = sum(int(w.get("nthreads", 1)) for w in info.values())
    return f"{len(info)} workers, {threads} threads"


def worker_threads(client: Client) -> int:
    """Threads across the cluster's workers (at least 1)."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))
