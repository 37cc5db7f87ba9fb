"""Plots: every function writes a real PNG and leaves no figure open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadml.errors import InputError
from leadml.model.evaluate import expected_calibration_error
from leadml.report import plots

Scored = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]
Explained = tuple[np.ndarray, pd.DataFrame]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path, min_kb: int = 5) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_kb * 1024


@pytest.fixture(scope="module")
def scored() -> Scored:
    rng = np.random.default_rng(0)
    p = 1 / (1 + np.exp(-rng.normal(-2, 1.2, 600)))
    y = (rng.random(600) < p).astype(int)
    points = np.clip(p + rng.normal(0, 0.1, 600), 0, 1)
    return y, p, {"points": points, "logistic": np.clip(p * 1.3, 0, 1)}


@pytest.fixture(scope="module")
def explained() -> Explained:
    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame(
        {
            "count_demo_request_all": rng.poisson(0.5, n).astype(float),
            "seniority": rng.choice([0.0, 2.0, 4.0, np.nan], n),
            "industry": pd.Series(
                np.array(["software", "retail", None], dtype=object)[rng.integers(0, 3, n)],
                dtype="str",
            ),
            "lead_source": pd.Categorical(rng.choice(["event", "referral"], n)),
            "is_corporate_email": rng.random(n) < 0.5,
        }
    )
    contrib = rng.normal(0, [1.0, 0.5, 0.3, 0.2, 0.1], (n, 5))
    return contrib, X


@pytest.mark.parametrize("draw", [plots.gains_and_lift, plots.calibration_curve, plots.roc_pr])
@pytest.mark.parametrize("with_baselines", [False, True])
def test_metric_plots_write_pngs(
    draw: Callable[..., Path], with_baselines: bool, scored: Scored, tmp_path: Path
) -> None:
    y, p, baselines = scored
    out = draw(y, p, tmp_path / "sub" / "plot.png", baselines=baselines if with_baselines else None)
    assert out == tmp_path / "sub" / "plot.png"
    _assert_png(out)


def test_score_histogram_writes_png(scored: Scored, tmp_path: Path) -> None:
    y, p, _ = scored
    _assert_png(plots.score_histogram(y, p, tmp_path / "hist.png"))


def test_shap_plots_write_pngs_and_close_their_figures(
    explained: Explained, tmp_path: Path
) -> None:
    import matplotlib.pyplot as plt

    contrib, X = explained
    with_bias = np.column_stack([contrib, np.full(len(X), -1.5)])  # LightGBM's layout
    _assert_png(plots.shap_beeswarm(with_bias, X, tmp_path / "bee.png", max_display=4))
    _assert_png(plots.shap_bar(contrib, X, tmp_path / "bar.png"))
    _assert_png(plots.shap_dependence(contrib, X, "industry", tmp_path / "dep_cat.png"))
    _assert_png(plots.shap_dependence(contrib, X, "seniority", tmp_path / "dep_num.png"))
    assert plt.get_fignums() == []


def test_shap_shape_mismatch_is_refused(explained: Explained, tmp_path: Path) -> None:
    contrib, X = explained
    with pytest.raises(ValueError, match="contribution columns"):
        plots.shap_bar(contrib[:, :3], X, tmp_path / "bar.png")
    with pytest.raises(ValueError, match="no feature"):
        plots.shap_dependence(contrib, X, "nope", tmp_path / "dep.png")


def test_save_all_plots_includes_top_three_dependence_plots(
    scored: Scored, explained: Explained, tmp_path: Path
) -> None:
    y, p, baselines = scored
    contrib, X = explained
    paths = plots.save_all_plots(
        tmp_path / "plots", y=y, p=p, baselines=baselines, contrib=contrib, X=X
    )
    dependence = sorted(k for k in paths if k.startswith("shap_dependence_"))
    # Contributions were drawn with decreasing spread, so the top three are the first three.
    assert dependence == [
        "shap_dependence_count_demo_request_all",
        "shap_dependence_industry",
        "shap_dependence_seniority",
    ]
    assert {"gains_lift", "calibration", "roc_pr", "score_histogram", "shap_bar"} <= set(paths)
    for path in paths.values():
        assert path.parent == tmp_path / "plots"
        _assert_png(path)
    assert not list((tmp_path / "plots").glob(".*tmp"))  # no temp files left behind


def test_save_all_plots_without_shap(scored: Scored, tmp_path: Path) -> None:
    y, p, _ = scored
    paths = plots.save_all_plots(tmp_path, y=y, p=p)
    assert set(paths) == {"gains_lift", "calibration", "roc_pr", "score_histogram"}


def test_the_reliability_diagram_draws_the_bins_the_ece_measures(scored: Scored) -> None:
    y, p, baselines = scored
    for scores in (p, *baselines.values()):
        mean_p, rate, share = plots.reliability(y, scores)
        assert len(share) == 10 and share.sum() == pytest.approx(1.0, abs=1e-12)
        gap = (share[share > 0] * np.abs(rate - mean_p)).sum()
        assert gap == pytest.approx(expected_calibration_error(y, scores), abs=1e-12)


def test_calibration_curve_refuses_scores_that_are_not_probabilities(
    scored: Scored, tmp_path: Path
) -> None:
    y, p, _ = scored
    with pytest.raises(InputError, match="probabilities"):
        plots.calibration_curve(y, p * 3, tmp_path / "calibration.png")


def test_category_plots_show_names_not_codes_or_slugs() -> None:
    """Dependence plots tick categories by `plots.named_categories`: words from
    `leadml.vocabulary`, in code order, missing as its own level."""
    seniority = pd.Series([0.0, 4.0, np.nan, 2.0, 4.0])
    named = plots.named_categories("seniority", seniority)
    assert list(named.cat.categories) == ["Entry level", "Director", "C-level", "(missing)"]
    assert named.tolist() == ["Entry level", "C-level", "(missing)", "Director", "C-level"]
    stage = plots.named_categories("stage_reached", pd.Series([0.0, 3.0]))
    assert list(stage.cat.categories) == ["No stage yet", "SQL"]
    industry = pd.Series(["financial_services", None, "unknown"], dtype="str")
    named = plots.named_categories("industry", industry)
    assert named.tolist() == ["Financial services", "(missing)", "Unknown"]
    source = pd.Series(pd.Categorical(["paid_search", "webinar"]))
    assert plots.named_categories("lead_source", source).tolist() == ["Paid search", "Webinar"]
    campaign = pd.Series(["2024q1-email", "2024q1-email"], dtype="str")  # no vocabulary: as is
    assert plots.named_categories("campaign", campaign).tolist() == ["2024q1-email"] * 2
    counts = pd.Series([1.0, 2.0])
    assert plots.named_categories("count_demo_request_all", counts) is counts


def test_a_dependence_plot_ticks_the_category_names(
    explained: Explained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names reach the figure: read its tick labels just before it is saved."""
    contrib, X = explained
    seen: list[list[str]] = []
    real_save = plots.save_png

    def save_and_read(fig: Any, path: Path) -> Path:
        seen.append([t.get_text() for t in fig.axes[0].get_xticklabels()])
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_png", save_and_read)
    _assert_png(plots.shap_dependence(contrib, X, "seniority", tmp_path / "dep.png"))
    assert seen == [["Entry level", "Director", "C-level", "(missing)"]]
