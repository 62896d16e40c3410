"""Family 11, transition exposure: every stake limit also holds for w = max(x0, x).

On EigenLayer a decrease keeps the old magnitude encumbered and slashable until the
deallocation delay has passed (about 14 days; on Symbiotic, up to one vault epoch),
while an increase needs free magnitude at once. So while the move from the current
allocation x0 (the ``current`` table) to x is under way, pair (i, s) is exposed at
w_{i,s} = max(x0_{i,s}, x_{i,s}). With the parameter ``transition_exposure`` the stake
limits of families 1 to 4 also hold for w, and x can be reached in one stage: for unique
stake, sum_s w_{i,s} <= 1 is "encumbered magnitude <= max magnitude".

Formulation: w = x + e, with an excess e_{i,s} >= x0_{i,s} - x_{i,s}, e >= 0
(``transition_excess_definition``), only on pairs with x0 > 0; elsewhere w = x. A pair
no longer eligible but with a current allocation has x = 0, so w = x0 there, a constant
that lowers its stake's bounds (like family 10, where it counts as fully moved). The
rows of a covered stake (``in_flight``: one with a current allocation anywhere) are the
nominal ones with w for x:

- ``transition_restaking_degree``: sum_s (x + e) <= L_i - stranded x0;
- ``transition_expected_loss_budget``: sum_s p_s f_s (x + e) <= b_i - stranded p f x0; with
  an active ``uncertainty_budget`` Gamma (family 12) the robust budget instead, for w:
  sum_s p_s f_s w + Gamma z_i + sum_s q_{i,s} <= b_i, z_i + q_{i,s} >= (p_s^high - p_s)
  f_s w_{i,s} (``transition_robust_*``): the budget the stake keeps, kept in flight;
- the worst case of k slashings: for k = 1 the bound x <= c_i / f_s already keeps
  f_s max(x0, x) <= c_i unless f_s x0 > c_i, so rows are written only for a stake whose
  current allocation alone breaks it (the model is then infeasible, and says which
  limit); for k >= 2, ``transition_worst_case_all`` (k at least the slashable services,
  stranded ones included) or ``transition_worst_case_budget`` and its definitions;
- ``transition_group_exposure``: sum_{s in g} (x + e) <= G_g - stranded x0 in g.

Each implies the nominal row of its stake (w >= x and the limit grows with each w), so
the nominal families leave a covered stake out: one row, priced once, per limit, as
family 12 does for the budgets. A row is written only where it can bind: its reach, w at
max(x0, bound of x) on every pair, exceeds the limit (every row with ``keep_all_rows``).
e is created only on the pairs of stakes that have a row. With the parameter off, or no
current allocation, the family adds nothing (its components are empty): the model is the
one without it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Describe, Family, ObjectiveTerm, RowBlock
from optimizer.model.groups import group_members
from optimizer.model.in_flight import InFlight, in_flight
from optimizer.model.loss_limits import (
    pair_loss_rate,
    pair_slash_fraction,
    robust_loss_active,
    service_loss_deviation,
    service_loss_rate,
    uncertainty_budget,
)
from optimizer.model.rows import MatrixRows

EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _Plan:
    """The rows family 11 writes: the stakes of each block, chosen before any variable."""

    restaking: np.ndarray
    loss: np.ndarray
    robust: bool
    mesh: np.ndarray
    general: np.ndarray
    groups: list[tuple[str, np.ndarray, np.ndarray]]  # (group, member services, stakes)

    def stakes(self, count: int) -> np.ndarray:
        """Per stake, whether some block has a row for it."""
        used = np.zeros(count, dtype=bool)
        for chosen in (self.restaking, self.loss, self.mesh, self.general,
                       *(stakes for _, _, stakes in self.groups)):
            used[chosen] = True
        return used


def add_transition(context: BuildContext) -> list[ObjectiveTerm]:
    """Add the excess e, its definitions and the stake limits for w = x + e."""
    model, instance, index = context.model, context.instance, context.index
    flight = in_flight(instance)
    count, n_pairs = len(instance.stakes), len(index.upper)
    plan = _plan(context, flight)
    held = np.flatnonzero((flight.x0 > 0) & plan.stakes(count)[index.stake_pos])
    n_held = len(held)
    model.transition_excess = pyo.Var(
        held.tolist(), domain=pyo.NonNegativeReals,
        doc="e_{i,s} >= x0_{i,s} - x_{i,s}: the current allocation still encumbered while it "
            "is decreased, so that w_{i,s} = x_{i,s} + e_{i,s} (fraction of stake)")
    rows = np.arange(n_held)
    model.transition_excess_definition = MatrixRows(
        held.tolist(), [model.x_alloc, model.transition_excess], np.r_[rows, rows],
        np.r_[held, n_pairs + rows], np.ones(2 * n_held), lower=flight.x0[held], upper=np.nan,
        doc="x_{i,s} + e_{i,s} >= x0_{i,s} (fraction of stake)")
    e_column = np.full(n_pairs, -1, dtype=np.int64)
    e_column[held] = n_pairs + rows
    parts = [model.x_alloc, model.transition_excess]
    stakes = instance.stakes
    stranded_ones = flight.stranded_per_stake(np.ones(len(flight.stranded_stake)), count)

    owner, pair, coefficient = _linear(index.stake_pos, plan.restaking, count,
                                       np.ones(n_pairs), e_column)
    model.transition_restaking_degree = MatrixRows(
        plan.restaking.tolist(), parts, owner, pair, coefficient, lower=np.nan,
        upper=stakes["max_restaking"].to_numpy()[plan.restaking] - stranded_ones[plan.restaking],
        doc="sum_s w_{i,s} <= L_i, w = x + e, less the current allocation on pairs no longer "
            "eligible (fraction of stake)")

    budget = stakes["max_expected_loss"].to_numpy()
    rate = pair_loss_rate(instance)
    stranded_rate = service_loss_rate(instance)[flight.stranded_service]
    nominal = EMPTY if plan.robust else plan.loss
    owner, pair, coefficient = _linear(index.stake_pos, nominal, count, rate, e_column)
    model.transition_expected_loss_budget = MatrixRows(
        nominal.tolist(), parts, owner, pair, coefficient, lower=np.nan,
        upper=budget[nominal] - flight.stranded_per_stake(stranded_rate, count)[nominal],
        doc="sum_s p_s f_s w_{i,s} <= b_i (fraction of stake value per year)")
    robust = plan.loss if plan.robust else EMPTY
    deviation = service_loss_deviation(instance)
    _add_largest(context, flight, e_column, robust, uncertainty_budget(instance),
                 (deviation[index.service_pos], deviation[flight.stranded_service]),
                 (rate, stranded_rate), budget, "robust")

    slash = instance.services["slash_fraction"].to_numpy()
    pair_slash, stranded_slash = pair_slash_fraction(instance), slash[flight.stranded_service]
    worst = stakes["max_worst_case_loss"].to_numpy()
    owner, pair, coefficient = _linear(index.stake_pos, plan.mesh, count, pair_slash, e_column)
    model.transition_worst_case_all = MatrixRows(
        plan.mesh.tolist(), parts, owner, pair, coefficient, lower=np.nan,
        upper=worst[plan.mesh] - flight.stranded_per_stake(stranded_slash, count)[plan.mesh],
        doc="k >= slashable services: sum_s f_s w_{i,s} <= c_i (fraction of stake value)")
    zeros = (np.zeros(n_pairs), np.zeros(len(stranded_slash)))
    _add_largest(context, flight, e_column, plan.general,
                 float(instance.parameters.worst_case_k), (pair_slash, stranded_slash), zeros,
                 worst, "worst_case")

    _add_groups(context, flight, e_column, plan)
    return []


def _plan(context: BuildContext, flight: InFlight) -> _Plan:
    """Which covered stakes get a row in each block: those whose limit w could exceed."""
    instance, index = context.instance, context.index
    stakes, count = instance.stakes, len(instance.stakes)
    covered, keep = flight.covered, context.keep_all_rows
    peak = np.maximum(flight.x0, index.upper)  # the largest w of each pair

    def reach(pair_weight: np.ndarray, stranded_weight: np.ndarray) -> np.ndarray:
        return (np.bincount(index.stake_pos, weights=pair_weight * peak, minlength=count)
                + flight.stranded_per_stake(stranded_weight, count))

    n_stranded = len(flight.stranded_stake)
    limit = stakes["max_restaking"].to_numpy()
    restaking = np.flatnonzero(covered & ((reach(np.ones(len(peak)), np.ones(n_stranded))
                                           > limit) | keep))
    budget = stakes["max_expected_loss"].to_numpy()
    robust = robust_loss_active(instance)
    loss_rate = service_loss_rate(instance) + (service_loss_deviation(instance) if robust
                                               else 0.0)
    loss = np.flatnonzero(covered & ~np.isnan(budget)
                          & ((reach(loss_rate[index.service_pos],
                                    loss_rate[flight.stranded_service]) > budget) | keep))
    mesh, general = _worst_case_stakes(context, flight, peak)
    groups = []
    for group, services in group_members(instance).items():
        inside = np.isin(index.service_pos, services).astype(float)
        exposure = reach(inside, np.isin(flight.stranded_service, services).astype(float))
        chosen = np.flatnonzero(covered & ((exposure > instance.groups["max_exposure"][group])
                                           | keep & (exposure > 0)))
        groups.append((group, services, chosen))
    return _Plan(restaking, loss, robust, mesh, general, groups)


def _worst_case_stakes(context: BuildContext, flight: InFlight,
                       peak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The covered stakes whose worst case of k slashings gets a mesh or a general row.

    With k = 1 only those whose current allocation alone breaks c_i (general form, k = 1):
    otherwise the bound x <= c_i / f_s keeps every f_s w_{i,s} within c_i.
    """
    instance, index = context.instance, context.index
    k = instance.parameters.worst_case_k
    budget = instance.stakes["max_worst_case_loss"].to_numpy()
    slash = pair_slash_fraction(instance)
    stranded_load = (instance.services["slash_fraction"].to_numpy()[flight.stranded_service]
                     * flight.stranded_fraction)
    mesh: list[int] = []
    general: list[int] = []
    for i in np.flatnonzero(flight.covered & ~np.isnan(budget)):
        pairs = index.by_stake[i]
        loads = np.r_[slash[pairs] * (flight.x0[pairs] if k == 1 else peak[pairs]),
                      stranded_load[flight.stranded_stake == i]]
        loads = np.sort(loads[loads > 0])[::-1]
        if k == 1:
            if len(loads) and loads[0] > budget[i]:
                general.append(int(i))
            continue
        slashable = int((slash[pairs] > 0).sum()) + int(
            ((stranded_load > 0) & (flight.stranded_stake == i)).sum())
        if not slashable or loads[:k].sum() <= budget[i] and not context.keep_all_rows:
            continue
        (mesh if slashable <= k else general).append(int(i))
    return np.asarray(mesh, dtype=np.int64), np.asarray(general, dtype=np.int64)


