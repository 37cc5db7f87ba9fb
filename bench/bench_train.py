"""Benchmark `leadml train` end to end: seconds per stage and peak memory.

Each size runs in a fresh subprocess (so peak RSS is per size) on a freshly generated
synthetic funnel, with its own temporary MLflow store. Generation is not counted.

    python bench/bench_train.py                 # 100,000 leads
    python bench/bench_train.py --leads 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(n_leads: int) -> dict[str, object]:
    """Generate, then time every stage of the training job (in this process)."""
    from leadml.config import load_config
    from leadml.data.synth import generate_funnel, write_funnel
    from leadml.jobs.train import Promotion, train_and_track

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        write_funnel(generate_funnel(n_leads, seed=7), project / "data")
        config = load_config(None, project_dir=project)
        stages: list[tuple[str, float]] = []
        last = [time.perf_counter()]
        names = ["start"]

        def on_step(name: str) -> None:
            now = time.perf_counter()
            stages.append((names[-1], now - last[0]))
            names.append(name)
            last[0] = now

        start = time.perf_counter()
        outcome = train_and_track(
            project / "data", config, promotion=Promotion.GATE, on_step=on_step
        )
        end = time.perf_counter()
        stages.append((names[-1], end - last[0]))
        eligible = int(outcome.trained.labels.n_eligible)
        return {
            "leads": n_leads,
            "total_seconds": end - start,
            "stages": [(n, s) for n, s in stages if n != "start"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "test_auc": outcome.trained.results["model"]["roc_auc"],
            "trees": outcome.trained.bundle.booster.num_trees(),
            "eligible_leads": eligible,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    for n in args.leads:
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            capture_output=True,
            env=env,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-3000:])
            raise SystemExit(done.returncode)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"\nleadml train on {r['leads']:,} leads "
            f"({r['eligible_leads']:,} labelled; {r['trees']} trees; test AUC {r['test_auc']:.3f})"
        )
        print(f"{'stage':<32}{'seconds':>10}")
        for name, secs in r["stages"]:
            print(f"{name:<32}{secs:>10.2f}")
        print(f"{'TOTAL':<32}{r['total_seconds']:>10.2f}")
        print(f"peak memory: {r['peak_rss_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
