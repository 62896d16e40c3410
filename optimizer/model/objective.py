"""The objective: expected net reward per year (numeraire per year), maximized.

Its terms are declared by the families that own them (each ``Family.add`` returns its
``ObjectiveTerm``s):

- the allocation: fixed-rate rewards less expected slashing loss, sum (r_s - p_s f_s) V_i
  x_{i,s};
- pool rewards rho_s (under-estimated, see ``rewards``);
- minus opt-in costs, sum c_s y_{h,s};
- minus the turnover cost, tau x value moved;
- minus the risk-aversion term, lambda CVaR_alpha.

This module adds the family "allocation" (the variables x_{i,s}, bounded, and the first
term) and assembles the terms into one cost per variable component: the Pyomo objective
``net_reward`` and the cost vector handed to HiGHS are made from the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import pair_bounds, rule_words
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.loss_limits import pair_loss_rate
from optimizer.model.rows import MatrixRows


def pair_net_rate(instance: Instance) -> np.ndarray:
    """r_s - p_s f_s of each pair: net reward per unit value per year."""
    rate = instance.services["reward_rate"].to_numpy()[instance.pairs["service_pos"].to_numpy()]
    return rate - pair_loss_rate(instance)


def add_allocation(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``x_alloc`` over the eligible pairs and its reward.

    x_{i,s} is bounded by ``index.lower`` (the pair's ``min_fraction``) and ``index.upper``.
    In the elastic model a pair's minimum is a row with a priced shortfall instead.
    """
    model, index = context.model, context.index
    model.pairs = pyo.RangeSet(0, len(index.upper) - 1, doc="eligible (stake, service) "
                               "pairs, positions in instance.pairs")
    lower = np.zeros(len(index.upper)) if context.elastic else index.lower
    model.x_alloc = pyo.Var(
        model.pairs, bounds=lambda m, p: (float(lower[p]), float(index.upper[p])),
        doc="x_{i,s}: fraction of stake i allocated to service s (fraction of stake)")
    if context.elastic:
        return _elastic_pair_minimum(context)
    return [ObjectiveTerm("fixed-rate rewards less expected slashing loss", model.x_alloc,
                          pair_net_rate(context.instance) * index.value)]


def _elastic_pair_minimum(context: BuildContext) -> list[ObjectiveTerm]:
    """x_{i,s} + shortfall_{i,s} >= min_fraction for each pair with a minimum, priced."""
    model, index = context.model, context.index
    bounded = np.flatnonzero(index.lower > 0)
    model.pair_shortfall = pyo.Var(
        bounded.tolist(), domain=pyo.NonNegativeReals,
        doc="how far x_{i,s} stays below its min_fraction (fraction of stake)")
    count = len(bounded)
    model.pair_minimum_elastic = MatrixRows(
        bounded.tolist(), [model.x_alloc, model.pair_shortfall],
        rows=np.r_[np.arange(count), np.arange(count)],
        columns=np.r_[bounded, len(index.upper) + np.arange(count)],
        coefficients=np.ones(2 * count), lower=index.lower[bounded], upper=np.nan,
        doc="x_{i,s} + shortfall_{i,s} >= min_fraction (fraction of stake)")
    # Relative sizes, as the other elastic rows: a shortfall per unit of its minimum.
    return [ObjectiveTerm("shortfalls of the pair minimums (relative)", model.pair_shortfall,
                          -1.0 / index.lower[bounded])]


def _pair_minimum(instance: Instance, p: int) -> str:
    row = int(pair_bounds(instance).lower_row[p])
    return f"min_fraction of {rule_words(instance.eligibility, row)}"


FAMILY = Family(
    name="allocation", number="-",
    title="x_{i,s} within its bounds: m_i, the pair's min_fraction and max_fraction "
          "(eligibility), and c_i / f_s when k = 1", add=add_allocation,
    # The elastic row of a pair's minimum (the explanation's own subject).
    rows=(RowBlock("pair_minimum_elastic", "pair", "fraction of stake",
                   "eligibility.min_fraction", describe=_pair_minimum),),
    objective=("+ sum (r_s - p_s f_s) V_i x_{i,s}, fixed-rate rewards less expected loss "
               "(numeraire per year)",),
    checks=("allocation_bounds",))


@dataclass(frozen=True)
class Objective:
    """The objective as costs per variable component (model units per year).

    Attributes
    ----------
    costs : dict
        For each variable component with a term (by its name), one cost per variable.
    constant : float
        The constant part.
    maximize : bool
        Whether the objective is maximized.
    """

    costs: dict[str, np.ndarray]
    constant: float
    maximize: bool


def add_objective(model: pyo.ConcreteModel, terms: list[ObjectiveTerm],
                  maximize: bool = True, name: str = "net_reward",
                  doc: str = "expected net reward (numeraire per year)") -> Objective:
    """Sum the terms per variable component and add them as the Pyomo objective ``name``."""
    costs: dict[str, np.ndarray] = {}
    variables: dict[str, pyo.Var] = {}
    constant = 0.0
    for term in terms:
        key = term.variable.local_name
        variables[key] = term.variable
        cost = costs.setdefault(key, np.zeros(len(term.variable)))
        cost += term.coefficient
        constant += term.constant
    linear_vars, linear_coefs = [], []
    for key, cost in costs.items():
        used = np.flatnonzero(cost != 0)
        column = list(variables[key].values())
        linear_vars += [column[j] for j in used.tolist()]
        linear_coefs += cost[used].tolist()
    expression = LinearExpression(constant=constant, linear_coefs=linear_coefs,
                                  linear_vars=linear_vars)
    model.add_component(name, pyo.Objective(
        expr=expression, sense=pyo.maximize if maximize else pyo.minimize, doc=doc))
    return Objective(costs, constant, maximize)
