"""Real-data evaluation of the flat-export path on UCI Bank Marketing (issue 7 §3).

    .venv/bin/python bench/real_data.py [--csv PATH] [--mapping bench/uci_bank.toml]

The file defaults to the mapping's `[dataset] file`, relative to the mapping's folder:
../shared/datasets/uci-bank-marketing/bank-additional-full.csv from the repository root.

1. Reads the export with the mapping in bench/uci_bank.toml (which maps `duration` as a
   feature on purpose) and checks that the leakage guard refuses to train on it.
2. Drops `duration` (role = "ignore") and trains the calibrated LightGBM model twice:
   a stratified random split and a time-ordered split (the file is in time order:
   `split = "file_order"`), each with the logistic-regression baseline beside it.
3. Scores the random split's test rows again through the Scorer (the serving path) and
   checks the probabilities equal training's.
4. Prints a table: test ROC AUC, PR AUC, ECE and top-decile lift. Target: random-split
   AUC >= 0.80 (the level public work reports without the `duration` leak).

A benchmark, not a test: the project's tests never read ../shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from leadml.config import Config, load_config  # noqa: E402
from leadml.data.mapping.config import FlatColumn  # noqa: E402
from leadml.data.mapping.read import read_flat  # noqa: E402
from leadml.errors import LeakageError  # noqa: E402
from leadml.model.pipeline import TrainedModel, fit_and_evaluate_flat  # noqa: E402
from leadml.scoring import Scorer  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET_AUC = 0.80


def export_path(mapping: Path) -> Path:
    """The mapping's `[dataset] file`, resolved against the mapping's own folder (as
    `leadml` resolves it against the config's folder), independent of the working folder."""
    config = load_config(mapping)
    if config.dataset is None or config.dataset.file is None:
        raise SystemExit(f"{mapping} has no [dataset] file; pass --csv")
    return config.resolve(config.dataset.file).resolve()


def _without(config: Config, column: str, split: str) -> Config:
    assert config.dataset is not None
    columns = dict(config.dataset.columns)
    columns[column] = FlatColumn(role="ignore", type=columns[column].type)
    dataset = config.dataset.model_copy(update={"columns": columns, "split": split})
    return config.model_copy(update={"dataset": dataset})


def _row(split: str, scorer: str, metrics: dict[str, float], seconds: float) -> dict[str, object]:
    return {
        "split": split,
        "scorer": scorer,
        "roc_auc": metrics["roc_auc"],
        "pr_auc": metrics["pr_auc"],
        "ece": metrics["ece"],
        "top_decile_lift": metrics["lift_at_10"],
        "test_rows": int(metrics["n"]),
        "fit_s": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="default: the mapping's file")
    parser.add_argument("--mapping", type=Path, default=HERE / "uci_bank.toml")
    args = parser.parse_args()
    args.csv = args.csv or export_path(args.mapping)
    if not args.csv.exists():
        print(f"{args.csv} not found: this benchmark needs the UCI Bank Marketing file")
        return 2
    project = Path(tempfile.mkdtemp(prefix="leadml-real-"))
    config = load_config(args.mapping, project_dir=project)
    assert config.dataset is not None
    t0 = time.perf_counter()
    frame = read_flat(args.csv, config.dataset)
    print(f"read {len(frame):,} rows x {frame.shape[1]} columns in {time.perf_counter() - t0:.1f}s")

    print("\n1. leakage guard on the mapping as written (duration mapped as engagement):")
    try:
        fit_and_evaluate_flat(frame, config)
    except LeakageError as exc:
        print(str(exc))
        flagged = "duration" in str(exc).split("Drop them")[0]
    else:
        flagged = False
    print(f"=> duration flagged: {'yes' if flagged else 'NO (FAIL)'}")

    rows = []
    trained_random: TrainedModel | None = None
    for split in ("random", "file_order"):
        print(f"\n2. without duration, {split} split:")
        honest = _without(config, "duration", split)
        t0 = time.perf_counter()
        trained = fit_and_evaluate_flat(
            frame, honest, on_warning=lambda message: print(f"   WARNING: {message}")
        )
        seconds = time.perf_counter() - t0
        label = "stratified random" if split == "random" else "time-ordered (file order)"
        rows.append(_row(label, "leadml (LightGBM, calibrated)", trained.results["model"], seconds))
        rows.append(_row(label, "logistic baseline", trained.results["logistic"], float("nan")))
        print(f"   guard flags: {[f['column'] for f in trained.guard_report['flags']] or 'none'}")
        if split == "random":
            trained_random = trained

    assert trained_random is not None
    test_ids = trained_random.test_frame.index
    scored = Scorer(trained_random.bundle).score(frame.loc[test_ids], pd.DataFrame(), explain=True)
    gap = np.max(
        np.abs(
            scored.frame["probability"].to_numpy() - trained_random.test_frame["model"].to_numpy()
        )
    )
    example = scored.frame["reasons"].iloc[0]["positive"][:2]
    print(f"\n3. Scorer vs training on the test rows: max |dp| = {gap:.2e}")
    print(f"   example reasons: {[r['text'] for r in example]}")

    table = pd.DataFrame(rows)
    print("\nUCI Bank Marketing, without `duration` (test window, scored once):")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print(table.to_string(index=False))
    auc = table.loc[table["scorer"].str.startswith("leadml"), "roc_auc"].iloc[0]
    ok = flagged and auc >= TARGET_AUC and gap < 1e-9
    print(
        f"\nrandom-split AUC {auc:.3f} (target >= {TARGET_AUC}); duration flagged: {flagged}; "
        f"serving = training: {gap < 1e-9} -> {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
