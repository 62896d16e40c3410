"""Value scaling: the model is built in units of a power of two near the typical stake.

Amounts in wei (1e18 per ETH) or prices from 1e-6 to 1e6 would otherwise put matrix
coefficients and bounds far from 1 and give HiGHS numerical trouble. Every quantity in
the numeraire is divided by the same power of two S, close to the median stake value:
prices (so stake values), capacities, minimum securities, profits from corruption,
external stakes, reward pools, opt-in costs, minimum allocations, the CVaR and turnover
limits. Rates, probabilities and fractions are unchanged, so the allocation is the same
and every objective term is divided by S exactly (a power of two divides without rounding).
"""

from __future__ import annotations

import math

import numpy as np

from optimizer.instance import Instance

SERVICE_VALUES = ("capacity", "min_security", "profit_from_corruption", "external_stake",
                  "reward_pool", "opt_in_cost", "min_allocation")
"""Service columns in the numeraire."""


def value_scale(instance: Instance) -> float:
    """S: the power of two nearest the median positive stake value (1 if there is none)."""
    values = instance.stake_value.to_numpy()
    positive = values[values > 0]
    if not len(positive):
        return 1.0
    return float(2.0 ** round(math.log2(float(np.median(positive)))))


def scaled(instance: Instance, scale: float) -> Instance:
    """A copy of ``instance`` with every numeraire quantity divided by ``scale``."""
    if scale == 1.0:
        return instance
    assets = instance.assets.assign(price=instance.assets["price"] / scale)
    services = instance.services.copy()
    for column in SERVICE_VALUES:
        services[column] = services[column] / scale
    parameters = instance.parameters
    limits = {key: getattr(parameters, key) / scale for key in ("cvar_limit", "turnover_limit")
              if getattr(parameters, key) is not None}
    return instance.with_changes(keep_scenarios=True, assets=assets, services=services,
                                 parameters=limits)
