"""Family 10, turnover against the current allocation x0 (the ``current`` table).

Value moved: sum_{i,s} V_i |x_{i,s} - x0_{i,s}| (numeraire), with d_{i,s} >= x - x0 and
d_{i,s} >= x0 - x. Where x0 = 0 the distance is x itself (x >= 0), so d is only created
for pairs with a current allocation. A current allocation on a pair that is no longer
eligible counts as fully moved: V_i x0 is a constant part of the turnover. Limit:
moved <= T (``turnover_limit``); cost: tau x moved in the objective (``turnover_cost``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.rows import MatrixRows


def uses_turnover(instance: Instance) -> bool:
    """Whether turnover is priced or limited."""
    parameters = instance.parameters
    return parameters.turnover_cost > 0 or parameters.turnover_limit is not None


def current_fractions(instance: Instance) -> tuple[np.ndarray, float]:
    """x0 on every eligible pair, and the value moved by current rows off the pairs."""
    current = instance.current
    x0 = np.zeros(len(instance.pairs))
    if not len(current):
        return x0, 0.0
    eligible = pd.MultiIndex.from_arrays([instance.pairs["stake"], instance.pairs["service"]])
    given = pd.MultiIndex.from_arrays([current["stake"], current["service"]])
    position = eligible.get_indexer(given)
    fraction = current["fraction"].to_numpy(dtype=float)
    on_pair = position >= 0
    x0[position[on_pair]] = fraction[on_pair]
    value = instance.stake_value.reindex(current["stake"]).to_numpy()
    return x0, float((value[~on_pair] * fraction[~on_pair]).sum())


def add_turnover(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``turnover_distance``, its rows and the limit ``turnover_limit``."""
    model, instance, index = context.model, context.instance, context.index
    if not uses_turnover(instance):
        return []
    x0, stranded = current_fractions(instance)
    held = np.flatnonzero(x0 > 0)
    model.turnover_distance = pyo.Var(held.tolist(), domain=pyo.NonNegativeReals,
                                      doc="d_{i,s} >= |x_{i,s} - x0_{i,s}| (fraction of stake)")
    n_pairs, count = len(index.upper), len(held)
    rows = np.r_[np.arange(count), np.arange(count)]
    columns = np.r_[n_pairs + np.arange(count), held]  # d after x
    model.turnover_up = MatrixRows(
        held.tolist(), [model.x_alloc, model.turnover_distance], rows, columns,
        np.r_[np.ones(count), -np.ones(count)], lower=-x0[held], upper=np.nan,
        doc="d_{i,s} >= x_{i,s} - x0_{i,s}")
    model.turnover_down = MatrixRows(
        held.tolist(), [model.x_alloc, model.turnover_distance], rows, columns,
        np.ones(2 * count), lower=x0[held], upper=np.nan, doc="d_{i,s} >= x0_{i,s} - x_{i,s}")
    # Value moved: sum V d over held pairs, V x over fresh ones, plus the stranded value.
    fresh_value = np.where(x0 > 0, 0.0, index.value)
    moved = [model.x_alloc, model.turnover_distance]
    weights = np.r_[fresh_value, index.value[held]]
    limit = instance.parameters.turnover_limit
    terms: list[ObjectiveTerm] = []
    if limit is not None:
        name = "turnover_limit_elastic" if context.elastic else "turnover_limit"
        if context.elastic:
            model.turnover_limit_excess = pyo.Var(
                domain=pyo.NonNegativeReals, doc="how far the value moved exceeds T (numeraire)")
            moved, weights = [*moved, model.turnover_limit_excess], np.r_[weights, -1.0]
            terms.append(ObjectiveTerm("excess over the turnover limit (relative)",
                                       model.turnover_limit_excess,
                                       np.array([-1.0 / max(limit, 1e-9)])))
        # Always a row, even over no variable: an overrun is then infeasible, not a crash.
        model.add_component(name, MatrixRows(
            [None], moved, np.zeros(len(weights), dtype=np.int64), np.arange(len(weights)),
            weights, lower=np.nan, upper=float(limit) - stranded,
            doc="value moved <= T (numeraire)"))
    cost = instance.parameters.turnover_cost
    if cost > 0 and not context.elastic:
        terms += [ObjectiveTerm("turnover cost", model.x_alloc, -cost * fresh_value,
                                constant=-cost * stranded),
                  ObjectiveTerm("turnover cost", model.turnover_distance,
                                -cost * index.value[held])]
    return terms


FAMILY = Family(
    name="turnover", number="10", title="turnover against the current allocation",
    add=add_turnover,
    rows=(RowBlock("turnover_up", "pair", "fraction of stake"),
          RowBlock("turnover_down", "pair", "fraction of stake"),
          # Their bound is T less the value stranded on pairs no longer eligible.
          RowBlock("turnover_limit", "portfolio", "numeraire", "parameters.turnover_limit",
                   in_numeraire=True, bound_is_limit=False,
                   describe=lambda instance, key: "turnover_limit"),
          RowBlock("turnover_limit_elastic", "portfolio", "numeraire",
                   "parameters.turnover_limit", in_numeraire=True, bound_is_limit=False,
                   describe=lambda instance, key: "turnover_limit")),
    objective=("- tau x value moved, turnover cost (numeraire per year)",),
    checks=("turnover_limit",))
