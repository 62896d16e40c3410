"""Known optima: every shipped hand-derived and realistic instance, at tight tolerance."""

from __future__ import annotations

import pytest

import optimizer

from .conftest import INSTANCES, instance_index
from .direct_lp import direct_optimum

ROWS = instance_index()
SOLVABLE = [r for r in ROWS if r["class"] in ("LP", "MILP")]
INFEASIBLE = [r for r in ROWS if r["class"] == "infeasible"]
POOLS = [r for r in ROWS if r["class"] == "LP (pool rewards)"]


@pytest.mark.parametrize("row", SOLVABLE, ids=[r["file"] for r in SOLVABLE])
def test_optimum_matches_derivation(row: dict[str, str]) -> None:
    instance = optimizer.load_instance(INSTANCES / row["file"])
    result = optimizer.solve(instance)
    assert result.status == "optimal"
    expected = float(row["optimal_objective"])
    assert result.objective == pytest.approx(expected, rel=1e-7, abs=1e-9)
    # The evaluator's objective and the model's agree, and nothing is violated.
    assert result.model_objective == pytest.approx(result.objective, rel=1e-9, abs=1e-9)
    assert result.violations == []
    assert optimizer.evaluate(instance, result.allocation).violations == []
    size = instance.size()
    assert (size["stakes"], size["services"], size["pairs"]) == (
        int(row["stakes"]), int(row["services"]), int(row["pairs"]))
    # And an independent formulation, without Pyomo or the model's reductions, agrees.
    assert direct_optimum(instance) == pytest.approx(expected, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("row", INFEASIBLE, ids=[r["file"] for r in INFEASIBLE])
def test_infeasible_is_explained(row: dict[str, str]) -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / row["file"]))
    assert result.status == "infeasible"
    assert result.exit_code == 1
    assert result.explanation
    assert any(words in result.explanation[0]
               for words in ("requires", "must stay within", "must put at least"))
    with pytest.raises(optimizer.InfeasibleError):
        result.raise_for_status()


@pytest.mark.parametrize("row", POOLS, ids=[r["file"] for r in POOLS])
def test_pool_instances_within_tolerance(row: dict[str, str]) -> None:
    # The index gives these optima to 5 decimals; the exact objective must be within the
    # pool tolerance (1e-4 relative) of them and no better than the true optimum allows.
    result = optimizer.solve(optimizer.load_instance(INSTANCES / row["file"]))
    assert result.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(float(row["optimal_objective"]), rel=1e-4)


def test_contract_infeasible_names_service_and_asset() -> None:
    result = optimizer.solve(optimizer.load_instance(
        INSTANCES / "contract" / "infeasible-required.toml"))
    (sentence,) = result.explanation
    assert "service da" in sentence and "5,000 ETH" in sentence and "3,200 ETH" in sentence
    assert "stETH" in sentence


def test_contract_knapsack_allocation() -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml"))
    allocation = result.allocation.set_index("service")["fraction"]
    assert allocation.to_dict() == pytest.approx({"b": 1.0})
    assert result.reward == pytest.approx(5.0) and result.expected_loss == pytest.approx(0.2)


def test_contract_worstcase_allocation() -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "contract" / "worstcase.toml"))
    allocation = result.allocation.set_index("service")["fraction"]
    assert allocation.to_dict() == pytest.approx({"s1": 0.3, "s2": 0.5, "s3": 0.75, "s4": 1.0})
