"""The chain's state read against an instance: what a snapshot means to the model.

``apply_snapshot`` turns a snapshot (``optimizer.instance.snapshot``) into what the model
reads: the ``current`` allocation, each stake's ``max_magnitude``, pairs fixed where a
modification is pending (it cannot change now), per-pair caps from max network limits, and
the restaking degree lowered by magnitude encumbered outside the instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.instance.identities import given, services_by_identity
from optimizer.instance.snapshot import Snapshot, SubnetworkState

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance


@dataclass(frozen=True)
class PairState:
    """What the chain says of one (stake, service) pair, in fractions of the stake.

    ``current`` is what is allocated now, ``fixed`` the target of a pending modification
    (the pair cannot change before it lands), ``cap`` the most it may take.
    """

    current: Fraction = Fraction(0)
    fixed: Fraction | None = None
    cap: Fraction | None = None


@dataclass
class ChainState:
    """The snapshot read against an instance.

    Per pair its state; per stake its max magnitude (wad), the share of it encumbered by
    operator sets the instance does not name, and a vault's active stake (base units).
    """

    pairs: dict[tuple[str, str], PairState] = field(default_factory=dict)
    max_magnitude: dict[str, int] = field(default_factory=dict)
    outside: dict[str, Fraction] = field(default_factory=dict)
    active_stake: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def chain_state(instance: Instance, snapshot: Snapshot) -> ChainState:
    """Match the snapshot to the instance's holders, stakes and services by identity.

    Operators, strategies and operator sets, vaults and subnetworks are matched by the
    addresses and ids the instance's protocol columns give.

    Entries the instance does not name are left out with a note (an operator set outside
    the instance still encumbers magnitude: it lowers what the stake may allocate).
    """
    state = ChainState()
    holders, stakes, assets, services = (instance.holders, instance.stakes, instance.assets,
                                         instance.services)
    by_operator = {a: h for h, a in holders["eigenlayer_operator"].items() if given(a)}
    by_vault = {a: h for h, a in holders["symbiotic_vault"].items() if given(a)}
    by_set = services_by_identity(services, "eigenlayer_avs", "eigenlayer_operator_set")
    by_subnetwork = services_by_identity(services, "symbiotic_network", "symbiotic_identifier")
    strategy_of = assets["eigenlayer_strategy"]
    for operator in snapshot.operators:
        holder = by_operator.get(operator.operator)
        if holder is None:
            state.notes.append(f"operator {operator.operator} is no holder's "
                               "eigenlayer_operator: left out")
            continue
        own = stakes[stakes["holder"] == holder]
        for strategy in operator.strategies:
            matching = [i for i in own.index if strategy_of[own.loc[i, "asset"]] ==
                        strategy.strategy]
            if not matching:
                state.notes.append(f"strategy {strategy.strategy} of operator "
                                   f"{operator.operator} is no stake of {holder}: left out")
                continue
            stake = matching[0]
            top = strategy.max_magnitude
            state.max_magnitude[stake] = top
            inside = 0
            for entry in strategy.allocations:
                service = by_set.get((entry.avs, entry.operator_set_id))
                if service is None:
                    continue
                inside += entry.encumbered
                pending = entry.pending
                state.pairs[(stake, service)] = PairState(
                    current=Fraction(entry.magnitude, top),
                    fixed=Fraction(pending.magnitude, top) if pending else None)
            state.outside[stake] = Fraction(strategy.encumbered - inside, top)
    for vault in snapshot.vaults:
        holder = by_vault.get(vault.vault)
        if holder is None:
            state.notes.append(f"vault {vault.vault} is no holder's symbiotic_vault: left out")
            continue
        own = stakes.index[stakes["holder"] == holder]
        if len(own) != 1:
            state.notes.append(f"vault {vault.vault}: holder {holder} has {len(own)} stakes, "
                               "a vault holds one collateral: left out")
            continue
        stake = own[0]
        active = vault.active_stake
        if active is None:
            active = base_units(stakes.loc[stake, "amount"],
                                int(assets.loc[stakes.loc[stake, "asset"], "decimals"]))
        state.active_stake[stake] = active
        for sub in vault.subnetworks:
            service = by_subnetwork.get((sub.network, sub.identifier))
            if service is None:
                state.notes.append(f"subnetwork {sub.network}/{sub.identifier} of vault "
                                   f"{vault.vault} is no service: left out")
                continue
            current = Fraction(network_stake(vault.delegator_type, active, sub), active) \
                if active else Fraction(0)
            cap = Fraction(min(sub.max_network_limit, active), active) \
                if sub.max_network_limit is not None and active else None
            state.pairs[(stake, service)] = PairState(current=current, cap=cap)
    return state


def network_stake(delegator_type: int | None, active: int, sub: SubnetworkState) -> int:
    """The vault's stake in a subnetwork by the delegator's own formula (base units).

    NetworkRestakeDelegator: each operator holds shares / total shares x min(active stake,
    network limit), which sum to min(active, limit) when any shares exist; FullRestake: each
    operator min(active, network limit, operator network limit), the vault's stake then
    counted once, at most min(active, network limit). An operator that has not opted into
    both the vault and the network holds nothing (the delegators' ``stake`` is 0 for it).
    """
    ceiling = min(active, sub.network_limit)
    counted = [o for o in sub.operators if o.opted_in_vault and o.opted_in_network]
    if delegator_type == 1:
        return min(ceiling, max((min(ceiling, o.operator_network_limit) for o in counted),
                                default=0))
    total = sum(o.shares for o in sub.operators)
    if total == 0:
        return 0
    return sum(o.shares * ceiling // total for o in counted)


def base_units(amount: float, decimals: int) -> int:
    """``amount`` (asset units, as written) in base units: amount x 10^decimals, rounded down."""
    return int(Fraction(repr(float(amount))) * 10**decimals)


def apply_snapshot(instance: Instance, snapshot: Snapshot) -> tuple[Instance, list[str]]:
    """The instance with the chain's state in it, and notes on what was left out.

    - ``current``: the rows of the pairs the snapshot covers are replaced by the chain's
      (EigenLayer magnitude / max magnitude; Symbiotic the vault's stake in the subnetwork
      over its active stake); rows of other stakes stay;
    - ``stakes.max_magnitude`` from the snapshot, and ``max_restaking`` lowered to the share
      of the max magnitude that operator sets outside the instance leave free;
    - ``eligibility``: a pair with a pending modification is fixed at its target
      (``min_fraction`` = ``max_fraction``); a max network limit below the active stake caps
      the pair (``max_fraction``).
    """
    state = chain_state(instance, snapshot)
    covered = set(state.max_magnitude) | set(state.active_stake)
    current = instance.current
    kept = current[~current["stake"].isin(covered)]
    rows = [{"stake": stake, "service": service, "fraction": float(pair.current)}
            for (stake, service), pair in state.pairs.items() if pair.current > 0]
    new_current = pd.concat([kept, pd.DataFrame(rows, columns=["stake", "service", "fraction"])],
                            ignore_index=True) if rows else kept.reset_index(drop=True)
    stakes = instance.stakes.copy()
    for stake, top in state.max_magnitude.items():
        stakes.loc[stake, "max_magnitude"] = top
        free = float(1 - state.outside.get(stake, Fraction(0)))
        if free < stakes.loc[stake, "max_restaking"]:
            state.notes.append(f"stake {stake}: operator sets outside the instance encumber "
                               f"{1 - free:.6g} of its magnitude: max_restaking lowered to "
                               f"{free:.6g}")
            stakes.loc[stake, "max_restaking"] = free
    eligibility = instance.eligibility.copy()
    for (stake, service), pair in state.pairs.items():
        low = high = None
        if pair.fixed is not None:
            low = high = float(pair.fixed)
            state.notes.append(f"stake {stake}, service {service}: a modification to "
                               f"{low:.6g} is pending on chain, the pair is fixed there")
        elif pair.cap is not None and pair.cap < 1:
            high = float(pair.cap)
        if low is None and high is None:
            continue
        eligibility = _bound_pair(eligibility, stake, service, low, high)
    changed = instance.with_changes(stakes=stakes, current=new_current,
                                    eligibility=eligibility)
    return _revalidated(changed), state.notes + snapshot.notes


def _bound_pair(eligibility: pd.DataFrame, stake: str, service: str, low: float | None,
                high: float | None) -> pd.DataFrame:
    """Eligibility with the pair's stake row bounded (the tighter of the row's and these)."""
    at = eligibility.index[(eligibility["stake"] == stake) & (eligibility["service"] == service)]
    if len(at):
        row = at[0]
        if low is not None:
            old = eligibility.loc[row, "min_fraction"]
            eligibility.loc[row, "min_fraction"] = low if pd.isna(old) else max(old, low)
        if high is not None:
            old = eligibility.loc[row, "max_fraction"]
            eligibility.loc[row, "max_fraction"] = high if pd.isna(old) else min(old, high)
        return eligibility
    extra = pd.DataFrame([{"holder": None, "stake": stake, "service": service, "allowed": None,
                           "min_fraction": low, "max_fraction": high}])
    return pd.concat([eligibility, extra.astype(eligibility.dtypes.to_dict(), errors="ignore")],
                     ignore_index=True)


def _revalidated(instance: Instance) -> Instance:
    """The instance written to plain records and read back, so that every rule runs on it."""
    from dataclasses import fields

    from optimizer.instance.columns import TABLES
    from optimizer.instance.instance import Instance as Rebuilt

    frames = {name: pd.DataFrame(instance.records(name)) for name in TABLES}
    parameters = {f.name: getattr(instance.parameters, f.name)
                  for f in fields(instance.parameters)
                  if getattr(instance.parameters, f.name) is not None}
    rebuilt = Rebuilt.from_frames(name=instance.name, numeraire=instance.numeraire,
                                  description=instance.description, source=instance.source,
                                  parameters=parameters,
                                  **{k: v for k, v in frames.items() if len(v.columns)})
    return rebuilt.with_changes(origin=instance.origin, keep_scenarios=False)

