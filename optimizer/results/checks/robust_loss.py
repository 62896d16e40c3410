"""Check of the robust expected loss: MODEL.md family 12, by sorting, not by the LP dual.

With ``uncertainty_budget`` Gamma, the worst case of "at most Gamma services at their
``slash_probability_high``" adds to the nominal expected loss the floor(Gamma) largest
deviations (p_s^high - p_s) f_s x plus the fractional part of Gamma times the next one.
Computed here from the instance and the allocation alone, so the model's dual form of the
same worst case (``optimizer.model.robust_loss``) is checked against its definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.results.checks.base import FRACTION_TOLERANCE, Violation, broken_rows, row_names
from optimizer.results.checks.context import Context


def budget_of(instance: Instance) -> float | None:
    """Gamma, or None when the instance sets no ``uncertainty_budget`` (nominal model)."""
    gamma = instance.parameters.uncertainty_budget
    return None if gamma is None else float(gamma)


def loss_deviation(instance: Instance) -> np.ndarray:
    """(p_s^high - p_s) f_s per service; 0 where no ``slash_probability_high`` is given."""
    services = instance.services
    high = services["slash_probability_high"].to_numpy(dtype=float)
    point = services["slash_probability"].to_numpy(dtype=float)
    spread = np.where(np.isnan(high), 0.0, np.maximum(high - point, 0.0))
    return spread * services["slash_fraction"].to_numpy(dtype=float)


def worst_deviation(owner: np.ndarray, deviation: np.ndarray, gamma: float,
                    count: int) -> np.ndarray:
    """Per owner, the largest sum of its deviations with at most ``gamma`` of them taken.

    The r-th largest deviation of an owner (r = 0, 1, ...) is taken with weight
    min(1, max(0, gamma - r)): the floor(gamma) largest whole, the next one by the
    fractional part of gamma. Deviations are >= 0.

    Parameters
    ----------
    owner : numpy.ndarray
        The owner (a stake position, or 0 for the portfolio) of each deviation.
    deviation : numpy.ndarray
        The deviations, >= 0 (the owner's unit).
    gamma : float
        How many may be taken, >= 0.
    count : int
        The number of owners (the length of the result).

    Returns
    -------
    numpy.ndarray
        One worst sum per owner (0 for an owner without deviations).
    """
    frame = pd.DataFrame({"owner": owner, "deviation": deviation})
    frame = frame.sort_values(["owner", "deviation"], ascending=[True, False], kind="stable")
    rank = frame.groupby("owner", sort=False).cumcount().to_numpy()
    weight = np.clip(gamma - rank, 0.0, 1.0)
    return np.bincount(frame["owner"].to_numpy(dtype=np.int64),
                       weights=weight * frame["deviation"].to_numpy(), minlength=count)


def robust_expected_loss(instance: Instance, security: np.ndarray) -> float | None:
    """The portfolio's expected loss with its worst Gamma services at p_s^high.

    sum_s p_s f_s X_s plus the worst deviations (p_s^high - p_s) f_s X_s (numeraire per
    year); None when the instance sets no ``uncertainty_budget``.
    """
    gamma = budget_of(instance)
    if gamma is None:
        return None
    services = instance.services
    nominal = services["slash_probability"].to_numpy() * services["slash_fraction"].to_numpy()
    extra = worst_deviation(np.zeros(len(security), dtype=np.int64),
                            loss_deviation(instance) * security, gamma, 1)
    return float(nominal @ security + extra[0])


def robust_loss_budget(context: Context) -> list[Violation]:
    """Family 12: the expected-loss budget b_i (``max_expected_loss``) at the worst case.

    Per stake, sum_s p_s f_s x_{i,s} plus its worst Gamma deviations (p_s^high - p_s) f_s
    x_{i,s}, a fraction of the stake per year. Nothing to check without a positive
    ``uncertainty_budget`` (the nominal ``expected_loss_budget`` check is the same then).
    """
    instance = context.instance
    gamma = budget_of(instance)
    if not gamma:
        return []
    stakes = instance.stakes
    deviation = loss_deviation(instance)[context.service_pos] * context.fraction
    worst = worst_deviation(context.stake_pos, np.maximum(deviation, 0.0), gamma, len(stakes))
    return broken_rows("robust_loss_budget", row_names("stake", stakes.index),
                       context.expected_loss_fraction + worst,
                       stakes["max_expected_loss"].to_numpy(), FRACTION_TOLERANCE)
