"""The efficient frontier: one persistent model, answers equal to rebuilding."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer.analysis.frontier import frontier
from optimizer.cli import main

from .conftest import INSTANCES
from .test_tail_risk import _book


@pytest.mark.parametrize("risk", ["cvar", "expected_loss"])
def test_frontier_is_monotone_and_meets_its_limits(risk: str) -> None:
    result = frontier(_book(), points=6, risk=risk)
    points = result.points
    assert (points["status"] == "optimal").all()
    assert points["objective"].is_monotonic_increasing
    assert (points[risk] <= points["risk_limit"] * (1 + 1e-6) + 1e-9).all()
    assert points.loc[0, risk] == pytest.approx(0.0, abs=1e-9)
    assert set(result.allocations["point"]) <= set(points["point"])


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
