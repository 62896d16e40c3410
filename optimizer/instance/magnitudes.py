"""Numbers legal one by one but too far apart for the solver: refused, or warned about.

The model is built in units of the median stake value (``optimizer.model.scaling``).
HiGHS refuses a model with a coefficient above 1e15 (its ``large_matrix_value``) and
treats as zero what falls below its tolerances (about 1e-9). So a stake worth 1e30 beside
stakes worth 1e3, or a minimum security of 1e30, cannot be solved at all: such values are
refused here, with the reason, before a model exists. The same values each on their own
scale (every amount in wei, say) are only warned about as suspicious: scaling handles
them. Probabilities so small that they change nothing are warned about.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optimizer.errors import Problem

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance

VALUE_SPREAD_LIMIT = 1e12
"""Largest ratio of a value in the numeraire to the median stake value. Coefficients of
the scaled model then stay below HiGHS's 1e15 with room for rates and fractions."""

TINY_PROBABILITY = 1e-12
"""A positive probability below this is warned about: it weighs nothing in the model."""

SPREAD_COLUMNS = ("reward_pool", "opt_in_cost", "min_allocation")
"""Service values (numeraire) the model multiplies into its rows, besides minimum
security. (Capacities, external stakes and limits are bounds or enter through a ratio:
a huge one means "no limit", as it should.)"""


def _where(instance: Instance, table: str) -> str:
    origin = Path(instance.origin)
    return f"{table}.csv" if origin.is_dir() else f"{origin.name} {table}"


def value_spread_problems(instance: Instance) -> list[Problem]:
    """Stake values and service values more than ``VALUE_SPREAD_LIMIT`` x the median stake.

    Returns
    -------
    list of Problem
        One per stake (column ``amount``) or service value at fault, with the ratio.
    """
    values = instance.stake_value.to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if not len(positive):
        return []
    median = float(np.median(positive))
    limit = VALUE_SPREAD_LIMIT * median
    reason = (f"more than {VALUE_SPREAD_LIMIT:.0e} times the median stake value ({median:.4g}): "
              "the solver cannot weigh numbers this far apart")
    found = [Problem(f"{_where(instance, 'stakes')} (stake={stake})", "amount",
                     f"times its asset's price is {value:.4g}, {reason} (is the amount in wei "
                     "or another base unit?)")
             for stake, value in instance.stake_value.items() if limit < value < np.inf]
    services = instance.services
    where = _where(instance, "services")
    for column in ("min_security", *SPREAD_COLUMNS):
        found += [Problem(f"{where} (service={service})", column, f"is {value:.4g}, {reason}")
                  for service, value in services[column].items() if limit < value < np.inf]
    derived = instance.effective_min_security
    too_high = (derived > limit) & np.isfinite(derived) & ~(services["min_security"] > limit)
    found += [Problem(f"{where} (service={service})", "profit_from_corruption",
                      f"gives a minimum security (1 + security_margin) x profit / "
                      f"(attack_threshold x slash_fraction) of {derived[service]:.4g}, {reason}")
              for service in services.index[too_high.to_numpy()]]
    return found


def tiny_probability_warnings(instance: Instance) -> list[Problem]:
    """Slash and scenario probabilities above 0 but below ``TINY_PROBABILITY``."""
    services = instance.services
    found = [Problem(f"{_where(instance, 'services')} (service={service})", "slash_probability",
                     f"is {p:g}: below {TINY_PROBABILITY:g} a year, the expected loss it gives "
                     "is below the solver's tolerances and counts as nothing (0 says a service "
                     "never slashes; is it a rate per block?)")
             for service, p in services["slash_probability"].items()
             if 0 < p < TINY_PROBABILITY]
    scenarios = instance.scenarios
    if len(scenarios):
        first = scenarios.drop_duplicates("scenario")
        tiny = first[(first["probability"] > 0) & (first["probability"] < TINY_PROBABILITY)]
        found += [Problem(f"{_where(instance, 'scenarios')} (scenario={row.scenario})",
                          "probability", f"is {row.probability:g}: below {TINY_PROBABILITY:g}, "
                          "the scenario weighs nothing in the CVaR")
                  for row in tiny.itertuples()]
    return found
