"""Checks of the limits on each service's security X_s: MODEL.md families 5 and 6.

Every row is a service and every limit in numeraire, checked with ``VALUE_TOLERANCE``
relative to the limit's size.
"""

from __future__ import annotations

import numpy as np

from optimizer.results.checks.base import ZERO_THRESHOLD, Violation, broken_values, row_names
from optimizer.results.checks.context import Context


def service_capacity(context: Context) -> list[Violation]:
    """Family 5: X_s <= C_s (``capacity``), per service (numeraire)."""
    services = context.instance.services
    return broken_values("service_capacity", row_names("service", services.index),
                         context.security, services["capacity"].to_numpy())


def min_security(context: Context) -> list[Violation]:
    """Family 6: X_s >= M_s^eff for a required service and for every service in use.

    A service that is not required may stay unsecured (X_s = 0, semi-continuous); one
    with an allocation above ``ZERO_THRESHOLD`` must reach its effective minimum
    security (numeraire).
    """
    instance = context.instance
    services = instance.services
    security = context.security
    minimum = instance.effective_min_security.to_numpy()
    needs = services["required"].to_numpy() | (security > ZERO_THRESHOLD)
    short = np.where(needs & (minimum > 0), minimum, np.nan)
    return broken_values("min_security", row_names("service", services.index), -security,
                         -short, sense=">=")
