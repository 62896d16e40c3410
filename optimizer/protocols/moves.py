"""From fractions to protocol units: each pair's move, its stage, and the pre-flight checks.

An allocation says which fraction x of each stake secures each service. On chain that is:

- EigenLayer: a magnitude per (operator, operator set, strategy), an absolute integer target
  in wad of the operator's max magnitude M for the strategy: x M rounded to the nearest unit
  (so 30% of 10,000 is 3,000, although the float 0.3 is a hair below it). Where a stake's
  targets then sum past M (half a unit per set at most, or a solver's tolerance up to
  ``ROUNDING_SLACK`` of M), the excess is taken from the largest targets, so that no sum
  ever exceeds M; more than that is refused.
- Symbiotic: a network limit per (vault, subnetwork) in the collateral's base units, x A
  rounded to the nearest unit, A the vault's active stake.

A target within ``NO_CHANGE`` of the current value (relative to M or A) is no change: the
pair is left out (setting an equal value reverts on both protocols).

Stages. A decrease keeps its magnitude encumbered, and slashable, for ``DEALLOCATION_DELAY``
blocks; an increase needs free magnitude now. Stage 1 (now) holds every decrease and each
increase that fits in the magnitude free now, in the instance's service order; stage 2 holds
the rest, once stage 1's decreases complete. Symbiotic has no such budget (a vault's stake
is restaked across networks): one stage, its decreases slashable for up to one vault epoch.

Every check that would make a call revert, or leave stake where nobody meant it, is made
here before anything is written; each refusal names the holder, stake and service in the
instance's words and the instance column or snapshot value at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.errors import Problem
from optimizer.instance.snapshot import (
    Pending,
    SetAllocation,
    Snapshot,
    StrategyState,
    SubnetworkState,
    VaultState,
    base_units,
    network_stake,
)

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance

DEALLOCATION_DELAY = 100_800
"""Blocks a deallocation waits on mainnet (AllocationManager's DEALLOCATION_DELAY, about 14
days); it completes at block + DEALLOCATION_DELAY + 1."""

NO_CHANGE = 1e-9
"""A target this close to the current value, relative to the max magnitude (or the active
stake), is no change: the solver's zero threshold, far below any economic meaning."""

ROUNDING_SLACK = 1e-6
"""Largest excess of a stake's targets over its max magnitude, relative to it, treated as the
solver's round-off and taken from the largest targets; more is refused."""

REDISTRIBUTION_FLOOR = 10**9
"""Smallest nonzero magnitude (wad) on a redistributing operator set (ELIP-006's advice)."""

BEACON_CHAIN_ETH_STRATEGY = "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"
"""EigenLayer's native ETH strategy, which redistributing operator sets may not use."""

EIGEN_STRATEGY = "0xaCB55C530Acdb2849e6d4f36992Cd8c9D50ED8F7"
"""EigenLayer's EIGEN strategy on mainnet, which redistributing sets may not use either."""


@dataclass(frozen=True)
class Move:
    """One pair's change on chain.

    Attributes
    ----------
    holder, stake, service : str
        Ids in the instance.
    protocol : str
        ``"eigenlayer"`` or ``"symbiotic"``.
    stage : int
        1: now; 2: once stage 1's decreases complete.
    before, after : int
        The value on chain now and the target: a magnitude (wad) or a network limit (base
        units of the collateral).
    scale : int
        What ``before`` and ``after`` are parts of: the max magnitude (wad) or the vault's
        active stake (base units); the fraction of the stake is value / scale.
    """

    holder: str
    stake: str
    service: str
    protocol: str
    stage: int
    before: int
    after: int
    scale: int

    @property
    def unit(self) -> str:
        """The unit of ``before`` and ``after``."""
        return "magnitude (wad)" if self.protocol == "eigenlayer" else "base units"

    @property
    def increase(self) -> bool:
        """Whether the move raises the allocation."""
        return self.after > self.before


@dataclass
class Moves:
    """Every move of a plan, what each pair is exposed at through the stages, and notes.

    ``exposure`` maps (stake, service) to its fractions (now, stage 1, final): what is
    slashable now (a pending decrease still counts), the value once stage 1 is submitted
    and the target.
    """

    moves: list[Move] = field(default_factory=list)
    exposure: dict[tuple[str, str], tuple[Fraction, Fraction, Fraction]] = field(
        default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    delays: dict[str, int | None] = field(default_factory=dict)
    epochs: dict[str, int | None] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)


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
    target = {(r.stake, r.service): Fraction(float(r.fraction))
              for r in allocation.itertuples() if float(r.fraction) > 0}
    current = {(r.stake, r.service): Fraction(float(r.fraction))
               for r in instance.current.itertuples() if float(r.fraction) > 0}
    if snapshot is None:
        result.notes.append("no snapshot: today's magnitudes and limits are taken from the "
                            "instance's current table, and nothing pending is known; read the "
                            "chain into a snapshot to check them")
    holders = instance.holders
    for holder in holders.index:
        operator = holders.loc[holder, "eigenlayer_operator"]
        vault = holders.loc[holder, "symbiotic_vault"]
        if _given(operator) and _given(vault):
            result.problems.append(Problem(f"holders (holder={holder})", "symbiotic_vault",
                                           "is given with eigenlayer_operator: a holder is one "
                                           "or the other, give two holders"))
        elif _given(operator):
            result.planned.append(holder)
            _eigenlayer(instance, holder, str(operator), target, current, snapshot, result)
        elif _given(vault):
            result.planned.append(holder)
            _symbiotic(instance, holder, str(vault), target, current, snapshot, result)
    unplanned = sorted({instance.stakes.loc[s, "holder"] for s, _ in target}
                       - set(result.planned))
    if unplanned:
        result.notes.append(f"no protocol identity, no plan for: {', '.join(unplanned)}")
    return result


