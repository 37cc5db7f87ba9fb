"""A Dask scheduler and workers started as separate OS processes on loopback, the way a
cluster is started by hand (`dask scheduler`, `dask worker`), for the tests that must not
run on a LocalCluster the test process owns.

`dask_pair` starts them with the venv's `dask` console script, waits until every worker
has registered with the scheduler, yields the scheduler's address and always stops both
(their own process groups, so a worker's nanny and its child go too). The processes
inherit the test's environment, so their workers import the same leadml.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_SECONDS = 60.0
"""How long the scheduler and the workers may take to start and register."""
STOP_SECONDS = 10.0
"""How long a process may take to stop after SIGTERM before it is killed."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dask_script() -> Path:
    """The `dask` console script installed beside this Python."""
    script = Path(sys.executable).with_name("dask")
    if not script.exists():
        raise RuntimeError(f"no dask console script beside {sys.executable}")
    return script


@contextmanager
def dask_pair(
    folder: Path, *, workers: int = 1, memory_limit: str = "1GiB", nanny: bool = False
) -> Iterator[str]:
    """A `dask scheduler` and `workers` `dask worker` processes (one thread each) on
    loopback; yields the scheduler address (tcp://127.0.0.1:PORT). Logs go to `folder`.

    Without `nanny` each worker is one process (a second saved in start-up, where a fresh
    process's imports already cost seconds); with it, a nanny process restarts its
    worker when it dies, as in production."""
    folder.mkdir(parents=True, exist_ok=True)
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(
            _start(
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    address.rsplit(":", 1)[1],
                    "--dashboard-address",
                    "127.0.0.1:0",
                ],
                folder / "scheduler.log",
                env,
            )
        )
        for i in range(workers):
            started.append(
                _start(
                    [
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--memory-limit",
                        memory_limit,
                        "--no-dashboard",
                        "--local-directory",
                        str(folder / f"worker-{i}"),
                        "--name",
                        f"worker-{i}",
                        "--nanny" if nanny else "--no-nanny",
                    ],
                    folder / f"worker-{i}.log",
                    env,
                )
            )
        _wait_for_workers(address, workers, started, folder)
        yield address
    finally:
        _stop(started)


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(dask_script()), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_for_workers(
    address: str, workers: int, started: list[subprocess.Popen[bytes]], folder: Path
) -> None:
    """Return once `workers` workers have registered; fail with the logs' tails if a
    process exits or the time runs out."""
    from distributed import Client

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        dead = [p for p in started if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a dask process exited early:\n{_logs(folder)}")
        try:
            with Client(address, timeout="2s") as client:
                client.wait_for_workers(workers, timeout=max(deadline - time.monotonic(), 1))
                return
        except (OSError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(
        f"the dask workers did not register in {STARTUP_SECONDS:g} s:\n{_logs(folder)}"
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the workers, then the scheduler (stopped together, a worker waits for the
    scheduler it lost): SIGTERM to each process's group (a nanny and its worker too),
    SIGKILL if it lingers."""
    for process in reversed(processes):
        _signal(process, signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait(STOP_SECONDS)


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, sig)


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n" + log.read_text(errors="replace")[-2000:]
        for log in sorted(folder.glob("*.log"))
    )
