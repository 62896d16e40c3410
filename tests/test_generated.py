"""Generated instances: every solution passes the evaluator and matches an independent LP."""

from __future__ import annotations

import pytest

import optimizer
from optimizer.instance.generate import generate_instance

from .direct_lp import direct_optimum

CASES = [
    # stakes, services, seed, options
    (12, 5, 0, {}),
    (40, 8, 1, {"worst_case_k": 2}),
    (60, 10, 2, {"holder_share": True, "required": 2}),
    (80, 12, 3, {"worst_case_k": 3, "density": 0.6, "required": 1}),
    (150, 20, 4, {"holder_share": True, "worst_case_k": 2, "density": 0.2}),
    (200, 15, 5, {"groups": False, "capacities": False, "density": 1.0}),
    (40, 8, 6, {"min_security": 0.4, "corruption": True, "required": 1}),
    (40, 8, 7, {"opt_in": True, "required": 1}),
    (50, 10, 8, {"cvar": "limit", "scenarios": 100, "required": 1}),
    (50, 10, 9, {"cvar": "aversion", "scenarios": 100}),
    (50, 10, 10, {"turnover": True, "required": 1}),
    (30, 6, 11, {"opt_in": True, "min_security": 0.3, "cvar": "limit", "turnover": True,
                 "corruption": True, "required": 1, "worst_case_k": 2, "scenarios": 50}),
]


@pytest.mark.parametrize(("stakes", "services", "seed", "options"), CASES)
def test_generated_solution_is_feasible_and_optimal(stakes: int, services: int, seed: int,
                                                    options: dict) -> None:
    instance = generate_instance(stakes, services, seed=seed, **options)
    result = optimizer.solve(instance)
    assert result.status == "optimal"
    assert result.violations == []
    assert optimizer.evaluate(instance, result.allocation).violations == []
    assert result.model_objective == pytest.approx(result.objective, rel=1e-7)
    assert result.objective == pytest.approx(direct_optimum(instance), rel=1e-6)


def test_generated_instances_are_deterministic() -> None:
    first = generate_instance(50, 10, seed=7, holder_share=True, required=2)
    second = generate_instance(50, 10, seed=7, holder_share=True, required=2)
    for table in ("assets", "stakes", "services", "groups"):
        assert getattr(first, table).equals(getattr(second, table))
    other = generate_instance(50, 10, seed=8, holder_share=True, required=2)
    assert not first.stakes.equals(other.stakes)


def test_generated_density_is_near_target() -> None:
    instance = generate_instance(2000, 50, seed=3, density=0.3)
    density = len(instance.pairs) / (2000 * 50)
    assert 0.2 < density < 0.4


def test_solve_is_repeatable_bit_for_bit() -> None:
    instance = generate_instance(100, 12, seed=11, worst_case_k=2)
    first = optimizer.solve(instance).allocation
    second = optimizer.solve(instance).allocation
    assert first.equals(second)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_family_at_once_solves_to_proven_optimality(seed: int) -> None:
    # Pools, semi-continuous minima, corruption, opt-in, CVaR, turnover, required services,
    # holder shares and k = 2, all in one instance.
    from optimizer.cli import ALL_FEATURES

    instance = generate_instance(60, 12, seed=seed, scenarios=100, **ALL_FEATURES)
    result = optimizer.solve(instance, mip_rel_gap=0.0)
    assert result.status == "optimal" and result.is_mip
    assert result.violations == []
    assert result.gap <= 1e-4  # only the certified pool tolerance remains
    assert result.cvar is not None and result.turnover_cost > 0


def test_milp_at_time_limit_returns_its_incumbent_with_bound() -> None:
    # Hard enough that 2 s does not prove optimality on this machine class; the empty
    # allocation is feasible, so HiGHS always has an incumbent to return.
    instance = generate_instance(600, 40, seed=3, opt_in=True, min_security=0.5)
    result = optimizer.solve(instance, time_limit=2.0)
    assert result.violations == []
    if result.status == "feasible":
        assert result.termination == "time_limit" and result.exit_code == 0
        assert result.bound >= result.objective and result.gap > 0
        assert any("may not be optimal" in w for w in result.warnings)
    else:  # a machine fast enough to prove it within the limit
        assert result.status == "optimal"