def _linear(owner: np.ndarray, chosen: np.ndarray, count: int, coefficient: np.ndarray,
            e_column: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzeros of the rows sum_p coefficient[p] w_p over the pairs of each chosen owner.

    w_p is x_p (column p) plus, on a pair with an excess, e_p (column ``e_column[p]``).
    """
    row_of = np.full(count, -1, dtype=np.int64)
    row_of[chosen] = np.arange(len(chosen))
    pairs = np.flatnonzero((row_of[owner] >= 0) & (coefficient != 0))
    with_e = pairs[e_column[pairs] >= 0]
    return (np.r_[row_of[owner[pairs]], row_of[owner[with_e]]],
            np.r_[pairs, e_column[with_e]], np.r_[coefficient[pairs], coefficient[with_e]])


def _add_largest(context: BuildContext, flight: InFlight, e_column: np.ndarray,
                 stakes: np.ndarray, order: float, load: tuple[np.ndarray, np.ndarray],
                 base: tuple[np.ndarray, np.ndarray], bound: np.ndarray, prefix: str) -> None:
    """Rows sum_s base w + order t_i + sum_s v_{i,s} <= bound_i, v_{i,s} >= load w - t_i.

    The sum of the ``order`` largest ``load`` x w of each stake (fractional ``order``: the
    next one in part), plus its ``base`` x w, at most its bound (Ogryczak and Tamir's
    form, which is also the dual of family 12's worst subset). ``load`` and ``base`` are
    given per eligible pair and per stranded row (where w is the constant x0). Adds
    ``transition_{prefix}_threshold`` (t), ``transition_{prefix}_excess`` (v, keyed by
    (stake, service) positions), ``transition_{prefix}_excess_definition`` and the budget
    rows (``transition_worst_case_budget``, ``transition_robust_loss_budget``).
    """
    model, index = context.model, context.index
    count, n_pairs = len(context.instance.stakes), len(index.upper)
    pair_load, stranded_load = load
    row_of = np.full(count, -1, dtype=np.int64)
    row_of[stakes] = np.arange(len(stakes))
    pairs = np.flatnonzero((row_of[index.stake_pos] >= 0) & (pair_load > 0))
    stranded = np.flatnonzero((row_of[flight.stranded_stake] >= 0) & (stranded_load > 0))
    key_stake = np.r_[index.stake_pos[pairs], flight.stranded_stake[stranded]]
    key_service = np.r_[index.service_pos[pairs], flight.stranded_service[stranded]]
    order_of = np.lexsort((key_service, key_stake))
    keys = list(zip(key_stake[order_of].tolist(), key_service[order_of].tolist(), strict=True))
    n_v, n_t, n_e = len(keys), len(stakes), len(model.transition_excess)
    unit = "fraction of stake value" + (" per year" if prefix == "robust" else "")
    threshold = pyo.Var(stakes.tolist(), domain=pyo.NonNegativeReals,
                        doc=f"t_i, the least of the stake's largest in-flight loads ({unit})")
    excess = pyo.Var(keys, domain=pyo.NonNegativeReals,
                     doc=f"v_{{i,s}} >= load_{{i,s}} w_{{i,s}} - t_i ({unit})")
    model.add_component(f"transition_{prefix}_threshold", threshold)
    model.add_component(f"transition_{prefix}_excess", excess)
    parts = [model.x_alloc, model.transition_excess, threshold, excess]
    t_column, v_column = n_pairs + n_e, n_pairs + n_e + n_t
    # Definition m (in key order): v_m + t_i - load (x + e) >= 0, or v_m + t_i >= load x0.
    position = np.empty(n_v, dtype=np.int64)
    position[order_of] = np.arange(n_v)
    eligible_rows = position[:len(pairs)]
    with_e = e_column[pairs] >= 0
    m = np.arange(n_v)
    lower = np.zeros(n_v)
    lower[position[len(pairs):]] = stranded_load[stranded] * flight.stranded_fraction[stranded]
    owner_row = row_of[key_stake[order_of]]
    model.add_component(f"transition_{prefix}_excess_definition", MatrixRows(
        keys, parts,
        rows=np.r_[m, m, eligible_rows, eligible_rows[with_e]],
        columns=np.r_[v_column + m, t_column + owner_row, pairs, e_column[pairs][with_e]],
        coefficients=np.r_[np.ones(2 * n_v), -pair_load[pairs], -pair_load[pairs][with_e]],
        lower=lower, upper=np.nan,
        doc=f"v_{{i,s}} + t_i >= load_{{i,s}} w_{{i,s}} ({unit})"))
    owner, pair, coefficient = _linear(index.stake_pos, stakes, count, base[0], e_column)
    constant = flight.stranded_per_stake(base[1], count)[stakes]
    name = "transition_worst_case_budget" if prefix == "worst_case" else \
        "transition_robust_loss_budget"
    model.add_component(name, MatrixRows(
        stakes.tolist(), parts,
        rows=np.r_[owner, np.arange(n_t), owner_row],
        columns=np.r_[pair, t_column + np.arange(n_t), v_column + m],
        coefficients=np.r_[coefficient, np.full(n_t, order), np.ones(n_v)],
        lower=np.nan, upper=bound[stakes] - constant,
        doc=f"sum_s base w + order t_i + sum_s v_{{i,s}} <= the stake's limit ({unit})"))


def _add_groups(context: BuildContext, flight: InFlight, e_column: np.ndarray,
                plan: _Plan) -> None:
    """``transition_group_exposure[i, g]``: sum_{s in g} w_{i,s} <= G_g."""
    model, instance, index = context.model, context.instance, context.index
    count = len(instance.stakes)
    keys: list[tuple[int, str]] = []
    rows, columns, coefficients, bounds = [EMPTY], [EMPTY], [np.zeros(0)], [np.zeros(0)]
    for group, services, stakes in plan.groups:
        inside = np.isin(index.service_pos, services).astype(float)
        owner, pair, coefficient = _linear(index.stake_pos, stakes, count, inside, e_column)
        stranded = flight.stranded_per_stake(
            np.isin(flight.stranded_service, services).astype(float), count)[stakes]
        rows.append(len(keys) + owner)
        columns.append(pair)
        coefficients.append(coefficient)
        bounds.append(float(instance.groups["max_exposure"][group]) - stranded)
        keys.extend((int(i), group) for i in stakes)
    model.transition_group_exposure = MatrixRows(
        keys, [model.x_alloc, model.transition_excess], np.concatenate(rows),
        np.concatenate(columns), np.concatenate(coefficients), lower=np.nan,
        upper=np.concatenate(bounds),
        doc="sum over the group's services of w_{i,s} <= G_g (fraction of stake)")


def _during(column: str) -> Describe:
    return lambda instance, i: (f"{column} of stake {instance.stakes.index[i]} "
                                "during the transition")


def _robust_during(instance: Instance, i: object) -> str:
    return (f"max_expected_loss of stake {instance.stakes.index[i]} "  # type: ignore[index]
            f"during the transition (uncertainty_budget {uncertainty_budget(instance):g}: its "
            "worst services at slash_probability_high)")


FAMILY = Family(
    name="transition_exposure", number="11",
    title="stake limits 1-4 for the in-flight exposure max(x0, x) while decreases wait out "
          "their delay",
    add=add_transition,
    rows=(RowBlock("transition_excess_definition", "pair", "fraction of stake"),
          RowBlock("transition_restaking_degree", "stake", "fraction of stake",
                   "stakes.max_restaking", describe=_during("max_restaking")),
          RowBlock("transition_expected_loss_budget", "stake",
                   "fraction of stake value per year", "stakes.max_expected_loss",
                   describe=_during("max_expected_loss")),
          RowBlock("transition_robust_excess_definition", "stake",
                   "fraction of stake value per year"),
          RowBlock("transition_robust_loss_budget", "stake", "fraction of stake value per year",
                   "stakes.max_expected_loss", describe=_robust_during),
          RowBlock("transition_worst_case_all", "stake", "fraction of stake value",
                   "stakes.max_worst_case_loss", describe=_during("max_worst_case_loss")),
          RowBlock("transition_worst_case_excess_definition", "stake",
                   "fraction of stake value"),
          RowBlock("transition_worst_case_budget", "stake", "fraction of stake value",
                   "stakes.max_worst_case_loss", describe=_during("max_worst_case_loss")),
          RowBlock("transition_group_exposure", "stake-group", "fraction of stake",
                   "groups.max_exposure",
                   describe=lambda instance, key: f"max_exposure of group {key[1]} for stake "
                                                  f"{instance.stakes.index[key[0]]} during "
                                                  "the transition")),
    checks=("transition_exposure",))
