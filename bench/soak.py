"""Soak the real server: `leadml serve --workers 2` under a steady mixed load for minutes.

1. A champion in a project folder (a temp one unless `--project`): trained here on
   `--leads` synthetic leads, as bench_serve.py does, then `leadml score` writes one batch
   to the project's scores store so the ranked routes have something to list.
2. `leadml serve --workers 2` in that folder; `--concurrency` client threads (default 8),
   each on its own keep-alive connection, send a fixed mix of requests for `--seconds`:
   POST /v1/predict with one lead and with 100 leads (with reasons), and
   GET /v1/leads/ranked as a JSON page and as a CSV (500 rows).
3. Printed, never asserted: requests, errors by kind (HTTP status, or the connection
   error's type), p50 / p99 latency overall and per request kind, throughput, and each
   gunicorn worker's RSS (VmRSS from /proc) at start, every minute on the way, and at the
   end. A worker replaced during the run shows up as a pid that is not in both lists.

    python bench/soak.py                     # 10 minutes
    python bench/soak.py --seconds 30        # a quick check
    python bench/soak.py --project .         # reuse the demo's champion and store
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench_serve import KEY, bench_project, free_port, payloads, wait_ready

# (name, weight): how often each request kind is sent.
MIX = (("predict one", 5), ("predict 100", 1), ("ranked json", 3), ("ranked csv", 1))


@dataclass
class Tally:
    """What the client threads saw; each thread keeps its own, merged at the end."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0


def requests_for(bodies: dict[str, Path], ranked: bool) -> dict[str, tuple[str, str, bytes]]:
    """Each request kind's method, path and body."""
    batch = json.loads(bodies["leadml_batch"].read_bytes())
    kinds = {
        "predict one": ("POST", "/v1/predict", bodies["leadml_one"].read_bytes()),
        "predict 100": ("POST", "/v1/predict", json.dumps(batch[:100]).encode()),
    }
    if ranked:
        kinds["ranked json"] = ("GET", "/v1/leads/ranked?limit=100", b"")
        kinds["ranked csv"] = ("GET", "/v1/leads/ranked?format=csv&limit=500", b"")
    return kinds


def drive(
    port: int,
    kinds: dict[str, tuple[str, str, bytes]],
    until: float,
    seed: int,
    tally: Tally,
) -> None:
    """One client: weighted random requests on one keep-alive connection, reopened after
    any connection error, until `until` (monotonic)."""
    rng = random.Random(seed)
    names = [n for n, _ in MIX if n in kinds]
    weights = [w for n, w in MIX if n in kinds]
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    connection: http.client.HTTPConnection | None = None
    while time.monotonic() < until:
        name = rng.choices(names, weights)[0]
        method, path, body = kinds[name]
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        began = time.perf_counter()
        tally.requests += 1
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.errors[f"{name}: {type(exc).__name__}"] += 1
            connection.close()
            connection = None
            continue
        elapsed = time.perf_counter() - began
        if not 200 <= response.status < 300:
            tally.errors[f"{name}: HTTP {response.status}"] += 1
        else:
            tally.latencies.setdefault(name, []).append(elapsed)
    if connection is not None:
        connection.close()


def workers_of(pid: int) -> list[int]:
    """The gunicorn workers: children of the server process, except the registry lookup."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:  # exited meanwhile
            continue
        if b"leadml_serve.resolve" not in command:
            found.append(child)
    return sorted(found)


def rss_mib(pids: list[int]) -> dict[int, float | None]:
    """VmRSS of each pid in MiB (None when the process is gone)."""
    sizes: dict[int, float | None] = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            sizes[pid] = None
            continue
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        sizes[pid] = int(line.split()[1]) / 1024
    return sizes


def write_store_batch(project: Path) -> bool:
    """One `leadml score` batch into the project's store; False (and why) if it fails."""
    from bench_serve import _data_dir

    print("scoring the open leads into the store (leadml score) ...", flush=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "leadml_serve.cli",
            "score",
            "--data",
            str(_data_dir(project)),
            "--as-of",
            "latest",
            "--out",
            str(project / "reports" / "ranked.csv"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"leadml score failed, soaking /v1/predict only:\n{done.stdout}{done.stderr}")
    return done.returncode == 0


def ms(values: list[float], q: float) -> str:
    if len(values) < 2:
        return "-"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1] * 1000:.1f}"


