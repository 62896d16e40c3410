"""Check of the transition exposure: MODEL.md family 11, from max(x0, x) itself.

With the parameter ``transition_exposure``, every stake limit of families 1 to 4 also
holds for the in-flight exposure w = max(x0, x) (``optimizer.results.transition``): the
restaking degree, the expected-loss budget (at its worst Gamma services when an
``uncertainty_budget`` is set, as ``robust_loss_budget`` checks it), the worst case of k
slashings and each group's exposure. w is recomputed here by joining the allocation with
the ``current`` table, with no excess variable and no row of the model, so the model's
form w = x + e, e >= x0 - x, is checked against the definition. A current allocation on a
pair no longer eligible counts at its x0. Only stakes with a current allocation are
checked: for the others w = x, which the nominal checks already cover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.results.checks.base import FRACTION_TOLERANCE, Violation, broken_rows
from optimizer.results.checks.context import Context
from optimizer.results.checks.measures import largest_per_stake
from optimizer.results.checks.robust_loss import budget_of, loss_deviation, worst_deviation
from optimizer.results.transition import in_flight_allocation


def transition_exposure(context: Context) -> list[Violation]:
    """Family 11: every stake limit of families 1 to 4 for w = max(x0, x), per stake.

    Rows are named ``stake i (max_restaking in flight)``, ``stake i, group g (max_exposure
    in flight)``...; the unit is the limit's own (a fraction of the stake, per year for the
    expected loss). Nothing to check when the parameter is off.

    Parameters
    ----------
    context : Context
        The allocation and its shared quantities.

    Returns
    -------
    list of Violation
        The broken rows, limit by limit.
    """
    instance = context.instance
    if not instance.parameters.transition_exposure or not len(instance.current):
        return []
    flight = in_flight_allocation(instance, context.allocation)
    stakes, services = instance.stakes, instance.services
    count = len(stakes)
    stake_pos = pd.Index(stakes.index).get_indexer(flight["stake"])
    service_pos = pd.Index(services.index).get_indexer(flight["service"])
    w = flight["fraction"].to_numpy(dtype=float)
    held = np.zeros(count, dtype=bool)
    current = instance.current
    held[pd.Index(stakes.index).get_indexer(current["stake"][current["fraction"] > 0])] = True
    ids = stakes.index

    def broken(what: str, value: np.ndarray, limit: np.ndarray, suffix: str = "") -> list:
        names = [f"stake {i}{suffix} ({what} in flight)" for i in ids]
        return broken_rows("transition_exposure", names, value,
                           np.where(held, limit, np.nan), FRACTION_TOLERANCE)

    found = broken("max_restaking", np.bincount(stake_pos, weights=w, minlength=count),
                   stakes["max_restaking"].to_numpy(dtype=float))
    slash_p = services["slash_probability"].to_numpy(dtype=float)
    slash_f = services["slash_fraction"].to_numpy(dtype=float)
    loss = np.bincount(stake_pos, weights=(slash_p * slash_f)[service_pos] * w,
                       minlength=count)
    gamma = budget_of(instance)
    if gamma:
        loss = loss + worst_deviation(stake_pos, loss_deviation(instance)[service_pos] * w,
                                      gamma, count)
    found += broken("max_expected_loss", loss, stakes["max_expected_loss"].to_numpy(dtype=float))
    worst = largest_per_stake(stake_pos, slash_f[service_pos] * w,
                              instance.parameters.worst_case_k, count)
    found += broken("max_worst_case_loss", worst,
                    stakes["max_worst_case_loss"].to_numpy(dtype=float))
    for group, limit in instance.groups["max_exposure"].dropna().items():
        members = [s for s, names in enumerate(services["groups"]) if group in names]
        inside = np.isin(service_pos, members)
        exposure = np.bincount(stake_pos[inside], weights=w[inside], minlength=count)
        found += broken("max_exposure", exposure, np.full(count, float(limit)),
                        f", group {group}")
    return found
