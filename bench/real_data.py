"""leadml vs plain LightGBM on repeated splits: UCI Bank Marketing and the synthetic suite.

    .venv/bin/python bench/real_data.py [--repeats 5] [--split stratified|time]
        [--csv PATH] [--mapping bench/uci_bank.toml] [--cases "small clean,sparse"]
        [--no-bank] [--no-suite]

1. Reads the bank export with bench/uci_bank.toml (which maps `duration`, the call's
   length, as a feature on purpose) and checks that the leakage guard refuses it.
2. Without `duration`, fits leadml (its defaults, calibrated) and the plain reference
   (`LGBMClassifier()` defaults, early stopping on the same validation rows, pandas
   categories) on the same `--repeats` splits (`leadml.model.repeats`), and does the same
   on every case of the synthetic flat-export suite (`leadml.data.synth.flat_suite`:
   2k to 50k rows, noise, sparsity, many levels, seasonality).
3. Scores one split's test rows again through the Scorer (the serving path) and checks
   the probabilities equal training's.
4. Prints one table, bank and suite side by side: mean ± sd of ROC AUC, PR AUC and ECE
   for both, and the mean per-split difference. Targets: difference >= +0.01 ROC AUC
   and leadml ECE <= 0.02 (mean over the suite, and on bank).

The bank file lives in ../shared/datasets (never copied into the project); the suite is
generated in code. A benchmark, not a test.
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
from leadml.data.synth.flat_suite import SUITE, flat_case  # noqa: E402
from leadml.errors import LeakageError  # noqa: E402
from leadml.model.flat_pipeline import fit_and_evaluate_flat  # noqa: E402
from leadml.model.repeats import RepeatTable, compare_on_splits  # noqa: E402
from leadml.scoring import Scorer  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET_GAIN = 0.01
TARGET_ECE = 0.02


def export_path(mapping: Path) -> Path:
    """The mapping's `[dataset] file`, resolved against the mapping's own folder (as
    `leadml` resolves it against the config's folder), independent of the working folder."""
    config = load_config(mapping)
    if config.dataset is None or config.dataset.file is None:
        raise SystemExit(f"{mapping} has no [dataset] file; pass --csv")
    return config.resolve(config.dataset.file).resolve()


def _without(config: Config, column: str) -> Config:
    assert config.dataset is not None
    columns = dict(config.dataset.columns)
    columns[column] = FlatColumn(role="ignore", type=columns[column].type)
    return config.model_copy(
        update={"dataset": config.dataset.model_copy(update={"columns": columns})}
    )


def _line(name: str, rows: int, table: RepeatTable, seconds: float) -> dict[str, object]:
    wide = table.rows.pivot(index="split", columns="scorer", values=["roc_auc", "pr_auc", "ece"])
    diff = wide["roc_auc"]["leadml"] - wide["roc_auc"]["plain LightGBM"]
    return {
        "dataset": name,
        "rows": rows,
        "leadml AUC": _ms(wide["roc_auc"]["leadml"]),
        "plain AUC": _ms(wide["roc_auc"]["plain LightGBM"]),
        "AUC diff": _ms(diff),
        "diff>0": f"{int((diff > 0).sum())}/{len(diff)}",
        "leadml PR AUC": _ms(wide["pr_auc"]["leadml"]),
        "plain PR AUC": _ms(wide["pr_auc"]["plain LightGBM"]),
        "leadml ECE": _ms(wide["ece"]["leadml"]),
        "plain ECE": _ms(wide["ece"]["plain LightGBM"]),
        "_diff": float(diff.mean()),
        "_ece": float(wide["ece"]["leadml"].mean()),
        "s": round(seconds),
    }


def _ms(values: pd.Series) -> str:
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return f"{values.mean():.4f} ± {sd:.4f}"


def _bank(args: argparse.Namespace, project: Path) -> tuple[list[dict[str, object]], bool]:
    csv = args.csv or export_path(args.mapping)
    if not csv.exists():
        print(f"{csv} not found: the bank rows are skipped (the suite still runs)")
        return [], True
    config = load_config(args.mapping, project_dir=project)
    assert config.dataset is not None
    frame = read_flat(csv, config.dataset)
    print(f"bank: {len(frame):,} rows x {frame.shape[1]} columns")
    print("1. leakage guard on the mapping as written (duration mapped as engagement):")
    try:
        fit_and_evaluate_flat(frame, config)
    except LeakageError as exc:
        refused = str(exc).split("Drop them")[0]
        print("   " + "\n   ".join(line for line in refused.splitlines() if "duration" in line))
        flagged = "duration" in refused
    else:
        flagged = False
    print(f"   => duration refused: {'yes' if flagged else 'NO (FAIL)'}")
    honest = _without(config, "duration")
    t0 = time.perf_counter()
    table = compare_on_splits(frame, honest, repeats=args.repeats, split=args.split)
    line = _line("UCI bank marketing (no duration)", len(frame), table, time.perf_counter() - t0)
    print(f"   {line['AUC diff']} AUC over plain LightGBM")
    return [line], flagged


def _suite(args: argparse.Namespace, project: Path) -> list[dict[str, object]]:
    wanted = {c.strip() for c in args.cases.split(",")} if args.cases else None
    lines = []
    for case in SUITE:
        if wanted and case.name not in wanted:
            continue
        frame, dataset = flat_case(case)
        config = load_config(None, project_dir=project).model_copy(update={"dataset": dataset})
        t0 = time.perf_counter()
        table = compare_on_splits(frame, config, repeats=args.repeats, split=args.split)
        lines.append(_line(f"suite: {case.name}", case.rows, table, time.perf_counter() - t0))
        print(f"   suite {case.name}: {lines[-1]['AUC diff']} AUC over plain LightGBM", flush=True)
    return lines


def _serving_equals_training(project: Path) -> float:
    """Max |p| gap between training's test-window probabilities and the Scorer's."""
    frame, dataset = flat_case(SUITE[0])
    config = load_config(None, project_dir=project).model_copy(update={"dataset": dataset})
    trained = fit_and_evaluate_flat(frame, config)
    flat = trained.bundle.flat
    assert flat is not None
    scorer = Scorer(trained.bundle)
    test = frame.loc[trained.test_frame.index]
    raw = scorer.flat_features(test)
    scored = scorer.score_features(raw, explain=False).frame["probability"].to_numpy()
    return float(np.max(np.abs(scored - trained.test_frame["model"].to_numpy())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="default: the mapping's file")
    parser.add_argument("--mapping", type=Path, default=HERE / "uci_bank.toml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--split", choices=("stratified", "time"), default="stratified")
    parser.add_argument("--cases", default="", help="suite cases by name, comma-separated")
    parser.add_argument("--no-bank", action="store_true")
    parser.add_argument("--no-suite", action="store_true")
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="leadml-real-"))
    lines: list[dict[str, object]] = []
    flagged = True
    if not args.no_bank:
        bank, flagged = _bank(args, project)
        lines += bank
    if not args.no_suite:
        print(f"2. the synthetic suite, {args.repeats} {args.split} splits per case:")
        lines += _suite(args, project)
    gap = _serving_equals_training(project)
    print(f"3. Scorer vs training on one split's test rows: max |dp| = {gap:.2e}")
    table = pd.DataFrame(lines)
    shown = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    print(f"\nleadml vs plain LightGBM, {args.repeats} {args.split} splits (mean ± sd):")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(shown.to_string(index=False))
    suite = table[table["dataset"].str.startswith("suite")]
    parts = []
    ok = flagged and gap < 1e-9
    for name, part in (("suite mean", suite), ("bank", table[~table.index.isin(suite.index)])):
        if part.empty:
            continue
        gain, ece = float(part["_diff"].mean()), float(part["_ece"].mean())
        met = gain >= TARGET_GAIN and ece <= TARGET_ECE
        ok = ok and met
        parts.append(f"{name}: AUC {gain:+.4f} (target >= +{TARGET_GAIN}), ECE {ece:.4f} "
                     f"(target <= {TARGET_ECE}) -> {'met' if met else 'NOT met'}")  # fmt: skip
    print("\n" + "\n".join(parts))
    print(f"duration refused: {flagged}; serving = training: {gap < 1e-9} -> "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
