"""Family 12: the robust expected loss (budgeted uncertainty, Bertsimas and Sim).

Each service's slash probability may lie anywhere up to ``slash_probability_high``; with
the parameter ``uncertainty_budget`` Gamma, at most Gamma services (a fractional Gamma
lets one more go part of the way) take their high value at once, and the worst such
choice is protected against. The worst case of a linear loss over that set,

    max { sum_s u_s d_s : 0 <= u_s <= 1, sum_s u_s <= Gamma },   d_s >= 0,

is an LP whose dual is min { Gamma z + sum_s q_s : z + q_s >= d_s, z, q >= 0 }; at the
optimum it is the sum of the floor(Gamma) largest d_s plus the fractional part of Gamma
times the next. So the robust counterpart stays an exact LP:

- per stake i with a budget b_i, with d_{i,s} = (p_s^high - p_s) f_s x_{i,s}
  (``robust_loss_budget``, fraction of stake value per year; one z_i and one q_{i,s} per
  pair that can deviate):
  sum_s p_s f_s x_{i,s} + Gamma z_i + sum_s q_{i,s} <= b_i,
  z_i + q_{i,s} >= (p_s^high - p_s) f_s x_{i,s};
- once for the portfolio (``robust_objective_excess_definition``, numeraire per year),
  with d_s = (p_s^high - p_s) f_s X_s: the objective loses Gamma z + sum_s q_s, and
  z + q_s >= (p_s^high - p_s) f_s X_s.

A service without ``slash_probability_high`` cannot deviate. Where Gamma is 0 or unset,
or no service can deviate, the family adds no variable, row or term (its components are
empty) and ``expected_loss_budget`` keeps its nominal rows: the model is the nominal one
exactly. Otherwise the robust rows replace the nominal budget rows (which they imply,
z and q being >= 0), so one stake's ``max_expected_loss`` is one row, priced once.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.in_flight import covered_stakes
from optimizer.model.loss_limits import (
    pair_loss_rate,
    robust_loss_active,
    service_loss_deviation,
    uncertainty_budget,
)
from optimizer.model.rows import MatrixRows, rows_by_owner


def add_robust_loss(context: BuildContext) -> list[ObjectiveTerm]:
    """Add the robust expected-loss budgets of the stakes and the objective's robust term."""
    active = robust_loss_active(context.instance)
    _add_stake_rows(context, active)
    return _add_portfolio_term(context, active and not context.elastic)


def _add_stake_rows(context: BuildContext, active: bool) -> None:
    """``robust_loss_budget[i]`` and its definitions, where b_i is set and could bind."""
    model, instance, index = context.model, context.instance, context.index
    budget = instance.stakes["max_expected_loss"].to_numpy()
    count = len(budget)
    gamma = uncertainty_budget(instance)
    rate = pair_loss_rate(instance)
    deviation = service_loss_deviation(instance)[index.service_pos]
    # Every service at its high value at once is the worst any Gamma allows.
    reach = np.bincount(index.stake_pos, weights=(rate + deviation) * index.upper,
                        minlength=count)
    has_pairs = np.bincount(index.stake_pos, minlength=count) > 0
    stakes = np.flatnonzero(has_pairs & ~np.isnan(budget)
                            & ((reach > budget) | context.keep_all_rows)
                            & ~covered_stakes(instance))  # family 11 writes those for w
    if not active:
        stakes = stakes[:0]
    # The pairs that can deviate, stake by stake: one q_{i,s} and one definition row each.
    owner, excess_pairs, excess_deviation = rows_by_owner(index.stake_pos, stakes, count,
                                                          deviation)
    order = np.argsort(owner, kind="stable")
    owner, excess_pairs, excess_deviation = (owner[order], excess_pairs[order],
                                             excess_deviation[order])
    threshold_rows = np.unique(owner)  # budget rows (positions in ``stakes``) with a z_i
    threshold_of_row = np.full(len(stakes), -1, dtype=np.int64)
    threshold_of_row[threshold_rows] = np.arange(len(threshold_rows))
    model.robust_loss_excess = pyo.Var(
        excess_pairs.tolist(), domain=pyo.NonNegativeReals,
        doc="q_{i,s} >= (p_s^high - p_s) f_s x_{i,s} - z_i (fraction of stake value per year)")
    model.robust_loss_threshold = pyo.Var(
        stakes[threshold_rows].tolist(), domain=pyo.NonNegativeReals,
        doc="z_i, the stake's smallest deviation still counted whole in its worst case "
            "(fraction of stake value per year)")
    # Columns: x (one per pair), then q (one per definition row), then z (one per stake).
    n_pairs, n_excess, n_thresholds = len(index.upper), len(excess_pairs), len(threshold_rows)
    excess_rows = np.arange(n_excess)
    threshold_column = n_pairs + n_excess + threshold_of_row[owner]
    model.robust_loss_excess_definition = MatrixRows(
        excess_pairs.tolist(),
        [model.x_alloc, model.robust_loss_excess, model.robust_loss_threshold],
        rows=np.concatenate([excess_rows, excess_rows, excess_rows]),
        columns=np.concatenate([n_pairs + excess_rows, threshold_column, excess_pairs]),
        coefficients=np.concatenate([np.ones(n_excess), np.ones(n_excess), -excess_deviation]),
        lower=0.0, upper=np.nan,
        doc="z_i + q_{i,s} >= (p_s^high - p_s) f_s x_{i,s} (fraction of stake value per year)")
    loss_rows, loss_pairs, loss_rates = rows_by_owner(index.stake_pos, stakes, count, rate)
    model.robust_loss_budget = MatrixRows(
        stakes.tolist(),
        [model.x_alloc, model.robust_loss_excess, model.robust_loss_threshold],
        rows=np.concatenate([loss_rows, owner, threshold_rows]),
        columns=np.concatenate([loss_pairs, n_pairs + excess_rows,
                                n_pairs + n_excess + np.arange(n_thresholds)]),
        coefficients=np.concatenate([loss_rates, np.ones(n_excess),
                                     np.full(n_thresholds, gamma)]),
        lower=np.nan, upper=budget[stakes],
        doc="sum_s p_s f_s x_{i,s} + Gamma z_i + sum_s q_{i,s} <= b_i: the expected loss "
            "with the worst Gamma services at p_s^high (fraction of stake value per year)")


