"""EigenLayer moves: magnitudes per operator set and strategy, staged by free magnitude.

See ``optimizer.protocols.moves`` for the rounding and the stages, docs/protocols.md for why.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.errors import Problem
from optimizer.instance.snapshot import Pending, SetAllocation, Snapshot, StrategyState
from optimizer.protocols.moves import (
    BEACON_CHAIN_ETH_STRATEGY,
    EIGEN_STRATEGY,
    NO_CHANGE,
    REDISTRIBUTION_FLOOR,
    ROUNDING_SLACK,
    Move,
    Moves,
    given,
)

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance


def eigenlayer_moves(instance: Instance, holder: str, operator: str,
                     target: dict[tuple[str, str], Fraction],
                     current: dict[tuple[str, str], Fraction], snapshot: Snapshot | None,
                     result: Moves) -> None:
    """Add the moves of one EigenLayer operator's stakes to ``result``, or its refusals.

    Per stake (one strategy): today's magnitude per operator set (the snapshot's, else the
    current table x the max magnitude), the target x M, the pending modification, and the
    magnitude encumbered by sets outside the instance.
    """
    stakes, services, assets = instance.stakes, instance.services, instance.assets
    state = snapshot.operator(operator) if snapshot else None
    result.delays[holder] = state.allocation_delay if state else None
    if snapshot is not None and state is None:
        result.notes.append(f"operator {operator} of holder {holder} is not in the snapshot: "
                            "its magnitudes are taken from the instance's current table")
    for stake in stakes.index[stakes["holder"] == holder]:
        pairs = sorted({s for (i, s) in (*target, *current) if i == stake},
                       key=services.index.get_loc)
        if not pairs:
            continue
        where = f"plan for holder {holder}, stake {stake}"
        strategy = assets.loc[stakes.loc[stake, "asset"], "eigenlayer_strategy"]
        if not given(strategy):
            result.problems.append(Problem(f"assets (asset={stakes.loc[stake, 'asset']})",
                                           "eigenlayer_strategy", f"is missing: {where} "
                                           "cannot name the strategy to allocate"))
            continue
        chain = next((s for s in state.strategies if s.strategy == strategy), None) \
            if state else None
        top = chain.max_magnitude if chain else int(stakes.loc[stake, "max_magnitude"])
        ids = {}
        for service in pairs:
            avs = services.loc[service, "eigenlayer_avs"]
            set_id = services.loc[service, "eigenlayer_operator_set"]
            if not (given(avs) and given(set_id)):
                result.problems.append(Problem(
                    f"services (service={service})",
                    "eigenlayer_avs" if not given(avs) else "eigenlayer_operator_set",
                    f"is missing: {where} allocates to it and cannot name its operator set"))
                continue
            ids[service] = (str(avs), int(set_id))
        if len(ids) < len(pairs):
            continue
        on_chain = {service: _set_state(chain, *ids[service]) for service in pairs}
        before = {s: (entry.magnitude if (entry := on_chain[s]) is not None else
                      round(current.get((stake, s), Fraction(0)) * top)) for s in pairs}
        pending = {s: entry.pending for s in pairs
                   if (entry := on_chain[s]) is not None and entry.pending is not None}
        outside = chain.encumbered - sum(a.encumbered for a in chain.allocations
                                         if (a.avs, a.operator_set_id) in ids.values()) \
            if chain else 0
        after = _targets(stake, pairs, top, target, before, pending, outside, where, result)
        if after is None:
            continue
        _check_redistribution(stake, str(strategy), pairs, after, services, where, result)
        if state is not None and state.allocation_delay is None and any(
                after[s] > before[s] for s in pairs):
            result.problems.append(Problem(where, None, "raises an allocation but operator "
                                           f"{operator} has never set its allocation delay: "
                                           "modifyAllocations reverts "
                                           "(UninitializedAllocationDelay); set it first"))
        _stage_eigenlayer(holder, stake, pairs, top, before, after, pending, outside, result)


def _set_state(chain: StrategyState | None, avs: str, set_id: int) -> SetAllocation | None:
    if chain is None:
        return None
    return next((a for a in chain.allocations
                 if a.avs == avs and a.operator_set_id == set_id), None)


def _targets(stake: str, pairs: list[str], top: int, target: dict[tuple[str, str], Fraction],
             before: dict[str, int], pending: dict[str, Pending], outside: int, where: str,
             result: Moves) -> dict[str, int] | None:
    """Each set's target magnitude: x M rounded, no change within NO_CHANGE, fitted under M."""
    tolerance = NO_CHANGE * top
    after = {}
    for service in pairs:
        wanted = round(target.get((stake, service), Fraction(0)) * top)
        if abs(wanted - before[service]) <= tolerance:
            wanted = before[service]
        waiting = pending.get(service)
        if waiting is not None:
            landing = waiting.magnitude
            if abs(wanted - landing) <= tolerance:
                wanted = landing
            elif wanted != before[service] or landing != before[service]:
                result.problems.append(Problem(
                    f"{where}, service {service}", None,
                    f"targets magnitude {wanted} while a modification to {landing} is pending "
                    "on chain: modifyAllocations reverts (ModificationAlreadyPending); solve "
                    "with the snapshot (the pair is then fixed at its pending target)"))
                return None
        after[service] = wanted
    excess = outside + sum(after.values()) - top
    if excess > ROUNDING_SLACK * top:
        result.problems.append(Problem(
            where, "max_restaking",
            f"needs {outside + sum(after.values())} of magnitude but its max magnitude is "
            f"{top} (operator sets outside the instance hold {outside}): modifyAllocations "
            "reverts (InsufficientMagnitude); " + (
                "solve with the snapshot, which lowers max_restaking to what they leave free"
                if outside else "an EigenLayer stake's max_restaking is at most 1")))
        return None
    order = sorted(pairs, key=lambda s: -after[s])
    while excess > 0:  # round-off: spread it over the largest targets, largest first
        share = -(-excess // len(order))
        for service in order:
            cut = min(share, after[service], excess)
            after[service] -= cut
            excess -= cut
    return after


def _check_redistribution(stake: str, strategy: str, pairs: list[str], after: dict[str, int],
                          services: pd.DataFrame, where: str, result: Moves) -> None:
    for service in pairs:
        if not bool(services.loc[service, "redistributing"]) or after[service] == 0:
            continue
        if strategy in (BEACON_CHAIN_ETH_STRATEGY, EIGEN_STRATEGY):
            result.problems.append(Problem(
                f"{where}, service {service}", "redistributing",
                f"is true, and strategy {strategy} (native ETH or EIGEN) cannot be allocated "
                "to a redistributing operator set (ELIP-006)"))
        elif after[service] < REDISTRIBUTION_FLOOR:
            result.problems.append(Problem(
                f"{where}, service {service}", "redistributing",
                f"is true, and a magnitude of {after[service]} is below 1e9, which "
                "redistributing operator sets are advised to reject (ELIP-006 precision)"))


def _stage_eigenlayer(holder: str, stake: str, pairs: list[str], top: int,
                      before: dict[str, int], after: dict[str, int], pending: dict[str, Pending],
                      outside: int, result: Moves) -> None:
    landing = {s: pending[s].magnitude if s in pending else before[s]
               for s in pairs}
    encumbered = outside + sum(max(before[s], landing[s]) for s in pairs)
    first = {}
    for service in pairs:  # decreases first: they never need free magnitude
        if after[service] < before[service] and service not in pending:
            first[service] = after[service]
    for service in pairs:
        raise_by = after[service] - before[service]
        if raise_by <= 0 or service in pending:
            continue
        if encumbered + raise_by <= top:
            first[service] = after[service]
            encumbered += raise_by
    for service in pairs:
        now = Fraction(max(before[service], landing[service]), top)
        staged = Fraction(first.get(service, landing[service]), top)
        result.exposure[(stake, service)] = (now, staged, Fraction(after[service], top))
        if after[service] == landing[service]:
            continue
        result.moves.append(Move(holder, stake, service, "eigenlayer",
                                 1 if service in first else 2, before[service], after[service],
                                 top))
