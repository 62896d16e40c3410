"""Known optima: every shipped hand-derived and realistic instance, at tight tolerance."""

from __future__ import annotations

import pytest

import optimizer
from optimizer.errors import UnsupportedFeatureError

from .conftest import INSTANCES, instance_index
from .direct_lp import direct_optimum

ROWS = instance_index()
SOLVABLE = [r for r in ROWS if r["class"] == "LP"]
INFEASIBLE = [r for r in ROWS if r["class"] == "infeasible"]
LATER = [r for r in ROWS if r["class"] not in ("LP", "infeasible")]


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
    assert all("requires" in sentence for sentence in result.explanation)
    with pytest.raises(optimizer.InfeasibleError):
        result.raise_for_status()


@pytest.mark.parametrize("row", LATER, ids=[r["file"] for r in LATER])
def test_later_features_are_refused_not_ignored(row: dict[str, str]) -> None:
    instance = optimizer.load_instance(INSTANCES / row["file"])
    with pytest.raises(UnsupportedFeatureError, match="not supported yet"):
        optimizer.solve(instance)


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
