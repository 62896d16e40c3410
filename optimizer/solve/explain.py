"""Why an instance is infeasible, in the instance's own names.

Every limit of the model is met by the empty allocation except three: a required
service's minimum security, a CVaR limit (which a required minimum can force above its
budget) and a turnover limit (which holds the allocation near the current one). So an
instance is infeasible exactly when these cannot be met together with the other limits,
and the explanation says which, in steps:

1. a required minimum above the service's own capacity;
2. a required minimum above all the eligible stake could give it (each stake at its
   per-service cap m_i, and c_i / f_s with k = 1, at most L_i and its group limits);
3. otherwise an elastic re-solve: the same model with a priced slack on each of those
   rows (a shortfall on each required minimum, an excess on the CVaR and turnover
   limits), minimizing their total relative size. The rows left with slack are named,
   with the limits that bind at that solution (row duals of the LP; for a MILP, of the
   LP with its binaries fixed at the elastic solution).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.model.build import AllocationModel, build_model, pair_upper_bound
from optimizer.model.index import PairIndex
from optimizer.model.services import security_upper_bound
from optimizer.solve.highs import solve_model
from optimizer.solve.options import SolveOptions

SLACK_TOLERANCE = 1e-7
"""Relative slack below which a row counts as met."""

MAX_NAMED = 6
"""Binding limits named per explanation; the rest are counted."""


def _money(amount: float, numeraire: str) -> str:
    return f"{amount:,.6g} {numeraire}"


def _why_minimum(instance: Instance, s: int) -> str:
    if instance.effective_min_security.iloc[s] > instance.services["min_security"].iloc[s]:
        return ("(the cost-of-corruption rule: (1 + security_margin) x profit_from_corruption / "
                "(attack_threshold x slash_fraction) - external_stake)")
    return "(min_security)"


def explain_infeasibility(instance: Instance, options: SolveOptions,
                          scenarios: ScenarioSet | None = None) -> list[str]:
    """Name the limits that conflict; one sentence a conflict, most direct first."""
    services = instance.services
    numeraire = instance.numeraire
    required = np.flatnonzero(services["required"].to_numpy()
                              & (instance.effective_min_security.to_numpy() > 0))
    minimum = instance.effective_min_security.to_numpy()
    capacity = services["capacity"].to_numpy()
    supply = security_upper_bound(instance, PairIndex.of(instance, pair_upper_bound(instance)))
    found: list[str] = []
    for s in required:
        name = services.index[s]
        if not np.isnan(capacity[s]) and capacity[s] < minimum[s]:
            found.append(f"service {name} requires {_money(minimum[s], numeraire)} of security "
                         f"{_why_minimum(instance, s)} but its capacity is "
                         f"{_money(capacity[s], numeraire)}")
        elif supply[s] < minimum[s] * (1 - SLACK_TOLERANCE):
            accepted = services["accepts"].iloc[s]
            accepts = "every asset" if accepted == "*" else ", ".join(accepted)
            found.append(f"service {name} requires {_money(minimum[s], numeraire)} of security "
                         f"{_why_minimum(instance, s)} but the eligible stake can give at most "
                         f"{_money(supply[s], numeraire)} (it accepts {accepts}; "
                         f"{int((instance.pairs['service_pos'] == s).sum())} eligible stakes, "
                         "each at most its max_per_service, max_restaking, group limits and, "
                         "with worst_case_k = 1, max_worst_case_loss / slash_fraction)")
    if found:
        return found
    found = _elastic(instance, options, scenarios, required)
    return found or ["HiGHS proved the instance infeasible, but relaxing the required minimum "
                     "securities, the CVaR limit and the turnover limit did not isolate the "
                     "conflict"]


def _elastic(instance: Instance, options: SolveOptions, scenarios: ScenarioSet | None,
             required: np.ndarray) -> list[str]:
    built = build_model(instance, scenarios)
    model, scale = built.model, built.scale  # the model is in units of scale numeraire
    minimum = instance.effective_min_security.to_numpy()
    chosen = [int(s) for s in required]
    for s in chosen:
        model.security[s].setlb(0.0)
    model.shortfall = pyo.Var(chosen, domain=pyo.NonNegativeReals,
                              doc="how far X_s stays below M_s^eff (numeraire)")
    model.required_security_elastic = pyo.Constraint(
        chosen, rule=lambda m, s: m.security[s] + m.shortfall[s] >= float(minimum[s] / scale))
    penalty = sum(model.shortfall[s] * scale / float(minimum[s]) for s in chosen)
    limits: dict[str, tuple[pyo.Var, float]] = {}
    for name, expression in (("cvar_limit", "cvar"), ("turnover_limit", "turnover")):
        row = getattr(model, name, None)
        if row is None:
            continue
        bound = float(row.upper)
        row.deactivate()
        excess = pyo.Var(domain=pyo.NonNegativeReals)
        model.add_component(f"{name}_excess", excess)
        model.add_component(f"{name}_elastic", pyo.Constraint(
            expr=getattr(model, expression) - excess <= bound))
        penalty += excess / max(bound, 1e-9)  # relative, like the shortfalls
        limits[name] = (excess, bound)
    model.net_reward.deactivate()
    model.total_slack = pyo.Objective(expr=penalty, sense=pyo.minimize)
    outcome = solve_model(built, options)
    if outcome.status not in ("optimal", "feasible") or outcome.x is None:
        return []
    values = dict(zip(map(id, outcome.columns), outcome.column_values, strict=True))
    duals = outcome.row_duals
    if outcome.is_mip:
        duals = _duals_with_binaries_fixed(built, options, outcome)

    def value(var: pyo.Var) -> float:
        """A variable's value at the elastic solution, in the model's (scaled) units."""
        return float(values.get(id(var), 0.0))

    binding = _binding_limits(built, duals)
    if outcome.is_mip:
        binding = ", ".join(filter(None, [_tight_holder_caps(built, value), binding]))
    services, numeraire = instance.services, instance.numeraire
    found = []
    met = []
    short = []
    for s in chosen:
        gap = value(model.shortfall[s]) * scale
        if gap <= SLACK_TOLERANCE * max(1.0, minimum[s]):
            met.append(s)
            continue
        short.append(s)
        found.append(f"service {services.index[s]} requires {_money(minimum[s], numeraire)} of "
                     f"security {_why_minimum(instance, s)} but together with the other limits "
                     f"at most {_money(minimum[s] - gap, numeraire)} can reach it"
                     + (f"; binding: {binding}" if binding else ""))
    words = {"cvar_limit": ("CVaR of the slashing loss", "cvar_limit"),
             "turnover_limit": ("value moved from the current allocation", "turnover_limit")}
    for name, (excess, bound) in limits.items():
        over, bound = value(excess) * scale, bound * scale
        if over <= SLACK_TOLERANCE * max(1.0, bound):
            continue
        what, key = words[name]
        found.append(f"the {what} must stay within {_money(bound, numeraire)} ({key}) but "
                     f"the other limits force at least {_money(bound + over, numeraire)}"
                     + (f"; binding: {binding}" if binding else ""))
    # Name as competitors only the met services that share an eligible stake with one short.
    stakes_of = instance.pairs.groupby("service_pos")["stake_pos"].agg(set)
    rivals = [services.index[s] for s in met
              if any(stakes_of.get(s, set()) & stakes_of.get(t, set()) for t in short)]
    if found and rivals:
        found.append("competing for the same stake with the required service(s) "
                     + ", ".join(rivals))
    return found


def _duals_with_binaries_fixed(built: AllocationModel, options: SolveOptions,
                               outcome: object) -> dict[str, dict[object, float]]:
    """Row duals of the elastic LP with every binary fixed at the elastic MILP's values."""
    for var, value in zip(outcome.columns, outcome.column_values, strict=True):
        if var.is_integer():
            var.fix(round(float(value)))
    fixed = solve_model(built, options)
    return fixed.row_duals


