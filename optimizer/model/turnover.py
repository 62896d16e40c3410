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
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables


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


def add_turnover(model: pyo.ConcreteModel, instance: Instance, index: PairIndex) -> None:
    """Add ``turnover_distance``, its rows, the ``turnover`` expression and the limit."""
    x0, stranded = current_fractions(instance)
    held = np.flatnonzero(x0 > 0).tolist()
    x, value = pair_variables(model), index.value.tolist()
    model.turnover_distance = pyo.Var(held, domain=pyo.NonNegativeReals,
                                      doc="d_{i,s} >= |x_{i,s} - x0_{i,s}| (fraction of stake)")
    d = model.turnover_distance
    model.turnover_up = pyo.Constraint(held, rule=lambda m, p: d[p] - x[p] >= -float(x0[p]),
                                       doc="d_{i,s} >= x_{i,s} - x0_{i,s}")
    model.turnover_down = pyo.Constraint(held, rule=lambda m, p: d[p] + x[p] >= float(x0[p]),
                                         doc="d_{i,s} >= x0_{i,s} - x_{i,s}")
    fresh = np.flatnonzero(x0 <= 0).tolist()
    model.turnover = pyo.Expression(
        expr=sum(value[p] * d[p] for p in held) + sum(value[p] * x[p] for p in fresh)
        + stranded,
        doc="value moved from the current allocation (numeraire)")
    limit = instance.parameters.turnover_limit
    if limit is not None:
        if not held and not fresh:
            # No variable at all: keep the row (so an overrun is infeasible, not a crash).
            model.turnover_anchor = pyo.Var(bounds=(0.0, 0.0))
            model.turnover.expr = model.turnover.expr + model.turnover_anchor
        model.turnover_limit = pyo.Constraint(expr=model.turnover <= float(limit),
                                              doc="value moved <= T (numeraire)")
