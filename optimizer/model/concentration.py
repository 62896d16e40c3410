"""Family 7, holder concentration: sum_{i in h} V_i x_{i,s} <= q_s (E_s + X_s).

No single holder may provide more than the share q_s of all the stake securing s,
this portfolio's X_s and the external E_s together.
"""

from __future__ import annotations

import numpy as np

from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.rows import MatrixRows, positions


def add_holder_concentration(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``holder_concentration[h, s]`` for services with q_s < 1 (q_s = 1 never binds)."""
    model, instance, index = context.model, context.instance, context.index
    services = instance.services
    n_services = len(services)
    share = services["max_holder_share"].to_numpy()
    external = services["external_stake"].to_numpy()
    capped = np.flatnonzero(np.isin(index.service_pos, np.flatnonzero(share < 1.0)))
    # One candidate row per (holder, service) with capped pairs; keep those that could bind.
    cell = index.holder_pos[capped] * n_services + index.service_pos[capped]
    cells, of_pair = np.unique(cell, return_inverse=True)
    reach = np.bincount(of_pair, weights=(index.value * index.upper)[capped])
    service_of = cells % n_services
    binds = (reach > share[service_of] * external[service_of]) | context.keep_all_rows
    row_of = np.cumsum(binds) - 1
    kept = binds[of_pair]
    pairs, rows = capped[kept], row_of[of_pair[kept]]
    services_kept = service_of[binds]
    # Columns: x (one per pair), then X_s (one per service in model.security).
    security_column = len(index.upper) + positions(model.security, services_kept)
    n_rows = int(binds.sum())
    model.holder_concentration = MatrixRows(
        [(int(c // n_services), int(c % n_services)) for c in cells[binds]],
        [model.x_alloc, model.security],
        rows=np.concatenate([rows, np.arange(n_rows)]),
        columns=np.concatenate([pairs, security_column]),
        coefficients=np.concatenate([index.value[pairs], -share[services_kept]]),
        lower=np.nan, upper=share[services_kept] * external[services_kept],
        doc="holder h's value behind s <= q_s (E_s + X_s) (numeraire)")
    return []


FAMILY = Family(
    name="holder_concentration", number="7", title="share of one holder in a service",
    add=add_holder_concentration,
    rows=(RowBlock("holder_concentration", "holder-service", "numeraire",
                   "services.max_holder_share", in_numeraire=True, bound_is_limit=False,
                   slope=lambda instance, key, allocated: float(
                       instance.services["external_stake"].iloc[key[1]]
                       + allocated.security[key[1]]),
                   describe=lambda instance, key: "max_holder_share of service "
                   f"{instance.services.index[key[1]]} for holder "
                   f"{instance.holders.index[key[0]]}"),),
    checks=("holder_concentration",))
