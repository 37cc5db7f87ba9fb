"""Benchmark the feature families on 1M leads and 20M events (prints figures, no asserts).

Bulk (training, batch scoring): the data is generated here with numpy (independent of
the synthetic funnel). For each family and for the whole `build_features`, it prints the
first (cold) call and the median of the warm calls, events per second, and the peak extra
memory (resident set size sampled every millisecond above the level just before the
call). A bare pandas groupby count over the same events runs in the same process as the
yardstick.

Serving (the API): `feature_columns` + `encode_columns` for one lead with 20 events,
p50 and p99 after warm-up; and the first call in a new process, with numba's compiled
kernels cached on disk and with nothing cached (a fresh cache directory).

Run: .venv/bin/python bench/bench_features.py [--leads N] [--events N] [--id-width W]
     [--serving-only]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from leadml import schema
from leadml.config import FeatureConfig
from leadml.features.build import build_features, feature_columns
from leadml.features.engagement import engagement_features
from leadml.features.firmographics import firmographic_features
from leadml.features.lead_source import lead_source_features
from leadml.features.spec import FeatureSpec, encode_columns, learn_spec

DAY_US = 86_400 * 10**6
TARGET_EVENTS_PER_SECOND = 5e6
MEMORY_BUDGET = 2 * 2**30
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str` dtype
TARGET_ONE_LEAD_SECONDS = 100e-6
ONE_LEAD_EVENTS = 20


def generate(
    n_leads: int, n_events: int, seed: int, id_width: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, float]:
    """Leads, events (time-ordered, like an event log), the standard cutoffs, and the
    share of events before them."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01", tz="UTC").value // 1000
    created = np.sort(start + rng.integers(0, 730 * DAY_US, n_leads))
    ids = pa.array([f"L{i:0{id_width - 1}d}" for i in range(n_leads)], type=pa.large_string())

    def text(values: pa.Array) -> pd.Series:
        return pd.Series(values, dtype=TEXT)

    def pick(options: list[Any], n: int, p: np.ndarray | None = None) -> pa.Array:
        return pa.array(options).take(pa.array(rng.choice(len(options), n, p=p)))

    def stamps(us: np.ndarray) -> pd.Series:
        return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")

    campaigns = [f"campaign_{i:03d}" for i in range(400)]
    zipf = 1.0 / np.arange(1, len(campaigns) + 1)
    domains = ["gmail.com", "yahoo.com", "outlook.com", *(f"company{i}.com" for i in range(60))]
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: text(ids),
            schema.CREATED_AT: stamps(created),
            schema.LEAD_SOURCE: text(pick([*schema.LEAD_SOURCES, "unknown", "tiktok"], n_leads)),
            schema.CAMPAIGN: text(pick(campaigns, n_leads, zipf / zipf.sum())),
            schema.INDUSTRY: text(pick([*schema.INDUSTRIES, None], n_leads)),
            schema.EMPLOYEES: np.where(
                rng.random(n_leads) < 0.1, np.nan, np.round(rng.lognormal(4, 1.8, n_leads))
            ),
            schema.ANNUAL_REVENUE: np.where(
                rng.random(n_leads) < 0.2, np.nan, rng.lognormal(15, 2, n_leads)
            ),
            schema.COUNTRY: text(pick([*schema.COUNTRY_REGION, None], n_leads)),
            schema.SENIORITY: text(pick([*schema.SENIORITIES, None], n_leads)),
            schema.EMAIL: text(pick([f"contact@{d}" for d in domains] + [None], n_leads)),
        }
    )
    # Events cluster around the lead's creation: a few before, most within weeks after.
    lead = rng.integers(0, n_leads, n_events)
    offset = rng.exponential(40 * DAY_US, n_events).astype(np.int64)
    early = rng.random(n_events) < 0.1
    offset[early] = -rng.integers(0, 7 * DAY_US, int(early.sum()))
    occurred = created[lead] + offset
    share_counted = float(np.mean(offset < 14 * DAY_US))
    order = np.argsort(occurred, kind="stable")
    types = [*schema.EVENT_TYPES, *schema.POST_CONVERSION_EVENTS, "chat_started"]
    weight = np.array([8, 5, 1, 8, 3, 1, 1, 1, 1, 2, 0.5, 0.3, 0.3, 0.3, 2, 0.3, 0.3, 0.3, 0.5])
    events = pd.DataFrame(
        {
            schema.LEAD_ID: text(ids.take(pa.array(lead[order]))),
            schema.OCCURRED_AT: stamps(occurred[order]),
            schema.EVENT_TYPE: text(pick(types, n_events, weight / weight.sum())),
        }
    )
    cutoff = pd.Series(
        leads[schema.CREATED_AT].to_numpy() + pd.Timedelta(days=14),
        index=pd.Index(leads[schema.LEAD_ID], name=schema.LEAD_ID),
        name="cutoff",
    )
    return leads, events, cutoff, share_counted


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], object]) -> tuple[float, int]:
    """Wall seconds and peak extra resident memory of one call."""
    gc.collect()
    with contextlib.suppress(OSError):  # return freed heap, so the baseline is what is in use
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = peak = rss()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak = max(peak, rss())
    del result
    return seconds, peak - base


