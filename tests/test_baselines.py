"""Baselines: evaluated by the same evaluator, never better than the optimum when feasible."""

from __future__ import annotations

import pytest

import optimizer
from optimizer.analysis.baselines import BASELINES, baseline_allocation, compare
from optimizer.instance.generate import generate_instance

from .conftest import INSTANCES


def test_knapsack_baselines_by_hand() -> None:
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    equal = baseline_allocation(instance, "equal").set_index("service")["fraction"]
    assert equal.to_dict() == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    pro_rata = baseline_allocation(instance, "pro_rata").set_index("service")["fraction"]
    assert pro_rata.to_dict() == pytest.approx({"a": 0.5, "b": 0.3125, "c": 0.1875})
    # Greedy: a first (net 0.07) up to the loss budget 0.002 / 0.01 = 0.2, then b (0.048)
    # has no budget left (0.002 per unit), then c (0.03, no loss) takes the remaining 0.8.
    greedy = baseline_allocation(instance, "greedy").set_index("service")["fraction"]
    assert greedy.to_dict() == pytest.approx({"a": 0.2, "b": 0.0, "c": 0.8})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimizer_beats_every_feasible_baseline(seed: int) -> None:
    instance = generate_instance(80, 10, seed=seed, worst_case_k=2)
    result = optimizer.solve(instance)
    table = compare(instance, optimizer.evaluate(instance, result.allocation))
    assert list(table["allocation"]) == ["optimizer", *BASELINES]
    assert table.loc[0, "violations"] == 0
    greedy = table.set_index("allocation").loc["greedy"]
    assert greedy["violations"] == 0  # greedy respects the limits it knows
    for _, row in table.iterrows():
        if row["violations"] == 0:
            assert row["objective"] <= table.loc[0, "objective"] + 1e-9
    broken = table[table["violations"] > 0]
    assert (broken["breaks"] != "").all()
