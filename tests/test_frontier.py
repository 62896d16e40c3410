"""The efficient frontier: one persistent model, answers equal to rebuilding."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import optimizer
from optimizer.analysis.frontier import frontier
from optimizer.cli import main

from .conftest import INSTANCES
from .test_tail_risk import _book


@pytest.mark.parametrize("risk", ["cvar", "expected_loss", "portfolio_worst_case"])
def test_frontier_is_monotone_and_meets_its_limits(risk: str) -> None:
    book = _book(worst_case_k=2)
    result = frontier(book, points=6, risk=risk)
    points = result.points
    assert (points["status"] == "optimal").all()
    assert points["objective"].is_monotonic_increasing
    assert (points[risk] <= points["risk_limit"] * (1 + 1e-6) + 1e-9).all()
    assert points.loc[0, risk] == pytest.approx(0.0, abs=1e-9)
    assert set(result.allocations["point"]) <= set(points["point"])
    # The worst case recomputed here from each point's allocation: the two services
    # costing the portfolio most (sum over stakes of f_s x value), slashed together.
    slash = book.services["slash_fraction"]
    value = book.stake_value
    for k, allocation in result.allocations.groupby("point"):
        loss = (allocation["fraction"] * value[allocation["stake"]].to_numpy()
                * slash[allocation["service"]].to_numpy())
        per_service = loss.groupby(allocation["service"].to_numpy()).sum()
        worst = per_service.sort_values(ascending=False).iloc[:2].sum()
        assert points.loc[k, "portfolio_worst_case"] == pytest.approx(worst, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("k", "middle_objective"), [(1, 0.75), (2, 1.0)])
def test_worst_case_frontier_hand_derived(k: int, middle_objective: float) -> None:
    # One 10 ETH stake (restaking up to 2) and two services losing half of what is behind
    # them, never slashed in expectation: A pays 10 %/yr, B 5 %/yr.
    # Unconstrained: all of it behind both, reward 1.5, and the worst case is 5 (k = 1: the
    # larger service loss) or 10 (k = 2: both). The middle of 3 points halves that limit:
    # - k = 1, limit 2.5: each 5 x_s <= 2.5, so x = (0.5, 0.5), reward 0.5 + 0.25 = 0.75;
    # - k = 2, limit 5: 5 x_A + 5 x_B <= 5, the better A takes it all, reward 1.0.
    book = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a"], "holder": ["a"], "asset": ["ETH"],
                             "amount": [10.0], "max_restaking": [2.0]}),
        services=pd.DataFrame({"service": ["A", "B"], "reward_rate": [0.10, 0.05],
                               "slash_probability": [0.0, 0.0], "slash_fraction": [0.5, 0.5]}),
        parameters={"worst_case_k": k}, name="worst-case")
    points = frontier(book, points=3, risk="portfolio_worst_case").points
    assert points["risk_limit"].tolist() == pytest.approx([0.0, 2.5 * k, 5.0 * k])
    assert points["objective"].tolist() == pytest.approx([0.0, middle_objective, 1.5])


def test_persistent_resolves_equal_rebuilt_solves() -> None:
    result = frontier(_book(), points=5, risk="cvar", compare_rebuild=True)
    points = result.points
    assert points["objective"].tolist() == pytest.approx(points["rebuild_objective"].tolist(),
                                                         rel=1e-7)


def test_frontier_command_files_and_plot(tmp_path: Path) -> None:
    instance = str(INSTANCES / "tiny" / "cvar-limit.toml")
    runner = CliRunner()
    result = runner.invoke(main, ["frontier", instance, "--points", "4", "-o",
                                  str(tmp_path / "f.json"), "--plot", str(tmp_path / "f.png")])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "f.json").read_text())
    assert len(data["points"]) == 4 and data["allocations"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_refusal(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(main, ["frontier", str(INSTANCES / "tiny" / "cvar-limit.toml"),
                                       "--plot", str(tmp_path / "f.png")])
    assert result.exit_code == 2 and "pip install" in result.stderr
    assert not (tmp_path / "f.png").exists()


def test_progress_is_silent_off_a_terminal(capsys) -> None:
    from optimizer.analysis.progress import progress

    assert list(progress(range(3), 3, "points")) == [0, 1, 2]
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal


def test_frontier_starts_at_the_least_feasible_risk() -> None:
    from optimizer.instance.generate import generate_instance

    instance = generate_instance(60, 10, seed=2, required=2)
    result = frontier(instance, points=4, risk="expected_loss")
    points = result.points
    assert (points["status"] == "optimal").all()  # no point below what is forced
    assert points.loc[0, "risk_limit"] > 0
    assert points.loc[0, "expected_loss"] == pytest.approx(points.loc[0, "risk_limit"],
                                                           rel=1e-6)


def test_expected_loss_frontier_without_any_loss_is_a_clear_refusal(tmp_path) -> None:
    import optimizer as api
    from optimizer.analysis.frontier import frontier as trace

    instance = api.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a"], "holder": ["a"], "asset": ["ETH"],
                             "amount": [10.0]}),
        services=pd.DataFrame({"service": ["s"], "reward_rate": [0.05]}), name="no-loss")
    with pytest.raises(api.InstanceError, match="no expected-loss frontier"):
        trace(instance, points=3, risk="expected_loss")
