"""Why an instance is infeasible, in the instance's own names.

Every limit of the model is met by the empty allocation except four: a pair's
``min_fraction`` (eligibility), a required service's minimum security, a CVaR limit
(which a minimum can force above its budget) and a turnover limit (which holds the
allocation near the current one). So an instance is infeasible exactly when these cannot
be met together with the other limits, and the explanation says which, in steps:

1. a pair's ``min_fraction`` above the bound ``max_worst_case_loss / slash_fraction``
   sets it with k = 1 (the load refuses one above ``max_per_service`` or ``max_fraction``);
2. a required minimum above the service's own capacity;
3. a required minimum above all the eligible stake could give it (each stake at its
   per-service cap m_i, and c_i / f_s with k = 1, at most L_i and its group limits);
4. otherwise an elastic re-solve: the same model with a priced slack on each of those
   rows (a shortfall on each pair minimum and required minimum, an excess on the CVaR and
   turnover limits), minimizing their total relative size. The rows left with slack are
   named, with the limits that bind at that solution (row duals of the LP; for a MILP,
   of the LP with its binaries fixed at the elastic solution).
"""

from __future__ import annotations

import numpy as np

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import pair_bounds, rule_words
from optimizer.instance.scenarios import ScenarioSet
from optimizer.model.build import AllocationModel, build_model, pair_upper_bound
from optimizer.model.families import ROW_BLOCKS
from optimizer.model.index import PairIndex
from optimizer.model.services import security_upper_bound
from optimizer.solve.highs import HighsSession
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
    found = _pair_minimum_above_bound(instance)
    if found:
        return found
    for s in (int(s) for s in required):
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
    return found or ["HiGHS proved the instance infeasible, but relaxing the pair minimums "
                     "(min_fraction), the required minimum securities, the CVaR limit and the "
                     "turnover limit did not isolate the conflict"]


def _pair_minimum_above_bound(instance: Instance) -> list[str]:
    """Pairs whose ``min_fraction`` is above the bound c_i / f_s (k = 1), one sentence each."""
    bounds = pair_bounds(instance)
    upper = pair_upper_bound(instance, bounds)
    found = []
    pairs = instance.pairs
    for p in np.flatnonzero(bounds.lower > upper * (1 + 1e-9) + 1e-12)[:MAX_NAMED]:
        rule = rule_words(instance.eligibility, int(bounds.lower_row[p]))
        found.append(f"stake {pairs['stake'].iloc[p]} must put at least {bounds.lower[p]:.6g} "
                     f"of itself behind service {pairs['service'].iloc[p]} "
                     f"(eligibility.min_fraction of {rule}), but its max_worst_case_loss / "
                     f"slash_fraction allows at most {upper[p]:.6g} (worst_case_k = 1)")
    return found


def _elastic(instance: Instance, options: SolveOptions, scenarios: ScenarioSet | None,
             required: np.ndarray) -> list[str]:
    built = build_model(instance, scenarios, elastic=True)
    scale = built.scale  # the model is in units of scale numeraire
    session = HighsSession(built, options)
    session.run(options.time_limit)
    if session.status() not in ("optimal", "feasible") or not session.has_solution():
        return []
    model = built.model
    shortfall = dict(zip(model.shortfall.keys(), session.values("shortfall") * scale,
                         strict=True)) if hasattr(model, "shortfall") else {}
    excess = {name: float(session.values(f"{name}_excess")[0]) * scale
              for name in ("cvar_limit", "turnover_limit") if hasattr(model, f"{name}_excess")}
    pair_short = dict(zip(model.pair_shortfall.keys(), session.values("pair_shortfall"),
                          strict=True)) if len(model.pair_shortfall) else {}
    tight = _tight_holder_caps(built, session) if session.is_mip else ""
    if session.is_mip:
        # Duals of the LP with the binaries fixed at the elastic MILP's choices.
        session.fix_integers()
        session.run(options.time_limit)
    binding = ", ".join(filter(None, [tight, _binding_limits(built, session)]))
    minimum = instance.effective_min_security.to_numpy()
    services, numeraire = instance.services, instance.numeraire
    found = []
    met = []
    short = []
    for s in (int(s) for s in required):
        gap = shortfall.get(s, 0.0)
        if gap <= SLACK_TOLERANCE * max(1.0, minimum[s]):
            met.append(s)
            continue
        short.append(s)
        found.append(f"service {services.index[s]} requires {_money(minimum[s], numeraire)} of "
                     f"security {_why_minimum(instance, s)} but together with the other limits "
                     f"at most {_money(minimum[s] - gap, numeraire)} can reach it"
                     + (f"; binding: {binding}" if binding else ""))
    found += _short_pairs(built, pair_short, binding)
    words = {"cvar_limit": "CVaR of the slashing loss",
             "turnover_limit": "value moved from the current allocation"}
    for name, over in excess.items():
        bound = float(getattr(instance.parameters, name))
        if over <= SLACK_TOLERANCE * max(1.0, bound):
            continue
        found.append(f"the {words[name]} must stay within {_money(bound, numeraire)} ({name}) "
                     f"but the other limits force at least {_money(bound + over, numeraire)}"
                     + (f"; binding: {binding}" if binding else ""))
    # Name as competitors only the met services that share an eligible stake with one short.
    stakes_of = instance.pairs.groupby("service_pos")["stake_pos"].agg(set)
    rivals = [services.index[s] for s in met
              if any(stakes_of.get(s, set()) & stakes_of.get(t, set()) for t in short)]
    if found and rivals:
        found.append("competing for the same stake with the required service(s) "
                     + ", ".join(rivals))
    return found