def report(
    tally: Tally, seconds: float, rss_start: dict[int, float | None], pids: list[int]
) -> None:
    every = [x for values in tally.latencies.values() for x in values]
    errors = sum(tally.errors.values())
    print()
    print(
        f"soak: {tally.requests:,} requests in {seconds:.0f} s, {tally.requests / seconds:.1f} "
        f"req/s; {errors:,} errors; p50 {ms(every, 50)} ms, p99 {ms(every, 99)} ms"
    )
    print()
    print("| request | ok | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, _ in MIX:
        values = tally.latencies.get(name, [])
        if values:
            print(f"| {name} | {len(values):,} | {ms(values, 50)} | {ms(values, 99)} |")
    print()
    if errors:
        print("errors by kind:")
        for kind, n in tally.errors.most_common():
            print(f"  {kind}: {n:,}")
    else:
        print("errors by kind: none")
    rss_end = rss_mib(sorted(set(rss_start) | set(pids)))
    print()
    print("| worker pid | RSS at start MiB | RSS at end MiB |")
    print("|---|---|---|")
    for pid, end in rss_end.items():
        start = rss_start.get(pid)
        show = [f"{v:.1f}" if v is not None else "-" for v in (start, end)]
        print(f"| {pid} | {show[0]} | {show[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600, help="How long to drive load.")
    parser.add_argument("--project", type=Path, help="Project with a champion (default: temp).")
    parser.add_argument("--leads", type=int, default=50_000, help="Leads to train on.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from leadml_serve.security import digest

    tmp, project = bench_project(args.project, args.leads, "soak-")
    _, bodies, _ = payloads(project, tmp)
    ranked = write_store_batch(project)
    kinds = requests_for(bodies, ranked)

    port = free_port()
    env = os.environ | {"LEADML_API_KEYS": f"soak:{digest(KEY)}"}
    command = [sys.executable, "-m", "leadml_serve.cli", "serve"]
    command += ["--workers", str(args.workers), "--port", str(port)]
    log = (tmp / "server.log").open("wb")
    began = time.perf_counter()
    server = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=log)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", server, began)
        deadline = time.monotonic() + 60
        while len(pids := workers_of(server.pid)) < args.workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(pids)} workers after 60 s")
            time.sleep(0.1)
        rss_start = rss_mib(pids)
        print(
            f"server pid {server.pid}, workers {pids}; {args.concurrency} clients for "
            f"{args.seconds:.0f} s; mix {', '.join(kinds)}"
            + ("" if ranked else " (no store batch: predict only)"),
            flush=True,
        )
        tallies = [Tally() for _ in range(args.concurrency)]
        start = time.monotonic()
        threads = [
            threading.Thread(target=drive, args=(port, kinds, start + args.seconds, i, tally))
            for i, tally in enumerate(tallies)
        ]
        for thread in threads:
            thread.start()
        # Worker RSS every minute on the way, to tell a leak (steady growth) from warm-up.
        next_sample = start + 60
        while any(thread.is_alive() for thread in threads):
            time.sleep(max(0.0, min(next_sample - time.monotonic(), 0.5)))
            if time.monotonic() >= next_sample:
                sizes = rss_mib(workers_of(server.pid))
                shown = ", ".join(f"{pid} {v:.1f}" for pid, v in sizes.items() if v is not None)
                print(f"  {next_sample - start:4.0f} s: worker RSS MiB {shown}", flush=True)
                next_sample += 60
        took = time.monotonic() - start
        merged = Tally()
        for tally in tallies:
            merged.requests += tally.requests
            merged.errors.update(tally.errors)
            for name, values in tally.latencies.items():
                merged.latencies.setdefault(name, []).extend(values)
        report(merged, took, rss_start, workers_of(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(f"\nserver log: {tmp / 'server.log'}")


if __name__ == "__main__":
    main()
