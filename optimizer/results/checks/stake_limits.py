"""Checks of the limits on each stake: MODEL.md families 1 to 4 and the pair bounds.

Every row is a stake (or a pair, or a stake and a group) and every limit a fraction of
the stake, checked with the absolute ``FRACTION_TOLERANCE``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance.pair_bounds import bounds_of, pair_bounds
from optimizer.results.checks.base import (
    FRACTION_TOLERANCE,
    ZERO_THRESHOLD,
    Violation,
    broken_rows,
    pair_names,
    row_names,
)
from optimizer.results.checks.context import Context


def allocation_bounds(context: Context) -> list[Violation]:
    """lo_{i,s} <= x_{i,s} <= ub_{i,s} on eligible pairs, and no allocation on any other.

    ub_{i,s} is the least of m_i (``max_per_service``) and the pair's ``max_fraction``;
    lo_{i,s} is its ``min_fraction`` (else 0), both recomputed from the instance's
    eligibility rows (a stake row over a holder row). A pair with a minimum that the
    allocation leaves out counts as 0. The model has no variable for a pair that is not
    eligible, so its bound there is 0; a fraction above ``ZERO_THRESHOLD`` on such a pair
    is reported under the name ``eligibility``, before the bounds of the eligible pairs.

    Parameters
    ----------
    context : Context
        The allocation and its shared quantities.

    Returns
    -------
    list of Violation
        Rows of ``eligibility`` and ``allocation_bounds`` (fraction of the stake).
    """
    instance, allocation, fraction = context.instance, context.allocation, context.fraction
    eligible = pd.MultiIndex.from_arrays([instance.pairs["stake"], instance.pairs["service"]])
    given = pd.MultiIndex.from_arrays([allocation["stake"], allocation["service"]])
    outside = ~given.isin(eligible) & (fraction > ZERO_THRESHOLD)
    found = [Violation("eligibility", f"stake {allocation['stake'].iloc[row]}, "
                       f"service {allocation['service'].iloc[row]}", fraction[row], 0.0)
             for row in np.flatnonzero(outside)]
    names = pair_names(allocation)
    bounds = bounds_of(instance.eligibility, allocation["stake"].to_numpy(),
                       instance.stakes["holder"].to_numpy()[context.stake_pos],
                       allocation["service"].to_numpy())
    cap = instance.stakes["max_per_service"].to_numpy()[context.stake_pos].astype(float)
    cap = np.where(np.isnan(bounds.upper), cap, np.minimum(cap, bounds.upper))
    found += broken_rows("allocation_bounds", names, fraction, cap, FRACTION_TOLERANCE)
    lower = np.where(given.isin(eligible), bounds.lower, 0.0)
    found += broken_rows("allocation_bounds", names, -fraction, -lower, FRACTION_TOLERANCE,
                         ">=")
    # Pairs with a minimum that the allocation does not list hold 0.
    minimum = pair_bounds(instance).lower
    missing = np.flatnonzero((minimum > FRACTION_TOLERANCE)
                             & ~eligible.isin(given[~outside]))
    pairs = instance.pairs
    found += [Violation("allocation_bounds", f"stake {pairs['stake'].iloc[p]}, service "
                        f"{pairs['service'].iloc[p]}", 0.0, float(minimum[p]), ">=")
              for p in missing]
    return found


def restaking_degree(context: Context) -> list[Violation]:
    """Family 1: sum_s x_{i,s} <= L_i (``max_restaking``), per stake (fraction)."""
    stakes = context.instance.stakes
    return broken_rows("restaking_degree", row_names("stake", stakes.index), context.allocated,
                       stakes["max_restaking"].to_numpy(), FRACTION_TOLERANCE)


def expected_loss_budget(context: Context) -> list[Violation]:
    """Family 2: sum_s p_s f_s x_{i,s} <= b_i (``max_expected_loss``), per stake.

    The unit is a fraction of the stake per year.
    """
    stakes = context.instance.stakes
    return broken_rows("expected_loss_budget", row_names("stake", stakes.index),
                       context.expected_loss_fraction, stakes["max_expected_loss"].to_numpy(),
                       FRACTION_TOLERANCE)


def worst_case_budget(context: Context) -> list[Violation]:
    """Family 3: the k largest f_s x_{i,s} sum to at most c_i (``max_worst_case_loss``).

    Checked per stake, in fractions of the stake, with k the parameter ``worst_case_k``.
    """
    stakes = context.instance.stakes
    return broken_rows("worst_case_budget", row_names("stake", stakes.index),
                       context.worst_case_fraction, stakes["max_worst_case_loss"].to_numpy(),
                       FRACTION_TOLERANCE)


def group_exposure(context: Context) -> list[Violation]:
    """Family 4: sum_{s in g} x_{i,s} <= G_g (``groups.max_exposure``), per stake and group.

    The unit is a fraction of the stake; a row is named ``stake i, group g``.
    """
    instance = context.instance
    stakes, services = instance.stakes, instance.services
    stake_pos, service_pos = context.stake_pos, context.service_pos
    found: list[Violation] = []
    for group, limit_g in instance.groups["max_exposure"].dropna().items():
        members = [s for s, names in enumerate(services["groups"]) if group in names]
        inside = np.isin(service_pos, members)
        exposure = np.bincount(stake_pos[inside], weights=context.fraction[inside],
                               minlength=len(stakes))
        limit = np.full(len(stakes), float(limit_g))
        found += broken_rows("group_exposure", row_names("stake", stakes.index, f", group {group}"),
                             exposure, limit, FRACTION_TOLERANCE)
    return found
