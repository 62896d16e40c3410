"""The in-flight allocation of a move from the current allocation: max(x0, x) per pair.

A decrease keeps the old magnitude encumbered and slashable until the deallocation delay
has passed (EigenLayer's ``DEALLOCATION_DELAY``, Symbiotic's vault epoch), while an
increase takes effect as soon as it is made. So while the move from the current
allocation x0 (the instance's ``current`` table) to an allocation x is under way, each
pair is exposed at w_{i,s} = max(x0_{i,s}, x_{i,s}). ``in_flight_allocation`` gives that
exposure as an allocation, so that the evaluator's own measures (``evaluate``) can be
taken of it; the check of MODEL.md family 11 (``checks/transition.py``) reads it too.
Computed from the instance and the allocation alone, never from a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance

COLUMNS = ("stake", "holder", "service", "asset", "fraction", "amount", "value")
"""The columns of the in-flight allocation: those of an evaluated allocation."""


def in_flight_allocation(instance: Instance, allocation: pd.DataFrame) -> pd.DataFrame:
    """The exposure while ``allocation`` is reached from the current one: max(x0, x).

    One row per pair with a fraction in ``allocation`` or in ``instance.current``. A pair
    of ``current`` that is no longer eligible keeps its x0 (it is still encumbered, and
    x cannot be above 0 there): ``evaluate`` of the result reports it under
    ``eligibility``, which is the point of a transition check, not an error of it.

    Parameters
    ----------
    instance : Instance
        The problem, with its current allocation x0 (fractions of the stakes); an empty
        ``current`` table gives back the allocation itself.
    allocation : pandas.DataFrame
        At least the columns ``stake``, ``service`` and ``fraction`` (x, fraction of the
        stake), one row per pair; other columns are ignored and recomputed.

    Returns
    -------
    pandas.DataFrame
        Columns ``stake``, ``holder``, ``service``, ``asset``, ``fraction`` (w = max(x0, x),
        fraction of the stake), ``amount`` (w times the stake's amount, units of its
        asset) and ``value`` (w times the stake's value, numeraire), sorted by stake and
        service.

    Raises
    ------
    ValueError
        When the allocation lacks a column, repeats a pair or names an unknown stake.
    """
    for column in ("stake", "service", "fraction"):
        if column not in allocation.columns:
            raise ValueError(f"the allocation has no column '{column}'")
    if allocation.duplicated(subset=["stake", "service"]).any():
        raise ValueError("the allocation repeats a (stake, service) pair")
    current = instance.current

    def by_pair(frame: pd.DataFrame) -> pd.Series:
        return pd.Series(frame["fraction"].to_numpy(dtype=float),
                         index=pd.MultiIndex.from_arrays(
                             [frame["stake"].to_numpy(), frame["service"].to_numpy()],
                             names=["stake", "service"]))

    new, old = by_pair(allocation), by_pair(current)
    both = new.index.union(old.index).sort_values()
    exposure = np.maximum(new.reindex(both, fill_value=0.0).to_numpy(),
                          old.reindex(both, fill_value=0.0).to_numpy())
    stake_ids = both.get_level_values(0)
    stakes = instance.stakes
    position = pd.Index(stakes.index).get_indexer(stake_ids)
    if (position < 0).any():
        unknown = stake_ids[position < 0][0]
        raise ValueError(f"the allocation names stake {unknown!r}, which is not in the instance")
    return pd.DataFrame({
        "stake": stake_ids.to_numpy(),
        "holder": stakes["holder"].to_numpy()[position],
        "service": both.get_level_values(1).to_numpy(),
        "asset": stakes["asset"].to_numpy()[position],
        "fraction": exposure,
        "amount": stakes["amount"].to_numpy()[position] * exposure,
        "value": instance.stake_value.to_numpy()[position] * exposure,
    }, columns=list(COLUMNS))
