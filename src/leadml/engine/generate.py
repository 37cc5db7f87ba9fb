"""The synthetic funnel written by Dask workers: each task draws its chunks and writes its
own part files (`data.synth.chunked`), in parallel across the cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from leadml.data.synth.chunked import PartTask, Written

if TYPE_CHECKING:
    from distributed import Client


def on_workers(client: Client) -> Callable[..., Iterator[Written]]:
    """A `chunked.Runner` that runs the tasks on the cluster's workers, yielding results
    as they complete; a failed task cancels the rest and raises its error here."""

    def run(fn: Callable[[PartTask], Written], tasks: list[PartTask]) -> Iterator[Written]:
        from distributed import as_completed

        futures = client.map(fn, tasks, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)

    return run
