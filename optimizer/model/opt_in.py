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
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import Allocated, BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.index import PairIndex
from optimizer.model.rows import MatrixRows


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


def add_opt_in(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``opted_in``, ``opt_in_link``, ``min_allocation``, ``max_services``."""
    model, instance, index = context.model, context.instance, context.index
    groups = opt_in_pairs(instance, index)
    keys = sorted(groups)
    services, holders = instance.services, instance.holders
    minimum = services["min_allocation"].to_numpy()
    cost = services["opt_in_cost"].to_numpy()
    reachable = {key: float((index.value[pairs] * index.upper[pairs]).sum())
                 for key, pairs in groups.items()}
    # A holder that cannot reach l_s even with everything never opts in.
    blocked = {key for key in keys if reachable[key] < minimum[key[1]] * (1 - 1e-9)}
    model.opted_in = pyo.Var(keys, domain=pyo.Binary,
                             bounds=lambda m, h, s: (0, 0 if (h, s) in blocked else 1),
                             doc="y_{h,s}: holder h is opted into service s")
    column_of = {key: j for j, key in enumerate(keys)}  # opted_in's own order
    n_pairs = len(index.upper)
    links = [(p, column_of[key]) for key in keys for p in groups[key].tolist()]
    pairs = np.asarray([p for p, _ in links], dtype=np.int64)
    owner = np.asarray([j for _, j in links], dtype=np.int64)
    count = len(links)
    # Columns: x (one per pair), then y (one per opt-in key).
    model.opt_in_link = MatrixRows(
        pairs.tolist(), [model.x_alloc, model.opted_in],
        rows=np.r_[np.arange(count), np.arange(count)], columns=np.r_[pairs, n_pairs + owner],
        coefficients=np.r_[np.ones(count), -index.upper[pairs]], lower=np.nan, upper=0.0,
        doc="x_{i,s} <= ub_{i,s} y_{h,s} (fraction of stake)")
    floors = [key for key in keys if minimum[key[1]] > 0 and key not in blocked]
    rows, columns, coefficients = [], [], []
    for row, key in enumerate(floors):
        members = groups[key]
        rows.append(np.full(len(members) + 1, row))
        columns.append(np.r_[members, n_pairs + column_of[key]])
        coefficients.append(np.r_[index.value[members], -minimum[key[1]]])
    floor_rows, floor_columns, floor_values = _joined(rows, columns, coefficients)
    model.min_allocation = MatrixRows(
        floors, [model.x_alloc, model.opted_in], floor_rows, floor_columns, floor_values,
        lower=0.0, upper=np.nan, doc="sum_{i of h} V_i x_{i,s} >= l_s y_{h,s} (numeraire)")
    cap = holders["max_services"].to_numpy()
    per_holder: dict[int, list[int]] = {}
    for key in keys:
        per_holder.setdefault(key[0], []).append(column_of[key])
    limited = [h for h, ks in per_holder.items() if not np.isnan(cap[h]) and len(ks) > cap[h]]
    rows = [np.full(len(per_holder[h]), row) for row, h in enumerate(limited)]
    columns = [np.asarray(per_holder[h]) for h in limited]
    cap_rows, cap_columns, cap_values = _joined(rows, columns,
                                                [np.ones(len(c)) for c in columns])
    model.max_services = MatrixRows(
        limited, [model.opted_in], cap_rows, cap_columns, cap_values, lower=np.nan,
        upper=cap[limited] if limited else np.zeros(0),
        doc="sum_s y_{h,s} <= K_h (services)")
    if context.elastic:
        return []
    return [ObjectiveTerm("opt-in costs", model.opted_in,
                          -np.asarray([cost[s] for _, s in keys], dtype=float))]


def _joined(rows: list[np.ndarray], columns: list[np.ndarray],
            values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def joined(part: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(part) if part else np.zeros(0)

    return joined(rows), joined(columns), joined(values)


def _holder_service(instance: Instance, key: tuple[int, int]) -> str:
    return (f"service {instance.services.index[key[1]]} for holder "
            f"{instance.holders.index[key[0]]}")


def _while_opted_in(instance: Instance, pair: int, allocated: Allocated) -> float:
    """1 where the pair's holder is opted into its service (allocates to it), else 0."""
    key = (int(allocated.pair_holder[pair]), int(instance.pairs["service_pos"].iloc[pair]))
    return float(allocated.holder_service.get(key, 0.0) > 0.0)


FAMILY = Family(
    name="opt_in", number="8", title="opt-in: minimum allocation and services per holder",
    add=add_opt_in,
    # Opted in, x_{i,s} <= ub_{i,s} y_{h,s} is the pair's bound again (its dual is that
    # bound's); opted out, it holds x at 0 and is no limit of the user's.
    rows=(RowBlock("opt_in_link", "pair", "fraction of stake", slope=_while_opted_in,
                   repeats_pair_bound=True,
                   describe=lambda instance, p: f"holder {instance.pairs['holder'].iloc[p]} "
                   f"not opted into service {instance.pairs['service'].iloc[p]}"),
          RowBlock("min_allocation", "holder-service", "numeraire", "services.min_allocation",
                   in_numeraire=True, bound_is_limit=False,
                   slope=lambda instance, key, allocated: float(
                       allocated.holder_service.get(key, 0.0) > 0.0),
                   describe=lambda instance, key: "min_allocation of "
                   + _holder_service(instance, key)),
          RowBlock("max_services", "holder", "services", "holders.max_services",
                   describe=lambda instance, h: "max_services of holder "
                                                f"{instance.holders.index[h]}")),
    objective=("- sum_{h,s} c_s y_{h,s}, opt-in costs (numeraire per year)",),
    checks=("min_allocation", "max_services"), binaries=("opted_in",))
