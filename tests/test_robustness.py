"""restake robustness: draws, re-solves, the nominal allocation out of sample, resampling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer import load_instance
from optimizer.analysis.closest import BINARIES_NOMINAL
from optimizer.analysis.robustness import batch_map, draw_parameters, robustness, serial_map
from optimizer.errors import InstanceError
from optimizer.results.evaluate import allocation_frame, evaluate
from tests.conftest import write_toml

REALISTIC = Path(__file__).parents[1] / "instances/realistic/eigenlayer-symbiotic-2026.toml"


def document(services: list[dict], **stake: float) -> dict:
    """One 100-ETH stake of holder a over ``services`` (each f = 1 unless given)."""
    return {
        "instance": {"name": "robust-draws", "numeraire": "ETH"},
        "assets": [{"asset": "ETH", "price": 1.0}],
        "stakes": [{"stake": "a-eth", "holder": "a", "asset": "ETH", "amount": 100.0,
                    **stake}],
        "services": [{"slash_fraction": 1.0, **service} for service in services],
    }


@pytest.fixture
def fixed(tmp_path: Path) -> Path:
    """Uncertainty that cannot move anything: a zero-width interval and a point-mass prior.

    s1 (net 0.05 - 0.01) and s2 (net 0.03) with max_restaking 2: both taken in full,
    objective 100 x (0.04 + 0.03) = 7 ETH/yr in every draw.
    """
    return write_toml(tmp_path / "fixed.toml", document([
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.01,
         "slash_probability_low": 0.01, "slash_probability_high": 0.01},
        {"service": "s2", "reward_rate": 0.03, "slash_probability": 0.0, "prior_strength": 5.0,
         "reward_rate_low": 0.03, "reward_rate_high": 0.03},
    ], max_restaking=2.0))


@pytest.fixture
def uncertain(tmp_path: Path) -> Path:
    """Slash odds that move the optimum: s1 is better than s2 when p1 < 0.02."""
    return write_toml(tmp_path / "uncertain.toml", document([
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.02,
         "slash_probability_low": 0.0, "slash_probability_high": 0.04},
        {"service": "s2", "reward_rate": 0.03, "slash_probability": 0.0},
        {"service": "s3", "reward_rate": 0.02, "slash_probability": 0.01, "prior_strength": 10.0},
    ]))


def test_degenerate_uncertainty_gives_the_nominal_optimum_every_time(fixed: Path) -> None:
    result = robustness(load_instance(fixed), draws=5, seed=3)
    assert result.nominal_objective == pytest.approx(7.0, abs=1e-9)
    assert (result.table["status"] == "optimal").all()
    np.testing.assert_allclose(result.table["objective"], 7.0, atol=1e-9)
    np.testing.assert_allclose(result.table["nominal_objective"], 7.0, atol=1e-9)
    assert (result.table["broken"] == 0).all()
    np.testing.assert_allclose(result.parameters["slash_probability"],
                               np.tile([0.01, 0.0], 5))
    # The average of the draws is the nominal optimum, feasible: it is returned as it is.
    assert result.resampled.binaries == "not needed"
    np.testing.assert_array_equal(result.resampled.fractions, result.resampled.wanted)
    np.testing.assert_allclose(result.pairs["frequency"], 1.0)


def test_draws_follow_the_prior_and_the_interval(uncertain: Path) -> None:
    instance = load_instance(uncertain)
    slash, reward = draw_parameters(instance, 4000, seed=1)
    assert ((slash[:, 0] >= 0.0) & (slash[:, 0] <= 0.04)).all()
    assert slash[:, 0].mean() == pytest.approx(0.02, abs=1e-3)
    assert (slash[:, 1] == 0.0).all()  # neither prior nor interval: the point value
    assert slash[:, 2].mean() == pytest.approx(0.01, abs=1e-3)  # Beta(0.1, 9.9), mean p
    assert slash[:, 2].var() == pytest.approx(0.01 * 0.99 / 11, rel=0.15)
    assert (reward == instance.services["reward_rate"].to_numpy()).all()


def test_the_same_seed_gives_the_same_result_however_the_draws_run(uncertain: Path) -> None:
    instance = load_instance(uncertain)

    def backwards(task, items):  # every task run, last first: results still in order
        return [task(item) for item in reversed(items)][::-1]

    first = robustness(instance, draws=12, seed=7, map_tasks=serial_map)
    again = robustness(instance, draws=12, seed=7, map_tasks=backwards)
    pd.testing.assert_frame_equal(first.table, again.table)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    assert first.summary() == again.summary()
    batched = robustness(instance, draws=12, seed=7)  # the batch runner, in this process
    np.testing.assert_allclose(batched.table["objective"], first.table["objective"], atol=1e-9)
    other = robustness(instance, draws=12, seed=8, map_tasks=serial_map)
    assert not first.parameters.equals(other.parameters)


# Another local cluster (a parallel test run) may hold Dask's default dashboard port.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_dask_workers_give_the_same_answer_as_the_serial_batch() -> None:
    pytest.importorskip("distributed")
    instance = load_instance(REALISTIC)
    serial = robustness(instance, draws=10, seed=2)
    for workers in (1, 2):
        on_dask = robustness(instance, draws=10, seed=2,
                             map_tasks=batch_map(workers=workers, progress=False))
        pd.testing.assert_frame_equal(serial.table, on_dask.table)
        pd.testing.assert_frame_equal(serial.pairs, on_dask.pairs)


def test_pair_usage_and_the_resampled_allocation(uncertain: Path) -> None:
    instance = load_instance(uncertain)
    result = robustness(instance, draws=30, seed=0)
    solved = int(result.table["objective"].notna().sum())
    assert solved == 30
    pairs = result.pairs
    # One stake, max_restaking 1, three services with positive net: every draw fills the
    # stake with exactly one service (s1 when p1 < 0.02, s2 otherwise; s3 never wins).
    assert pairs["used"].sum() == solved
    assert pairs["frequency"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pairs["frequency"], pairs["used"] / solved)
    assert 0 < pairs.set_index("service").loc["s1", "frequency"] < 1
    assert pairs["mean_fraction"].sum() == pytest.approx(1.0)
    resampled = result.resampled
    assert resampled.violations == []
    checked = evaluate(instance, allocation_frame(instance, resampled.fractions))
    assert checked.feasible
    assert checked.objective == pytest.approx(resampled.objective)
    np.testing.assert_allclose(resampled.fractions, pairs["mean_fraction"])  # was feasible


def test_an_infeasible_average_is_moved_to_the_closest_feasible_allocation() -> None:
    instance = load_instance(REALISTIC)
    result = robustness(instance, draws=20, seed=0)
    resampled = result.resampled
    assert resampled.distance > 0
    assert resampled.binaries in ("none", BINARIES_NOMINAL)
    assert evaluate(instance, allocation_frame(instance, resampled.fractions)).feasible
    assert resampled.objective <= result.nominal_objective + 1e-6


def test_the_closest_allocation_of_a_budget_broken_on_average(tmp_path: Path) -> None:
    # s1 (net 0.05 - p1) fills the stake while p1 <= 0.01 / 1 (max_expected_loss 1%), else
    # 0.01 / p1 of it and the rest to s2; the nominal p1 = 0.02 allows x1 <= 0.5, which the
    # draws' average exceeds. The closest feasible allocation moves x1 to 0.5 and keeps x2.
    path = write_toml(tmp_path / "budget.toml", document([
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.02,
         "slash_probability_low": 0.0, "slash_probability_high": 0.04},
        {"service": "s2", "reward_rate": 0.01, "slash_probability": 0.0},
    ], max_expected_loss=0.01))
    instance = load_instance(path)
    result = robustness(instance, draws=20, seed=0)
    pairs = result.pairs.set_index("service")
    assert pairs.loc["s1", "mean_fraction"] > 0.5
    assert pairs.loc["s1", "resampled_fraction"] == pytest.approx(0.5, abs=1e-7)
    assert pairs.loc["s2", "resampled_fraction"] == pytest.approx(pairs.loc["s2", "mean_fraction"],
                                                                  abs=1e-7)
    assert result.resampled.binaries == "none"
    assert result.resampled.violations == []
    moved = 100 * (pairs.loc["s1", "mean_fraction"] - 0.5)
    assert result.resampled.distance == pytest.approx(moved, abs=1e-5)


def test_binaries_are_fixed_at_the_nominal_optimum(tmp_path: Path) -> None:
    # avs pays net 0.05 - p, base 0.02: the nominal (p = 0.05) stays out of avs, the draws
    # with p < 0.03 take it in full; their average is below avs's 50-ETH minimum.
    path = write_toml(tmp_path / "opt-in.toml", document([
        {"service": "avs", "reward_rate": 0.05, "slash_probability": 0.05,
         "slash_probability_low": 0.0, "slash_probability_high": 0.1, "min_allocation": 50.0},
        {"service": "base", "reward_rate": 0.02, "slash_probability": 0.0},
    ]))
    instance = load_instance(path)
    result = robustness(instance, draws=10, seed=0)
    avs = result.pairs.set_index("service").loc["avs"]
    assert 0 < avs["mean_fraction"] < 0.5
    assert result.resampled.binaries == BINARIES_NOMINAL
    assert avs["resampled_fraction"] == pytest.approx(0.0, abs=1e-9)
    assert result.resampled.violations == []


def test_an_instance_without_uncertainty_is_refused(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "plain.toml", document([
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.01}]))
    with pytest.raises(InstanceError, match="prior_strength"):
        robustness(load_instance(path), draws=3)


def restake(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *arguments],
                          capture_output=True, text=True, check=False)


def test_cli_prints_the_summary_and_writes_its_files(uncertain: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = restake("robustness", str(uncertain), "--draws", "6", "--workers", "0", "--output",
                  str(out))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("instance   robust-draws: 6 draws (seed 0), 6 solved\n")
    assert "resampled  nominal objective" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["summary.json", "draws.csv", "parameters.csv", "pairs.csv", "resampled.csv"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["draws"] == 6 and summary["resampled"]["violations"] == []
    assert len(pd.read_csv(out / "draws.csv")) == 6
    assert len(pd.read_csv(out / "parameters.csv")) == 18
    as_json = restake("robustness", str(uncertain), "--draws", "6", "--workers", "0", "--json",
                      "--quiet")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == summary


def test_cli_exits_2_without_uncertainty(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "plain.toml", document([
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.01}]))
    run = restake("robustness", str(path), "--draws", "3", "--workers", "0")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "slash_probability_low" in run.stderr and "prior_strength" in run.stderr


def test_cli_writes_the_plot(uncertain: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "robustness.png"
    run = restake("robustness", str(uncertain), "--draws", "8", "--workers", "0", "--plot",
                  str(png), "-q")
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
