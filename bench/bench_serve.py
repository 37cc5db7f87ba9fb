"""Benchmark the scoring API against `mlflow models serve` on the same registered model.

Both servers run from this venv, on loopback, with the same worker count and the same
uvicorn event loop (uvloop) and HTTP parser (httptools). wrk (Debian package `wrk`) drives
each scenario at concurrency 1 and 8 for `--duration` seconds, `--repeats` times; the table
shows medians of p50, p99 and throughput, and the ratio to mlflow's score-only throughput
at the same concurrency. Each server is also started `--repeats` times from cold; the time
from process start to ready is their median.

    python bench/bench_serve.py                       # trains a 50k-lead model first
    python bench/bench_serve.py --project .           # reuse the demo's MLflow store
    python bench/bench_serve.py --duration 5 --repeats 1   # a quick look

mlflow is sent what its generic pyfunc needs: the already-encoded feature vector (level
codes, not strings), once as named columns (dataframe_split, the input its docs lead with)
and once as a raw tensor ("inputs", its leanest path). leadml is sent the raw lead with its
events and builds the features itself, so it does strictly more work per request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

VENV_BIN = Path(sys.executable).parent
KEY = "lml_bench-key"
TENSOR = "mlflow, scores only, raw tensor"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "leadml" or "mlflow"
    path: str
    body: Path
    concurrency: int


@dataclass(frozen=True)
class Figures:
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str, process: subprocess.Popen[bytes], start: float, limit: float = 120
) -> float:
    """Seconds from `start` until `url` answers 200."""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > limit:
            raise RuntimeError(f"{url} not ready after {limit} s")
        time.sleep(0.02)


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def bench_project(given: Path | None, n_leads: int, prefix: str) -> tuple[Path, Path]:
    """A fresh temp folder, and the project (`given`, or one inside the temp folder) with
    a champion trained on `n_leads` leads unless it already has one."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    project = (given or tmp / "project").resolve()
    project.mkdir(parents=True, exist_ok=True)
    ensure_model(project, n_leads)
    return tmp, project


def ensure_model(project: Path, n_leads: int) -> None:
    """Train and register a champion in `project` unless one is there."""
    from leadml.config import load_config
    from leadml.data.synth import generate_funnel, write_funnel
    from leadml.jobs.train import Promotion, train_and_track
    from leadml.tracking.registry import CHAMPION, alias_version, client_for

    config = load_config(None, project_dir=project)
    if (project / "mlflow.db").exists():
        client = client_for(config)
        try:
            if alias_version(client, config.mlflow.model_name, CHAMPION):
                return
        except Exception:  # no registered model yet
            pass
    data = project / "data" / "generated" / "bench"
    print(f"training a {n_leads:,}-lead model in {project} ...", flush=True)
    write_funnel(generate_funnel(n_leads, seed=7), data)
    train_and_track(data, config, promotion=Promotion.FORCE)


