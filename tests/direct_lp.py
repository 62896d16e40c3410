"""An independent formulation of the LP, straight from the model's equations.

Built with numpy and scipy.sparse and solved with scipy's HiGHS, without Pyomo and
without any of the model's reductions (no bound tightening, no skipped rows, the
general LP form of the worst case for every k): the tests compare the optimizer's
optimum with this one on generated instances.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from optimizer.instance import Instance


def direct_optimum(instance: Instance) -> float:
    pairs = instance.pairs
    stakes, services = instance.stakes, instance.services
    n_pairs, n_stakes, n_services = len(pairs), len(stakes), len(services)
    i_of = pairs["stake_pos"].to_numpy()
    s_of = pairs["service_pos"].to_numpy()
    value = instance.stake_value.to_numpy()[i_of]
    p = services["slash_probability"].to_numpy()[s_of]
    f = services["slash_fraction"].to_numpy()[s_of]
    r = services["reward_rate"].to_numpy()[s_of]

    # Columns: x (pairs), X (services), t (stakes), v (pairs).
    col_x, col_X = 0, n_pairs
    col_t, col_v = n_pairs + n_services, n_pairs + n_services + n_stakes
    n_cols = col_v + n_pairs
    cost = np.zeros(n_cols)
    cost[:n_pairs] = -(r - p * f) * value
    lower = np.zeros(n_cols)
    upper = np.full(n_cols, np.inf)
    upper[:n_pairs] = stakes["max_per_service"].to_numpy()[i_of]
    minimum = instance.effective_min_security.to_numpy()
    lower[col_X:col_t] = np.where(services["required"].to_numpy(), minimum, 0.0)
    capacity = services["capacity"].to_numpy()
    upper[col_X:col_t] = np.where(np.isnan(capacity), np.inf, capacity)

    rows, cols, vals, rhs = [], [], [], []
    eq_rows, eq_cols, eq_vals = [], [], []
    row = 0

    def add(entries: list[tuple[int, float]], bound: float) -> None:
        nonlocal row
        for c, v in entries:
            rows.append(row)
            cols.append(c)
            vals.append(v)
        rhs.append(bound)
        row += 1

    k = instance.parameters.worst_case_k
    order = np.argsort(i_of, kind="stable")
    bounds = np.searchsorted(i_of[order], np.arange(n_stakes + 1))
    pairs_of = [order[bounds[i]:bounds[i + 1]] for i in range(n_stakes)]
    for i in range(n_stakes):
        mine = pairs_of[i]
        add([(col_x + q, 1.0) for q in mine], stakes["max_restaking"].iloc[i])
        budget = stakes["max_expected_loss"].iloc[i]
        if not np.isnan(budget):
            add([(col_x + q, p[q] * f[q]) for q in mine], budget)
        worst = stakes["max_worst_case_loss"].iloc[i]
        if not np.isnan(worst):
            add([(col_t + i, float(k))] + [(col_v + q, 1.0) for q in mine], worst)
            for q in mine:
                add([(col_x + q, f[q]), (col_t + i, -1.0), (col_v + q, -1.0)], 0.0)
    limits = instance.groups["max_exposure"]
    for group, limit in limits.dropna().items():
        members = [s for s, gs in enumerate(services["groups"]) if group in gs]
        for i in range(n_stakes):
            inside = pairs_of[i][np.isin(s_of[pairs_of[i]], members)]
            if len(inside):
                add([(col_x + q, 1.0) for q in inside], limit)
    for s in range(n_services):
        mine = np.flatnonzero(s_of == s)
        eq_rows.extend([s] * (len(mine) + 1))
        eq_cols.extend([col_X + s] + [col_x + q for q in mine])
        eq_vals.extend([1.0] + [-value[q] for q in mine])
    holders = stakes["holder"].to_numpy()[i_of]
    share = services["max_holder_share"].to_numpy()
    external = services["external_stake"].to_numpy()
    for s in np.flatnonzero(~np.isnan(share)):
        for h in np.unique(holders[s_of == s]):
            mine = np.flatnonzero((s_of == s) & (holders == h))
            add([(col_x + q, value[q]) for q in mine] + [(col_X + s, -share[s])],
                share[s] * external[s])

    a_ub = sp.csr_array((vals, (rows, cols)), shape=(row, n_cols)) if row else None
    a_eq = sp.csr_array((eq_vals, (eq_rows, eq_cols)), shape=(n_services, n_cols))
    solution = scipy.optimize.linprog(
        cost, A_ub=a_ub, b_ub=np.asarray(rhs) if row else None, A_eq=a_eq,
        b_eq=np.zeros(n_services), bounds=np.column_stack([lower, upper]), method="highs")
    if solution.status == 2:
        raise ValueError("infeasible")
    assert solution.status == 0, solution.message
    return -float(solution.fun)
