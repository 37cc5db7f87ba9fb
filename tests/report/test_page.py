"""Run report: Markdown and HTML carry the metrics, the facts, and a link to every plot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.model.evaluate import breakdown, compare_table, headline_metrics
from leadml.report.page import write_report


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    p = 1 / (1 + np.exp(-rng.normal(-2, 1.2, 400)))
    y = (rng.random(400) < p).astype(int)
    points = np.clip(p + rng.normal(0, 0.1, 400), 0, 1)
    table = compare_table(
        {
            "model": headline_metrics(y, p, n_boot=50),
            "points": headline_metrics(y, points, n_boot=50),
            "logistic": {"roc_auc": 0.7123},
        }
    )
    source = pd.Series(rng.choice(["event", "referral | partner", "paid_search"], 400))
    plot_dir = tmp_path / "run" / "plots"
    plot_dir.mkdir(parents=True)
    plots = {}
    for key in ("gains_lift", "calibration", "shap_dependence_seniority"):
        plots[key] = plot_dir / f"{key}.png"
        plots[key].write_bytes(b"\x89PNG\r\n\x1a\n")
    elsewhere = tmp_path / "shared" / "extra plot.png"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"\x89PNG\r\n\x1a\n")
    plots["extra"] = elsewhere
    return {
        "title": "Run <abc> & co",
        "metrics_table": table,
        "breakdowns": {"by lead source": breakdown(y, p, source.rename("lead_source"))},
        "plots": plots,
        "facts": {"Run id": "run-42", "Data digest": "sha256:deadbeef", "Test leads": "400"},
        "auc": table.loc["model", "roc_auc"],
    }


def _write(tmp_path: Path, inputs: dict[str, object]) -> tuple[Path, Path]:
    kwargs = {k: v for k, v in inputs.items() if k != "auc"}
    return write_report(tmp_path / "run", **kwargs)  # type: ignore[arg-type]


def test_both_files_carry_metrics_facts_and_segments(
    tmp_path: Path, inputs: dict[str, object]
) -> None:
    md_path, html_path = _write(tmp_path, inputs)
    assert (md_path.name, html_path.name) == ("report.md", "report.html")
    for text in (md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")):
        assert f"{inputs['auc']:.3f}" in text
        assert "ROC AUC (95% CI)" in text and "Lift, top 10%" in text
        assert "run-42" in text and "sha256:deadbeef" in text
        assert "By lead source" in text and "paid_search" in text
        assert "—" in text  # the logistic row's missing metrics are shown as gaps


def test_every_plot_is_linked_by_relative_path(tmp_path: Path, inputs: dict[str, object]) -> None:
    md_path, html_path = _write(tmp_path, inputs)
    md, page = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
    expected = [
        "plots/gains_lift.png",
        "plots/calibration.png",
        "plots/shap_dependence_seniority.png",
        "../shared/extra%20plot.png",
    ]
    for link in expected:
        assert f"]({link})" in md
        assert f'src="{link}"' in page
        assert (html_path.parent / link.replace("%20", " ")).exists()


def test_html_is_self_contained_and_escaped(tmp_path: Path, inputs: dict[str, object]) -> None:
    _, html_path = _write(tmp_path, inputs)
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://|<script|<link", page)
    assert "Run &lt;abc&gt; &amp; co" in page
    assert "<abc>" not in page


def test_markdown_tables_escape_pipes(tmp_path: Path, inputs: dict[str, object]) -> None:
    md_path, _ = _write(tmp_path, inputs)
    assert "referral \\| partner" in md_path.read_text(encoding="utf-8")


def test_rewrite_is_atomic_and_leaves_no_temp_files(
    tmp_path: Path, inputs: dict[str, object]
) -> None:
    _write(tmp_path, inputs)
    inputs["facts"] = {"Run id": "run-43"}
    md_path, _ = _write(tmp_path, inputs)
    assert "run-43" in md_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in md_path.parent.iterdir() if p.is_file()) == [
        "report.html",
        "report.md",
    ]