def payloads(project: Path, out: Path) -> tuple[str, dict[str, Path], dict[str, Any]]:
    """Request bodies for both servers, built from the champion's own test window."""
    from leadml import schema
    from leadml.config import load_config
    from leadml.data.load import load_dataset
    from leadml.features.spec import encode_numpy
    from leadml.scoring import Scorer
    from leadml.tracking.registry import load_model

    config = load_config(None, project_dir=project)
    bundle = load_model("models:/lead-conversion@champion", config)
    data_dir = _data_dir(project)
    dataset = load_dataset(data_dir)
    leads, events = dataset.leads, dataset.events
    scorer = Scorer(bundle)
    window = bundle.training_window.get("test", {})
    first = pd.Timestamp(window.get("first_cutoff", leads[schema.CREATED_AT].max()))
    cutoff = scorer.cutoff_for(leads, None)
    chosen = cutoff[cutoff >= first].index[:1000]
    if len(chosen) < 1000:
        chosen = cutoff.index[-1000:]
    per_lead = events[events[schema.LEAD_ID].isin(chosen)].groupby(schema.LEAD_ID).size()
    typical = str(per_lead.sort_values().index[len(per_lead) // 2])  # median event count

    def lead_json(lead_id: str) -> dict[str, Any]:
        row = leads.loc[leads[schema.LEAD_ID] == lead_id].iloc[0]
        body = {
            str(k): (v.isoformat() if isinstance(v, pd.Timestamp) else v)
            for k, v in row.items()
            if k != schema.CONVERTED_AT and not pd.isna(v)
        }
        mine = grouped.get(lead_id)
        body["events"] = (
            []
            if mine is None
            else [
                {"event_type": str(t), "occurred_at": at.isoformat()}
                for t, at in zip(mine[schema.EVENT_TYPE], mine[schema.OCCURRED_AT], strict=True)
            ]
        )
        body["as_of"] = cutoff[lead_id].isoformat()
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in body.items()}

    subset = events[events[schema.LEAD_ID].isin(chosen)]
    grouped = {str(k): g for k, g in subset.groupby(schema.LEAD_ID)}
    one = lead_json(typical)
    batch = [lead_json(str(i)) for i in chosen]
    raw = scorer.raw_features(
        leads[leads[schema.LEAD_ID].isin([typical])], events, cutoff.loc[[typical]]
    )
    codes = encode_numpy(raw, bundle.spec)
    paths = {
        "leadml_one": out / "leadml_one.json",
        "leadml_batch": out / "leadml_batch.json",
        "mlflow_one": out / "mlflow_one.json",
    }
    paths["leadml_one"].write_text(json.dumps(one))
    paths["leadml_batch"].write_text(json.dumps(batch))
    # A column signature wants named columns; a tensor signature takes "inputs".
    paths["mlflow_one"].write_text(
        json.dumps({"dataframe_split": {"columns": bundle.spec.names, "data": codes.tolist()}})
    )
    paths["mlflow_tensor"] = out / "mlflow_tensor.json"
    paths["mlflow_tensor"].write_text(json.dumps({"inputs": codes.tolist()}))
    expected = {
        "raw_probability": float(bundle.booster.predict(codes)[0]),
        "probability": float(
            scorer.score_features(raw, explain=False).frame["probability"].iloc[0]
        ),
        "version": bundle.version,
        "trees": bundle.booster.num_trees(),
        "features": bundle.booster.num_feature(),
        "events_in_one": len(one["events"]),
        "events_in_batch": sum(len(b["events"]) for b in batch),
    }
    return typical, paths, expected


def _data_dir(project: Path) -> Path:
    for candidate in (
        project / "data" / "generated" / "bench",
        project / "data" / "generated" / "demo",
    ):
        if candidate.exists():
            return candidate
    raise SystemExit(f"no data under {project}/data/generated (bench or demo)")


def start_servers(project: Path, version: str, workers: int, starts: int) -> dict[str, Any]:
    """Both servers, each started `starts` times from cold (all but the last stopped again)
    so that the time to ready is a median, not one draw."""
    from leadml.config import load_config
    from leadml_serve.security import digest

    config = load_config(None, project_dir=project)
    env = os.environ | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": config.tracking_uri,
        "LEADML_API_KEYS": f"bench:{digest(KEY)}",
        "OMP_WAIT_POLICY": "PASSIVE",
    }

    def start(command: list[str], ready_path: str) -> dict[str, Any]:
        """Start one server on a free port, `starts` times; time each from process start
        to ready, and keep the last one running."""
        times = []
        for attempt in range(starts):
            port = free_port()
            began = time.perf_counter()
            process = subprocess.Popen(
                [*command, str(port)],
                env=env,
                cwd=project,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            times.append(wait_ready(f"{base}{ready_path}", process, began))
            if attempt < starts - 1:
                process.terminate()
                process.wait(timeout=30)
        return {
            "process": process,
            "base": base,
            "ready_s": statistics.median(times),
            "ready_all": times,
        }

    return {
        "mlflow": start(
            [
                str(VENV_BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/lead-conversion/{version}",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-w",
                str(workers),
                "-p",
            ],  # fmt: skip
            "/ping",
        ),
        "leadml": start(
            [
                str(VENV_BIN / "leadml"),
                "serve",
                "--model",
                "models:/lead-conversion@champion",
                "--workers",
                str(workers),
                "--port",
            ],  # fmt: skip
            "/readyz",
        ),
    }


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, body: Path, concurrency: int, duration: int, tmp: Path) -> Figures:
    script = tmp / f"{body.stem}.lua"
    script.write_text(WRK_SCRIPT.format(key=KEY, body=body))
    threads = min(concurrency, 2)
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, flags=re.MULTILINE))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Figures(_ms(percentiles["50"]), _ms(percentiles["99"]), rps, errors)


