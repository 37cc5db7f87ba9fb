"""Benchmark the Dask engine against the local engine (issue 16), printing one table.

1. Overhead: `leadml score` (features, scores and reasons for every open lead, the ranked
   list as Parquet, no store) on `--overhead-leads` (2M) leads, the local engine against
   the Dask engine with 2 workers x 1 thread, on the same 2 cores and the same data.
   Target: Dask throughput >= 0.8x local.
2. Linear cost: the same job on the Dask engine at `--sizes` (1M, 3M, 10M leads; ~10
   events per lead), each worker's memory_limit 3 GiB so the 10M data cannot fit in the
   workers' memory at once. Target: seconds per lead at the largest size within 1.25x of
   the smallest. Peak RSS per worker and bytes spilled to disk are sampled from the
   workers while the job runs.
3. Training: `leadml train` on `--train-leads` (5M) leads, Dask against local: time,
   peak memory and test AUC. The local run is stopped when its RSS passes
   `--local-rss-cap` GiB (the machine has 24 GiB), and the table says where it stopped.

The cluster is started here (a LocalCluster of worker processes on loopback) and the
CLI joins it with `--scheduler`, so its start-up is not counted and its workers can be
sampled. Data is generated once per size into data/generated/dask-<N> (partitioned, by
`leadml demo-data --partitions`); the local engine reads the same rows gathered into
single files (data/generated/dask-<N>-local). The model is the demo-size bundle
bench_score.py trains once (data/generated/bench-model).

    python bench/bench_dask.py                                  # everything (hours)
    python bench/bench_dask.py --parts overhead --overhead-leads 200000
    python bench/bench_dask.py --parts linear --sizes 1000000 3000000 10000000
    python bench/bench_dask.py --parts train --train-leads 5000000
    python bench/bench_dask.py --report train.json overhead.json linear.json   # one table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "data" / "generated"
SEED = 7
PARTITION_LEADS = 250_000
"""Leads per partition file of the generated data."""
OVERHEAD_TARGET = 0.8
LINEAR_TARGET = 1.25
console = Console(width=200)
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "COLUMNS": "160"}


def cli(*args: str) -> list[str]:
    """A leadml command line, run by this interpreter."""
    return [sys.executable, "-m", "leadml_serve.cli", *args]


def partitioned_data(n_leads: int, scheduler: str | None) -> Path:
    """The synthetic funnel of n_leads, partitioned, generated once."""
    folder = GENERATED / f"dask-{n_leads}"
    if (folder / "_leadml.json").exists():
        return folder
    parts = max(2, -(-n_leads // PARTITION_LEADS))
    console.print(f"generating {n_leads:,} leads in {parts} partitions into {folder} ...")
    command = cli("demo-data", "--leads", str(n_leads), "--seed", str(SEED))
    command += ["--format", "parquet", "--partitions", str(parts), "--out", str(folder)]
    if scheduler:
        command += ["--engine", "dask", "--scheduler", scheduler]
    subprocess.run(command, check=True, env=ENV, stdout=subprocess.DEVNULL)
    return folder


def single_files(partitioned: Path) -> Path:
    """The same rows as one leads.parquet and one events.parquet (the local engine's input)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    folder = partitioned.with_name(partitioned.name + "-local")
    if (folder / "events.parquet").exists():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("leads", "events"):
        table = ds.dataset(partitioned / name, format="parquet").to_table()
        pq.write_table(table, tmp / f"{name}.parquet", compression="snappy")
        del table
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def bench_model() -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_score import ensure_model

    return ensure_model(None)


@dataclass
class Sampler:
    """Samples each worker's RSS and bytes spilled to disk while a job runs."""

    client: Any
    every: float = 0.5
    peak_rss: dict[str, int] = field(default_factory=dict)
    spilled: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.client.run(_reset_peak)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        try:
            seen = self.client.run(_worker_memory)
        except Exception:  # a worker restarting: the next sample catches up
            return
        for address, (rss, spilled) in seen.items():
            self.peak_rss[address] = max(self.peak_rss.get(address, 0), rss)
            self.spilled[address] = max(self.spilled.get(address, 0), spilled)


def _reset_peak(dask_worker: Any) -> None:
    dask_worker._leadml_spill_start = _disk_write_bytes(dask_worker)


def _worker_memory(dask_worker: Any) -> tuple[int, int]:
    """This worker's RSS now and the bytes it has spilled to disk since the job began."""
    rss = psutil.Process().memory_info().rss
    start = getattr(dask_worker, "_leadml_spill_start", 0)
    return rss, _disk_write_bytes(dask_worker) - start


def _disk_write_bytes(dask_worker: Any) -> int:
    total = 0.0
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and key[-2:] == ("disk-write", "bytes"):
            total += value
    return int(total)


def run_job(command: list[str], cwd: Path, rss_cap_gib: float | None = None) -> dict[str, Any]:
    """Run a leadml command; wall seconds, the peak RSS of its process tree, and whether
    it was stopped at the RSS cap."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak, capped, last_step = 0, False, ""
    out_lines: list[str] = []
    err_lines: list[str] = []
    readers = [
        threading.Thread(target=lambda: out_lines.extend(proc.stdout or []), daemon=True),
        threading.Thread(target=lambda: err_lines.extend(proc.stderr or []), daemon=True),
    ]
    for r in readers:
        r.start()
    process = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if rss_cap_gib and rss > rss_cap_gib * 2**30:
            capped = True
            steps = [line for line in err_lines if line.startswith("- ")]
            last_step = steps[-1][2:].strip() if steps else ""
            proc.kill()
            break
        time.sleep(0.25)
    code = proc.wait()
    for r in readers:
        r.join(timeout=5)
    seconds = time.perf_counter() - start
    if code != 0 and not capped:
        tail = "".join(err_lines[-20:]) + "".join(out_lines[-20:])
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{tail}")
    return {
        "seconds": seconds,
        "peak_rss_gib": peak / 2**30,
        "capped": capped,
        "stopped_in": last_step,
        "stdout": "".join(out_lines),
    }


def score_command(data: Path, model: Path, out: Path, scheduler: str | None) -> list[str]:
    command = cli("score", "--data", str(data), "--model", str(model), "--as-of", "latest")
    command += ["--out", str(out), "--no-store"]
    if scheduler:
        command += ["--engine", "dask", "--scheduler", scheduler]
    return command


def listed_rows(out: Path) -> int:
    import pyarrow.dataset as ds

    return int(ds.dataset(out, format="parquet").count_rows())


def start_cluster(workers: int, memory_limit: str) -> tuple[Any, Any]:
    from leadml.config import ComputeConfig
    from leadml.engine.cluster import dask_client

    manager = dask_client(
        ComputeConfig(
            engine="dask", workers=workers, threads_per_worker=1, memory_limit=memory_limit
        ),
        on_step=console.print,
    )
    client = manager.__enter__()
    return manager, client


def overhead(n_leads: int, model: Path, work: Path) -> dict[str, Any]:
    manager, client = start_cluster(2, "3GiB")
    try:
        address = client.scheduler.address
        data = partitioned_data(n_leads, address)
        local_data = single_files(data)
        console.print(f"overhead: local engine on {n_leads:,} leads ...")
        local = run_job(score_command(local_data, model, work / "local.parquet", None), work)
        console.print(f"overhead: Dask engine (2 workers x 1 thread) on {n_leads:,} leads ...")
        with Sampler(client) as sampler:
            dask = run_job(score_command(data, model, work / "dask.parquet", address), work)
        rows_local = listed_rows(work / "local.parquet")
        rows_dask = listed_rows(work / "dask.parquet")
    finally:
        manager.__exit__(None, None, None)
    return {
        "leads": n_leads,
        "rows": (rows_local, rows_dask),
        "local_seconds": local["seconds"],
        "dask_seconds": dask["seconds"],
        "ratio": local["seconds"] / dask["seconds"],
        "local_peak_gib": local["peak_rss_gib"],
        "worker_peak_gib": max(sampler.peak_rss.values()) / 2**30,
    }


def linear(sizes: list[int], model: Path, work: Path) -> list[dict[str, Any]]:
    manager, client = start_cluster(2, "3GiB")
    out: list[dict[str, Any]] = []
    try:
        address = client.scheduler.address
        for n in sizes:
            data = partitioned_data(n, address)
            console.print(f"linear: Dask engine on {n:,} leads ...")
            target = work / f"linear-{n}.parquet"
            with Sampler(client) as sampler:
                job = run_job(score_command(data, model, target, address), work)
            rows = listed_rows(target)
            out.append(
                {
                    "leads": n,
                    "listed": rows,
                    "seconds": job["seconds"],
                    "us_per_lead": job["seconds"] / n * 1e6,
                    "worker_peak_gib": [v / 2**30 for v in sampler.peak_rss.values()],
                    "spilled_gib": [v / 2**30 for v in sampler.spilled.values()],
                }
            )
            shutil.rmtree(target, ignore_errors=True)
    finally:
        manager.__exit__(None, None, None)
    return out


def training(n_leads: int, work: Path, rss_cap: float) -> dict[str, Any]:
    manager, client = start_cluster(2, "6GiB")
    try:
        address = client.scheduler.address
        data = partitioned_data(n_leads, address)
        project = work / "train-dask"
        project.mkdir()
        console.print(f"training: Dask engine on {n_leads:,} leads ...")
        with Sampler(client) as sampler:
            dask = run_job(
                cli("train", "--data", str(data), "--engine", "dask", "--scheduler", address)
                + ["--metrics-out", "m.json", "--no-promote"],
                project,
            )
        dask_auc = json.loads((project / "m.json").read_text())["model"]["roc_auc"]
        dask_workers = sum(sampler.peak_rss.values()) / 2**30
    finally:
        manager.__exit__(None, None, None)
    local_data = single_files(data)
    project = work / "train-local"
    project.mkdir()
    console.print(f"training: local engine on {n_leads:,} leads (stopped past {rss_cap} GiB) ...")
    local = run_job(
        cli("train", "--data", str(local_data), "--metrics-out", "m.json", "--no-promote"),
        project,
        rss_cap_gib=rss_cap,
    )
    local_auc = None
    if not local["capped"]:
        local_auc = json.loads((project / "m.json").read_text())["model"]["roc_auc"]
    return {
        "leads": n_leads,
        "dask_seconds": dask["seconds"],
        "dask_client_peak_gib": dask["peak_rss_gib"],
        "dask_workers_peak_gib": dask_workers,
        "dask_auc": dask_auc,
        "local_seconds": local["seconds"],
        "local_peak_gib": local["peak_rss_gib"],
        "local_auc": local_auc,
        "local_capped": local["capped"],
        "local_stopped_in": local["stopped_in"],
    }


def report(results: dict[str, Any]) -> None:
    table = Table(title="bench_dask: the Dask engine beside the local engine (2 cores)")
    for column in ("part", "figure", "local", "dask", "target", "met"):
        table.add_column(column)
    if "overhead" in results:
        r = results["overhead"]
        table.add_row(
            "overhead",
            f"score {r['leads']:,} leads (rows {r['rows'][0]:,} / {r['rows'][1]:,})",
            f"{r['local_seconds']:.0f} s ({r['leads'] / r['local_seconds']:,.0f} leads/s)",
            f"{r['dask_seconds']:.0f} s ({r['leads'] / r['dask_seconds']:,.0f} leads/s)",
            f">= {OVERHEAD_TARGET}x local",
            f"{r['ratio']:.2f}x {'yes' if r['ratio'] >= OVERHEAD_TARGET else 'NO'}",
        )
    if "linear" in results:
        rows = results["linear"]
        base = rows[0]["us_per_lead"]
        for r in rows:
            ratio = r["us_per_lead"] / base
            peaks = ", ".join(f"{g:.1f}" for g in r["worker_peak_gib"])
            spill = ", ".join(f"{g:.1f}" for g in r["spilled_gib"])
            table.add_row(
                "linear",
                f"score {r['leads']:,} leads ({r['listed']:,} listed)",
                "-",
                f"{r['seconds']:.0f} s, {r['us_per_lead']:.0f} us/lead; worker peak "
                f"{peaks} GiB; spilled {spill} GiB",
                f"<= {LINEAR_TARGET}x of {rows[0]['leads']:,}",
                f"{ratio:.2f}x {'yes' if ratio <= LINEAR_TARGET else 'NO'}",
            )
    if "train" in results:
        r = results["train"]
        local = (
            f"stopped at {r['local_peak_gib']:.1f} GiB after {r['local_seconds']:.0f} s "
            f"({r['local_stopped_in'] or 'loading'})"
            if r["local_capped"]
            else f"{r['local_seconds']:.0f} s, {r['local_peak_gib']:.1f} GiB, "
            f"AUC {r['local_auc']:.4f}"
        )
        table.add_row(
            "train",
            f"train {r['leads']:,} leads",
            local,
            f"{r['dask_seconds']:.0f} s, client {r['dask_client_peak_gib']:.1f} GiB + "
            f"workers {r['dask_workers_peak_gib']:.1f} GiB, AUC {r['dask_auc']:.4f}",
            "time, memory, AUC",
            "-",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", nargs="+", default=["overhead", "linear", "train"])
    parser.add_argument("--overhead-leads", type=int, default=2_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--train-leads", type=int, default=5_000_000)
    parser.add_argument("--local-rss-cap", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="Print one table from the --json files of earlier runs (parts run apart).",
    )
    args = parser.parse_args()
    if args.report:
        merged: dict[str, Any] = {}
        for path in args.report:
            merged |= json.loads(path.read_text())
        report(merged)
        return
    GENERATED.mkdir(parents=True, exist_ok=True)
    model = bench_model()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=GENERATED) as tmp:
        work = Path(tmp)
        if "overhead" in args.parts:
            results["overhead"] = overhead(args.overhead_leads, model, work)
        if "linear" in args.parts:
            results["linear"] = linear(sorted(args.sizes), model, work)
        if "train" in args.parts:
            results["train"] = training(args.train_leads, work, args.local_rss_cap)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
