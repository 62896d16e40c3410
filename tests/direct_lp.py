"""An independent formulation of the model, straight from its equations.

Built with numpy and scipy.sparse and solved with scipy's HiGHS (``scipy.optimize.milp``),
without Pyomo and without any of the model's reductions: no bound tightening, no skipped
rows, the general LP form of the worst case for every k, a free CVaR threshold with a row
for every scenario, a distance variable for every pair, and plain bounds (not the
tightest) as big-M. The tests compare the optimizer's optimum with this one. Pool rewards
are not covered here (their own tests compare with a fine chord solve).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.sparse as sp

from optimizer.instance import Instance


class _Problem:
    def __init__(self) -> None:
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.integer: list[int] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []

    def column(self, cost: float = 0.0, lower: float = 0.0, upper: float = np.inf,
               integer: bool = False) -> int:
        self.cost.append(cost)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(int(integer))
        return len(self.cost) - 1

    def row(self, entries: list[tuple[int, float]], lower: float = -np.inf,
            upper: float = np.inf) -> None:
        index = len(self.row_lower)
        for column, value in entries:
            self.rows.append(index)
            self.cols.append(column)
            self.vals.append(value)
        self.row_lower.append(lower)
        self.row_upper.append(upper)

    def maximize(self) -> float:
        matrix = sp.csr_array((self.vals, (self.rows, self.cols)),
                              shape=(len(self.row_lower), len(self.cost)))
        solution = scipy.optimize.milp(
            -np.asarray(self.cost), integrality=np.asarray(self.integer),
            bounds=scipy.optimize.Bounds(self.lower, self.upper),
            constraints=scipy.optimize.LinearConstraint(matrix, self.row_lower,
                                                        self.row_upper),
            options={"mip_rel_gap": 1e-9})
        if solution.status == 2:
            raise ValueError("infeasible")
        assert solution.status == 0, solution.message
        return -float(solution.fun)


def _pair_bounds(instance: Instance) -> tuple[list[float], list[float]]:
    """min_fraction and max_fraction of each pair, read row by row from eligibility.

    A stake row's bound wins over its holder row's, column by column.
    """
    rules = instance.eligibility
    given: dict[tuple[str, str, str], dict[str, float]] = {}
    for record in rules.to_dict("records"):
        level = "stake" if isinstance(record["stake"], str) else "holder"
        given[(level, record[level], record["service"])] = record
    low, high = [], []
    for stake, service, holder in zip(instance.pairs["stake"], instance.pairs["service"],
                                      instance.pairs["holder"], strict=True):
        found = {"min_fraction": 0.0, "max_fraction": 1.0}
        for key in (("holder", holder, service), ("stake", stake, service)):
            for column in found:
                value = given.get(key, {}).get(column)
                if value is not None and not np.isnan(value):
                    found[column] = float(value)
        low.append(found["min_fraction"])
        high.append(found["max_fraction"])
    return low, high


def direct_optimum(instance: Instance) -> float:
    """The optimal objective (numeraire per year) of the instance, solved independently."""
    services = instance.services
    if (services["reward_pool"] > 0).any():
        raise NotImplementedError("pool rewards are not in the direct formulation")
    stakes = instance.stakes
    pairs = instance.pairs
    parameters = instance.parameters
    i_of = pairs["stake_pos"].to_numpy()
    s_of = pairs["service_pos"].to_numpy()
    value = instance.stake_value.to_numpy()[i_of]
    p = services["slash_probability"].to_numpy()
    f = services["slash_fraction"].to_numpy()
    r = services["reward_rate"].to_numpy()
    problem = _Problem()
    low, high = _pair_bounds(instance)
    x = [problem.column((r[s] - p[s] * f[s]) * value[q], low[q],
                        min(stakes["max_per_service"].iloc[i_of[q]], high[q]))
         for q, s in enumerate(s_of)]
    pairs_of = [np.flatnonzero(i_of == i) for i in range(len(stakes))]

    # 1-3: restaking degree, expected loss, worst case of k (LP form, always).
    k = parameters.worst_case_k
    for i, mine in enumerate(pairs_of):
        problem.row([(x[q], 1.0) for q in mine], upper=stakes["max_restaking"].iloc[i])
        budget = stakes["max_expected_loss"].iloc[i]
        if not np.isnan(budget):
            problem.row([(x[q], p[s_of[q]] * f[s_of[q]]) for q in mine], upper=budget)
        worst = stakes["max_worst_case_loss"].iloc[i]
        if not np.isnan(worst):
            t = problem.column()
            v = [problem.column() for _ in mine]
            problem.row([(t, float(k))] + [(c, 1.0) for c in v], upper=worst)
            for q, c in zip(mine, v, strict=True):
                problem.row([(x[q], f[s_of[q]]), (t, -1.0), (c, -1.0)], upper=0.0)
    # 4: groups.
    for group, limit in instance.groups["max_exposure"].dropna().items():
        members = [s for s, names in enumerate(services["groups"]) if group in names]
        for mine in pairs_of:
            inside = mine[np.isin(s_of[mine], members)]
            if len(inside):
                problem.row([(x[q], 1.0) for q in inside], upper=limit)
    # 5-6: X_s with capacity and minimum security (required or semi-continuous).
    minimum = instance.effective_min_security.to_numpy()
    big = np.bincount(s_of, weights=value, minlength=len(services))
    security = []
    for s in range(len(services)):
        cap = services["capacity"].iloc[s]
        required = bool(services["required"].iloc[s])
        column = problem.column(0.0, minimum[s] if required else 0.0,
                                np.inf if np.isnan(cap) else cap)
        security.append(column)
        mine = np.flatnonzero(s_of == s)
        problem.row([(column, 1.0)] + [(x[q], -value[q]) for q in mine], 0.0, 0.0)
        if minimum[s] > 0 and not required:
            u = problem.column(0.0, 0.0, 1.0, integer=True)
            problem.row([(column, 1.0), (u, -minimum[s])], lower=0.0)
            problem.row([(column, 1.0), (u, -big[s])], upper=0.0)
    # 7: holder concentration.
    holder_of = stakes["holder"].to_numpy()[i_of]
    share = services["max_holder_share"].to_numpy()
    external = services["external_stake"].to_numpy()
    for s in np.flatnonzero(~np.isnan(share)):
        for h in np.unique(holder_of[s_of == s]):
            mine = np.flatnonzero((s_of == s) & (holder_of == h))
            problem.row([(x[q], value[q]) for q in mine] + [(security[s], -share[s])],
                        upper=share[s] * external[s])
    # 8: opt-in.
    cost = services["opt_in_cost"].to_numpy()
    floor = services["min_allocation"].to_numpy()
    cap_h = instance.holders["max_services"]
    y_of: dict[tuple[str, int], int] = {}
    for q, s in enumerate(s_of):
        h = holder_of[q]
        if cost[s] > 0 or floor[s] > 0 or not np.isnan(cap_h[h]):
            if (h, s) not in y_of:
                y_of[(h, s)] = problem.column(-cost[s], 0.0, 1.0, integer=True)
            problem.row([(x[q], 1.0), (y_of[(h, s)], -1.0)], upper=0.0)
    for (h, s), y in y_of.items():
        if floor[s] > 0:
            mine = np.flatnonzero((s_of == s) & (holder_of == h))
            problem.row([(x[q], value[q]) for q in mine] + [(y, -floor[s])], lower=0.0)
    for h, limit in cap_h.dropna().items():
        problem.row([(y, 1.0) for (g, _), y in y_of.items() if g == h], upper=limit)
    # 9: CVaR with a free threshold and a row per scenario.
    if parameters.cvar_limit is not None or parameters.risk_aversion > 0:
        scenarios = instance.scenario_set()
        alpha, weight = parameters.cvar_alpha, parameters.risk_aversion
        eta = problem.column(-weight, -np.inf, np.inf)
        z = [problem.column(-weight * scenarios.probability[w] / (1 - alpha))
             for w in range(scenarios.count)]
        for w in range(scenarios.count):
            slashed = scenarios.rows == w
            problem.row([(z[w], 1.0), (eta, 1.0)]
                        + [(security[s], -xi) for s, xi in
                           zip(scenarios.services[slashed], scenarios.fractions[slashed],
                               strict=True)], lower=0.0)
        if parameters.cvar_limit is not None:
            problem.row([(eta, 1.0)] + [(z[w], scenarios.probability[w] / (1 - alpha))
                                        for w in range(scenarios.count)],
                        upper=parameters.cvar_limit)
    # 10: turnover with a distance for every pair.
    if parameters.turnover_cost > 0 or parameters.turnover_limit is not None:
        current = instance.current
        x0 = pd.Series(current["fraction"].to_numpy(dtype=float),
                       index=pd.MultiIndex.from_arrays([current["stake"], current["service"]]))
        keys = pd.MultiIndex.from_arrays([pairs["stake"], pairs["service"]])
        on_pairs = x0.reindex(keys, fill_value=0.0).to_numpy()
        off = ~x0.index.isin(keys)
        stranded = float((instance.stake_value.reindex(x0.index.get_level_values(0)[off])
                          .to_numpy() * x0.to_numpy()[off]).sum())
        tau = parameters.turnover_cost
        d = [problem.column(-tau * value[q]) for q in range(len(pairs))]
        for q in range(len(pairs)):
            problem.row([(d[q], 1.0), (x[q], -1.0)], lower=-on_pairs[q])
            problem.row([(d[q], 1.0), (x[q], 1.0)], lower=on_pairs[q])
        if parameters.turnover_limit is not None:
            problem.row([(d[q], value[q]) for q in range(len(pairs))],
                        upper=parameters.turnover_limit - stranded)
        return problem.maximize() - tau * stranded
    return problem.maximize()
