"""Symbiotic moves: a network limit per vault and subnetwork, in the collateral's base units.

See ``optimizer.protocols.moves`` for the rounding, docs/protocols.md for the delegators.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from optimizer.errors import Problem
from optimizer.instance.chain_state import base_units, network_stake
from optimizer.instance.snapshot import Snapshot, SubnetworkState, VaultState
from optimizer.protocols.moves import NO_CHANGE, Move, Moves, given

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
    """
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
    identity = _identity(holders, holder, state, result)
    if identity is None:
        return
    kind, operator = identity
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
        if not (given(network) and given(identifier)):
            result.problems.append(Problem(
                f"services (service={service})",
                "symbiotic_network" if not given(network) else "symbiotic_identifier",
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
