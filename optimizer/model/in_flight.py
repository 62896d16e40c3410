"""The current allocation as the transition family (11) reads it, and the stakes it covers.

With the parameter ``transition_exposure``, pair (i, s) is exposed at
w_{i,s} = max(x0_{i,s}, x_{i,s}) while decreases wait out the deallocation delay. This
module says where x0 lies: on the eligible pairs, and on pairs no longer eligible (there
x = 0, so w = x0 is a constant: the magnitude is still encumbered and slashable). A stake
with a current allocation anywhere is *covered*: family 11 writes its stake limits for w,
and families 1 to 4 (and 12's stake budgets) leave out their rows for it, which the rows
for w imply (w >= x, and every stake limit grows with each fraction). Kept apart from
``transition`` so that those families can ask which stakes are covered without importing
the family that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance import Instance


@dataclass(frozen=True)
class InFlight:
    """Where the current allocation x0 lies, for the in-flight exposure w = max(x0, x).

    Attributes
    ----------
    x0 : numpy.ndarray
        x0 on every eligible pair of ``instance.pairs`` (fraction of stake; 0 for none).
    stranded_stake, stranded_service : numpy.ndarray
        Stake and service positions of each current row on a pair no longer eligible
        (fraction > 0): its x is 0, so it stays exposed at x0.
    stranded_fraction : numpy.ndarray
        x0 of each such row (fraction of stake).
    covered : numpy.ndarray
        Per stake, whether family 11 writes its limits for w (the parameter is on and the
        stake has a current allocation > 0 somewhere).
    """

    x0: np.ndarray
    stranded_stake: np.ndarray
    stranded_service: np.ndarray
    stranded_fraction: np.ndarray
    covered: np.ndarray

    def stranded_per_stake(self, coefficient: np.ndarray, count: int) -> np.ndarray:
        """Per stake, sum of ``coefficient`` x x0 over its stranded rows (a constant of w).

        ``coefficient`` is one value per stranded row.
        """
        return np.bincount(self.stranded_stake, weights=coefficient * self.stranded_fraction,
                           minlength=count)


def in_flight(instance: Instance) -> InFlight:
    """The current allocation on and off the eligible pairs; nothing covered when off."""
    pairs, current = instance.pairs, instance.current
    count = len(instance.stakes)
    x0 = np.zeros(len(pairs))
    none = np.zeros(0, dtype=np.int64)
    if not instance.parameters.transition_exposure or not len(current):
        return InFlight(x0, none, none, np.zeros(0), np.zeros(count, dtype=bool))
    fraction = current["fraction"].to_numpy(dtype=float)
    eligible = pd.MultiIndex.from_arrays([pairs["stake"], pairs["service"]])
    position = eligible.get_indexer(pd.MultiIndex.from_arrays([current["stake"],
                                                               current["service"]]))
    on_pair = position >= 0
    x0[position[on_pair]] = fraction[on_pair]
    off = ~on_pair & (fraction > 0)
    stake = pd.Index(instance.stakes.index).get_indexer(current["stake"]).astype(np.int64)
    service = pd.Index(instance.services.index).get_indexer(current["service"]).astype(np.int64)
    covered = np.zeros(count, dtype=bool)
    covered[stake[fraction > 0]] = True
    return InFlight(x0, stake[off], service[off], fraction[off], covered)


def covered_stakes(instance: Instance) -> np.ndarray:
    """Per stake, whether family 11 writes its stake limits for w (see the module)."""
    return in_flight(instance).covered
