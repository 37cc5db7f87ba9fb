"""Benchmark explanations: TreeShap against LightGBM's `pred_contrib`, and `reasons()`.

For the demo-size model and for a 500-tree model it prints the cost per lead of exact
TreeSHAP for 1 lead and for 1,000 leads (1 and 2 threads), both ways, then the time of
`reasons()` for 1,000 leads and an estimate for 1M leads. Figures are medians of repeated
calls (prints only, no asserts; noisy on a busy machine).

The demo-size model is trained here on a generated 50,000-lead funnel, or loaded:

    python bench/bench_explain.py
    python bench/bench_explain.py --bundle models/lead-conversion/1 --data data/generated/demo
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml import schema
from leadml.bundle import Bundle, load_bundle
from leadml.config import load_config
from leadml.data.load import Dataset, load_dataset
from leadml.data.synth import generate_funnel, write_funnel
from leadml.explain.reasons import Explainer
from leadml.explain.treeshap import TreeShap
from leadml.features.spec import encode
from leadml.model.pipeline import fit_and_evaluate
from leadml.scoring import Scorer

BATCH = 1000
BIG_TREES = 500


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def demo_model(args: argparse.Namespace, workdir: Path) -> tuple[Bundle, Dataset]:
    """The bundle and data to explain: loaded, or trained here on a generated funnel."""
    if args.data:
        data = load_dataset(Path(args.data))
    else:
        write_funnel(generate_funnel(args.leads, seed=7), workdir / "data")
        data = load_dataset(workdir / "data")
    if args.bundle:
        return load_bundle(Path(args.bundle)), data
    config = load_config(
        None,
        project_dir=workdir,
        overrides={"train": {"bootstrap_rounds": 20, "shap_sample": 300, "num_threads": 2}},
    )
    start = time.perf_counter()
    trained = fit_and_evaluate(data.leads, data.events, config)
    print(f"trained the demo-size model on {len(data.leads):,} leads in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return trained.bundle, data


def features(
    bundle: Bundle, data: Dataset, n: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Raw features, encoded frame and calibrated probabilities of n random leads."""
    leads = data.leads.sample(min(n, len(data.leads)), random_state=seed)
    events = data.events[data.events[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    scorer = Scorer(bundle)
    raw = scorer.raw_features(leads, events, scorer.cutoff_for(leads, None))
    X, _ = encode(raw, bundle.spec)
    return raw, X, scorer.probability(scorer.raw_score(X))


def big_model(X: pd.DataFrame, p: np.ndarray, seed: int) -> lgb.Booster:
    """A 500-tree model (31 leaves) on the same features, labels drawn from p."""
    y = (np.random.default_rng(seed).random(len(p)) < p).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 31,
        "learning_rate": 0.03,
        "min_data_in_leaf": 20,
        "verbosity": -1,
        "num_threads": 2,
        "seed": seed,
    }
    return lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=BIG_TREES)


def compare(name: str, booster: lgb.Booster, matrix: np.ndarray) -> list[tuple[str, ...]]:
    """Table rows: us per lead for 1 lead and for BATCH leads (1, 2 threads), both ways."""
    start = time.perf_counter()
    shap = TreeShap.from_booster(booster)
    built = time.perf_counter() - start
    batch = matrix[:BATCH]
    worst = np.abs(shap.contributions(batch) - booster.predict(batch, pred_contrib=True)).max()
    print(f"{name}: {booster.num_trees()} trees, TreeShap built in {built * 1e3:.0f} ms, "
          f"{shap.tabulated_leaves:.0%} of leaves tabulated, "
          f"max |TreeShap - pred_contrib| = {worst:.1e}")  # fmt: skip
    rows = []
    one = matrix[:1]
    cases = [("1 lead", one, 1, 300, 30), (f"{BATCH:,} leads", batch, 1, 7, 3)]
    cases.append((f"{BATCH:,} leads", batch, 2, 7, 3))
    for label, X, threads, repeat_ours, repeat_theirs in cases:
        ours = median_seconds(lambda X=X, t=threads: shap.contributions(X, num_threads=t),
                              repeat_ours) / len(X)  # fmt: skip
        theirs = median_seconds(
            lambda X=X, t=threads: booster.predict(X, pred_contrib=True, num_threads=t),
            repeat_theirs,
        ) / len(X)
        rows.append(
            (name, label, str(threads), f"{theirs * 1e6:9.1f}", f"{ours * 1e6:9.1f}",
             f"{theirs / ours:6.1f}x")
        )  # fmt: skip
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    head = ("model", "leads", "threads", "pred_contrib us/lead", "TreeShap us/lead", "speed-up")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="a bundle folder (default: train one here)")
    parser.add_argument("--data", help="the funnel the bundle explains (default: generate)")
    parser.add_argument("--leads", type=int, default=50_000, help="leads to generate")
    parser.add_argument("--big-rows", type=int, default=20_000,
                        help="leads the 500-tree model trains on")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bundle, data = demo_model(args, Path(tmp))
        raw_all, X_all, p_all = features(bundle, data, args.big_rows, args.seed)
    explainer = Explainer(bundle)
    assert explainer.treeshap is not None
    matrix = explainer.treeshap.matrix(X_all)
    big = big_model(X_all, p_all, args.seed)
    big_matrix = TreeShap.from_booster(big).matrix(X_all)

    print()
    rows = compare("demo", bundle.booster, matrix)
    rows += compare(f"{BIG_TREES} trees", big, big_matrix)
    print()
    print_table(rows)

    raw, p = raw_all.iloc[:BATCH], p_all[:BATCH]
    contrib = explainer.contributions(matrix[:BATCH])
    columns = {name: raw[name].to_numpy() for name in raw.columns}
    frame_s = median_seconds(lambda: explainer.reasons(contrib, raw, p), 9)
    dict_s = median_seconds(lambda: explainer.reasons(contrib, columns, p), 9)
    whole_s = median_seconds(lambda: explainer.explain(matrix[:BATCH], columns, p), 9)
    print()
    print(f"reasons() for {BATCH:,} leads: {frame_s * 1e3:.1f} ms from a frame, "
          f"{dict_s * 1e3:.1f} ms from columns; contributions + reasons "
          f"{whole_s * 1e3:.1f} ms")  # fmt: skip

    tiles = -(-100_000 // len(matrix))
    for name, shap, base in (
        ("demo", explainer.treeshap, matrix),
        (f"{BIG_TREES} trees", TreeShap.from_booster(big), big_matrix),
    ):
        many = np.tile(base, (tiles, 1))[:100_000]
        seconds = median_seconds(lambda s=shap, m=many: s.contributions(m, num_threads=2), 1)
        print(f"{name}: 100,000 leads in {seconds:.2f} s with 2 threads "
              f"-> about {seconds * 10:.0f} s per 1M leads")  # fmt: skip


if __name__ == "__main__":
    main()
