"""Every move of a plan, and every reason to refuse it, before anything is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from optimizer.instance.chain_state import chain_state
from optimizer.instance.identities import given
from optimizer.instance.snapshot import Snapshot
from optimizer.protocols.eigenlayer import eigenlayer_moves
from optimizer.protocols.moves import Moves, decimal
from optimizer.protocols.symbiotic import symbiotic_moves

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance


def plan_moves(instance: Instance, allocation: pd.DataFrame,
               snapshot: Snapshot | None = None) -> Moves:
    """The moves taking each holder with a protocol identity from today's state to ``allocation``.

    Parameters
    ----------
    instance : Instance
        The problem, with the protocol identity columns (docs/protocols.md).
    allocation : pandas.DataFrame
        The target: columns stake, service, fraction (of the stake).
    snapshot : Snapshot, optional
        The chain's state. Without it, today's values are the instance's ``current`` table
        times the max magnitude (or the active stake), and nothing pending is known.

    Returns
    -------
    Moves
        ``problems`` lists every pre-flight refusal; the caller refuses the plan if any.
    """
    result = Moves()
    target = {(r.stake, r.service): decimal(r.fraction)
              for r in allocation.itertuples() if float(r.fraction) > 0}
    current = {(r.stake, r.service): decimal(r.fraction)
               for r in instance.current.itertuples() if float(r.fraction) > 0}
    if snapshot is not None:
        result.notes += chain_state(instance, snapshot).notes
        if instance.parameters.chain_id != 1:
            result.notes.append(f"chain {instance.parameters.chain_id}: the delays in plan.csv "
                                "are mainnet's (DEALLOCATION_DELAY 100,800 blocks); check the "
                                "chain's own")
    if snapshot is None:
        result.notes.append("no snapshot: today's magnitudes and limits are taken from the "
                            "instance's current table, and nothing pending is known; read the "
                            "chain into a snapshot to check them")
    holders = instance.holders
    for holder in holders.index:
        operator = holders.loc[holder, "eigenlayer_operator"]
        vault = holders.loc[holder, "symbiotic_vault"]
        if given(operator):  # an operator and a vault at once is refused on reading
            result.planned.append(holder)
            eigenlayer_moves(instance, holder, str(operator), target, current, snapshot, result)
        elif given(vault):
            result.planned.append(holder)
            symbiotic_moves(instance, holder, str(vault), target, current, snapshot, result)
    unplanned = sorted({instance.stakes.loc[s, "holder"] for s, _ in target}
                       - set(result.planned))
    if unplanned:
        result.notes.append(f"no protocol identity, no plan for: {', '.join(unplanned)}")
    return result
