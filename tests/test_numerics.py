"""Numerical robustness: the same book in ETH and in wei gives the same answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.cli import ALL_FEATURES
from optimizer.instance.generate import generate_instance
from optimizer.model.scaling import SERVICE_VALUES

from .conftest import INSTANCES
from .direct_lp import direct_optimum

WEI = 1e18


def in_numeraire_units(instance: optimizer.Instance, factor: float) -> optimizer.Instance:
    """The same instance with its numeraire divided into ``factor`` units (ETH -> wei)."""
    services = instance.services.copy()
    for column in SERVICE_VALUES:
        services[column] = services[column] * factor
    parameters = instance.parameters
    parameters = replace(parameters, **{
        key: getattr(parameters, key) * factor for key in ("cvar_limit", "turnover_limit")
        if getattr(parameters, key) is not None})
    return optimizer.Instance.from_frames(
        assets=instance.assets.assign(price=instance.assets["price"] * factor),
        holders=instance.holders, stakes=instance.stakes, services=services,
        groups=instance.groups, eligibility=instance.eligibility,
        scenarios=instance.scenarios, current=instance.current,
        parameters=vars(parameters), name=instance.name, numeraire="wei")


@pytest.mark.parametrize("instance", [
    optimizer.load_instance(INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml"),
    generate_instance(40, 8, seed=4, scenarios=50,
                      **{**ALL_FEATURES, "pools": 0.0}),
], ids=["realistic", "generated-milp"])
def test_wei_numeraire_gives_the_same_allocation(instance: optimizer.Instance) -> None:
    eth = optimizer.solve(instance, mip_rel_gap=0.0)
    wei = optimizer.solve(in_numeraire_units(instance, WEI), mip_rel_gap=0.0)
    assert eth.status == wei.status == "optimal"
    assert wei.violations == []
    assert wei.objective == pytest.approx(eth.objective * WEI, rel=1e-9)
    assert wei.model_objective == pytest.approx(wei.objective, rel=1e-7)
    # Optimal allocations may tie (equal stakes can share a capacity either way); the value
    # behind each service is what both solves must agree on.
    if instance.name == "eigenlayer-symbiotic-2026":  # unique per service, derived
        np.testing.assert_allclose(wei.services["security"].to_numpy(),
                                   eth.services["security"].to_numpy() * WEI, rtol=1e-8)


def test_amounts_in_wei_of_an_asset() -> None:
    # Amounts in wei of ETH and a price per wei: the values, and the answer, are the same.
    instance = optimizer.load_instance(INSTANCES / "tiny" / "capacity.toml")
    wei = optimizer.Instance.from_frames(
        assets=instance.assets.assign(price=instance.assets["price"] / WEI),
        stakes=instance.stakes.assign(amount=instance.stakes["amount"] * WEI),
        services=instance.services, holders=instance.holders, name="capacity-in-wei")
    assert any("wei" in str(w) for w in wei.warnings)  # legal, but warned about
    assert optimizer.solve(wei).objective == pytest.approx(49.4, rel=1e-9)


def test_prices_across_twelve_orders_and_tiny_probabilities() -> None:
    rng = np.random.default_rng(5)
    n = 30
    assets = pd.DataFrame({"asset": ["dust", "eth", "whale"], "price": [1e-6, 1.0, 1e6]})
    stakes = pd.DataFrame({
        "stake": [f"s{i}" for i in range(n)], "holder": [f"h{i % 10}" for i in range(n)],
        "asset": rng.choice(["dust", "eth", "whale"], n),
        "amount": rng.uniform(1, 100, n), "max_per_service": 0.5,
        "max_expected_loss": 1e-9 * rng.uniform(1, 5, n)})
    services = pd.DataFrame({
        "service": [f"v{k}" for k in range(6)], "reward_rate": rng.uniform(0.01, 0.05, 6),
        "slash_probability": [1e-9, 2e-9, 5e-9, 0.0, 1e-8, 3e-9],
        "slash_fraction": rng.uniform(0.1, 1.0, 6)})
    instance = optimizer.Instance.from_frames(assets=assets, stakes=stakes, services=services,
                                              name="wide")
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(direct_optimum(instance), rel=1e-7)
