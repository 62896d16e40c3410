"""Exact measures the model can only bound: CVaR by sorting, k largest loads, turnover.

Each is computed directly from its definition (no optimization), so that the model's
linear forms of the same quantities are checked against something independent of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance


def conditional_value_at_risk(losses: np.ndarray, probability: np.ndarray,
                              alpha: float) -> float:
    """CVaR_alpha: the mean of the worst (1 - alpha) probability mass of the losses.

    Computed by sorting, not by optimization: the scenarios are taken from the largest
    loss down until their probabilities reach 1 - alpha, the last one in part. Equal to
    Rockafellar and Uryasev's min over eta of eta + E[(L - eta)+] / (1 - alpha).

    Parameters
    ----------
    losses : numpy.ndarray
        The portfolio's loss in each scenario (numeraire).
    probability : numpy.ndarray
        Each scenario's probability (summing to 1).
    alpha : float
        The confidence level, in (0, 1).

    Returns
    -------
    float
        CVaR_alpha of the losses (numeraire).
    """
    order = np.argsort(-losses, kind="stable")
    loss, mass = losses[order], probability[order]
    tail = 1.0 - alpha
    before = np.concatenate(([0.0], np.cumsum(mass)[:-1]))
    taken = np.clip(tail - before, 0.0, mass)
    return float((taken * loss).sum() / tail)


def largest_per_stake(stake_pos: np.ndarray, load: np.ndarray, k: int,
                      n_stakes: int) -> np.ndarray:
    """Per stake, the sum of its ``k`` largest loads (the worst case of k slashings).

    Parameters
    ----------
    stake_pos : numpy.ndarray
        The stake (its position) of each load.
    load : numpy.ndarray
        f_s x_{i,s} of each pair (fraction of the stake).
    k : int
        How many loads are summed per stake.
    n_stakes : int
        The number of stakes (the length of the result).

    Returns
    -------
    numpy.ndarray
        One sum per stake, 0 for a stake without loads (fraction of the stake).
    """
    loads = pd.DataFrame({"stake": stake_pos, "load": load})
    loads = loads.sort_values(["stake", "load"], ascending=[True, False], kind="stable")
    top_k = loads.groupby("stake", sort=False).head(k).groupby("stake")["load"].sum()
    worst = np.zeros(n_stakes)
    worst[top_k.index.to_numpy()] = top_k.to_numpy()
    return worst


def value_moved(instance: Instance, stake_pos: np.ndarray, service_pos: np.ndarray,
                fraction: np.ndarray) -> float:
    """The sum of V_i |x - x0| over every pair with a new or a current allocation.

    A current allocation on a pair that is no longer eligible counts as fully moved.

    Parameters
    ----------
    instance : Instance
        The problem, with its current allocation x0.
    stake_pos, service_pos : numpy.ndarray
        The stake and the service (positions) of each allocated pair.
    fraction : numpy.ndarray
        x of each pair (fraction of the stake).

    Returns
    -------
    float
        The value moved (numeraire).
    """
    current = instance.current
    stakes, services = instance.stakes, instance.services
    new = pd.Series(fraction, index=pd.MultiIndex.from_arrays(
        [stakes.index.to_numpy()[stake_pos], services.index.to_numpy()[service_pos]]))
    old = pd.Series(current["fraction"].to_numpy(dtype=float),
                    index=pd.MultiIndex.from_arrays([current["stake"], current["service"]]))
    both = new.index.union(old.index)
    change = (new.reindex(both, fill_value=0.0) - old.reindex(both, fill_value=0.0)).abs()
    value = instance.stake_value.reindex(both.get_level_values(0)).to_numpy()
    return float((value * change.to_numpy()).sum())
