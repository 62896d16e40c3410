"""The evaluator recomputes metrics by hand and flags each broken limit."""

from __future__ import annotations

import pandas as pd
import pytest

import optimizer

from .conftest import INSTANCES


def alloc(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["stake", "service", "fraction"])


def families(evaluation: optimizer.Evaluation) -> set[str]:
    return {v.constraint for v in evaluation.violations}


def test_metrics_by_hand() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    # Value 100: a at 0.1 and b at 0.5: reward 100 (0.1 x 0.08 + 0.5 x 0.05) = 3.3,
    # loss 100 (0.1 x 0.01 + 0.5 x 0.002) = 0.2, loss fraction 0.002 = budget (feasible).
    evaluation = optimizer.evaluate(instance, alloc(("vault-steth", "a", 0.1),
                                                    ("vault-steth", "b", 0.5)))
    assert evaluation.reward == pytest.approx(3.3)
    assert evaluation.expected_loss == pytest.approx(0.2)
    assert evaluation.objective == pytest.approx(3.1)
    assert evaluation.violations == []
    stake = evaluation.stakes.set_index("stake").loc["vault-steth"]
    assert stake["allocated_fraction"] == pytest.approx(0.6)
    assert stake["worst_case_loss"] == pytest.approx(100 * 0.5 * 0.2)  # k = 1: b, f 0.2 x 0.5
    assert stake["net_apr"] == pytest.approx(0.031)


def test_expected_loss_budget_violation() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    evaluation = optimizer.evaluate(instance, alloc(("vault-steth", "a", 1.0)))
    assert families(evaluation) == {"expected_loss_budget"}
    (violation,) = evaluation.violations
    assert violation.where == "stake vault-steth"
    assert violation.value == pytest.approx(0.01) and violation.limit == pytest.approx(0.002)


def test_restaking_degree_and_bounds_violations() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    evaluation = optimizer.evaluate(instance, alloc(("vault-steth", "c", 1.2)))
    assert families(evaluation) == {"restaking_degree", "allocation_bounds"}


def test_worst_case_violation_counts_k_largest() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "worstcase.toml")
    # Loads 0.5 x 0.4 = 0.2 and 0.3 x 0.5 = 0.15: the two largest sum to 0.35 > 0.3.
    evaluation = optimizer.evaluate(instance, alloc(("op", "s1", 0.4), ("op", "s2", 0.5)))
    assert families(evaluation) == {"worst_case_budget"}
    assert evaluation.violations[0].value == pytest.approx(0.35)
    fine = optimizer.evaluate(instance, alloc(("op", "s1", 0.3), ("op", "s2", 0.5),
                                              ("op", "s3", 0.75), ("op", "s4", 1.0)))
    assert fine.violations == []
    assert fine.objective == pytest.approx(93.0)


@pytest.mark.parametrize(("file", "rows", "family"), [
    ("tiny/capacity.toml", None, "service_capacity"),
    ("tiny/group-exposure.toml", None, "group_exposure"),
    ("tiny/holder-concentration.toml", None, "holder_concentration"),
])
def test_family_violation_is_found(file: str, rows: None, family: str) -> None:
    instance = optimizer.load_instance(INSTANCES / file)
    # Everything everywhere: every stake at its per-service cap on every eligible service.
    pairs = instance.pairs
    caps = instance.stakes["max_per_service"].reindex(pairs["stake"]).to_numpy()
    everything = pd.DataFrame({"stake": pairs["stake"], "service": pairs["service"],
                               "fraction": caps})
    assert family in families(optimizer.evaluate(instance, everything))


def test_required_minimum_and_eligibility_violations() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "infeasible-required.toml")
    evaluation = optimizer.evaluate(instance, alloc(("b-eigen", "da", 1.0)))
    assert families(evaluation) == {"min_security", "eligibility"}


def test_unknown_ids_are_refused() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    with pytest.raises(ValueError, match="stake 'nope'"):
        optimizer.evaluate(instance, alloc(("nope", "a", 0.1)))
    with pytest.raises(ValueError, match="repeats"):
        optimizer.evaluate(instance, alloc(("vault-steth", "a", 0.1), ("vault-steth", "a", 0.1)))


def test_non_finite_fraction_is_refused() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    with pytest.raises(ValueError, match="not a finite number"):
        optimizer.evaluate(instance, alloc(("vault-steth", "a", float("nan"))))
