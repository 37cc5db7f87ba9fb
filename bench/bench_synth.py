"""Benchmark the synthetic funnel: seconds, events and peak memory per size.

Each size runs in a fresh subprocess, so the peak resident memory reported is that
size's own (generation plus writing the files). Budgets from the issue: 100k leads in
15 s; 1M leads in 3 min and 8 GiB.

Usage:  python bench/bench_synth.py [--sizes 100000 1000000] [--seed 7] [--format parquet]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

BUDGET_SECONDS = {100_000: 15.0, 1_000_000: 180.0}
BUDGET_MIB = {1_000_000: 8 * 1024.0}


def run_one(n_leads: int, seed: int, fmt: str) -> dict[str, float]:
    """Generate and write one funnel in this process; return the figures."""
    from leadml.data.synth import generate_funnel, write_funnel

    start = time.perf_counter()
    funnel = generate_funnel(n_leads, seed=seed)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_funnel(funnel, Path(tmp) / "bench", fmt=fmt)
        size_mib = sum(p.stat().st_size for p in paths) / 2**20
    done = time.perf_counter()
    return {
        "leads": n_leads,
        "events": len(funnel.events),
        "generate_s": generated - start,
        "write_s": done - generated,
        "total_s": done - start,
        "files_mib": size_mib,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main() -> None:
    """Run each requested size in a fresh subprocess and print a table of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", dest="fmt", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(run_one(args.worker, args.seed, args.fmt)))
        return

    table = Table(title=f"Synthetic funnel ({args.fmt}, seed {args.seed})", title_justify="left")
    for col in ("leads", "events", "seconds", "generate s", "write s", "events/s", "peak MiB"):
        table.add_column(col, justify="right")
    table.add_column("budget")
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--worker", str(n), "--seed", str(args.seed)]
        out = subprocess.run(
            [*cmd, "--format", args.fmt], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        within = r["total_s"] <= BUDGET_SECONDS.get(n, float("inf")) and r[
            "peak_mib"
        ] <= BUDGET_MIB.get(n, float("inf"))
        table.add_row(
            f"{n:,}",
            f"{r['events']:,}",
            f"{r['total_s']:.1f}",
            f"{r['generate_s']:.1f}",
            f"{r['write_s']:.1f}",
            f"{r['events'] / r['total_s']:,.0f}",
            f"{r['peak_mib']:,.0f}",
            "ok" if within else "OVER",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
