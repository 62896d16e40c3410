"""The restaking-graph security report (Durvasula and Roughgarden's condition)."""

from __future__ import annotations

import pandas as pd
import pytest

import optimizer
from optimizer.analysis.security import security_report


def _graph(values: list[float], services: pd.DataFrame, allocation: list[tuple]) -> tuple:
    stakes = pd.DataFrame({"stake": [f"v{i}" for i in range(len(values))],
                           "holder": [f"v{i}" for i in range(len(values))],
                           "asset": "ETH", "amount": values, "max_restaking": 2.0})
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}), stakes=stakes,
        services=services, name="graph")
    frame = pd.DataFrame(allocation, columns=["stake", "service", "fraction"])
    return security_report(instance, frame)


@pytest.mark.parametrize("e", [0.1, 0.25, 0.5])
def test_theorem_2_example_holds_with_equality(e: float) -> None:
    # One service (profit 1, threshold 1, everything slashable); stakes e and 1 - e.
    services = pd.DataFrame({"service": ["s"], "profit_from_corruption": [1.0],
                             "attack_threshold": [1.0], "slash_fraction": [1.0]})
    service_table, holders = _graph([e, 1 - e], services, [("v0", "s", 1.0), ("v1", "s", 1.0)])
    assert holders["condition"].tolist() == pytest.approx([1.0, 1.0])
    assert holders["holds"].all()
    assert service_table["coverage"].iloc[0] == pytest.approx(1.0)
    assert bool(service_table["secure"].iloc[0])


def test_shared_holder_fails_the_condition() -> None:
    # v0 restakes 1 into both services; v1 adds 1 to s1 only. sigma = (2, 1), alpha 1/2:
    # terms 1 / (0.5 x 2) = 1 and 1 / (0.5 x 1) = 2, so v0 sums 3 > 1 and v1 sums 1.
    services = pd.DataFrame({"service": ["s1", "s2"], "profit_from_corruption": [1.0, 1.0],
                             "attack_threshold": [0.5, 0.5], "slash_fraction": [1.0, 1.0]})
    service_table, holders = _graph(
        [1.0, 1.0], services, [("v0", "s1", 1.0), ("v0", "s2", 1.0), ("v1", "s1", 1.0)])
    by_holder = holders.set_index("holder")
    assert by_holder.loc["v0", "condition"] == pytest.approx(3.0)
    assert not by_holder.loc["v0", "holds"] and by_holder.loc["v0", "worst_service"] == "s2"
    assert by_holder.loc["v1", "condition"] == pytest.approx(1.0) and by_holder.loc["v1", "holds"]
    assert service_table.set_index("service")["secure"].to_dict() == {"s1": True, "s2": False}
