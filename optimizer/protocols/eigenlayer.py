"""EigenLayer moves: magnitudes per operator set and strategy, staged by free magnitude.

See ``optimizer.protocols.moves`` for the rounding and the stages, docs/protocols.md for why.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.errors import Problem
from optimizer.instance.identities import given, services_by_identity
from optimizer.instance.snapshot import Pending, SetAllocation, Snapshot, StrategyState
from optimizer.protocols.moves import (
    BEACON_CHAIN_ETH_STRATEGY,
    DEALLOCATION_DELAY,
    EIGEN_STRATEGY,
    NO_CHANGE,
    REDISTRIBUTION_FLOOR,
    ROUNDING_SLACK,
    Move,
    Moves,
    identity,
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
    by_set = services_by_identity(services, "eigenlayer_avs", "eigenlayer_operator_set")
    for stake in stakes.index[stakes["holder"] == holder]:
        strategy = assets.loc[stakes.loc[stake, "asset"], "eigenlayer_strategy"]
        chain = next((s for s in state.strategies if s.strategy == strategy), None) \
            if state and given(strategy) else None
        listed = {by_set[key] for a in (chain.allocations if chain else ())
                  if (key := (a.avs, a.operator_set_id)) in by_set}
        if chain is not None:  # the chain, not the current table, says what is held today
            current = {k: v for k, v in current.items() if k[0] != stake}
        pairs = sorted({s for (i, s) in (*target, *current) if i == stake} | listed,
                       key=services.index.get_loc)
        if not pairs:
            continue
        where = f"plan for holder {holder}, stake {stake}"
        if not given(strategy):
            result.problems.append(Problem(f"assets (asset={stakes.loc[stake, 'asset']})",
                                           "eigenlayer_strategy", f"is missing: {where} "
                                           "cannot name the strategy to allocate"))
            continue
        if state is not None and chain is None:
            result.notes.append(f"strategy {strategy} of operator {operator} is not in the "
                                f"snapshot: today's magnitudes of stake {stake} are taken "
                                "from the instance's current table")
        top = chain.max_magnitude if chain else int(stakes.loc[stake, "max_magnitude"])
        ids = {s: found for s in pairs if (found := identity(
            services, s, ("eigenlayer_avs", "eigenlayer_operator_set"), "operator set", where,
            result)) is not None}
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
                after[s] != before[s] and s not in pending for s in pairs):
            result.problems.append(Problem(where, None, "changes an allocation but operator "
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
    # Round-off: taken from the increases only, largest first (a pair that keeps its value
    # or has a change pending is never moved by it).
    order = sorted((s for s in pairs if after[s] > before[s] and s not in pending),
                   key=lambda s: -after[s])
    if excess > sum(after[s] - before[s] for s in order):
        result.problems.append(Problem(
            where, "max_restaking", f"needs {excess} more magnitude than its max magnitude "
            f"{top} holds, and its increases cannot give it up: modifyAllocations reverts "
            "(InsufficientMagnitude)"))
        return None
    while excess > 0:
        share = -(-excess // len(order))
        for service in order:
            cut = min(share, after[service] - before[service], excess)
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
        later = service not in first
        result.moves.append(Move(holder, stake, service, "eigenlayer", 2 if later else 1,
                                 before[service], after[service], top,
                                 _waits_for(pairs, before, first, pending) if later else ""))


def _waits_for(pairs: list[str], before: dict[str, int], first: dict[str, int],
               pending: dict[str, Pending]) -> str:
    """What frees the magnitude a stage-2 increase needs: stage 1's decreases, pending ones."""
    reasons = []
    if any(first[s] < before[s] for s in first):
        reasons.append(f"stage 1's decreases complete ({DEALLOCATION_DELAY + 1:,} blocks after "
                       "stage 1 is mined)")
    blocks = [p.effect_block for s, p in pending.items() if p.magnitude < before[s]]
    if blocks:
        known = [b for b in blocks if b is not None]
        when = f"block {max(known):,}" if len(known) == len(blocks) else "their effect blocks"
        reasons.append(f"the decreases pending on chain complete ({when})")
    return " and ".join(reasons) or "magnitude is freed"
