"""Build the Pyomo model of an instance: the families in a fixed order.

Variables exist for the eligible pairs only. Each family module adds its own
components; this module decides the order and which shared variables (the service
totals X_s) the families need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.model import (
    concentration,
    groups,
    loss_limits,
    objective,
    opt_in,
    rewards,
    scaling,
    services,
    stake_limits,
    tail_risk,
    turnover,
)
from optimizer.model.index import PairIndex
from optimizer.model.merge import StakeMerge

NUMERAIRE_ROWS = frozenset({
    "security_definition", "security_minimum", "security_switch", "holder_concentration",
    "min_allocation", "cvar_excess_definition", "cvar_limit", "turnover_limit",
    "pool_reward_chord", "required_security_elastic", "cvar_limit_elastic",
    "turnover_limit_elastic",
})
"""Families whose rows are in the numeraire (their duals need no rescaling); the other
rows are in fractions of a stake or counts, so their duals scale with ``scale``."""

DEFAULT_POOL_ERROR = 1e-6
"""Starting chord error of each pool-reward segment, as a fraction of the pool R_s."""


@dataclass
class AllocationModel:
    """A built model and what is needed to read its solution back.

    Attributes
    ----------
    model : pyomo.environ.ConcreteModel
        The Pyomo model; ``model.x_alloc[p]`` is the fraction of pair p's stake
        allocated to its service (p indexes ``instance.pairs``, or ``merge.instance.pairs``
        when stakes were merged: use ``fractions`` to map back).
    index : PairIndex
        The pair index the families were built from.
    build_seconds : float
        Wall time spent building, seconds.
    pool_errors : dict
        For each pool service position, the largest amount (numeraire per year) by which
        the model under-states its pool reward.
    scenarios : ScenarioSet or None
        The scenarios of the CVaR rows, when built.
    scale : float
        The model is in units of ``scale`` numeraire (see ``scaling``): its objective
        times ``scale`` is in the numeraire. ``instance`` is the unscaled original.
    merge : StakeMerge or None
        When interchangeable stakes were merged (see ``merge``), the reduction: the model's
        pairs and ``index`` are the merged instance's, and ``fractions`` maps them back.
    """

    model: pyo.ConcreteModel
    instance: Instance
    index: PairIndex
    build_seconds: float
    pool_errors: dict[int, float] = field(default_factory=dict)
    scenarios: ScenarioSet | None = None
    scale: float = 1.0
    merge: StakeMerge | None = None

    def fractions(self, model_fractions: np.ndarray) -> np.ndarray:
        """The fractions of ``instance.pairs`` from those of the model's pairs (of stake)."""
        if self.merge is None:
            return np.asarray(model_fractions)
        return self.merge.split(model_fractions)


def pair_upper_bound(instance: Instance) -> np.ndarray:
    """The bound on each x_{i,s}: m_i, and with k = 1 also c_i / f_s (fraction of stake)."""
    upper = stake_limits.per_service_bound(instance)
    if instance.parameters.worst_case_k == 1:
        upper = np.minimum(upper, loss_limits.single_slash_bound(instance))
    return upper


def build_model(instance: Instance, scenarios: ScenarioSet | None = None,
                pool_error: float = DEFAULT_POOL_ERROR,
                merge: StakeMerge | None = None) -> AllocationModel:
    """Build the allocation model of ``instance``.

    Parameters
    ----------
    instance : Instance
        The problem.
    scenarios : ScenarioSet, optional
        The scenarios of the CVaR families, when the instance uses CVaR.
    pool_error : float
        Largest chord error of each pool-reward segment, as a fraction of its pool R_s.
    merge : StakeMerge, optional
        ``merge_interchangeable(instance)``: build the model of its merged instance.
    """
    start = time.perf_counter()
    original = instance
    if merge is not None:
        instance = merge.instance
    scale = scaling.value_scale(instance)
    instance = scaling.scaled(instance, scale)
    index = PairIndex.of(instance, pair_upper_bound(instance))
    services_table = instance.services
    n_services = len(services_table)
    cvar = scenarios is not None and tail_risk.uses_cvar(instance)
    needed = (services_table["reward_pool"].to_numpy() > 0) | (
        services_table["max_holder_share"].to_numpy() < 1.0)
    if cvar:
        needed |= tail_risk.scenario_services(scenarios, n_services)
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
        services.add_security(model, instance, index, needed)
        reach = services.security_upper_bound(instance, index)
        pool_errors = rewards.add_pool_rewards(model, instance, reach, pool_error)
        concentration.add_holder_concentration(model, instance, index)
        opt_in.add_opt_in(model, instance, index)
        if cvar:
            tail_risk.add_cvar(model, instance, scenarios)
        if turnover.uses_turnover(instance):
            turnover.add_turnover(model, instance, index)
        objective.add_objective(model, instance, index)
    pool_errors = {s: error * scale for s, error in pool_errors.items()}
    return AllocationModel(model, original, index, time.perf_counter() - start, pool_errors,
                           scenarios if cvar else None, scale, merge)