def _add_portfolio_term(context: BuildContext, active: bool) -> list[ObjectiveTerm]:
    """The objective's worst-case deviation, Gamma z + sum_s q_s, and its definition rows."""
    model, instance, index = context.model, context.instance, context.index
    n_services = len(instance.services)
    deviation = service_loss_deviation(instance)
    has_pairs = np.bincount(index.service_pos, minlength=n_services) > 0
    services = np.flatnonzero((deviation > 0) & has_pairs) if active else np.zeros(0, int)
    n_rows = len(services)
    # One component holds q_s (keyed by service position) and, last, z (keyed by the
    # number of services): the robust term is one ``ObjectiveTerm`` over it.
    model.robust_objective_dual = pyo.Var(
        services.tolist() + ([n_services] if n_rows else []), domain=pyo.NonNegativeReals,
        doc="q_s >= (p_s^high - p_s) f_s X_s - z for each service s that can deviate, then z "
            "(key: the number of services): the portfolio's worst case, Gamma z + sum_s q_s "
            "(numeraire per year)")
    row_of = np.full(n_services, -1, dtype=np.int64)
    row_of[services] = np.arange(n_rows)
    pairs = np.flatnonzero(row_of[index.service_pos] >= 0)
    n_pairs = len(index.upper)
    rows = np.arange(n_rows)
    model.robust_objective_excess_definition = MatrixRows(
        services.tolist(), [model.x_alloc, model.robust_objective_dual],
        rows=np.concatenate([rows, rows, row_of[index.service_pos[pairs]]]),
        columns=np.concatenate([n_pairs + rows, np.full(n_rows, n_pairs + n_rows), pairs]),
        coefficients=np.concatenate([np.ones(n_rows), np.ones(n_rows),
                                     -deviation[index.service_pos[pairs]] * index.value[pairs]]),
        lower=0.0, upper=np.nan,
        doc="z + q_s >= (p_s^high - p_s) f_s X_s (numeraire per year)")
    if not n_rows:
        return []
    cost = -np.r_[np.ones(n_rows), uncertainty_budget(instance)]
    return [ObjectiveTerm("worst-case extra expected loss of Gamma services at p_s^high",
                          model.robust_objective_dual, cost)]


def _robust_budget(instance: Instance, i: object) -> str:
    return (f"max_expected_loss of stake {instance.stakes.index[i]} "  # type: ignore[index]
            f"(uncertainty_budget {uncertainty_budget(instance):g}: its worst services at "
            "slash_probability_high)")


FAMILY = Family(
    name="robust_expected_loss", number="12",
    title="expected loss with the worst Gamma services at their high slash probability",
    add=add_robust_loss,
    rows=(RowBlock("robust_loss_excess_definition", "pair",
                   "fraction of stake value per year"),
          RowBlock("robust_loss_budget", "stake", "fraction of stake value per year",
                   "stakes.max_expected_loss", describe=_robust_budget),
          RowBlock("robust_objective_excess_definition", "service", "numeraire per year",
                   in_numeraire=True)),
    objective=("- (Gamma z + sum_s q_s), the worst-case extra expected loss of Gamma services "
               "at p_s^high (numeraire per year)",),
    checks=("robust_loss_budget",))
