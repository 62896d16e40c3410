"""Each constraint family: it is built as documented, and it changes the optimum.

For each family a tiny instance where the family binds is solved with and without
the family's data: the optimum must be the hand-derived value with it and strictly
better without it, so a family that was silently dropped would fail here.
"""

from __future__ import annotations

import numpy as np
import pytest

import optimizer
from optimizer.instance import Instance
from optimizer.model.build import build_model

from .conftest import INSTANCES


def load(name: str) -> Instance:
    return optimizer.load_instance(INSTANCES / name)


def without(instance: Instance, table: str, columns: str, value: object) -> Instance:
    """A copy of ``instance`` with columns (comma-separated) of one table set to ``value``."""
    frames = {name: getattr(instance, name).copy() for name in
              ("assets", "holders", "stakes", "services", "groups", "eligibility")}
    for column in columns.split(","):
        frames[table][column] = [value] * len(frames[table])
    return Instance.from_frames(**frames, parameters=vars(instance.parameters).copy(),
                                name=instance.name)


def objective(instance: Instance) -> float:
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.violations == []
    return float(result.objective)


@pytest.mark.parametrize(("file", "table", "column", "relaxed", "expected"), [
    ("tiny/fractional-knapsack.toml", "stakes", "max_expected_loss", None, 23.368),
    ("tiny/worst-case-k.toml", "stakes", "max_worst_case_loss", None, 43.5),
    ("tiny/mesh-security.toml", "stakes", "max_worst_case_loss", None, 31.25),
    ("tiny/capacity.toml", "services", "capacity", None, 49.4),
    ("tiny/holder-concentration.toml", "services", "max_holder_share", None, 45.6),
    ("tiny/group-exposure.toml", "groups", "max_exposure", None, 52.8),
    ("tiny/required-security.toml", "services", "min_security,profit_from_corruption", 0.0,
     13.88),
    ("contract/worstcase.toml", "stakes", "max_restaking", 1.0, 93.0),
])
def test_family_binds(file: str, table: str, column: str, relaxed: object,
                      expected: float) -> None:
    instance = load(file)
    assert objective(instance) == pytest.approx(expected, rel=1e-7)
    changed = objective(without(instance, table, column, relaxed))
    if column == "max_restaking":
        assert changed < expected - 1e-6  # tighter degree: less reward
    else:
        assert changed > expected + 1e-6  # the limit cost something


def test_eligibility_rows_change_the_optimum() -> None:
    instance = load("tiny/eligibility.toml")
    assert objective(instance) == pytest.approx(26.08, rel=1e-7)
    frames = {name: getattr(instance, name) for name in
              ("assets", "holders", "stakes", "services", "groups")}
    free = Instance.from_frames(**frames, name="free")
    assert len(free.pairs) > len(instance.pairs)
    assert objective(free) > 26.08 + 1e-6


def test_worst_case_k1_is_a_bound_not_rows() -> None:
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_worst_case_loss=0.1),
        services=_services(), parameters={"worst_case_k": 1})
    model = build_model(instance).model
    assert len(model.worst_case_budget) == 0 and len(model.worst_case_all) == 0
    upper = [model.x_alloc[p].ub for p in model.pairs]
    assert upper == pytest.approx([0.2, 0.4, 1.0])  # c / f = 0.1/0.5, 0.1/0.25, none for f = 0


def test_worst_case_general_k_uses_lp_form() -> None:
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_worst_case_loss=0.1, max_restaking=3.0),
        services=_services(slash=(0.5, 0.25, 0.1)), parameters={"worst_case_k": 2})
    model = build_model(instance).model
    assert len(model.worst_case_budget) == 1 and len(model.worst_case_excess_definition) == 3
    result = optimizer.solve(instance)
    x = result.allocation.set_index("service")["fraction"]
    loads = sorted((x.get(s, 0.0) * f for s, f in zip("abc", (0.5, 0.25, 0.1),
                                                       strict=True)), reverse=True)
    assert sum(loads[:2]) == pytest.approx(0.1, abs=1e-9)


