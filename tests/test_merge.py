"""Merging interchangeable stakes is exact: the same optimum as the unreduced model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.instance.generate import generate_instance
from optimizer.model.merge import merge_interchangeable

FEATURES = {
    "plain": {},
    "cvar-limit": {"cvar": "limit", "scenarios": 150},
    "cvar-aversion": {"cvar": "aversion", "scenarios": 150},
    "worst-case-k2": {"worst_case_k": 2},
    "required": {"required": 2},
    "pools": {"pools": 0.3},
    "turnover": {"turnover": True},
    "holder-share": {"holder_share": True},
    "opt-in-milp": {"opt_in": True, "min_security": 0.3},
}
COUPLED = ("holder-share", "opt-in-milp")  # a generated holder's stakes are of distinct assets


@pytest.mark.parametrize("name", FEATURES)
def test_merged_optimum_equals_the_unreduced_optimum(name: str) -> None:
    instance = generate_instance(150, 12, seed=5, **FEATURES[name])
    merge = merge_interchangeable(instance)
    if name in COUPLED:
        assert merge is None
        return
    assert merge is not None and len(merge.instance.stakes) < len(instance.stakes)
    merged = optimizer.solve(instance, mip_rel_gap=1e-9)
    unreduced = optimizer.solve(instance, merge_stakes=False, mip_rel_gap=1e-9)
    assert merged.status == unreduced.status == "optimal"
    assert merged.violations == [] and unreduced.violations == []  # on the original stakes
    assert merged.objective == pytest.approx(unreduced.objective, rel=1e-6, abs=1e-9)
    # Every stake of the original instance is reported, members with one fraction.
    assert set(merged.allocation["stake"]) <= set(instance.stakes.index)
    fractions = merged.allocation.set_index(["stake", "service"])["fraction"]
    for members in pd.Series(merge.stake_class, index=instance.stakes.index).groupby(
            merge.stake_class).groups.values():
        share = fractions[fractions.index.get_level_values("stake").isin(members)]
        per_service = share.groupby(level="service").agg(["min", "max", "count"])
        assert (per_service["max"] - per_service["min"] < 1e-9).all()


def test_holder_coupling_merges_only_within_a_holder() -> None:
    instance = generate_instance(300, 10, seed=3, holder_share=True)
    merge = merge_interchangeable(instance)
    holders = instance.stakes["holder"].to_numpy()
    for c in np.unique(merge.stake_class) if merge else ():
        assert len(set(holders[merge.stake_class == c])) == 1
    free = merge_interchangeable(generate_instance(300, 10, seed=3))
    assert free is not None and len(free.instance.stakes) < 300


def _twins(holders: tuple[str, ...] = ("a", "b", "c"), share: float = 1.0) -> optimizer.Instance:
    # Stakes a and b of one asset with the same limits; c's budget differs.
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a", "b", "c"], "holder": list(holders),
                             "asset": ["ETH"] * 3, "amount": [100.0, 300.0, 50.0],
                             "max_restaking": [2.0] * 3,
                             "max_expected_loss": [0.01, 0.01, 0.02]}),
        services=pd.DataFrame({"service": ["s1", "s2"], "reward_rate": [0.10, 0.03],
                               "slash_probability": [0.1, 0.0], "slash_fraction": [0.5, 0.0],
                               "max_holder_share": [share, 1.0],
                               "external_stake": [1000.0, 0.0]}),
        name="twins")


def test_duals_split_by_value_equal_the_unreduced_duals() -> None:
    # a and b merge (c's budget differs). s2 takes all of each stake; the budget binds s1:
    # x_s1 = 0.01 / 0.05 = 0.2 (0.4 for c), and it is worth s1's net rate over its loss
    # rate, (0.10 - 0.05) / 0.05 = 1 per unit of loss value: V_i per unit of budget
    # fraction, 100 for a, 300 for b, 50 for c, merged or not.
    instance = _twins()
    merge = merge_interchangeable(instance)
    assert merge is not None and len(merge.instance.stakes) == 2
    merged = optimizer.solve(instance)
    unreduced = optimizer.solve(instance, merge_stakes=False)
    expected = {0: 100.0, 1: 300.0, 2: 50.0}
    assert merged.duals["expected_loss_budget"] == pytest.approx(expected)
    assert unreduced.duals["expected_loss_budget"] == pytest.approx(expected)
    assert merged.objective == pytest.approx(unreduced.objective)


def test_stakes_named_by_rules_or_holding_current_allocations_stay_single() -> None:
    instance = _twins()
    rules = pd.DataFrame({"holder": [None], "stake": ["a"], "service": ["s2"],
                          "allowed": [False]})
    ruled = instance.with_changes(eligibility=rules)
    assert merge_interchangeable(ruled) is None  # a is named, b and c differ
    current = pd.DataFrame({"stake": ["b"], "service": ["s1"], "fraction": [0.1]})
    assert merge_interchangeable(instance.with_changes(current=current)) is None


def test_coupled_holders_merge_their_own_twins_exactly() -> None:
    # With a holder share on s1, a and b merge only when one holder owns both.
    apart = _twins(share=0.05)
    assert merge_interchangeable(apart) is None
    together = _twins(holders=("h", "h", "c"), share=0.05)  # binds on h
    assert len(merge_interchangeable(together).instance.stakes) == 2
    merged = optimizer.solve(together)
    unreduced = optimizer.solve(together, merge_stakes=False)
    assert merged.violations == [] and merged.objective == pytest.approx(unreduced.objective)
    loose = optimizer.solve(_twins(holders=("h", "h", "c")))
    assert merged.objective < loose.objective - 1e-6  # the share binds
