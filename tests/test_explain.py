"""Infeasible instances: each explanation names the limits that really conflict."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import optimizer

from .conftest import INSTANCES

CASES = {
    "contract/infeasible-required.toml": ["service da requires 5,000 ETH", "at most 3,200 ETH",
                                          "stETH"],
    "tiny/infeasible-capacity.toml": ["service bridge requires 450 ETH",
                                      "cost-of-corruption rule", "capacity is 400 ETH"],
    "tiny/infeasible-eligible-stake.toml": ["service da requires 300 ETH", "at most 265 ETH"],
    "tiny/infeasible-competing.toml": ["service da requires 70 ETH", "at most 60 ETH",
                                       "max_restaking of stake a-steth", "bridge"],
    "tiny/infeasible-loss-budget.toml": ["service oracle requires 150 ETH", "at most 146 ETH",
                                         "max_expected_loss of stake a-steth",
                                         "max_expected_loss of stake b-reth"],
    "tiny/infeasible-cvar.toml": ["service bridge requires 100 ETH", "cvar_limit"],
    "tiny/infeasible-turnover.toml": ["service new requires 60 ETH", "turnover_limit"],
    "tiny/infeasible-pair-minimums.toml": [
        "stake a-steth must put at least 0.6 of itself behind service s1",
        "eligibility.min_fraction of stake a-steth for service s1", "at most 0.5",
        "max_restaking of stake a-steth", "min_fraction of stake a-steth for service s2"],
}


@pytest.mark.parametrize("file", sorted(CASES))
def test_explanation_names_the_conflict(file: str) -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / file))
    assert result.status == "infeasible" and result.exit_code == 1
    text = " ".join(result.explanation)
    for fragment in CASES[file]:
        assert fragment in text, text
    summary = json.loads(result.to_json())
    assert summary["explanation"] == result.explanation


def test_a_minimum_above_the_single_slash_bound_is_named() -> None:
    # With worst_case_k = 1, c / f = 0.1 / 0.5 = 0.2 bounds the pair, below its minimum 0.3.
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a"], "holder": ["h"], "asset": ["ETH"],
                             "amount": [100.0], "max_worst_case_loss": [0.1]}),
        services=pd.DataFrame({"service": ["s1"], "reward_rate": [0.05],
                               "slash_fraction": [0.5]}),
        eligibility=pd.DataFrame({"holder": ["h"], "service": ["s1"],
                                  "min_fraction": [0.3]}),
        name="minimum-above-worst-case")
    result = optimizer.solve(instance)
    assert result.status == "infeasible"
    text = " ".join(result.explanation)
    assert "eligibility.min_fraction of holder h for service s1" in text, text
    assert "at most 0.2" in text and "max_worst_case_loss" in text, text


def test_milp_conflict_names_the_holder_cap() -> None:
    # The only stake's holder may opt into one service, but two services are required.
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        holders=pd.DataFrame({"holder": ["op"], "max_services": [1.0]}),
        stakes=pd.DataFrame({"stake": ["op-eth"], "holder": ["op"], "asset": ["ETH"],
                             "amount": [100.0], "max_restaking": [2.0]}),
        services=pd.DataFrame({"service": ["s1", "s2"], "reward_rate": [0.05, 0.04],
                               "min_security": [30.0, 30.0], "required": [True, True]}),
        name="one-opt-in")
    result = optimizer.solve(instance)
    assert result.status == "infeasible"
    text = " ".join(result.explanation)
    assert "requires 30 ETH" in text and "max_services of holder op" in text, text


def test_a_secured_minimum_that_binds_is_named_and_an_unsecured_one_is_not() -> None:
    # The stake is wholly behind "old" and may move half of it (turnover_limit 50): keeping
    # "old" secured (80) leaves 20 for the required "new" (70). The elastic solution keeps
    # "old" secured, so its minimum binds and is named.
    def instance(old_minimum: float) -> optimizer.Instance:
        return optimizer.Instance.from_frames(
            assets=pd.DataFrame({"asset": ["stETH"], "price": [1.0]}),
            stakes=pd.DataFrame({"stake": ["a-steth"], "holder": ["a"], "asset": ["stETH"],
                                 "amount": [100.0]}),
            services=pd.DataFrame({"service": ["old", "new"], "reward_rate": [0.03, 0.04],
                                   "min_security": [old_minimum, 70.0],
                                   "required": [False, True]}),
            current=pd.DataFrame({"stake": ["a-steth"], "service": ["old"],
                                  "fraction": [1.0]}),
            parameters={"turnover_cost": 0.001, "turnover_limit": 50.0}, name="semi")

    text = " ".join(optimizer.solve(instance(80.0)).explanation)
    # 20 ETH, to the elastic LP's tolerances (HiGHS 1.16 says 20.0001, 1.15 says 20).
    assert re.search(r"at most 20(\.0+1?)? ETH", text), text
    assert "min_security of service old" in text, text

    # Where u_s = 0 the row X_s >= M_s u_s is no minimum of the user's: a dual on it is
    # not named (the record's switched_by), whatever its size.
    from optimizer.pipeline import build
    from optimizer.solve.explain import _binding_limits

    built = build(instance(80.0))
    secured = list(built.model.secured.keys())
    assert secured == [0]

    class Session:
        def __init__(self, on: float) -> None:
            self.on = on

        def row_duals(self) -> dict:
            return {"security_minimum": {0: -0.5}}

        def values(self, name: str) -> np.ndarray:
            assert name == "secured"
            return np.array([self.on])

    assert _binding_limits(built, Session(1.0)) == "min_security of service old"
    assert _binding_limits(built, Session(0.0)) == ""


def _one_holder(other: dict | None = None, **service: object) -> optimizer.Instance:
    row = {"service": "s", "reward_rate": 0.05, "min_security": 30.0, "required": True,
           **service}
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["op-eth"], "holder": ["op"], "asset": ["ETH"],
                             "amount": [100.0], "max_restaking": [2.0]}),
        services=pd.DataFrame([row, {"service": "t", "reward_rate": 0.01, **(other or {})}]),
        groups=pd.DataFrame({"group": ["g"], "max_exposure": [0.2]}),
        name="one-holder")


@pytest.mark.parametrize(("service", "other", "fragment"), [
    ({"max_holder_share": 0.2, "external_stake": 0.0}, None,
     "max_holder_share of service s for holder op"),
    # Each needs 15 of the group's 20 alone; together they need 30.
    ({"groups": ["g"], "min_security": 15.0},
     {"groups": ["g"], "min_security": 15.0, "required": True},
     "max_exposure of group g for stake op-eth"),
    ({"min_allocation": 60.0, "capacity": 50.0}, None, "holder op not opted into service s"),
])
def test_each_family_in_a_conflict_is_named(service: dict, other: dict | None,
                                            fragment: str) -> None:
    result = optimizer.solve(_one_holder(other, **service))
    assert result.status == "infeasible"
    text = " ".join(result.explanation)
    # With two symmetric required services, either may be the one left short.
    short = ("service s requires", "service t requires") if other else ("service s requires",)
    assert any(name in text for name in short) and fragment in text, text
