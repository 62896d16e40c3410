"""Family 8, opt-in: binaries y_{h,s} only where a feature needs them.

A holder opts into a service (y_{h,s} = 1) before any of its stakes may secure it:
x_{i,s} <= ub_{i,s} y_{h(i),s} per pair (ub the pair's own bound, the tightest valid
coefficient). Where opted in, the holder allocates at least l_s in value
(``min_allocation``): sum_{i of h} V_i x_{i,s} >= l_s y_{h,s}; a holder opts into at most
K_h services (``holders.max_services``): sum_s y_{h,s} <= K_h; each opt-in costs c_s per
year (``opt_in_cost``). Without these features no binary exists and the model stays an LP.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables


def opt_in_pairs(instance: Instance, index: PairIndex) -> dict[tuple[int, int], np.ndarray]:
    """(holder position, service position) -> its pairs, where a y_{h,s} is needed."""
    services = instance.services
    by_service = ((services["opt_in_cost"].to_numpy() > 0)
                  | (services["min_allocation"].to_numpy() > 0))
    capped_holders = instance.holders["max_services"].notna().to_numpy()
    holder_pos = index.holder_pos
    needs = by_service[index.service_pos] | capped_holders[holder_pos]
    if not needs.any():
        return {}
    return index.by_holder_service(np.flatnonzero(needs))


def add_opt_in(model: pyo.ConcreteModel, instance: Instance, index: PairIndex) -> None:
    """Add ``opted_in``, ``opt_in_link``, ``min_allocation``, ``max_services``."""
    groups = opt_in_pairs(instance, index)
    keys = sorted(groups)
    services, holders = instance.services, instance.holders
    minimum = services["min_allocation"].to_numpy()
    cost = services["opt_in_cost"].to_numpy()
    value = index.value.tolist()
    upper = index.upper.tolist()
    reachable = {key: float((index.value[pairs] * index.upper[pairs]).sum())
                 for key, pairs in groups.items()}
    # A holder that cannot reach l_s even with everything never opts in.
    blocked = {key for key in keys if reachable[key] < minimum[key[1]] * (1 - 1e-9)}

    model.opted_in = pyo.Var(keys, domain=pyo.Binary,
                             bounds=lambda m, h, s: (0, 0 if (h, s) in blocked else 1),
                             doc="y_{h,s}: holder h is opted into service s")
    x = pair_variables(model)
    links = [(p, key) for key in keys for p in groups[key].tolist()]
    owner = dict(links)
    model.opt_in_link = pyo.Constraint(
        [p for p, _ in links],
        rule=lambda m, p: x[p] <= upper[p] * m.opted_in[owner[p]],
        doc="x_{i,s} <= ub_{i,s} y_{h,s} (fraction of stake)")
    floors = [key for key in keys if minimum[key[1]] > 0 and key not in blocked]
    model.min_allocation = pyo.Constraint(
        floors,
        rule=lambda m, h, s: sum(value[p] * x[p] for p in groups[(h, s)].tolist())
        >= float(minimum[s]) * m.opted_in[h, s],
        doc="sum_{i of h} V_i x_{i,s} >= l_s y_{h,s} (numeraire)")
    cap = holders["max_services"].to_numpy()
    per_holder: dict[int, list[tuple[int, int]]] = {}
    for key in keys:
        per_holder.setdefault(key[0], []).append(key)
    limited = [h for h, ks in per_holder.items() if not np.isnan(cap[h]) and len(ks) > cap[h]]
    model.max_services = pyo.Constraint(
        limited,
        rule=lambda m, h: sum(m.opted_in[k] for k in per_holder[h]) <= float(cap[h]),
        doc="sum_s y_{h,s} <= K_h (services)")
    model.opt_in_cost = pyo.Expression(
        expr=sum(float(cost[s]) * model.opted_in[h, s] for h, s in keys if cost[s] > 0),
        doc="sum c_s y_{h,s} (numeraire per year)")
