"""Pool rewards: the chord under-estimate, its error bound and the certified tolerance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.model.rewards import chord_error, pool_breakpoints

from .conftest import INSTANCES


def pool(x: np.ndarray, reward: float, external: float) -> np.ndarray:
    return reward * x / (external + x)


def test_contract_pools_closed_form() -> None:
    # Marginals R E / (E + X)^2 equal across the pools: (2 + x1) = sqrt(2) (2 + x2).
    x1 = 14 * math.sqrt(2) / (1 + math.sqrt(2)) - 2
    x2 = 10 - x1
    exact = 6 * x1 / (2 + x1) + 3 * x2 / (2 + x2)
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "contract" / "pools.toml"))
    assert result.status == "optimal"
    assert result.objective == pytest.approx(exact, rel=1e-4)
    assert result.objective <= exact + 1e-12  # an allocation can never beat the optimum
    assert result.model_objective <= result.objective + 1e-12  # chords never over-state
    assert result.gap <= 1e-4 and result.bound >= exact - 1e-12
    split = result.allocation.set_index("service")["fraction"]
    assert split["p1"] == pytest.approx(x1 / 10, abs=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_chord_error_bound_holds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reward, external, upper = rng.uniform(1, 100), rng.uniform(1, 1000), rng.uniform(1, 5000)
    error = 10 ** rng.uniform(-6, -2) * reward
    points = pool_breakpoints(reward, external, upper, error)
    assert points[0] == 0 and points[-1] == pytest.approx(upper)
    grid = np.linspace(0, upper, 20001)
    chords = np.interp(grid, points, pool(points, reward, external))
    worst = float(np.max(pool(grid, reward, external) - chords))
    assert worst >= -1e-9  # an under-estimate
    assert worst <= chord_error(reward, external, points) + 1e-9 <= error * (1 + 1e-9) + 1e-9


def _mixed_instance() -> optimizer.Instance:
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH", "EIGEN"], "price": [1.0, 0.001]}),
        stakes=pd.DataFrame({"stake": ["a", "b"], "holder": ["a", "b"], "asset": ["ETH", "EIGEN"],
                             "amount": [300.0, 150000.0], "max_per_service": [0.6, 1.0],
                             "max_restaking": [1.0, 2.0]}),
        services=pd.DataFrame({
            "service": ["p1", "p2", "p3", "fixed"],
            "reward_pool": [20.0, 8.0, 5.0, 0.0], "external_stake": [200.0, 50.0, 400.0, 0.0],
            "reward_rate": [0.0, 0.01, 0.0, 0.025],
            "slash_probability": [0.01, 0.0, 0.02, 0.0], "slash_fraction": [0.5, 0.0, 0.5, 0.0],
            "capacity": [np.nan, 120.0, np.nan, np.nan]}),
        name="mixed-pools")


def _fine_optimum(instance: optimizer.Instance, points: int = 4001) -> float:
    """An independent LP with uniform, very fine chords: a lower bound within 1e-6."""
    import scipy.optimize
    import scipy.sparse as sp

    pairs = instance.pairs
    n = len(pairs)
    services = instance.services
    value = instance.stake_value.to_numpy()[pairs["stake_pos"]]
    s_of = pairs["service_pos"].to_numpy()
    rate = (services["reward_rate"] - services["slash_probability"]
            * services["slash_fraction"]).to_numpy()[s_of]
    n_s = len(services)
    cost = np.concatenate([-rate * value, -np.ones(n_s)])  # x then rho
    rows, cols, vals, rhs = [], [], [], []
    r = 0
    for i, (_, stake) in enumerate(instance.stakes.iterrows()):
        mine = np.flatnonzero(pairs["stake_pos"].to_numpy() == i)
        rows += [r] * len(mine)
        cols += mine.tolist()
        vals += [1.0] * len(mine)
        rhs.append(stake["max_restaking"])
        r += 1
    for s in range(n_s):
        mine = np.flatnonzero(s_of == s)
        cap = services["capacity"].iloc[s]
        if not np.isnan(cap):
            rows += [r] * len(mine)
            cols += mine.tolist()
            vals += value[mine].tolist()
            rhs.append(cap)
            r += 1
        reward, external = services["reward_pool"].iloc[s], services["external_stake"].iloc[s]
        if reward > 0:
            top = float(value[mine].sum())
            grid = np.linspace(0, top, points)
            g = pool(grid, reward, external)
            for k in range(points - 1):
                slope = (g[k + 1] - g[k]) / (grid[k + 1] - grid[k])
                rows += [r] * (len(mine) + 1)
                cols += [*mine.tolist(), n + s]
                vals += [*(-slope * value[mine]).tolist(), 1.0]
                rhs.append(g[k] - slope * grid[k])
                r += 1
        else:
            rows.append(r)
            cols.append(n + s)
            vals.append(1.0)
            rhs.append(0.0)
            r += 1
    upper = instance.stakes["max_per_service"].to_numpy()[pairs["stake_pos"]]
    bounds = [(0, u) for u in upper] + [(0, None)] * n_s
    solution = scipy.optimize.linprog(cost, A_ub=sp.csr_array((vals, (rows, cols)),
                                                              shape=(r, n + n_s)),
                                      b_ub=rhs, bounds=bounds, method="highs")
    assert solution.status == 0
    return -float(solution.fun)


def test_mixed_pools_match_an_independent_fine_solve() -> None:
    instance = _mixed_instance()
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.violations == []
    fine = _fine_optimum(instance)
    # fine is a lower bound on the exact optimum, within about 1e-6 of it.
    assert result.objective >= fine * (1 - 1e-4)
    assert result.objective <= fine * (1 + 1e-5)
    assert result.gap <= 1e-4


def test_tighter_tolerance_refines() -> None:
    instance = _mixed_instance()
    loose = optimizer.solve(instance, pool_tolerance=1e-2)
    tight = optimizer.solve(instance, pool_tolerance=1e-6)
    assert tight.gap <= 1e-6 and loose.gap <= 1e-2
    assert tight.objective >= loose.objective - 1e-9 * abs(loose.objective)


def test_refinements_run_out_report_the_solved_models_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # With no refinement allowed, a tolerance the default chords cannot certify runs the
    # refinements out after one solve. The bound reported must be that solved model's
    # bound plus its own chord errors (a valid bound on the exact optimum), not the
    # smaller errors of a finer model that was never solved.
    import optimizer.pipeline as pipeline

    instance = _mixed_instance()
    monkeypatch.setattr(pipeline, "POOL_REFINEMENTS", 0)
    built = pipeline.build(instance)
    result = pipeline.solve_built(built, pool_tolerance=1e-7)
    assert result.status == "optimal" and result.violations == []
    assert result.bound == pytest.approx(result.model_objective
                                         + sum(built.pool_errors.values()), rel=1e-12)
    fine = _fine_optimum(instance)  # within about 1e-6 below the exact optimum
    assert result.bound >= fine
    assert result.gap > 1e-7
    assert any("after 0 refinements" in w for w in result.warnings)


def test_best_allocation_across_refinements_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make every finer model's allocation worse on purpose (its solve returns nothing
    # usable): the first allocation found must come back, with the bound it proved.
    import optimizer.pipeline as pipeline

    instance = _mixed_instance()
    real = pipeline._solve_and_evaluate
    calls: list[int] = []

    def first_only(built, settings, timings):  # type: ignore[no-untyped-def]
        outcome, evaluation = real(built, settings, timings)
        calls.append(1)
        if len(calls) > 1:  # the refined models "stop at a limit" without an allocation
            from dataclasses import replace
            outcome = replace(outcome, status="error", termination="time_limit", x=None,
                              objective=None, bound=None, gap=None)
        return outcome, evaluation

    monkeypatch.setattr(pipeline, "_solve_and_evaluate", first_only)
    result = pipeline.solve(instance, pool_tolerance=1e-7)
    assert len(calls) > 1
    assert result.status == "optimal" and result.objective is not None
    assert result.bound is not None and result.bound >= _fine_optimum(instance)
