"""Build the Pyomo model of an instance: the families in a fixed order.

Variables exist for the eligible pairs only. Each family module adds its own
components; this module decides the order and refuses what is not supported yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from optimizer.errors import Problem, UnsupportedFeatureError
from optimizer.instance import Instance
from optimizer.model import concentration, groups, loss_limits, objective, services, stake_limits
from optimizer.model.index import PairIndex


@dataclass
class AllocationModel:
    """A built model and what is needed to read its solution back.

    Attributes
    ----------
    model : pyomo.environ.ConcreteModel
        The Pyomo model; ``model.x_alloc[p]`` is the fraction of pair p's stake
        allocated to its service (p indexes ``instance.pairs``).
    index : PairIndex
        The pair index the families were built from.
    build_seconds : float
        Wall time spent building, seconds.
    """

    model: pyo.ConcreteModel
    instance: Instance
    index: PairIndex
    build_seconds: float


def unsupported_features(instance: Instance) -> list[Problem]:
    """Name every use of a model feature this release does not solve yet."""
    found: list[Problem] = []
    origin = instance.origin
    parameters = instance.parameters
    if parameters.cvar_limit is not None:
        found.append(Problem(f"{origin} [parameters]", "cvar_limit", "is set: CVaR limits are "
                             "not supported yet"))
    if parameters.risk_aversion > 0:
        found.append(Problem(f"{origin} [parameters]", "risk_aversion", "is > 0: the CVaR term "
                             "is not supported yet"))
    if parameters.turnover_limit is not None or parameters.turnover_cost > 0 or len(
            instance.current):
        found.append(Problem(origin, "current", "turnover against a current allocation "
                             "(current, turnover_cost, turnover_limit) is not supported yet"))
    svc = instance.services
    minimum = instance.effective_min_security
    checks = [
        ("reward_pool", svc["reward_pool"] > 0, "is set: pool rewards are not supported yet"),
        ("opt_in_cost", svc["opt_in_cost"] > 0, "is set: opt-in costs are not supported yet"),
        ("min_allocation", svc["min_allocation"] > 0, "is set: minimum allocations are not "
         "supported yet"),
        ("min_security", (minimum > 0) & ~svc["required"], "is set on a service "
         "that is not required: a semi-continuous minimum security is not supported yet (set "
         "required = true to enforce it)"),
    ]
    for column, mask, message in checks:
        for service in svc.index[mask.to_numpy()]:
            found.append(Problem(f"{origin} services (service={service})", column, message))
    limited = instance.holders.index[instance.holders["max_services"].notna().to_numpy()]
    for holder in limited:
        found.append(Problem(f"{origin} holders (holder={holder})", "max_services",
                             "is set: a cap on services per holder is not supported yet"))
    return found


def build_model(instance: Instance) -> AllocationModel:
    """Build the allocation model of ``instance``.

    Raises
    ------
    UnsupportedFeatureError
        When the instance uses a feature this release does not solve yet (it is
        never solved without it).
    """
    refused = unsupported_features(instance)
    if refused:
        raise UnsupportedFeatureError(refused)
    start = time.perf_counter()
    upper = stake_limits.per_service_bound(instance)
    if instance.parameters.worst_case_k == 1:
        upper = np.minimum(upper, loss_limits.single_slash_bound(instance))
    index = PairIndex.of(instance, upper)
    with PauseGC():
        model = pyo.ConcreteModel(name=instance.name)
        model.pairs = pyo.RangeSet(0, len(index.upper) - 1, doc="eligible (stake, service) "
                                   "pairs, positions in instance.pairs")
        model.x_alloc = pyo.Var(
            model.pairs, bounds=lambda m, p: (0.0, float(index.upper[p])),
            doc="x_{i,s}: fraction of stake i allocated to service s (fraction of stake)")
        stake_limits.add_restaking_degree(model, instance, index)
        loss_limits.add_expected_loss_budget(model, instance, index)
        loss_limits.add_worst_case_budget(model, instance, index)
        groups.add_group_exposure(model, instance, index)
        services.add_security(model, instance, index)
        concentration.add_holder_concentration(model, instance, index)
        objective.add_objective(model, instance, index)
    return AllocationModel(model, instance, index, time.perf_counter() - start)
