"""The Python API for embedding: frames in, frames out, typed errors, duals."""

from __future__ import annotations

import pandas as pd
import pytest

import optimizer

from .conftest import INSTANCES


def test_from_frames_solve_and_frames_out() -> None:
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["stETH"], "price": [2.0]}).set_index("asset"),
        stakes=pd.DataFrame({"stake": ["vault-steth"], "holder": ["vault"],
                             "asset": ["stETH"], "amount": [50.0],
                             "max_expected_loss": [0.002]}),
        services=pd.DataFrame({"service": ["a", "b", "c"], "reward_rate": [0.08, 0.05, 0.03],
                               "slash_probability": [0.02, 0.01, 0.0],
                               "slash_fraction": [0.5, 0.2, 0.0]}),
        name="knapsack-frames")
    result = optimizer.solve(instance, threads=1, random_seed=4)
    assert result.raise_for_status() is result
    assert result.objective == pytest.approx(4.8)
    assert list(result.allocation.columns) == ["stake", "holder", "service", "asset",
                                               "fraction", "amount", "value"]
    assert result.options["random_seed"] == 4 and result.options["threads"] == 1
    table = optimizer.allocation_table(result)
    assert table.loc["vault-steth", "b"] == pytest.approx(1.0)


def test_duals_are_prices_of_the_limits() -> None:
    # From the derivation: budget prices 3 (a-eth, V = 100) and 1.4 (b-reth, V = 220) per unit
    # of loss value, so 300 and 308 ETH/yr per unit of budget fraction.
    result = optimizer.solve(optimizer.load_instance(
        INSTANCES / "tiny" / "fractional-knapsack.toml"))
    assert result.duals["expected_loss_budget"] == pytest.approx({0: 300.0, 1: 308.0})


def test_result_files(tmp_path) -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml"))
    result.to_dir(tmp_path / "out")
    written = pd.read_csv(tmp_path / "out" / "allocation.csv")
    pd.testing.assert_frame_equal(written, result.allocation.reset_index(drop=True),
                                  check_dtype=False)


def test_options_are_checked() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    with pytest.raises(ValueError, match="time_limit"):
        optimizer.solve(instance, time_limit=0)
    with pytest.raises(TypeError):
        optimizer.solve(instance, not_an_option=1)


def test_time_limit_without_incumbent_is_an_error_status() -> None:
    from optimizer.solve.status import status_of

    assert status_of("time_limit", has_feasible_solution=True) == "feasible"
    assert status_of("time_limit", has_feasible_solution=False) == "error"
    assert status_of("unbounded", has_feasible_solution=False) == "unbounded"