# --- EigenLayer ------------------------------------------------------------------------------

def _eigenlayer(instance: Instance, holder: str, operator: str,
                target: dict[tuple[str, str], Fraction], current: dict[tuple[str, str], Fraction],
                snapshot: Snapshot | None, result: Moves) -> None:
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
        if not _given(strategy):
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
            if not (_given(avs) and _given(set_id)):
                result.problems.append(Problem(
                    f"services (service={service})",
                    "eigenlayer_avs" if not _given(avs) else "eigenlayer_operator_set",
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
            "reverts (InsufficientMagnitude); an EigenLayer stake's max_restaking is at most "
            "1"))
        return None
    while excess > 0:  # round-off: take it from the largest targets, one unit at a time
        largest = max(pairs, key=lambda s: after[s])
        cut = min(excess, after[largest])
        after[largest] -= cut
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


# --- Symbiotic -------------------------------------------------------------------------------

def _symbiotic(instance: Instance, holder: str, vault: str,
               target: dict[tuple[str, str], Fraction], current: dict[tuple[str, str], Fraction],
               snapshot: Snapshot | None, result: Moves) -> None:
    stakes, services, holders = instance.stakes, instance.services, instance.holders
    state = snapshot.vault(vault) if snapshot else None
    where = f"plan for holder {holder}"
    own = list(stakes.index[stakes["holder"] == holder])
    used = [s for s in own if any(i == s for i, _ in (*target, *current))]
    if not used:
        return
    if len(own) > 1:
        result.problems.append(Problem(f"holders (holder={holder})", "symbiotic_vault",
                                       f"is a vault, which holds one collateral, but {holder} "
                                       f"has {len(own)} stakes: give each its own holder"))
        return
    stake = own[0]
    delegator = holders.loc[holder, "symbiotic_delegator"]
    kind = holders.loc[holder, "symbiotic_delegator_type"]
    if state is not None:
        delegator = state.delegator or delegator
        kind = state.delegator_type if state.delegator_type is not None else kind
    operator = holders.loc[holder, "symbiotic_operator"]
    for column, value in (("symbiotic_delegator", delegator),
                          ("symbiotic_delegator_type", kind), ("symbiotic_operator", operator)):
        if not _given(value):
            result.problems.append(Problem(f"holders (holder={holder})", column,
                                           f"is missing: {where} cannot name the "
                                           f"{column.removeprefix('symbiotic_')}"))
    if any(p.where == f"holders (holder={holder})" for p in result.problems):
        return
    if int(kind) not in (0, 1):
        result.problems.append(Problem(f"holders (holder={holder})", "symbiotic_delegator_type",
                                       f"is {int(kind)}: plans are written for the "
                                       "NetworkRestake (0) and FullRestake (1) delegators"))
        return
    asset = stakes.loc[stake, "asset"]
    active = state.active_stake if state and state.active_stake is not None else base_units(
        stakes.loc[stake, "amount"], int(instance.assets.loc[asset, "decimals"]))
    result.epochs[holder] = state.epoch_duration if state else None
    if active <= 0:
        return
    pairs = sorted({s for (i, s) in (*target, *current) if i == stake},
                   key=services.index.get_loc)
    for service in pairs:
        network = services.loc[service, "symbiotic_network"]
        identifier = services.loc[service, "symbiotic_identifier"]
        if not (_given(network) and _given(identifier)):
            result.problems.append(Problem(
                f"services (service={service})",
                "symbiotic_network" if not _given(network) else "symbiotic_identifier",
                f"is missing: {where} allocates to it and cannot name its subnetwork"))
            continue
        sub = _subnetwork(state, str(network), int(identifier))
        before = network_stake(int(kind), active, sub) if sub else round(
            current.get((stake, service), Fraction(0)) * active)
        after = round(target.get((stake, service), Fraction(0)) * active)
        if abs(after - before) <= NO_CHANGE * active:
            after = before
        now = Fraction(before, active)
        result.exposure[(stake, service)] = (now, Fraction(after, active),
                                             Fraction(after, active))
        problem_at = f"{where}, service {service}"
        if sub is not None and sub.max_network_limit is not None and \
                after > sub.max_network_limit:
            result.problems.append(Problem(
                problem_at, None, f"needs a network limit of {after} base units but the "
                f"network allows this vault at most {sub.max_network_limit} (its max network "
                "limit): setNetworkLimit reverts (ExceedsMaxNetworkLimit); solve with the "
                "snapshot (it caps the pair)"))
            continue
        if after > 0 and sub is not None:
            standing = next((o for o in sub.operators if o.operator == operator), None)
            if standing is not None and not (standing.opted_in_vault
                                             and standing.opted_in_network):
                missing = "the vault" if not standing.opted_in_vault else "the network"
                result.problems.append(Problem(
                    problem_at, "symbiotic_operator", f"{operator} has not opted into "
                    f"{missing}: the stake would not count for the service"))
                continue
        if after != before:
            result.moves.append(Move(holder, stake, service, "symbiotic", 1, before, after,
                                     active))


def _subnetwork(state: VaultState | None, network: str, identifier: int
                ) -> SubnetworkState | None:
    if state is None:
        return None
    return next((s for s in state.subnetworks
                 if s.network == network and s.identifier == identifier), None)


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)



