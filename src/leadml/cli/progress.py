"""One progress display for long jobs: step lines above a bar with counts and times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leadml.cli.common import err_console


@dataclass(frozen=True)
class JobProgress:
    """The callbacks a job reports through: a new step, and counted progress within it."""

    on_step: Callable[[str], None]
    on_progress: Callable[[int, int], None]


@contextmanager
def job_progress(counting: str) -> Iterator[JobProgress]:
    """Show each step as a line and the current one as a bar; `counting` names the work
    that `on_progress` counts (e.g. "boosting", "scoring and explaining")."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def on_step(message: str) -> None:
            # Literal text (a path or a `[dataset]` is not markup), never split mid-path.
            progress.console.print(f"[dim]-[/] {escape(message)}", soft_wrap=True)
            progress.update(task, description=escape(message), total=None, completed=0)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, description=counting, total=total, completed=done)

        yield JobProgress(on_step, on_progress)