def test_worst_case_k_at_least_services_is_one_row() -> None:
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_worst_case_loss=0.1, max_restaking=3.0),
        services=_services(slash=(0.5, 0.25, 0.1)), parameters={"worst_case_k": 3})
    model = build_model(instance).model
    assert len(model.worst_case_all) == 1 and len(model.worst_case_budget) == 0


def test_redundant_rows_are_not_built() -> None:
    # L = 3 over three services capped at 1: the degree row can never bind.
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_restaking=3.0), services=_services())
    model = build_model(instance).model
    assert len(model.restaking_degree) == 0
    assert optimizer.solve(instance).allocation["fraction"].sum() == pytest.approx(3.0)


def test_instance_without_later_features_is_an_lp() -> None:
    model = build_model(load("realistic/eigenlayer-symbiotic-2026.toml")).model
    from pyomo.environ import Var

    assert not any(v.is_integer() for v in model.component_data_objects(Var))


def test_holder_concentration_counts_external_stake() -> None:
    # One holder, share cap 0.5, external 100: own <= 0.5 (100 + own) -> own <= 100.
    services = _services()
    services["max_holder_share"] = [0.5, np.nan, np.nan]
    services["external_stake"] = [100.0, 0.0, 0.0]
    services["reward_rate"] = [0.10, 0.0, 0.0]
    instance = optimizer.Instance.from_frames(assets=_assets(), stakes=_stakes(amount=1000.0),
                                              services=services)
    result = optimizer.solve(instance)
    assert result.services.set_index("service").loc["a", "security"] == pytest.approx(100.0)
    assert result.objective == pytest.approx(10.0)


def _assets():
    import pandas as pd

    return pd.DataFrame({"asset": ["ETH"], "price": [1.0]})


def _stakes(**limits: float):
    import pandas as pd

    row = {"stake": "op", "holder": "op", "asset": "ETH", "amount": 100.0, **limits}
    return pd.DataFrame([row])


def _services(slash: tuple[float, float, float] = (0.5, 0.25, 0.0)):
    import pandas as pd

    return pd.DataFrame({"service": ["a", "b", "c"], "reward_rate": [0.05, 0.04, 0.01],
                         "slash_fraction": list(slash)})


def test_binaries_only_where_a_feature_needs_them() -> None:
    services = _services()
    services["opt_in_cost"] = [0.5, 0.0, 0.0]
    services["min_security"] = [0.0, 30.0, 0.0]
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_restaking=3.0), services=services)
    model = build_model(instance).model
    assert list(model.opted_in) == [(0, 0)]  # holder op, service a only
    assert list(model.secured) == [1]  # service b only: its minimum is not required
    assert len(model.opt_in_link) == 1


def test_unreachable_minimum_fixes_security_at_zero() -> None:
    services = _services()
    services["min_security"] = [0.0, 500.0, 0.0]  # the one stake is worth 100
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_restaking=3.0), services=services)
    model = build_model(instance).model
    assert len(model.secured) == 0 and model.security[1].ub == 0.0
    result = optimizer.solve(instance)
    assert "b" not in set(result.allocation["service"])


def test_semi_continuous_upper_bound_is_the_tightest() -> None:
    from optimizer.model.index import PairIndex
    from optimizer.model.services import security_upper_bound

    services = _services()
    services["capacity"] = [np.nan, np.nan, 20.0]
    instance = optimizer.Instance.from_frames(
        assets=_assets(), stakes=_stakes(max_per_service=0.5, max_restaking=0.3),
        services=services)
    upper = security_upper_bound(instance, PairIndex.of(instance, np.full(3, 0.5)))
    # V = 100, at most min(m = 0.5, L = 0.3) of it, and capacity 20 on c.
    assert upper.tolist() == pytest.approx([30.0, 30.0, 20.0])