def _tight_holder_caps(built: AllocationModel, value: Callable[[pyo.Var], float]) -> str:
    """Holders opted into as many services as ``max_services`` allows, at the elastic MILP."""
    model = built.model
    if not hasattr(model, "max_services"):
        return ""
    holders = built.instance.holders
    tight = []
    for h in model.max_services:
        used = sum(value(model.opted_in[key]) for key in model.opted_in if key[0] == h)
        if used >= holders["max_services"].iloc[h] - 0.5:
            tight.append(f"max_services of holder {holders.index[h]}")
    return ", ".join(tight)


def _binding_limits(built: AllocationModel, duals: dict[str, dict[object, float]]) -> str:
    """The families whose rows have a nonzero dual, with a few of their rows named."""
    instance = built.instance
    stakes, services, holders = instance.stakes.index, instance.services.index, \
        instance.holders.index
    describe: dict[str, Callable[..., str]] = {
        "restaking_degree": lambda i: f"max_restaking of stake {stakes[i]}",
        "expected_loss_budget": lambda i: f"max_expected_loss of stake {stakes[i]}",
        "worst_case_all": lambda i: f"max_worst_case_loss of stake {stakes[i]}",
        "worst_case_budget": lambda i: f"max_worst_case_loss of stake {stakes[i]}",
        "group_exposure": lambda key: f"max_exposure of group {key[1]} for stake "
                                      f"{stakes[key[0]]}",
        "holder_concentration": lambda key: f"max_holder_share of service {services[key[1]]} "
                                            f"for holder {holders[key[0]]}",
        "min_allocation": lambda key: f"min_allocation of service {services[key[1]]} for "
                                      f"holder {holders[key[0]]}",
        "max_services": lambda h: f"max_services of holder {holders[h]}",
        "opt_in_link": lambda p: f"holder {instance.pairs['holder'].iloc[p]} not opted into "
                                 f"service {instance.pairs['service'].iloc[p]}",
        "cvar_limit_elastic": lambda _: "cvar_limit",
        "turnover_limit_elastic": lambda _: "turnover_limit",
    }
    named: list[str] = []
    for family, rows in duals.items():
        if family not in describe:
            continue
        for key, dual in rows.items():
            if abs(dual) > 1e-9:
                named.append(describe[family](key))
    named = list(dict.fromkeys(named))
    if len(named) > MAX_NAMED:
        return ", ".join(named[:MAX_NAMED]) + f" and {len(named) - MAX_NAMED} more"
    return ", ".join(named)