def _short_pairs(built: AllocationModel, shortfall: dict[object, float],
                 binding: str) -> list[str]:
    """One sentence per pair whose ``min_fraction`` the elastic solution leaves short."""
    instance = built.instance
    bounds = pair_bounds(instance)
    pairs = instance.pairs
    found = []
    for key, gap in shortfall.items():
        p = int(key)  # type: ignore[call-overload]
        minimum = float(bounds.lower[p])
        if gap <= SLACK_TOLERANCE * max(1.0, minimum):
            continue
        rule = rule_words(instance.eligibility, int(bounds.lower_row[p]))
        found.append(f"stake {pairs['stake'].iloc[p]} must put at least {minimum:.6g} of "
                     f"itself behind service {pairs['service'].iloc[p]} "
                     f"(eligibility.min_fraction of {rule}), but together with the other "
                     f"limits at most {minimum - gap:.6g} can go there"
                     + (f"; binding: {binding}" if binding else ""))
    return found


def _tight_holder_caps(built: AllocationModel, session: HighsSession) -> str:
    """Holders opted into as many services as ``max_services`` allows, at the elastic MILP."""
    model = built.model
    if not len(model.max_services):
        return ""
    holders = built.instance.holders
    opted = dict(zip(model.opted_in.keys(), session.values("opted_in"), strict=True))
    tight = []
    for h in model.max_services:
        used = sum(value for key, value in opted.items() if key[0] == h)
        if used >= holders["max_services"].iloc[h] - 0.5:
            tight.append(f"max_services of holder {holders.index[h]}")
    return ", ".join(tight)


def _binding_limits(built: AllocationModel, session: HighsSession) -> str:
    """The limits whose rows have a nonzero dual, in the instance's words (a few named).

    A row that a binary switches on (``RowBlock.switched_by``) is named only where the
    binary is 1 at the solution: elsewhere it is no limit of the user's.
    """
    named: list[str] = []
    for family, rows in session.row_duals().items():
        block = ROW_BLOCKS[family]
        if block.describe is None:
            continue
        switched_on = _switched_on(built, session, block.switched_by)
        for key, dual in rows.items():
            if abs(dual) > 1e-9 and (switched_on is None or switched_on.get(key, False)):
                named.append(block.describe(built.instance, key))
    named = list(dict.fromkeys(named))
    if len(named) > MAX_NAMED:
        return ", ".join(named[:MAX_NAMED]) + f" and {len(named) - MAX_NAMED} more"
    return ", ".join(named)


def _switched_on(built: AllocationModel, session: HighsSession,
                 binary: str | None) -> dict[object, bool] | None:
    """Which keys of the binary component ``binary`` are 1 (None without a binary)."""
    if binary is None:
        return None
    component = getattr(built.model, binary)
    return dict(zip(component.keys(), session.values(binary) > 0.5, strict=True))
