"""Families 5 and 6: service capacity and minimum security (required or semi-continuous).

X_s = sum_i V_i x_{i,s} is a variable ``security[s]`` (numeraire) wherever a row needs
it, defined by one equality. Capacity C_s is its upper bound. The minimum security
M_s^eff is:

- for a ``required`` service, a lower bound: M_s^eff <= X_s;
- otherwise semi-continuous: X_s = 0 or M_s^eff <= X_s, with a binary ``secured[s]``:
  X_s >= M_s^eff u_s and X_s <= U_s u_s, where U_s is the tightest upper bound on X_s
  known from the data (never an arbitrary big-M, see ``security_upper_bound``). A
  service whose U_s is below M_s^eff can never be secured: its X_s is fixed to 0.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.groups import group_members
from optimizer.model.index import PairIndex
from optimizer.model.rows import MatrixRows, rows_by_owner


def security_upper_bound(instance: Instance, index: PairIndex) -> np.ndarray:
    """U_s: most value the portfolio could put behind each service (numeraire).

    Each eligible stake contributes V_i times the least of its pair bound (m_i, and
    c_i / f_s when k = 1), its restaking degree L_i and the exposure limit G_g of any
    limited group containing s; the total is capped by the capacity C_s.
    """
    reach = np.minimum(index.upper,
                       instance.stakes["max_restaking"].to_numpy()[index.stake_pos])
    limits = instance.groups["max_exposure"]
    for group, members in group_members(instance).items():
        inside = np.isin(index.service_pos, members)
        reach[inside] = np.minimum(reach[inside], float(limits[group]))
    total = np.bincount(index.service_pos, weights=index.value * reach,
                        minlength=len(instance.services))
    capacity = instance.services["capacity"].to_numpy()
    return np.where(np.isnan(capacity), total, np.minimum(total, capacity))


def semi_continuous_services(instance: Instance) -> np.ndarray:
    """Positions of the services with a minimum security that is not required."""
    minimum = instance.effective_min_security.to_numpy()
    return np.flatnonzero((minimum > 0) & ~instance.services["required"].to_numpy())


def add_security(model: pyo.ConcreteModel, instance: Instance, index: PairIndex,
                 needed: np.ndarray) -> None:
    """Add ``security[s]`` for the ``needed`` services, with capacity and minimum.

    ``needed`` is a boolean mask of the services some other family needs X_s for;
    services with a capacity or a minimum security are added to it here.
    """
    services = instance.services
    minimum = instance.effective_min_security.to_numpy()
    required = services["required"].to_numpy()
    capacity = services["capacity"].to_numpy()
    upper = security_upper_bound(instance, index)
    switched = semi_continuous_services(instance)
    chosen = needed | ~np.isnan(capacity) | (minimum > 0)
    chosen_list = np.flatnonzero(chosen).tolist()
    # A relative tolerance: 0.7 + 0.1 must reach 0.8 despite rounding.
    never = {int(s) for s in switched if upper[s] < minimum[s] * (1 - 1e-9)}

    def bounds(m: pyo.ConcreteModel, s: int) -> tuple[float, float | None]:
        lower = float(minimum[s]) if required[s] else 0.0
        cap = None if np.isnan(capacity[s]) else float(capacity[s])
        if s in never:
            cap = 0.0
        return lower, cap

    model.security = pyo.Var(chosen_list, bounds=bounds, doc="X_s, value behind service s "
                             "from this portfolio (numeraire)")
    # X_s - sum_i V_i x_{i,s} = 0; columns: x (one per pair), then X_s (per chosen s).
    rows, pairs, values = rows_by_owner(index.service_pos, np.flatnonzero(chosen),
                                        len(chosen), -index.value)
    n_rows = len(chosen_list)
    model.security_definition = MatrixRows(
        chosen_list, [model.x_alloc, model.security],
        rows=np.concatenate([rows, np.arange(n_rows)]),
        columns=np.concatenate([pairs, len(index.upper) + np.arange(n_rows)]),
        coefficients=np.concatenate([values, np.ones(n_rows)]),
        lower=0.0, upper=0.0, doc="X_s = sum_i V_i x_{i,s} (numeraire)")
    switch = [int(s) for s in switched if int(s) not in never]
    model.secured = pyo.Var(switch, domain=pyo.Binary,
                            doc="u_s: 1 if service s reaches its minimum security")
    model.security_minimum = pyo.Constraint(
        switch, rule=lambda m, s: m.security[s] >= float(minimum[s]) * m.secured[s],
        doc="X_s >= M_s^eff u_s (numeraire)")
    model.security_switch = pyo.Constraint(
        switch, rule=lambda m, s: m.security[s] <= float(upper[s]) * m.secured[s],
        doc="X_s <= U_s u_s, U_s the tightest bound on X_s (numeraire)")
