"""Symbiotic moves: a network limit per vault and subnetwork, in the collateral's base units.

See ``optimizer.protocols.moves`` for the rounding, docs/protocols.md for the delegators.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from optimizer.errors import Problem
from optimizer.instance.chain_state import base_units, network_stake
from optimizer.instance.identities import given, services_by_identity
from optimizer.instance.snapshot import Snapshot, SubnetworkState, VaultState
from optimizer.protocols.moves import NO_CHANGE, Move, Moves, identity

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.instance.instance import Instance


def symbiotic_moves(instance: Instance, holder: str, vault: str,
                    target: dict[tuple[str, str], Fraction],
                    current: dict[tuple[str, str], Fraction], snapshot: Snapshot | None,
                    result: Moves) -> None:
    """Add the moves of one Symbiotic vault to ``result``, or its refusals.

    The vault holds one stake; its network limit in each subnetwork becomes x A (A the active
    stake in base units), checked against the max network limit and the operator's opt-ins.
    With the vault in the snapshot, today's stake in every subnetwork is the chain's (a
    subnetwork it does not list holds nothing), not the current table's.
    """
    stakes, services, holders = instance.stakes, instance.services, instance.holders
    state = snapshot.vault(vault) if snapshot else None
    if snapshot is not None and state is None:
        result.notes.append(f"vault {vault} of holder {holder} is not in the snapshot: its "
                            "limits are taken from the instance's current table")
    by_subnetwork = services_by_identity(services, "symbiotic_network", "symbiotic_identifier")
    listed = {by_subnetwork[key] for sub in (state.subnetworks if state else ())
              if (key := (sub.network, sub.identifier)) in by_subnetwork}
    own = list(stakes.index[stakes["holder"] == holder])
    if state is not None:
        current = {k: v for k, v in current.items() if k[0] not in own}
    if not listed and not any(i in own for i, _ in (*target, *current)):
        return
    if len(own) > 1:
        result.problems.append(Problem(f"holders (holder={holder})", "symbiotic_vault",
                                       f"is a vault, which holds one collateral, but {holder} "
                                       f"has {len(own)} stakes: give each its own holder"))
        return
    stake = own[0]
    who = _identity(holders, holder, state, result)
    if who is None:
        return
    asset = stakes.loc[stake, "asset"]
    active = state.active_stake if state and state.active_stake is not None else base_units(
        stakes.loc[stake, "amount"], int(instance.assets.loc[asset, "decimals"]))
    result.epochs[holder] = state.epoch_duration if state else None
    if active <= 0:
        return
    pairs = sorted({s for (i, s) in (*target, *current) if i == stake} | listed,
                   key=services.index.get_loc)
    for service in pairs:
        named = identity(services, service, ("symbiotic_network", "symbiotic_identifier"),
                         "subnetwork", f"plan for holder {holder}", result)
        if named is None:
            continue
        sub = _subnetwork(state, *named)
        before = network_stake(who[0], active, sub) if sub else 0 if state else round(
            current.get((stake, service), Fraction(0)) * active)
        after = round(target.get((stake, service), Fraction(0)) * active)
        _pair(holder, stake, service, who, active, before, after, sub, result)


def _pair(holder: str, stake: str, service: str, who: tuple[int, str], active: int,
          before: int, after: int, sub: SubnetworkState | None, result: Moves) -> None:
    """One subnetwork's move, or the reason it cannot be made."""
    if abs(after - before) <= NO_CHANGE * active:
        after = before
    result.exposure[(stake, service)] = (Fraction(before, active), Fraction(after, active),
                                         Fraction(after, active))
    where = f"plan for holder {holder}, service {service}"
    if sub is not None and sub.max_network_limit is not None and after > sub.max_network_limit:
        result.problems.append(Problem(
            where, None, f"needs a network limit of {after} base units but the network "
            f"allows this vault at most {sub.max_network_limit} (its max network limit): "
            "setNetworkLimit reverts (ExceedsMaxNetworkLimit); solve with the snapshot (it "
            "caps the pair)"))
        return
    kind, operator = who
    idle = [o.operator for o in sub.operators if o.shares and o.operator != operator and not (
        o.opted_in_vault and o.opted_in_network)] if sub is not None and kind == 0 else []
    if after > 0 and idle:
        result.problems.append(Problem(
            where, None, f"operators {', '.join(idle)} hold shares in the subnetwork but have "
            "not opted in: their part of the network limit counts for nobody, so the vault's "
            "stake would fall short; set their shares to 0 first"))
        return
    if after > 0 and sub is not None:
        standing = next((o for o in sub.operators if o.operator == operator), None)
        if standing is None:
            result.notes.append(f"{where}: operator {operator} is not listed in the "
                                "snapshot's subnetwork, so its opt-ins are not checked")
        elif not (standing.opted_in_vault and standing.opted_in_network):
            missing = "the vault" if not standing.opted_in_vault else "the network"
            result.problems.append(Problem(
                where, "symbiotic_operator", f"{operator} has not opted into {missing}: the "
                "stake would not count for the service"))
            return
    if after != before:
        result.moves.append(Move(holder, stake, service, "symbiotic", 1, before, after, active))


def _identity(holders: pd.DataFrame, holder: str, state: VaultState | None, result: Moves
              ) -> tuple[int, str] | None:
    """The vault's delegator type and operator (the snapshot's first), or None on a refusal."""
    delegator = holders.loc[holder, "symbiotic_delegator"]
    kind = holders.loc[holder, "symbiotic_delegator_type"]
    if state is not None:
        delegator = state.delegator or delegator
        kind = state.delegator_type if state.delegator_type is not None else kind
    operator = holders.loc[holder, "symbiotic_operator"]
    where = f"holders (holder={holder})"
    missing = [column for column, value in (("symbiotic_delegator", delegator),
                                            ("symbiotic_delegator_type", kind),
                                            ("symbiotic_operator", operator))
               if not given(value)]
    for column in missing:
        result.problems.append(Problem(where, column, f"is missing: the plan for holder "
                                       f"{holder} cannot name the "
                                       f"{column.removeprefix('symbiotic_')}"))
    if missing:
        return None
    if int(kind) not in (0, 1):
        result.problems.append(Problem(where, "symbiotic_delegator_type",
                                       f"is {int(kind)}: plans are written for the "
                                       "NetworkRestake (0) and FullRestake (1) delegators"))
        return None
    return int(kind), str(operator)


def _subnetwork(state: VaultState | None, network: str, identifier: int
                ) -> SubnetworkState | None:
    if state is None:
        return None
    return next((s for s in state.subnetworks
                 if s.network == network and s.identifier == identifier), None)