def run(
    name: str, fn: Callable[[], object], n: int, repeat: int, unit: str = "events"
) -> dict[str, Any]:
    """Cold call, then `repeat` warm calls: median seconds, rate, worst peak memory."""
    cold, memory = measure(fn)
    warm = [measure(fn) for _ in range(repeat)]
    median = statistics.median(s for s, _ in warm) if warm else cold
    memory = max([memory, *(m for _, m in warm)])
    rate = n / median
    print(
        f"{name:<40} cold {cold:6.2f} s   warm median {median:6.2f} s   "
        f"{rate / 1e6:6.2f} M {unit}/s   peak extra {memory / 2**30:5.2f} GiB"
    )
    return {"name": name, "seconds": median, "rate": rate, "memory": memory}


def one_lead(seed: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """One lead with ONE_LEAD_EVENTS events in the two weeks before its cutoff, as the
    API holds it: numpy arrays, datetime64[ns] in UTC."""
    rng = np.random.default_rng(seed)
    created = np.datetime64("2025-03-01T09:30", "ns")
    lead = {
        schema.LEAD_ID: np.array(["L0000042"], dtype=object),
        schema.CREATED_AT: np.array([created]),
        schema.LEAD_SOURCE: np.array(["paid_search"], dtype=object),
        schema.CAMPAIGN: np.array(["campaign_003"], dtype=object),
        schema.INDUSTRY: np.array([schema.INDUSTRIES[0]], dtype=object),
        schema.EMPLOYEES: np.array([120.0]),
        schema.ANNUAL_REVENUE: np.array([2.5e7]),
        schema.COUNTRY: np.array(["DE"], dtype=object),
        schema.SENIORITY: np.array(["director"], dtype=object),
        schema.EMAIL: np.array(["ana@company7.com"], dtype=object),
    }
    seconds = rng.integers(0, 14 * 86_400, ONE_LEAD_EVENTS).astype("timedelta64[s]")
    events = {
        schema.LEAD_ID: np.array(["L0000042"] * ONE_LEAD_EVENTS, dtype=object),
        schema.EVENT_TYPE: rng.choice(np.array(schema.EVENT_TYPES, dtype=object), ONE_LEAD_EVENTS),
        schema.OCCURRED_AT: np.sort(created + seconds),
    }
    return lead, events, np.array([created + np.timedelta64(14, "D")])


def serving(spec: FeatureSpec, calls: int) -> None:
    """p50 and p99 of feature_columns + encode_columns for one lead, after warm-up."""
    lead, events, cutoff = one_lead()

    def score_one() -> np.ndarray:
        return encode_columns(feature_columns(lead, events, cutoff, spec.config), spec)[0]

    def timings(fn: Callable[[], object]) -> tuple[float, float]:
        for _ in range(calls // 10):
            fn()
        seconds = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        q = np.quantile(seconds, [0.5, 0.99])
        return float(q[0]), float(q[1])

    columns = feature_columns(lead, events, cutoff, spec.config)
    parts = {
        "feature_columns": lambda: feature_columns(lead, events, cutoff, spec.config),
        "encode_columns": lambda: encode_columns(columns, spec),
        "feature_columns + encode_columns": score_one,
    }
    print(f"serving: one lead with {ONE_LEAD_EVENTS} events, {calls:,} calls after warm-up")
    for name, fn in parts.items():
        p50, p99 = timings(fn)
        print(f"  {name:<36} p50 {p50 * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us")
    ok = p50 <= TARGET_ONE_LEAD_SECONDS
    print(
        f"  target p50 <= {TARGET_ONE_LEAD_SECONDS * 1e6:.0f} us: {'OK' if ok else 'ABOVE TARGET'}"
    )


_FIRST_CALL = """
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, {bench!r})
from bench_features import one_lead
from leadml.features.build import feature_columns, warm_up
from leadml.features.spec import FeatureSpec, encode_columns
imported = time.perf_counter() - start
spec = FeatureSpec.from_dict(json.loads({spec!r}))
lead, events, cutoff = one_lead()
if {warm!r}:
    warm_up(spec.config)
out = []
for _ in range(2):
    start = time.perf_counter()
    encode_columns(feature_columns(lead, events, cutoff, spec.config), spec)
    out.append(time.perf_counter() - start)
print(json.dumps({{"import": imported, "first": out[0], "second": out[1]}}))
"""


def first_call(spec: FeatureSpec) -> None:
    """The first call in a new process: kernels loaded from the on-disk cache, compiled
    from nothing (an empty NUMBA_CACHE_DIR, which the next run then reuses), and after
    `warm_up` (what a server's first request sees when its start-up calls it)."""
    bench, document = str(Path(__file__).parent), json.dumps(spec.to_dict())
    print("first call in a new process (feature_columns + encode_columns, one lead):")
    with tempfile.TemporaryDirectory() as empty:
        runs = [
            ("kernels cached (the package's cache)", {}, False),
            ("nothing cached (compiles)", {"NUMBA_CACHE_DIR": empty}, False),
            ("cached by the run above", {"NUMBA_CACHE_DIR": empty}, False),
            ("cached, after warm_up() at start-up", {}, True),
        ]
        for name, env, warm in runs:
            script = _FIRST_CALL.format(bench=bench, spec=document, warm=warm)
            done = subprocess.run(
                [sys.executable, "-c", script],
                env=os.environ | env,
                capture_output=True,
                text=True,
                check=True,
            )
            t = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  {name:<38} first call {t['first'] * 1e3:8.1f} ms   second "
                f"{t['second'] * 1e6:6.1f} us   (imports {t['import']:.2f} s)"
            )


def serving_spec(leads: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Series) -> FeatureSpec:
    """A spec learned on (at most) 50,000 of the generated leads."""
    config = FeatureConfig()
    some = leads.iloc[:50_000]
    return learn_spec(
        build_features(some, events, cutoff.loc[some[schema.LEAD_ID]], config), config
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--id-width", type=int, default=8, help="lead_id length in characters")
    parser.add_argument("--calls", type=int, default=20_000, help="one-lead calls to time")
    parser.add_argument("--serving-only", action="store_true", help="skip the bulk figures")
    args = parser.parse_args()
    if args.serving_only:
        args.leads, args.events = min(args.leads, 50_000), min(args.events, 1_000_000)

    start = time.perf_counter()
    leads, events, cutoff, share = generate(args.leads, args.events, args.seed, args.id_width)
    print(
        f"data: {len(leads):,} leads, {len(events):,} events, lead_id like {leads.iat[0, 0]!r} "
        f"(generated in {time.perf_counter() - start:.1f} s, {os.cpu_count()} cores)"
    )
    print(f"standard cutoff (created + 14 days): {share:.0%} of events before it\n")
    spec = serving_spec(leads, events, cutoff)
    serving(spec, args.calls)
    first_call(spec)
    if args.serving_only:
        return
    print()
    config = FeatureConfig()
    n = len(events)
    snapshot = pd.Series(
        events[schema.OCCURRED_AT].max() + pd.Timedelta(seconds=1), index=cutoff.index
    )
    rows = [
        run("lead_source", lambda: lead_source_features(leads), len(leads), args.repeat, "leads"),
        run(
            "firmographics",
            lambda: firmographic_features(leads),
            len(leads),
            args.repeat,
            "leads",
        ),
        run(
            "engagement (standard cutoff)",
            lambda: engagement_features(leads, events, cutoff, config),
            n,
            args.repeat,
        ),
        run(
            "engagement (snapshot: all count)",
            lambda: engagement_features(leads, events, snapshot, config),
            n,
            args.repeat,
        ),
        run(
            "build_features (all families)",
            lambda: build_features(leads, events, cutoff, config),
            n,
            args.repeat,
        ),
    ]
    by_lead = lambda: events.groupby(schema.LEAD_ID, sort=False).size()  # noqa: E731
    by_lead_type = lambda: events.groupby(  # noqa: E731
        [schema.LEAD_ID, schema.EVENT_TYPE], sort=False, observed=True
    ).size()
    print("\nyardstick (bare pandas, no features):")
    run("groupby(lead_id).size()", by_lead, n, 0)
    run("groupby([lead_id, event_type]).size()", by_lead_type, n, 0)

    engagement = [r for r in rows if r["name"].startswith("engagement")]
    slowest = min(r["rate"] for r in engagement)
    largest = max(r["memory"] for r in engagement)
    print(
        f"\nengagement: slowest {slowest / 1e6:.2f} M events/s "
        f"(target >= {TARGET_EVENTS_PER_SECOND / 1e6:.0f}): "
        f"{'OK' if slowest >= TARGET_EVENTS_PER_SECOND else 'BELOW TARGET'}; "
        f"peak extra memory {largest / 2**30:.2f} GiB (budget 2 GiB): "
        f"{'OK' if largest <= MEMORY_BUDGET else 'OVER BUDGET'}"
    )
    build = rows[-1]
    print(
        f"build_features (all families): {build['rate'] / 1e6:.2f} M events/s "
        f"(target >= {TARGET_EVENTS_PER_SECOND / 1e6:.0f}): "
        f"{'OK' if build['rate'] >= TARGET_EVENTS_PER_SECOND else 'BELOW TARGET'}; "
        f"peak extra memory {build['memory'] / 2**30:.2f} GiB"
    )


if __name__ == "__main__":
    main()
