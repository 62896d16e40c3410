"""The direct formulation: the same LP built from numpy arrays and handed straight to HiGHS.

No modelling layer and none of the model's reductions (no merged stakes, no skipped rows,
no tightened bounds, values in the numeraire as given): the lower bound of what any
modelling layer costs, and the reference of ``restake bench``. It follows the shape of
the formulation measured in ``PERFORMANCE.md``: x per eligible pair, a service total X_s
per service (capacity and a required minimum as its bounds), per-stake rows for the
restaking degree, expected loss, worst case and group limits, holder concentration rows
against X_s, and CVaR rows against X_s.

It covers the LP families. Pool rewards, turnover, opt-in and non-required minimum
security are outside it (``DirectUnsupported``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import pair_bounds
from optimizer.solve.highs import quiet_highs, run_highs

ALGORITHMS = ("simplex", "hipo", "ipx", "pdlp")
"""HiGHS LP algorithms the benchmark tries, in this order (the simplex was fastest on this
model's LPs, so it sets the limit for the others); ``hipo`` needs highspy-extras."""


class DirectUnsupported(ValueError):
    """The instance uses a family the direct formulation does not cover."""


@dataclass
class DirectLP:
    """An LP as arrays: maximize cost @ v subject to row bounds and column bounds.

    ``matrix`` is column-wise (CSC); the first ``pairs`` columns are x (fraction of stake).
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    pairs: int


class _Rows:
    """Rows collected as coordinate triplets."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.count = 0

    def add(self, row: np.ndarray, col: np.ndarray, val: np.ndarray, lower: np.ndarray,
            upper: np.ndarray) -> None:
        """Add ``len(lower)`` rows; ``row`` holds positions among them (0-based)."""
        self.rows.append(np.asarray(row, dtype=np.int64) + self.count)
        self.cols.append(np.asarray(col, dtype=np.int64))
        self.vals.append(np.asarray(val, dtype=float))
        self.lower.append(np.asarray(lower, dtype=float))
        self.upper.append(np.asarray(upper, dtype=float))
        self.count += len(lower)


def direct_lp(instance: Instance) -> DirectLP:
    """The direct LP of ``instance`` (numeraire per year; x as fractions of stake).

    Raises
    ------
    DirectUnsupported
        For pool rewards, turnover, opt-in or a non-required minimum security.
    """
    _check_supported(instance)
    lp = _Pairs.of(instance)
    rows = _Rows()
    _add_stake_rows(lp, rows)
    _add_worst_case_rows(lp, rows)
    _add_group_rows(lp, rows)
    _add_service_rows(lp, rows)
    _add_cvar_rows(lp, rows)
    matrix = sp.csc_matrix((np.concatenate(rows.vals),
                            (np.concatenate(rows.rows), np.concatenate(rows.cols))),
                           shape=(rows.count, lp.columns))
    return DirectLP(np.concatenate(lp.cost), np.concatenate(lp.lower), np.concatenate(lp.upper),
                    matrix, np.concatenate(rows.lower), np.concatenate(rows.upper), lp.n_pairs)


class _Pairs:
    """The pairs' data and the columns so far: x (pairs), X (services), then auxiliaries."""

    def __init__(self, instance: Instance) -> None:
        services, stakes = instance.services, instance.stakes
        self.instance = instance
        pairs = instance.pairs
        self.i_of = pairs["stake_pos"].to_numpy()
        self.s_of = pairs["service_pos"].to_numpy()
        self.n_pairs, self.n_services = len(pairs), len(services)
        self.value = instance.stake_value.to_numpy()[self.i_of]
        self.p = services["slash_probability"].to_numpy()
        self.f = services["slash_fraction"].to_numpy()
        r = services["reward_rate"].to_numpy()
        s_of, f = self.s_of, self.f
        self.cost = [(r[s_of] - self.p[s_of] * f[s_of]) * self.value, np.zeros(self.n_services)]
        bounds = pair_bounds(instance)
        x_upper = stakes["max_per_service"].to_numpy()[self.i_of].astype(float)
        x_upper = np.where(np.isnan(bounds.upper), x_upper, np.minimum(x_upper, bounds.upper))
        self.worst = stakes["max_worst_case_loss"].to_numpy()[self.i_of]
        if instance.parameters.worst_case_k == 1:
            slashable = ~np.isnan(self.worst) & (f[s_of] > 0)
            x_upper[slashable] = np.minimum(x_upper[slashable],
                                            self.worst[slashable] / f[s_of][slashable])
        capacity = services["capacity"].to_numpy()
        minimum = np.where(services["required"].to_numpy(dtype=bool),
                           instance.effective_min_security.to_numpy(), 0.0)
        self.lower = [bounds.lower, minimum]
        self.upper = [x_upper, np.where(np.isnan(capacity), np.inf, capacity)]
        self.columns = self.n_pairs + self.n_services

    @classmethod
    def of(cls, instance: Instance) -> _Pairs:
        """The pairs of ``instance`` with the x and X columns."""
        return cls(instance)

    def add_columns(self, cost: np.ndarray) -> np.ndarray:
        """Add nonnegative columns with these costs; their positions."""
        count = len(cost)
        self.cost.append(np.asarray(cost, dtype=float))
        self.lower.append(np.zeros(count))
        self.upper.append(np.full(count, np.inf))
        self.columns += count
        return self.columns - count + np.arange(count)


def _add_stake_rows(lp: _Pairs, rows: _Rows) -> None:
    """Restaking degree and expected loss, one row per stake with pairs."""
    stakes, i_of = lp.instance.stakes, lp.i_of
    stake_rows, i_index = np.unique(i_of, return_inverse=True)
    rows.add(i_index, np.arange(lp.n_pairs), np.ones(lp.n_pairs),
             np.full(len(stake_rows), -np.inf), stakes["max_restaking"].to_numpy()[stake_rows])
    budget = stakes["max_expected_loss"].to_numpy()
    has_budget = ~np.isnan(budget[i_of])
    budget_stakes, b_index = np.unique(i_of[has_budget], return_inverse=True)
    rows.add(b_index, np.flatnonzero(has_budget), (lp.p * lp.f)[lp.s_of][has_budget],
             np.full(len(budget_stakes), -np.inf), budget[budget_stakes])


def _add_worst_case_rows(lp: _Pairs, rows: _Rows) -> None:
    """Worst case of k >= 2: k t_i + sum_s v_{i,s} <= c_i, f_s x_{i,s} - t_i - v_{i,s} <= 0."""
    k = lp.instance.parameters.worst_case_k
    if k < 2:
        return
    f_of = lp.f[lp.s_of]
    chosen = np.flatnonzero(~np.isnan(lp.worst) & (f_of > 0))
    worst_stakes, w_index = np.unique(lp.i_of[chosen], return_inverse=True)
    t_col = lp.add_columns(np.zeros(len(worst_stakes)))
    v_col = lp.add_columns(np.zeros(len(chosen)))
    rows.add(np.concatenate([np.arange(len(worst_stakes)), w_index]),
             np.concatenate([t_col, v_col]),
             np.concatenate([np.full(len(worst_stakes), float(k)), np.ones(len(chosen))]),
             np.full(len(worst_stakes), -np.inf),
             lp.instance.stakes["max_worst_case_loss"].to_numpy()[worst_stakes])
    q = np.arange(len(chosen))
    rows.add(np.concatenate([q, q, q]), np.concatenate([chosen, t_col[w_index], v_col]),
             np.concatenate([f_of[chosen], -np.ones(len(chosen)), -np.ones(len(chosen))]),
             np.full(len(chosen), -np.inf), np.zeros(len(chosen)))


def _add_group_rows(lp: _Pairs, rows: _Rows) -> None:
    """Group limits: per stake and limited group, the sum of its fractions in the group."""
    services = lp.instance.services
    for group, limit in lp.instance.groups["max_exposure"].dropna().items():
        member = np.array([group in names for names in services["groups"]], dtype=bool)
        inside = np.flatnonzero(member[lp.s_of])
        group_stakes, g_index = np.unique(lp.i_of[inside], return_inverse=True)
        rows.add(g_index, inside, np.ones(len(inside)), np.full(len(group_stakes), -np.inf),
                 np.full(len(group_stakes), float(limit)))


def _add_service_rows(lp: _Pairs, rows: _Rows) -> None:
    """Service totals X_s - sum_i V_i x_{i,s} = 0; holder concentration."""
    n_pairs, n_services, s_of, value = lp.n_pairs, lp.n_services, lp.s_of, lp.value
    rows.add(np.concatenate([np.arange(n_services), s_of]),
             np.concatenate([n_pairs + np.arange(n_services), np.arange(n_pairs)]),
             np.concatenate([np.ones(n_services), -value]),
             np.zeros(n_services), np.zeros(n_services))
    # Holder concentration: sum_{i of h} V_i x_{i,s} - q_s X_s <= q_s E_s.
    services, stakes = lp.instance.services, lp.instance.stakes
    share = services["max_holder_share"].to_numpy()
    external = services["external_stake"].to_numpy()
    holder_of = lp.instance.holders.index.get_indexer(stakes["holder"])[lp.i_of]
    shared = np.flatnonzero(share[s_of] < 1.0)
    if len(shared):
        key = holder_of[shared].astype(np.int64) * n_services + s_of[shared]
        keys, h_index = np.unique(key, return_inverse=True)
        key_service = keys % n_services
        rows.add(np.concatenate([h_index, np.arange(len(keys))]),
                 np.concatenate([shared, n_pairs + key_service]),
                 np.concatenate([value[shared], -share[key_service]]),
                 np.full(len(keys), -np.inf), share[key_service] * external[key_service])


def _add_cvar_rows(lp: _Pairs, rows: _Rows) -> None:
    """CVaR: eta >= 0, z_w >= 0, z_w + eta - sum_s xi_{w,s} X_s >= 0; a limit or a penalty."""
    parameters = lp.instance.parameters
    if parameters.cvar_limit is None and parameters.risk_aversion <= 0:
        return
    scenarios = lp.instance.scenario_set()
    alpha, weight = parameters.cvar_alpha, parameters.risk_aversion
    count = scenarios.count
    tail = scenarios.probability / (1 - alpha)
    eta_and_z = lp.add_columns(np.concatenate([[-weight], -weight * tail]))
    eta, z = eta_and_z[0], eta_and_z[1:]
    w = np.arange(count)
    rows.add(np.concatenate([w, w, scenarios.rows]),
             np.concatenate([z, np.full(count, eta), lp.n_pairs + scenarios.services]),
             np.concatenate([np.ones(count), np.ones(count), -scenarios.fractions]),
             np.zeros(count), np.full(count, np.inf))
    if parameters.cvar_limit is not None:
        rows.add(np.zeros(1 + count, dtype=np.int64), np.concatenate([[eta], z]),
                 np.concatenate([[1.0], tail]), np.array([-np.inf]),
                 np.array([parameters.cvar_limit]))


def _check_supported(instance: Instance) -> None:
    services, parameters = instance.services, instance.parameters
    required = services["required"].to_numpy(dtype=bool)
    unsupported = {
        "pool rewards": bool((services["reward_pool"] > 0).any()),
        "turnover": parameters.turnover_cost > 0 or parameters.turnover_limit is not None,
        "opt-in": bool((services["opt_in_cost"] > 0).any() or (services["min_allocation"] > 0)
                       .any() or instance.holders["max_services"].notna().any()),
        "minimum security of a service not required": bool(
            (instance.effective_min_security.to_numpy()[~required] > 0).any()),
    }
    used = [name for name, present in unsupported.items() if present]
    if used:
        raise DirectUnsupported(f"the direct formulation does not cover {', '.join(used)}")


@dataclass
class DirectRun:
    """One direct solve: status, objective (numeraire per year), phase seconds, and x."""

    algorithm: str
    status: str
    objective: float | None
    handoff_seconds: float
    solve_seconds: float
    extract_seconds: float
    x: np.ndarray | None = None


def solve_direct(lp: DirectLP, algorithm: str, time_limit: float | None = None,
                 threads: int | None = None) -> DirectRun:
    """Hand ``lp`` to HiGHS in one ``passModel`` call and solve it with ``algorithm``."""
    start = time.perf_counter()
    highs = quiet_highs()
    highs.setOptionValue("solver", algorithm)
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    if threads is not None:
        highs.setOptionValue("threads", int(threads))
    matrix = lp.matrix
    inf = highspy.kHighsInf
    highs.passModel(
        matrix.shape[1], matrix.shape[0], int(matrix.nnz), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize), 0.0, lp.cost,
        np.nan_to_num(lp.col_lower, neginf=-inf), np.nan_to_num(lp.col_upper, posinf=inf),
        np.nan_to_num(lp.row_lower, neginf=-inf), np.nan_to_num(lp.row_upper, posinf=inf),
        matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
        matrix.data.astype(float), np.zeros(matrix.shape[1], dtype=np.int32))
    handoff = time.perf_counter() - start
    start = time.perf_counter()
    run_highs(highs)
    solve_seconds = time.perf_counter() - start
    start = time.perf_counter()
    status = highs.getModelStatus()
    optimal = status == highspy.HighsModelStatus.kOptimal
    objective = float(highs.getInfo().objective_function_value) if optimal else None
    x = np.asarray(highs.getSolution().col_value)[:lp.pairs] if optimal else None
    extract = time.perf_counter() - start
    name = highs.modelStatusToString(status).lower().replace(" ", "_")
    return DirectRun(algorithm, "optimal" if optimal else name, objective, handoff,
                     solve_seconds, extract, x)
