"""Build the Pyomo model of an instance: the families in a fixed order.

Variables exist for the eligible pairs only. Each family module adds its own
components; this module decides the order and which shared variables (the service
totals X_s) the families need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo
from pyomo.common.gc_manager import PauseGC

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import PairBounds, pair_bounds
from optimizer.instance.scenarios import ScenarioSet
from optimizer.model import loss_limits, scaling, stake_limits, tail_risk
from optimizer.model.families import FAMILIES, binary_components
from optimizer.model.family import BuildContext, ObjectiveTerm
from optimizer.model.index import PairIndex
from optimizer.model.merge import StakeMerge
from optimizer.model.objective import Objective, add_objective

DEFAULT_POOL_ERROR = 1e-6
"""Starting chord error of each pool-reward segment, as a fraction of the pool R_s."""


@dataclass
class AllocationModel:
    """A built model and what is needed to read its solution back.

    Attributes
    ----------
    model : pyomo.core.ConcreteModel
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
    objective : Objective or None
        The objective's costs per variable component (the same arrays as
        ``model.net_reward``).
    """

    model: pyo.ConcreteModel
    instance: Instance
    index: PairIndex
    build_seconds: float
    pool_errors: dict[int, float] = field(default_factory=dict)
    scenarios: ScenarioSet | None = None
    scale: float = 1.0
    merge: StakeMerge | None = None
    objective: Objective | None = None
    pool_error: float = DEFAULT_POOL_ERROR
    """The chord error of each pool-reward segment it was built with (fraction of R_s)."""

    @property
    def has_binaries(self) -> bool:
        """Whether some family added a binary variable (the model is a MILP)."""
        return any(len(getattr(self.model, name, ())) for name in binary_components())

    def fractions(self, model_fractions: np.ndarray) -> np.ndarray:
        """The fractions of ``instance.pairs`` from those of the model's pairs (of stake)."""
        if self.merge is None:
            return np.asarray(model_fractions)
        return self.merge.split(model_fractions)


def pair_upper_bound(instance: Instance, bounds: PairBounds | None = None) -> np.ndarray:
    """The upper bound of each x_{i,s} (fraction of stake).

    The least of m_i (``max_per_service``), the pair's ``max_fraction`` (eligibility) and,
    with k = 1, c_i / f_s. ``bounds``: the instance's ``pair_bounds``, when known.
    """
    upper = stake_limits.per_service_bound(instance)
    cap = (bounds or pair_bounds(instance)).upper
    upper = np.where(np.isnan(cap), upper, np.minimum(upper, cap))
    if instance.parameters.worst_case_k == 1:
        upper = np.minimum(upper, loss_limits.single_slash_bound(instance))
    return upper


def build_model(instance: Instance, scenarios: ScenarioSet | None = None,
                pool_error: float = DEFAULT_POOL_ERROR,
                merge: StakeMerge | None = None, elastic: bool = False,
                risk_limit: tuple[str, float] | None = None,
                keep_all_rows: bool = False) -> AllocationModel:
    """Build the allocation model of ``instance``: every family of ``FAMILIES``, in order.

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
    elastic : bool
        Build the elastic model of the infeasibility explanation (see ``BuildContext``).
    risk_limit : tuple, optional
        ``(measure, limit)``: add a row limiting a portfolio risk measure to ``limit``
        (numeraire; see ``optimizer.model.risk_rows``).
    keep_all_rows : bool
        Keep the rows that cannot bind (see ``BuildContext``).
    """
    start = time.perf_counter()
    original = instance
    if merge is not None:
        instance = merge.instance
    scale = scaling.value_scale(instance)
    instance = scaling.scaled(instance, scale)
    bounds = pair_bounds(instance)
    index = PairIndex.of(instance, pair_upper_bound(instance, bounds), bounds.lower)
    services_table = instance.services
    cvar = scenarios is not None and tail_risk.uses_cvar(instance)
    needed = (services_table["reward_pool"].to_numpy() > 0) | (
        services_table["max_holder_share"].to_numpy() < 1.0)
    if cvar and scenarios is not None:
        needed |= tail_risk.scenario_services(scenarios, len(services_table))
    with PauseGC():
        model = pyo.ConcreteModel(name=instance.name)
        context = BuildContext(
            model, instance, index, scenarios if cvar else None, pool_error, needed,
            elastic=elastic, keep_all_rows=keep_all_rows,
            risk_limit=None if risk_limit is None else (risk_limit[0], risk_limit[1] / scale))
        terms: list[ObjectiveTerm] = []
        for family in FAMILIES:
            terms += family.add(context)
        objective = add_objective(model, terms)
    pool_errors = {s: error * scale for s, error in context.pool_errors.items()}
    return AllocationModel(model, original, index, time.perf_counter() - start, pool_errors,
                           scenarios if cvar else None, scale, merge, objective, pool_error)
