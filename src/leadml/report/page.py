"""The one-page run report, as Markdown and as a self-contained HTML page.

Plots are linked by path relative to the report folder, so the folder can be moved
or attached to an MLflow run as a whole. Both files are written atomically.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import pandas as pd

MISSING = "—"
METRIC_LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC (95% CI)",
    "pr_auc": "PR AUC (average precision)",
    "log_loss": "Log loss",
    "brier": "Brier score",
    "ece": "Expected calibration error",
    "precision_at_5": "Conversion rate, top 5%",
    "precision_at_10": "Conversion rate, top 10%",
    "precision_at_20": "Conversion rate, top 20%",
    "lift_at_5": "Lift, top 5%",
    "lift_at_10": "Lift, top 10%",
    "lift_at_20": "Lift, top 20%",
    "base_rate": "Base conversion rate",
    "n": "Leads",
    "n_positive": "Conversions",
}
COLUMN_LABELS: dict[str, str] = {
    "n": "Leads",
    "positives": "Conversions",
    "conversion_rate": "Conversion rate",
    "mean_predicted": "Mean predicted",
    "roc_auc": "ROC AUC",
}
PLOT_CAPTIONS: dict[str, str] = {
    "gains_lift": "Cumulative gains and lift by decile",
    "calibration": "Calibration: predicted against observed conversion",
    "roc_pr": "ROC and precision-recall curves",
    "score_histogram": "Score distribution by outcome",
    "shap_bar": "Feature importance (mean |SHAP|, log-odds)",
    "shap_beeswarm": "How each feature pushes individual scores (SHAP, log-odds)",
}
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("ROC AUC", "chance a random converter is scored above a random non-converter"),
    ("PR AUC", "average precision over all cut-offs; compare with the base rate"),
    ("Lift, top k%", "conversion rate in the top k% of scores divided by the base rate"),
    ("Log loss / Brier", "penalties for confident wrong probabilities; lower is better"),
    ("ECE", "average gap between predicted and observed rates over 10 probability bins"),
)
_PERCENT = ("precision_at_", "base_rate", "conversion_rate", "mean_predicted")
_COUNT = ("n", "n_positive", "positives", "leads", "rows")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1000px;
margin:2rem auto;padding:0 1rem;color:#1f2933;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{padding:.28rem .7rem;border-bottom:1px solid #e4e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f0f4f8}
.facts td{text-align:left}.facts td:first-child{color:#52606d}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
figure{margin:0}figure img{width:100%;border:1px solid #e4e7eb}
figcaption{font-size:.88rem;color:#52606d}dl{font-size:.9rem}dt{font-weight:600}
dd{margin:0 0 .4rem 0;color:#52606d}
"""


def write_report(
    out_dir: Path,
    *,
    title: str,
    metrics_table: pd.DataFrame,
    breakdowns: Mapping[str, pd.DataFrame],
    plots: Mapping[str, Path],
    facts: Mapping[str, str],
) -> tuple[Path, Path]:
    """Write report.md and report.html into `out_dir`; returns their paths.

    `metrics_table` has one row per scorer (as `evaluate.compare_table` makes);
    `breakdowns` maps a segment name to an `evaluate.breakdown` frame.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = metrics_rows(metrics_table)
    segments = {name: _format_frame(frame) for name, frame in breakdowns.items()}
    figures = [(_caption(key), _relative(path, out_dir)) for key, path in plots.items()]
    md_path = _write_atomic(
        out_dir / "report.md", _markdown(title, facts, metrics, segments, figures)
    )
    html_path = _write_atomic(
        out_dir / "report.html", _html(title, facts, metrics, segments, figures)
    )
    return md_path, html_path


def metrics_rows(table: pd.DataFrame) -> list[list[str]]:
    """Headline metrics transposed for reading: a header row, then one row per metric."""
    header = ["Metric", *(str(i) for i in table.index)]
    rows = [header]
    for column in table.columns:
        if column in ("roc_auc_ci_low", "roc_auc_ci_high"):
            continue
        label = METRIC_LABELS.get(str(column), str(column))
        cells = []
        for scorer in table.index:
            value = table.at[scorer, column]
            cell = _format_value(str(column), value)
            if column == "roc_auc" and "roc_auc_ci_low" in table.columns:
                low, high = table.at[scorer, "roc_auc_ci_low"], table.at[scorer, "roc_auc_ci_high"]
                if _is_number(low) and _is_number(high):
                    cell += f" ({_format_value('ci', low)}–{_format_value('ci', high)})"
            cells.append(cell)
        rows.append([label, *cells])
    return rows


def _format_frame(frame: pd.DataFrame) -> list[list[str]]:
    """A frame as display strings: header row first, the index as the first column."""
    index_name = str(frame.index.name or "").replace("_", " ").capitalize()
    rows = [[index_name, *(COLUMN_LABELS.get(str(c), str(c)) for c in frame.columns)]]
    for key, record in frame.iterrows():
        rows.append([str(key), *(_format_value(str(c), record[c]) for c in frame.columns)])
    return rows


def _format_value(name: str, value: object) -> str:
    """Numbers formatted by what they mean: counts, percentages, lifts, or 3 decimals."""
    if not _is_number(value):
        return MISSING if value is None or _is_nan(value) else str(value)
    number = float(value)  # type: ignore[arg-type]
    if name in _COUNT:
        return f"{number:,.0f}" if number == round(number) else f"{number:,.1f}"
    if name.startswith(_PERCENT):
        return f"{number:.1%}"
    if name.startswith("lift"):
        return f"{number:.2f}×"
    if name in ("ece", "brier", "log_loss"):
        return f"{number:.4f}"
    return f"{number:.3f}"


def _is_number(value: object) -> bool:
    """A real, non-NaN number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return not math.isnan(float(value))


