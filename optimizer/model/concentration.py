"""Family 7, holder concentration: sum_{i in h} V_i x_{i,s} <= q_s (E_s + X_s).

No single holder may provide more than the share q_s of all the stake securing s,
this portfolio's X_s and the external E_s together.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables


def add_holder_concentration(model: pyo.ConcreteModel, instance: Instance,
                             index: PairIndex) -> None:
    """Add ``holder_concentration[h, s]`` for services with q_s < 1 (q_s = 1 never binds)."""
    services = instance.services
    share = services["max_holder_share"].to_numpy()
    external = services["external_stake"].to_numpy()
    capped = np.flatnonzero(share < 1.0)
    groups = index.by_holder_service(np.flatnonzero(np.isin(index.service_pos, capped)))
    rows = [key for key, pairs in groups.items()
            if (index.value[pairs] * index.upper[pairs]).sum() > share[key[1]] * external[key[1]]]
    x, value = pair_variables(model), index.value.tolist()
    model.holder_concentration = pyo.Constraint(
        rows,
        rule=lambda m, h, s: sum(value[p] * x[p] for p in groups[(h, s)].tolist())
        - float(share[s]) * m.security[s] <= float(share[s] * external[s]),
        doc="holder h's value behind s <= q_s (E_s + X_s) (numeraire)",
    )
