"""Families 5 and 6: service capacity and required minimum security.

X_s = sum_i V_i x_{i,s} is a variable ``security[s]`` (numeraire) wherever a row
needs it, defined by one equality; the capacity C_s and, for a required service,
the effective minimum security M_s^eff are then plain bounds on it:
M_s^eff <= X_s <= C_s.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables


def services_needing_security(instance: Instance) -> np.ndarray:
    """Positions of the services whose X_s some row uses."""
    services = instance.services
    required = services["required"].to_numpy() & (instance.effective_min_security.to_numpy() > 0)
    capped = services["capacity"].notna().to_numpy()
    shared = (services["max_holder_share"].to_numpy() < 1.0)
    return np.flatnonzero(required | capped | shared)


def add_security(model: pyo.ConcreteModel, instance: Instance, index: PairIndex) -> None:
    """Add ``security[s]`` with its capacity and required minimum as bounds."""
    chosen = services_needing_security(instance)
    services = instance.services
    capacity = services["capacity"].to_numpy()
    minimum = np.where(services["required"].to_numpy(),
                       instance.effective_min_security.to_numpy(), 0.0)

    def bounds(m: pyo.ConcreteModel, s: int) -> tuple[float, float | None]:
        upper = None if np.isnan(capacity[s]) else float(capacity[s])
        return float(minimum[s]), upper

    model.security = pyo.Var(chosen.tolist(), bounds=bounds, doc="X_s, value behind service s "
                             "from this portfolio; bounds M_s^eff (required) and C_s (numeraire)")
    x, value = pair_variables(model), index.value.tolist()
    model.security_definition = pyo.Constraint(
        chosen.tolist(),
        rule=lambda m, s: m.security[s] == sum(value[p] * x[p]
                                               for p in index.by_service[s].tolist()),
        doc="X_s = sum_i V_i x_{i,s} (numeraire)",
    )