def _is_nan(value: object) -> bool:
    """pandas-style missing (NaN, NA, NaT)."""
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _caption(key: str) -> str:
    """A readable caption for a plot key."""
    if key in PLOT_CAPTIONS:
        return PLOT_CAPTIONS[key]
    if key.startswith("shap_dependence_"):
        return f"Effect of {key.removeprefix('shap_dependence_')} on the score (SHAP, log-odds)"
    return key.replace("_", " ").capitalize()


def _segment_heading(name: str) -> str:
    """'lead source' -> 'By lead source'; 'by stage' -> 'By stage'."""
    return name[:1].upper() + name[1:] if name.lower().startswith("by ") else f"By {name}"


def _relative(path: Path, out_dir: Path) -> str:
    """URL-quoted POSIX path of a plot relative to the report folder."""
    rel = os.path.relpath(Path(path).resolve(), out_dir.resolve())
    return quote(Path(rel).as_posix())


def _md_table(rows: list[list[str]], *, numeric: bool = True) -> str:
    """A GitHub-flavoured Markdown table; the first row is the header. Columns after the
    first are right-aligned when `numeric`."""
    cells = [[c.replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |"]
    align = "---:" if numeric else ":---"
    lines.append("|" + "|".join([":---", *[align] * (len(cells[0]) - 1)]) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


def _markdown(
    title: str,
    facts: Mapping[str, str],
    metrics: list[list[str]],
    segments: Mapping[str, list[list[str]]],
    figures: list[tuple[str, str]],
) -> str:
    """The report as Markdown."""
    parts = [f"# {title}", ""]
    if facts:
        fact_rows = [["Fact", "Value"], *([k, str(v)] for k, v in facts.items())]
        parts += [_md_table(fact_rows, numeric=False), ""]
    parts += ["## Headline metrics", "", _md_table(metrics), ""]
    for name, rows in segments.items():
        parts += [f"## {_segment_heading(name)}", "", _md_table(rows), ""]
    if figures:
        parts += ["## Plots", ""]
        parts += [f"![{caption}]({src})\n\n*{caption}*\n" for caption, src in figures]
    parts += ["## Definitions", ""]
    parts += [f"- **{term}**: {text}" for term, text in DEFINITIONS]
    return "\n".join(parts) + "\n"


def _html_table(rows: list[list[str]], css_class: str = "") -> str:
    """An HTML table with escaped cells; the first row is the header."""
    attr = f' class="{css_class}"' if css_class else ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(
    title: str,
    facts: Mapping[str, str],
    metrics: list[list[str]],
    segments: Mapping[str, list[list[str]]],
    figures: list[tuple[str, str]],
) -> str:
    """The report as one self-contained HTML page (inline CSS, no scripts, no CDN)."""
    t = html.escape(title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{t}</title><style>{_CSS}</style></head><body>",
        f"<h1>{t}</h1>",
    ]
    if facts:
        fact_rows = [["Fact", "Value"], *([k, str(v)] for k, v in facts.items())]
        parts.append(_html_table(fact_rows, "facts"))
    parts += ["<h2>Headline metrics</h2>", _html_table(metrics)]
    for name, rows in segments.items():
        parts += [f"<h2>{html.escape(_segment_heading(name))}</h2>", _html_table(rows)]
    if figures:
        parts.append('<h2>Plots</h2><div class="plots">')
        parts += [
            f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(caption)}"></a>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for caption, src in figures
        ]
        parts.append("</div>")
    parts.append("<h2>Definitions</h2><dl>")
    parts += [f"<dt>{html.escape(a)}</dt><dd>{html.escape(b)}</dd>" for a, b in DEFINITIONS]
    parts.append("</dl></body></html>")
    return "\n".join(parts) + "\n"


def _write_atomic(path: Path, text: str) -> Path:
    """Write via a temp file in the same folder and os.replace: all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
