"""Rendering for the terminal: tables, validation reports and job outcomes (no logic)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from leadml.cli.common import console, err_console
from leadml.vocabulary import label, source_label

if TYPE_CHECKING:
    import pandas as pd


def print_frame(df: pd.DataFrame, title: str, *, index: bool = True) -> None:
    """Render a small DataFrame as a rich table (numbers right-aligned, NaN as '-')."""
    import pandas as pd

    table = Table(title=title, title_justify="left")
    frame = df.reset_index() if index else df
    percent = [("rate" in str(c) or "share" in str(c)) for c in frame.columns]
    cells = [
        [pct(v) if pc else fmt(v) for v, pc in zip(row, percent, strict=True)]
        for row in frame.itertuples(index=False)
    ]
    for j, col in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        # Values never wrap; spaces instead of underscores let a long header wrap instead.
        table.add_column(
            str(col).replace("_", " "),
            justify="right" if numeric else "left",
            min_width=max((len(r[j]) for r in cells), default=1),
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    console.print(table)


def pct(value: object) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.1%}"
    return fmt(value)


def _source_and_stage(row: Mapping[Hashable, Any], flat: bool) -> str:
    """'Paid search / SQL': labels for the canonical tokens (a flat export's own source
    text is shown as written)."""
    source = source_label(row["lead_source"], as_written=flat)
    return f"{source} / {label('stage', row['stage'])}"


def trend_cell(trend: object, previous_score: object) -> str:
    """'▲ from 84', '▬ from 90', 'new': the trend mark and the score it moved from."""
    mark = label("trend_mark", trend)
    try:
        return f"{mark} from {int(previous_score)}"  # type: ignore[call-overload]
    except (TypeError, ValueError):  # None, NaN, pd.NA: no previous score
        return mark


def fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.3f}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_report(report: object, *, all_warnings: bool) -> None:
    from leadml.data.validate import ValidationReport

    assert isinstance(report, ValidationReport)
    for p in report.errors:
        console.print(f"[red]error[/]   {problem_line(p)}", highlight=False, soft_wrap=True)
    if all_warnings:
        for p in report.warnings:
            console.print(f"[yellow]warning[/] {problem_line(p)}", highlight=False, soft_wrap=True)
    elif report.warnings:
        groups: dict[tuple[str, str, str], list[object]] = {}
        for p in report.warnings:
            groups.setdefault((p.code, p.file, p.column or "-"), []).append(p)
        table = Table(title="Warnings (data still loads)", title_justify="left")
        for col in ("kind", "file", "column", "rows", "first example"):
            table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
        for (code, file, column), items in groups.items():
            first = items[0]
            total = sum(getattr(i, "count", 1) for i in items)
            example = getattr(first, "value", None)
            row = getattr(first, "row", None)
            table.add_row(
                code.replace("_", " "),
                file,
                column,
                f"{total:,}",
                ("" if row is None else f"row {row}: ")
                + ("" if example is None else repr(example)),
            )
        console.print(table)
        console.print("  (run with --all-warnings to list every warning row)")
    for line in report.notes:
        console.print(f"  {line}", highlight=False)
    n_err, n_warn = report.error_count, report.warning_count
    if report.ok:
        console.print(f"[green]OK[/]: {report.path} is valid ({n_warn:,} warning(s)).")
    else:
        err_console.print(
            f"[red]Invalid[/]: {n_err:,} error(s), {n_warn:,} warning(s) in {report.path}. "
            "Fix the rows listed above and run `leadml validate` again."
        )


def problem_line(p: object) -> str:
    from leadml.data.validate import Problem

    assert isinstance(p, Problem)
    where = p.file + (f" row {p.row}" if p.row is not None else "")
    where += f", column {p.column}" if p.column else ""
    got = "" if p.value is None else f" got {p.value!r};"
    many = f" [{p.count:,} rows]" if p.count > 1 else ""
    return f"{where}: {p.code}:{got} expected {p.expected}{many}"


def print_train_outcome(outcome: object) -> None:
    import pandas as pd

    from leadml.jobs.train import TrainOutcome
    from leadml.model.assess import HEADLINE_METRICS

    assert isinstance(outcome, TrainOutcome)
    result = outcome.metrics_json()
    rows = {"model": result["model"], **result["baselines"]}
    by_age, one_cutoff = result["by_age"], result["one_cutoff_test_window"]
    if one_cutoff is not None:  # a snapshot model on the one-cutoff leads (oracle's rows)
        rows |= {f"{name}, one cutoff": vals for name, vals in one_cutoff.items()}
    if result["oracle"] is not None:
        rows["oracle"] = {
            "roc_auc": result["oracle"]["roc_auc"],
            "lift_at_10": result["oracle"]["lift_at_10"],
        }
    frame = pd.DataFrame(
        {
            name: [vals.get(k, float("nan")) for k in HEADLINE_METRICS]
            for name, vals in rows.items()
        },
        index=list(HEADLINE_METRICS),
    ).T
    frame.index.name = "scorer"
    guard = outcome.trained.guard_report.get("details", {})
    if outcome.trained.bundle.flat is not None and guard:
        print_guard_table(guard)
    print_frame(frame, "Test window (scored once)")
    for note in result["notes"]:
        console.print(escape(note))
    m = result["model"]
    console.print(f"ROC AUC 95% interval: {m['roc_auc_ci_low']:.3f} - {m['roc_auc_ci_high']:.3f}")
    if by_age is not None:
        print_frame(
            pd.DataFrame.from_dict(by_age, orient="index").rename_axis("lead age (days)"),
            "Test window by lead age at scoring",
        )
    if one_cutoff is not None:
        console.print(
            f"one cutoff: the {one_cutoff['model']['leads']:,.0f} test-window leads at "
            "created_at + observation days, where the synthetic truth (oracle) is defined."
        )
    if result["oracle"] is not None:
        o = result["oracle"]
        console.print(
            f"Model/oracle: AUC ratio {o['model_oracle_auc_ratio']:.3f}, "
            f"top-decile lift ratio {o['model_oracle_lift_ratio']:.3f}"
        )
    labels = result["labels"]
    unit = "leads" if by_age is None else "snapshot rows (a lead on each date it was open)"
    console.print(
        f"Labels: {labels['eligible']:,} eligible {unit}, {labels['positives']:,} converted; "
        f"excluded {labels['excluded_converted_before_cutoff']:,} converted before the cutoff, "
        f"censored {labels['censored_window_not_closed']:,} whose window had not closed."
    )
    ml = result["mlflow"]
    state = "[green]promoted to champion[/]" if ml["promoted"] else "[yellow]kept as challenger[/]"
    gate = ml["gate"]["reason"] if ml["gate"] else "-"
    console.print(
        f"MLflow run {ml['run_id']}: {ml['model_name']} version {ml['model_version']} {state}"
    )
    console.print(f"Gate: {gate}")
    console.print(f"Bundle: {result['bundle_path']}   Report: {result['report_path']}")


def print_guard_table(details: dict[str, dict[str, Any]]) -> None:
    """The leakage guard's table: every checked column, its verdict and figures, compact
    (the full figures and evidence are in the run's model_spec/leakage_guard.json)."""
    import pandas as pd

    def lift(row: dict[str, Any]) -> str:
        """The larger of the presence and missingness lifts, and which class it favours."""
        found = []
        for key, word in (("presence_lift", "filled"), ("missing_lift", "missing")):
            value = float(row[key])
            times = max(value, 1 / value) if value > 0 else 0.0
            side = (
                ("conv" if value >= 1 else "rest")
                if word == "filled"
                else ("rest" if value >= 1 else "conv")
            )
            found.append((times, f"{times:.1f}x {word} {side}"))
        times, text = max(found)
        return text if times >= 1.5 else "-"

    def pure(row: dict[str, Any]) -> str:
        parts = [
            f"{side} {float(row[key]):.1%}"
            for key, side in (("pure_levels_converted", "conv"), ("pure_levels_other", "rest"))
            if row.get(key)
        ]
        return ", ".join(parts) or "-"

    frame = pd.DataFrame(
        {
            "verdict": [str(r["verdict"]) for r in details.values()],
            "auc": [float(r["auc"]) for r in details.values()],
            "filled conv / rest": [
                f"{float(r['fill_converted']):.1%} / {float(r['fill_other']):.1%}"
                for r in details.values()
            ],
            "lift": [lift(r) for r in details.values()],
            "pure levels": [pure(r) for r in details.values()],
            "uplift": [
                "-" if r.get("uplift") is None else f"{float(r['uplift']):+.3f}"
                for r in details.values()
            ],
        },
        index=pd.Index(list(details), name="column"),
    )
    print_frame(frame, "Leakage guard (training window)")
    console.print(
        "  lift: how many times more often converted leads (conv) or the rest fill or miss "
        "a value; pure levels: share of a class in values only it holds; uplift: a quick "
        "model's validation AUC gain (suspects only). Figures and evidence: the run's "
        "model_spec/leakage_guard.json.",
        highlight=False,
    )


def print_batch_outcome(outcome: object) -> None:
    from rich.markup import escape

    from leadml.jobs.score import BatchOutcome
    from leadml.ranked import REASONS_JSON, decode_reasons, render_reasons

    assert isinstance(outcome, BatchOutcome)
    batch = outcome.batch
    summary = batch.summary()
    for warning in batch.warnings:  # text, not markup ("[dataset]"); one line each
        err_console.print(f"[yellow]warning[/] {escape(warning)}", highlight=False, soft_wrap=True)
    grades = ", ".join(f"{g} {n:,}" for g, n in summary.grade_counts.items())
    skipped = (
        f"{summary.excluded_converted:,} already converted, "
        f"{summary.excluded_not_created:,} created later and {summary.excluded_stale:,} "
        f"stale (open over {summary.max_open_days:,} days, {escape('[score]')} max_open_days)"
        if summary.max_open_days
        else f"{summary.excluded_converted:,} already converted (a flat export's rows are "
        f"as exported, so {escape('[score]')} max_open_days does not apply)"
        if batch.flat
        else f"{summary.excluded_converted:,} already converted and "
        f"{summary.excluded_not_created:,} created later (no stale limit)"
    )
    console.print(
        f"Scored {summary.leads_scored:,} open leads as of {batch.as_of:%Y-%m-%d %H:%M} UTC "
        f"with model {batch.model_version} (grades: {batch.grade_mode}); skipped {skipped}."
    )
    console.print(f"Grades: {grades}")
    if not summary.source_mapped:
        console.print(
            'Top sources among A leads: no source column mapped (give one role = "source")'
        )
    elif summary.top_sources_a:
        named = (source_label(s, as_written=batch.flat) for s, _ in summary.top_sources_a)
        counts = (n for _, n in summary.top_sources_a)
        sources = escape(", ".join(f"{s} {n:,}" for s, n in zip(named, counts, strict=True)))
        console.print(f"Top sources among A leads: {sources}")
    table = Table(title="Top 10 leads", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("company / source / stage", max_width=26, overflow="fold")
    table.add_column("score\ntrend", justify="right", no_wrap=True)
    table.add_column("reasons (▲ for, ▼ against)", min_width=30, ratio=1, overflow="fold")
    for row in batch.frame.head(10).to_dict("records"):
        table.add_row(
            str(row["rank"]),
            escape(f"{fmt(row['company'])}\n")
            + f"[dim]{escape(_source_and_stage(row, batch.flat))}[/]",
            f"{row['score']} {row['grade']}\n{trend_cell(row['trend'], row['previous_score'])}",
            escape(render_reasons(decode_reasons(row[REASONS_JSON]), layout="lines")),
        )
    console.print(table)
    if outcome.out_path is not None:
        console.print(f"Ranked list: {outcome.out_path}")
    if outcome.batch_id is not None:
        console.print(f"Scores store: batch {outcome.batch_id} in {outcome.store_url}")
