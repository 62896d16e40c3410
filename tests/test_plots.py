"""Plots stand alone: each names its instance and its measure precisely, and marks what matters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import optimizer
from optimizer.analysis import plots

from .conftest import INSTANCES

pytest.importorskip("matplotlib")

REALISTIC = INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml"


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the plot functions make, kept instead of written."""
    kept: list = []
    monkeypatch.setattr(plots, "_save", lambda plt, figure, path: kept.append(figure))
    return kept


def _texts(figure) -> dict:
    axes = figure.axes[0]
    return {"title": axes.get_title(), "x": axes.get_xlabel(), "y": axes.get_ylabel(),
            "legend": [t.get_text() for t in axes.get_legend().get_texts()],
            "ticks": [t.get_text() for t in axes.get_xticklabels()]}


def test_frontier_plot_names_instance_measure_and_marks(figures: list) -> None:
    from optimizer.analysis.frontier import frontier
    from optimizer.instance.generate import generate_instance

    instance = generate_instance(40, 8, seed=2, turnover=True, worst_case_k=2)
    traced = frontier(instance, points=4, risk="portfolio_worst_case")
    plots.plot_frontier(traced, instance, Path("unused.png"))
    text = _texts(figures[0])
    assert instance.name in text["title"]
    assert text["x"] == ("loss if the 2 services costing the portfolio most slash at once "
                         "(ETH)")
    assert text["y"] == "expected net reward (ETH per year)"
    assert "unconstrained optimum" in text["legend"]
    assert any(label.startswith("current allocation") for label in text["legend"])

    realistic = optimizer.load_instance(REALISTIC)
    plots.plot_frontier(frontier(realistic, points=3), realistic, Path("unused.png"))
    assert _texts(figures[1])["x"] == "CVaR at 95% of the portfolio's slashing loss (ETH)"


def test_loss_histogram_marks_expected_loss_var_and_cvar(figures: list) -> None:
    from optimizer.analysis.simulate import simulate

    instance = optimizer.load_instance(REALISTIC)
    result = optimizer.solve(instance)
    simulation = simulate(instance, result.allocation, runs=2000, seed=3)
    plots.plot_losses(simulation, instance, Path("unused.png"))
    text = _texts(figures[0])
    measures = dict(zip(simulation.summary["measure"], simulation.summary["value"],
                        strict=True))
    assert instance.name in text["title"] and "2,000 scenarios, seed 3" in text["title"]
    assert text["legend"][1:] == [f"expected loss: {measures['expected_loss']:,.4g} ETH",
                                  f"VaR 95%: {measures['var_0.95']:,.4g} ETH",
                                  f"CVaR 95%: {measures['cvar_0.95']:,.4g} ETH"]
    lines = [line.get_xdata()[0] for line in figures[0].axes[0].get_lines()]
    assert lines == pytest.approx([measures["expected_loss"], measures["var_0.95"],
                                   measures["cvar_0.95"]])


def test_scaling_plot_spreads_cases_of_one_size(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from optimizer.bench import report

    made: list = []
    real_subplots = plt.subplots

    def keep(*args, **kwargs):
        figure, axes = real_subplots(*args, **kwargs)
        made.append(figure)
        return figure, axes

    monkeypatch.setattr(plt, "subplots", keep)
    monkeypatch.setattr(plt, "close", lambda figure: None)
    base = {"suite": "tiny", "class": "LP", "stakes": 100, "services": 10,
            "model_stakes": 10, "method": "restake", "algorithm": "choose", "status": "optimal",
            "objective": 1.0, "gap": 0.0, "violations": 0, "load_s": 0.1, "build_s": 0.1,
            "handoff_s": 0.1, "solve_s": 0.1, "extract_s": 0.1, "peak_mb": 100.0}
    runs = pd.DataFrame([{**base, "instance": f"case-{k}", "pairs": 295, "total_s": 0.2 + k}
                         for k in range(3)])
    report.scaling_plot(runs, tmp_path / "one.png")
    axes = made[0].axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["case-0", "case-1", "case-2"]
    assert "suite tiny" in axes.get_title() and axes.get_xscale() == "linear"
    two = pd.concat([runs, runs.assign(instance="big", pairs=29_500).iloc[:1]])
    report.scaling_plot(two, tmp_path / "two.png")
    assert made[1].axes[0].get_xscale() == "log"
    assert [t.get_text() for t in made[1].axes[0].get_legend().get_texts()] == [
        "restake end to end"]  # no direct run: no empty legend entry
