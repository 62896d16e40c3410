"""Families 2 and 3: a stake's expected-loss budget and its worst case of k slashings.

2. sum_s p_s f_s x_{i,s} <= b_i (fraction of stake value per year).
3. The k largest f_s x_{i,s} sum to at most c_i (fraction of stake value).
   - k = 1: the largest is <= c_i iff every f_s x_{i,s} <= c_i, an exact variable
     bound x_{i,s} <= c_i / f_s (no row at all);
   - k >= the stake's number of slashable services: the Mesh Security invariant
     sum_s f_s x_{i,s} <= c_i, one row;
   - otherwise the LP form k t_i + sum_s v_{i,s} <= c_i, v_{i,s} >= f_s x_{i,s} - t_i,
     v, t >= 0 (Ogryczak and Tamir's linearization of the sum of the k largest).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables


def pair_slash_fraction(instance: Instance) -> np.ndarray:
    """f_s of each pair's service (fraction)."""
    return instance.services["slash_fraction"].to_numpy()[instance.pairs["service_pos"]]


def service_loss_rate(instance: Instance) -> np.ndarray:
    """p_s f_s of each service: expected loss per unit value per year."""
    services = instance.services
    return services["slash_probability"].to_numpy() * services["slash_fraction"].to_numpy()


def pair_loss_rate(instance: Instance) -> np.ndarray:
    """p_s f_s of each pair's service: expected loss per unit value per year."""
    return service_loss_rate(instance)[instance.pairs["service_pos"].to_numpy()]


def single_slash_bound(instance: Instance) -> np.ndarray:
    """With k = 1, the exact bound c_i / f_s on each x_{i,s} (inf where none applies)."""
    budget = instance.stakes["max_worst_case_loss"].to_numpy()[instance.pairs["stake_pos"]]
    slash = pair_slash_fraction(instance)
    bound = np.full(len(slash), np.inf)
    active = ~np.isnan(budget) & (slash > 0)
    bound[active] = budget[active] / slash[active]
    return bound


def add_expected_loss_budget(model: pyo.ConcreteModel, instance: Instance,
                             index: PairIndex) -> None:
    """Add ``expected_loss_budget[i]`` where b_i is set and could bind."""
    budget = instance.stakes["max_expected_loss"].to_numpy()
    rate = pair_loss_rate(instance)
    rate_list = rate.tolist()
    stakes = [i for i, pairs in enumerate(index.by_stake)
              if len(pairs) and not np.isnan(budget[i])
              and (rate[pairs] * index.upper[pairs]).sum() > budget[i]]
    x = pair_variables(model)
    model.expected_loss_budget = pyo.Constraint(
        stakes,
        rule=lambda m, i: sum(rate_list[p] * x[p] for p in index.by_stake[i] if rate_list[p] > 0)
        <= float(budget[i]),
        doc="sum_s p_s f_s x_{i,s} <= b_i (fraction of stake value per year)",
    )


def add_worst_case_budget(model: pyo.ConcreteModel, instance: Instance,
                          index: PairIndex) -> None:
    """Add the worst case of k simultaneous slashings, for k >= 2 (k = 1 is a bound)."""
    k = instance.parameters.worst_case_k
    budget = instance.stakes["max_worst_case_loss"].to_numpy()
    slash = pair_slash_fraction(instance)
    x = pair_variables(model)
    mesh, general = [], []
    if k >= 2:
        for i, pairs in enumerate(index.by_stake):
            if np.isnan(budget[i]):
                continue
            slashable = pairs[slash[pairs] > 0]
            loads = np.sort(slash[slashable] * index.upper[slashable])[::-1]
            if loads[:k].sum() <= budget[i]:
                continue
            (mesh if len(slashable) <= k else general).append(i)

    model.worst_case_all = pyo.Constraint(
        mesh,
        rule=lambda m, i: sum(float(slash[p]) * x[p] for p in index.by_stake[i] if slash[p] > 0)
        <= float(budget[i]),
        doc="k >= slashable services: sum_s f_s x_{i,s} <= c_i (fraction of stake value)",
    )
    excess_pairs = [int(p) for i in general for p in index.by_stake[i] if slash[p] > 0]
    model.worst_case_threshold = pyo.Var(
        general, domain=pyo.NonNegativeReals,
        doc="t_i, the k-th largest loss f_s x_{i,s} at the optimum (fraction of stake value)")
    model.worst_case_excess = pyo.Var(
        excess_pairs, domain=pyo.NonNegativeReals,
        doc="v_{i,s} >= f_s x_{i,s} - t_i (fraction of stake value)")
    t, v = model.worst_case_threshold, model.worst_case_excess
    model.worst_case_excess_definition = pyo.Constraint(
        excess_pairs,
        rule=lambda m, p: v[p] - float(slash[p]) * x[p] + t[int(index.stake_pos[p])] >= 0,
        doc="v_{i,s} >= f_s x_{i,s} - t_i (fraction of stake value)",
    )
    model.worst_case_budget = pyo.Constraint(
        general,
        rule=lambda m, i: k * t[i] + sum(v[p] for p in index.by_stake[i] if slash[p] > 0)
        <= float(budget[i]),
        doc="k t_i + sum_s v_{i,s} <= c_i: the k largest losses (fraction of stake value)",
    )
