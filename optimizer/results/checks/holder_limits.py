"""Checks of the limits on each holder: MODEL.md families 7 and 8.

A holder's value behind a service sums its stakes' V_i x_{i,s}; a holder is opted into
every service it allocates to (above ``ZERO_THRESHOLD``).
"""

from __future__ import annotations

import numpy as np

from optimizer.results.checks.base import Violation, broken_rows, broken_values, row_names
from optimizer.results.checks.context import Context


def holder_concentration(context: Context) -> list[Violation]:
    """Family 7: sum_{i in h} V_i x_{i,s} <= q_s (E_s + X_s), per holder and service.

    The unit is numeraire; a row is named ``holder h, service s``.
    """
    services = context.instance.services
    holder_service = context.holder_service
    if not len(holder_service):
        return []
    h_names = holder_service.index.get_level_values(0).to_numpy()
    h_service = holder_service.index.get_level_values(1).to_numpy()
    share = services["max_holder_share"].to_numpy()[h_service]
    cap = share * (services["external_stake"].to_numpy()[h_service]
                   + context.security[h_service])
    names = [f"holder {h}, service {services.index[s]}" for h, s in
             zip(h_names, h_service, strict=True)]
    return broken_values("holder_concentration", names, holder_service.to_numpy(), cap)


def min_allocation(context: Context) -> list[Violation]:
    """Family 8: sum_{i in h} V_i x_{i,s} >= l_s (``min_allocation``) where h is opted in.

    The unit is numeraire; a row is named ``holder h, service s``.
    """
    instance = context.instance
    opted = context.opted
    holder = opted.index.get_level_values(0).to_numpy()
    service = opted.index.get_level_values(1).to_numpy()
    floor = instance.services["min_allocation"].to_numpy()[service]
    return broken_values("min_allocation",
                         [f"holder {instance.holders.index[h]}, service "
                          f"{instance.services.index[s]}"
                          for h, s in zip(holder, service, strict=True)],
                         -opted.to_numpy(), -np.where(floor > 0, floor, np.nan), sense=">=")


def max_services(context: Context) -> list[Violation]:
    """Family 8: sum_s y_{h,s} <= K_h (``holders.max_services``), per holder (a count)."""
    holders = context.instance.holders
    count = np.bincount(context.opted.index.get_level_values(0).to_numpy(),
                        minlength=len(holders)).astype(float)
    return broken_rows("max_services", row_names("holder", holders.index), count,
                       holders["max_services"].to_numpy(), 0.5)
