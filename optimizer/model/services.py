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
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import (
    Allocated,
    BuildContext,
    Describe,
    Family,
    ObjectiveTerm,
    RowBlock,
)
from optimizer.model.groups import group_members
from optimizer.model.index import PairIndex
from optimizer.model.rows import MatrixRows, positions, rows_by_owner

RELAXATION_HEADROOM = 0.05
"""With ``keep_all_rows``, U_s is this fraction above the stakes' reach (capacity still
caps it): the model whose pair bounds the binding table relaxes must not find the
service's switch row X_s <= U_s u_s binding at the old reach."""


def security_upper_bound(instance: Instance, index: PairIndex,
                         headroom: float = 0.0) -> np.ndarray:
    """U_s: most value the portfolio could put behind each service (numeraire).

    Each eligible stake contributes V_i times the least of its pair bound (m_i, and
    c_i / f_s when k = 1), its restaking degree L_i and the exposure limit G_g of any
    limited group containing s; the total, times 1 + ``headroom``, is capped by the
    capacity C_s.
    """
    reach = np.minimum(index.upper,
                       instance.stakes["max_restaking"].to_numpy()[index.stake_pos])
    limits = instance.groups["max_exposure"]
    for group, members in group_members(instance).items():
        inside = np.isin(index.service_pos, members)
        reach[inside] = np.minimum(reach[inside], float(limits[group]))
    total = np.bincount(index.service_pos, weights=index.value * reach,
                        minlength=len(instance.services)) * (1.0 + headroom)
    capacity = instance.services["capacity"].to_numpy()
    return np.where(np.isnan(capacity), total, np.minimum(total, capacity))


def semi_continuous_services(instance: Instance) -> np.ndarray:
    """Positions of the services with a minimum security that is not required."""
    minimum = instance.effective_min_security.to_numpy()
    return np.flatnonzero((minimum > 0) & ~instance.services["required"].to_numpy())


def add_security(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``security[s]`` for the services that need it, with capacity and minimum.

    ``context.needed`` is a boolean mask of the services some other family needs X_s for;
    services with a capacity or a minimum security are added to it here. In the elastic
    model a required minimum becomes a row with a priced shortfall.
    """
    model, instance, index = context.model, context.instance, context.index
    services = instance.services
    minimum = instance.effective_min_security.to_numpy()
    required = services["required"].to_numpy()
    capacity = services["capacity"].to_numpy()
    upper = security_upper_bound(
        instance, index, RELAXATION_HEADROOM if context.keep_all_rows else 0.0)
    switched = semi_continuous_services(instance)
    chosen = context.needed | ~np.isnan(capacity) | (minimum > 0)
    chosen_list = np.flatnonzero(chosen).tolist()
    # A relative tolerance: 0.7 + 0.1 must reach 0.8 despite rounding.
    never = {int(s) for s in switched if upper[s] < minimum[s] * (1 - 1e-9)}
    lower_bound = np.where(required & (minimum > 0) & (not context.elastic), minimum, 0.0)

    def bounds(m: object, s: int) -> tuple[float, float | None]:
        cap = None if np.isnan(capacity[s]) else float(capacity[s])
        if s in never:
            cap = 0.0
        return float(lower_bound[s]), cap

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
    switch = np.asarray([int(s) for s in switched if int(s) not in never], dtype=np.int64)
    model.secured = pyo.Var(switch.tolist(), domain=pyo.Binary,
                            doc="u_s: 1 if service s reaches its minimum security")
    # Columns: X_s (one per chosen service), then u_s (one per switched service).
    security_column = positions(model.security, switch)
    n_switch = len(switch)
    ones, own = np.ones(n_switch), n_rows + np.arange(n_switch)
    model.security_minimum = MatrixRows(
        switch.tolist(), [model.security, model.secured],
        rows=np.r_[np.arange(n_switch), np.arange(n_switch)],
        columns=np.r_[security_column, own], coefficients=np.r_[ones, -minimum[switch]],
        lower=0.0, upper=np.nan, doc="X_s >= M_s^eff u_s (numeraire)")
    model.security_switch = MatrixRows(
        switch.tolist(), [model.security, model.secured],
        rows=np.r_[np.arange(n_switch), np.arange(n_switch)],
        columns=np.r_[security_column, own], coefficients=np.r_[ones, -upper[switch]],
        lower=np.nan, upper=0.0, doc="X_s <= U_s u_s, U_s the tightest bound on X_s (numeraire)")
    if context.elastic:
        return _elastic_minimum(context, np.flatnonzero(required & (minimum > 0)))
    return []


def _elastic_minimum(context: BuildContext, required: np.ndarray) -> list[ObjectiveTerm]:
    """X_s + shortfall_s >= M_s^eff for each required service, the shortfall priced."""
    model = context.model
    minimum = context.instance.effective_min_security.to_numpy()[required]
    model.shortfall = pyo.Var(required.tolist(), domain=pyo.NonNegativeReals,
                              doc="how far X_s stays below M_s^eff (numeraire)")
    count = len(required)
    width = len(model.security)
    model.required_security_elastic = MatrixRows(
        required.tolist(), [model.security, model.shortfall],
        rows=np.r_[np.arange(count), np.arange(count)],
        columns=np.r_[positions(model.security, required), width + np.arange(count)],
        coefficients=np.ones(2 * count), lower=minimum, upper=np.nan,
        doc="X_s + shortfall_s >= M_s^eff (numeraire)")
    # Relative sizes: a shortfall counts per unit of its own minimum.
    return [ObjectiveTerm("shortfalls of the required minimum securities (relative)",
                          model.shortfall, -1.0 / minimum)]


def _at_capacity(instance: Instance, s: int, allocated: Allocated) -> float:
    """1 where service s is secured at its capacity C_s (so U_s = C_s), else 0."""
    capacity = float(instance.services["capacity"].iloc[s])
    return float(allocated.security[s] > 0.0 and allocated.security[s] >= capacity * (1 - 1e-9))


def _service_limit(column: str) -> Describe:
    return lambda instance, s: f"{column} of service {instance.services.index[s]}"


FAMILY = Family(
    name="service_security", number="5, 6",
    title="value behind each service: its capacity and minimum security",
    add=add_security,
    rows=(RowBlock("security_definition", "service", "numeraire", in_numeraire=True),
          RowBlock("security_minimum", "service", "numeraire", "services.min_security",
                   in_numeraire=True, bound_is_limit=False, switched_by="secured",
                   describe=_service_limit("min_security"),
                   slope=lambda instance, s, allocated: float(allocated.security[s] > 0.0)),
          # Switched on, X_s <= U_s u_s is X_s <= U_s: the capacity again where the
          # service is at its capacity (U_s is then C_s), else implied by other limits.
          RowBlock("security_switch", "service", "numeraire", "services.capacity",
                   in_numeraire=True, bound_is_limit=False, slope=_at_capacity),
          # The elastic row of a required minimum (the explanation's own subject: unnamed).
          RowBlock("required_security_elastic", "service", "numeraire",
                   "services.min_security", in_numeraire=True)),
    checks=("service_capacity", "min_security"), binaries=("secured",))
