"""Why an instance is infeasible, in the instance's own names.

In this release every limit is an upper limit that the empty allocation meets,
except a required service's minimum security. So an instance is infeasible
exactly when some required minima cannot be reached together, and the
explanation says which, in three steps:

1. a required minimum above the service's own capacity;
2. a required minimum above all the eligible stake could give it (every stake
   at its per-service cap m_i, or c_i / f_s with k = 1, and at most L_i);
3. otherwise an elastic re-solve: the same model with each required minimum
   allowed a shortfall, minimizing the total relative shortfall; services left
   short are named, with the limits that bind at that solution (row duals).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.build import AllocationModel, build_model
from optimizer.model.loss_limits import single_slash_bound
from optimizer.solve.highs import solve_model
from optimizer.solve.options import SolveOptions

SHORTFALL_TOLERANCE = 1e-7
"""Relative shortfall below which a required minimum counts as reached."""


def _money(amount: float, numeraire: str) -> str:
    return f"{amount:,.6g} {numeraire}"


def _why_minimum(instance: Instance, s: int) -> str:
    services = instance.services
    minimum = services["min_security"].iloc[s]
    effective = instance.effective_min_security.iloc[s]
    if effective > minimum:
        return ("(the cost-of-corruption rule: (1 + security_margin) x profit_from_corruption / "
                "(attack_threshold x slash_fraction) - external_stake)")
    return "(min_security)"


def explain_infeasibility(instance: Instance, options: SolveOptions) -> list[str]:
    """Name the limits that conflict; one sentence a conflict, most direct first."""
    services = instance.services
    numeraire = instance.numeraire
    required = np.flatnonzero(services["required"].to_numpy()
                              & (instance.effective_min_security.to_numpy() > 0))
    minimum = instance.effective_min_security.to_numpy()
    capacity = services["capacity"].to_numpy()
    supply = _eligible_supply(instance)
    found: list[str] = []
    for s in required:
        name = services.index[s]
        if not np.isnan(capacity[s]) and capacity[s] < minimum[s]:
            found.append(f"service {name} requires {_money(minimum[s], numeraire)} of security "
                         f"{_why_minimum(instance, s)} but its capacity is "
                         f"{_money(capacity[s], numeraire)}")
        elif supply[s] < minimum[s] * (1 - SHORTFALL_TOLERANCE):
            accepted = services["accepts"].iloc[s]
            accepts = "every asset" if accepted == "*" else ", ".join(accepted)
            found.append(f"service {name} requires {_money(minimum[s], numeraire)} of security "
                         f"{_why_minimum(instance, s)} but the eligible stake can give at most "
                         f"{_money(supply[s], numeraire)} (it accepts {accepts}; "
                         f"{int((instance.pairs['service_pos'] == s).sum())} eligible stakes, "
                         "each at most its max_per_service and max_restaking)")
    if found:
        return found
    found = _elastic(instance, options, required)
    return found or ["HiGHS proved the instance infeasible, but relaxing the required minimum "
                     "securities did not isolate the conflict"]


def _eligible_supply(instance: Instance) -> np.ndarray:
    """Most security each service could get from its eligible stakes alone (numeraire)."""
    pairs = instance.pairs
    stakes = instance.stakes
    stake_pos = pairs["stake_pos"].to_numpy()
    cap = np.minimum(stakes["max_per_service"].to_numpy(), stakes["max_restaking"].to_numpy())
    upper = cap[stake_pos]
    if instance.parameters.worst_case_k == 1:
        upper = np.minimum(upper, single_slash_bound(instance))
    value = instance.stake_value.to_numpy()[stake_pos] * upper
    return np.bincount(pairs["service_pos"].to_numpy(), weights=value,
                       minlength=len(instance.services))


def _elastic(instance: Instance, options: SolveOptions, required: np.ndarray) -> list[str]:
    built = build_model(instance)
    model = built.model
    minimum = instance.effective_min_security.to_numpy()
    chosen = [int(s) for s in required]
    for s in chosen:
        model.security[s].setlb(0.0)
    model.shortfall = pyo.Var(chosen, domain=pyo.NonNegativeReals,
                              doc="how far X_s stays below M_s^eff (numeraire)")
    model.required_security_elastic = pyo.Constraint(
        chosen, rule=lambda m, s: m.security[s] + m.shortfall[s] >= float(minimum[s]))
    model.net_reward.deactivate()
    model.total_shortfall = pyo.Objective(
        expr=sum(model.shortfall[s] / float(minimum[s]) for s in chosen), sense=pyo.minimize)
    outcome = solve_model(built, options)
    if outcome.status != "optimal" or outcome.x is None:
        return []
    security = np.bincount(built.index.service_pos, weights=built.index.value * outcome.x,
                           minlength=len(instance.services))
    short = [(s, max(0.0, minimum[s] - security[s])) for s in chosen]
    binding = _binding_limits(built, outcome.row_duals)
    services = instance.services
    numeraire = instance.numeraire
    found = []
    for s, gap in short:
        if gap <= SHORTFALL_TOLERANCE * max(1.0, minimum[s]):
            continue
        found.append(f"service {services.index[s]} requires {_money(minimum[s], numeraire)} of "
                     f"security {_why_minimum(instance, s)} but together with the other "
                     f"limits at most {_money(minimum[s] - gap, numeraire)} can reach it"
                     + (f"; binding: {binding}" if binding else ""))
    others = [services.index[s] for s, gap in short
              if gap <= SHORTFALL_TOLERANCE * max(1.0, minimum[s])]
    if found and others:
        found.append("competing for the same stake with the required service(s) "
                     + ", ".join(others))
    return found


def _binding_limits(built: AllocationModel, duals: dict[str, dict[object, float]]) -> str:
    """The families whose rows have a nonzero dual, with a few of their rows named."""
    instance = built.instance
    stakes, services, holders = instance.stakes.index, instance.services.index, \
        instance.holders.index
    describe = {
        "restaking_degree": lambda i: f"max_restaking of stake {stakes[i]}",
        "expected_loss_budget": lambda i: f"max_expected_loss of stake {stakes[i]}",
        "worst_case_all": lambda i: f"max_worst_case_loss of stake {stakes[i]}",
        "worst_case_budget": lambda i: f"max_worst_case_loss of stake {stakes[i]}",
        "group_exposure": lambda key: f"max_exposure of group {key[1]} for stake "
                                      f"{stakes[key[0]]}",
        "holder_concentration": lambda key: f"max_holder_share of service {services[key[1]]} "
                                            f"for holder {holders[key[0]]}",
    }
    named: list[str] = []
    for family, rows in duals.items():
        if family not in describe:
            continue
        for key, value in rows.items():
            if abs(value) > 1e-9:
                named.append(describe[family](key))
    if len(named) > 6:
        return ", ".join(named[:6]) + f" and {len(named) - 6} more"
    return ", ".join(named)