def median_figures(runs: list[Figures]) -> Figures:
    return Figures(
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.rps for r in runs),
        sum(r.errors for r in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--project",
        type=Path,
        help="Project folder with a champion (default: a temp folder, trained here).",
    )
    parser.add_argument(
        "--leads", type=int, default=50_000, help="Leads to train on when training."
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20, help="Seconds per wrk run.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian package).")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    tmp, project = bench_project(args.project, args.leads, "bench-serve-")
    lead_id, bodies, expected = payloads(project, tmp)
    servers = start_servers(project, expected["version"], args.workers, args.repeats)
    try:
        lm, mf = servers["leadml"]["base"], servers["mlflow"]["base"]
        mlflow_answer = post(f"{mf}/invocations", bodies["mlflow_one"].read_bytes())
        try:  # a tensor signature also takes the raw matrix, mlflow's leanest input
            tensor = post(f"{mf}/invocations", bodies["mlflow_tensor"].read_bytes())
            assert tensor == mlflow_answer
        except urllib.error.HTTPError:
            bodies.pop("mlflow_tensor")
        leadml_answer = post(f"{lm}/v1/predict?explain=false", bodies["leadml_one"].read_bytes())
        mlflow_p = float(np.ravel(mlflow_answer["predictions"])[0])
        print(
            f"model version {expected['version']}: {expected['trees']} trees, "
            f"{expected['features']} features; lead {lead_id} with {expected['events_in_one']} "
            f"events; batch of 1,000 leads with {expected['events_in_batch']:,} events"
        )
        print(
            f"same model check: mlflow raw p {mlflow_p:.12f} vs booster "
            f"{expected['raw_probability']:.12f}; "
            f"leadml calibrated p {leadml_answer['probability']:.12f} vs batch path "
            f"{expected['probability']:.12f}"
        )
        assert abs(mlflow_p - expected["raw_probability"]) < 1e-9
        assert abs(leadml_answer["probability"] - expected["probability"]) < 1e-9
        scenarios = []
        for c in args.concurrency:
            scenarios += [
                Scenario("mlflow, scores only", "mlflow", "/invocations", bodies["mlflow_one"], c),
                *(
                    [Scenario(TENSOR, "mlflow", "/invocations", bodies["mlflow_tensor"], c)]
                    if "mlflow_tensor" in bodies
                    else []
                ),
                Scenario(
                    "leadml, explain=false",
                    "leadml",
                    "/v1/predict?explain=false",
                    bodies["leadml_one"],
                    c,
                ),
                Scenario("leadml, with reasons", "leadml", "/v1/predict", bodies["leadml_one"], c),
            ]
        scenarios.append(
            Scenario(
                "leadml, 1,000 leads with reasons",
                "leadml",
                "/v1/predict",
                bodies["leadml_batch"],
                1,
            )
        )
        results: dict[Scenario, Figures] = {}
        for scenario in scenarios:
            url = servers[scenario.server]["base"] + scenario.path
            runs = []
            for _ in range(args.repeats):
                runs.append(run_wrk(url, scenario.body, scenario.concurrency, args.duration, tmp))
            results[scenario] = median_figures(runs)
            fig = results[scenario]
            print(
                f"  {scenario.name:34s} c={scenario.concurrency}: p50 {fig.p50_ms:8.2f} ms  "
                f"p99 {fig.p99_ms:8.2f} ms  {fig.rps:9.1f} req/s  errors {fig.errors}",
                flush=True,
            )
    finally:
        for server in servers.values():
            server["process"].terminate()
        for server in servers.values():
            server["process"].wait(timeout=30)
    print_table(results, servers, args)


def print_table(
    results: dict[Scenario, Figures], servers: dict[str, Any], args: argparse.Namespace
) -> None:
    base = {s.concurrency: f.rps for s, f in results.items() if s.name == "mlflow, scores only"}
    tensor = {s.concurrency: f.rps for s, f in results.items() if s.name == TENSOR}
    targets = {
        ("leadml, explain=false", 8): lambda f, r: r >= 8 and f.p99_ms <= 10,
        ("leadml, with reasons", 8): lambda f, r: r >= 3 and f.p99_ms <= 25,
        ("leadml, 1,000 leads with reasons", 1): lambda f, r: f.p99_ms <= 400,
    }
    goals = {
        ("leadml, explain=false", 8): "≥8x mlflow, p99 ≤10 ms",
        ("leadml, with reasons", 8): "≥3x mlflow, p99 ≤25 ms",
        ("leadml, 1,000 leads with reasons", 1): "≤400 ms per request",
    }
    print()
    print(
        f"bench_serve: {args.workers} workers each, uvloop + httptools, wrk {args.duration} s x "
        f"{args.repeats} (medians)"
    )
    print()
    print(
        "| scenario | conc. | p50 ms | p99 ms | req/s | vs mlflow | vs mlflow tensor | target "
        "| met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scenario, fig in results.items():
        single = scenario.body.name != "leadml_batch.json"  # ratios compare one-lead calls
        ratio = fig.rps / base[scenario.concurrency] if single else float("nan")
        vs_tensor = fig.rps / tensor.get(scenario.concurrency, float("nan")) if single else None
        key = (scenario.name, scenario.concurrency)
        goal = goals.get(key, "")
        met = (
            "yes"
            if key in targets and targets[key](fig, ratio)
            else ("no" if key in targets else "")
        )
        errors = f" ({fig.errors} errors)" if fig.errors else ""
        print(
            f"| {scenario.name}{errors} | {scenario.concurrency} | {fig.p50_ms:.2f} | "
            f"{fig.p99_ms:.2f} | {fig.rps:,.0f} | {_times(ratio)} | {_times(vs_tensor)} | "
            f"{goal} | {met} |"
        )
    print()
    print(
        '"mlflow, scores only" is sent named columns (dataframe_split), the input its docs lead '
        "with and the one a column signature requires; the targets are stated against it. "
        '"raw tensor" is the already-encoded matrix ("inputs"), which a tensor signature also '
        "accepts: mlflow then skips pandas entirely."
    )
    print()
    lm, mf = servers["leadml"], servers["mlflow"]
    print(
        f"ready after start (median of {len(lm['ready_all'])} cold starts): leadml "
        f"{lm['ready_s']:.2f} s (target ≤3 s: {'yes' if lm['ready_s'] <= 3 else 'no'}; "
        f"{_seconds(lm['ready_all'])}), mlflow {mf['ready_s']:.2f} s ({_seconds(mf['ready_all'])})"
    )


def _times(ratio: float | None) -> str:
    return "" if ratio is None or ratio != ratio else f"{ratio:.1f}x"


def _seconds(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
