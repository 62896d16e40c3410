"""Regressions found in review, each with the smallest instance that showed it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import optimizer

DATA = Path(__file__).parent / "data"


def test_mip_presolve_does_not_lose_the_optimum() -> None:
    # HiGHS 1.15.1's MIP presolve (rules 12 and 15) returned 5.5046 here, consistent with
    # its own bound; without presolve, and by an independent scipy MILP, it is 6.37546.
    instance = optimizer.load_instance(DATA / "presolve-regression.toml")
    result = optimizer.solve(instance)
    reference = optimizer.solve(instance, presolve="off")
    assert result.status == reference.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(6.37546, rel=1e-4)
    assert result.objective == pytest.approx(reference.objective, rel=1e-6)


def test_presolve_cannot_call_a_feasible_lp_infeasible() -> None:
    # HiGHS 1.15 and 1.16's presolve calls this LP infeasible although x = 0 meets every
    # limit (the fractional knapsack with s2's slash probability at 0.0320001); without
    # presolve it is solved. A solve confirms an infeasibility with presolve off.
    instance = optimizer.load_instance(DATA.parent.parent / "instances" / "tiny"
                                       / "fractional-knapsack.toml")
    services = instance.services.copy()
    services.loc["s2", "slash_probability"] = 0.0320001
    moved = instance.with_changes(services=services)
    result = optimizer.solve(moved, binding=False)
    reference = optimizer.solve(moved, binding=False, presolve="off")
    assert result.status == reference.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(reference.objective, rel=1e-9)


def test_rounding_does_not_make_a_minimum_unreachable() -> None:
    # 0.7 + 0.1 is 0.7999999999999999 in floating point: still enough for a minimum of 0.8.
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a", "b"], "holder": ["a", "b"], "asset": "ETH",
                             "amount": [0.7, 0.1]}),
        services=pd.DataFrame({"service": ["s"], "reward_rate": [0.05],
                               "min_security": [0.8]}),
        name="rounding")
    assert optimizer.solve(instance).objective == pytest.approx(0.04)


def test_stranded_current_allocation_over_the_limit_is_infeasible() -> None:
    # The only service no longer accepts the stake's asset: 50 is moved whatever happens.
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH", "BTC"], "price": [1.0, 1.0]}),
        stakes=pd.DataFrame({"stake": ["a"], "holder": ["a"], "asset": ["ETH"],
                             "amount": [100.0]}),
        services=pd.DataFrame({"service": ["s"], "reward_rate": [0.05], "accepts": [["BTC"]]}),
        current=pd.DataFrame({"stake": ["a"], "service": ["s"], "fraction": [0.5]}),
        parameters={"turnover_limit": 10.0}, name="stranded")
    result = optimizer.solve(instance)
    assert result.status == "infeasible" and "turnover_limit" in " ".join(result.explanation)
