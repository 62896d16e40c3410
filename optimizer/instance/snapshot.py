"""On-chain state as a file: what EigenLayer and Symbiotic hold today for the instance's holders.

A snapshot is a JSON document (docs/protocols.md has its full description and an example)
that someone reads off chain with any tool they trust and hands to ``restake``; nothing here
reaches the network. It holds, per EigenLayer operator and strategy, the max magnitude, the
encumbered magnitude and each operator set's magnitude with its pending modification, and the
operator's allocation delay; per Symbiotic vault, its delegator, active stake and epoch, and
per subnetwork the max network limit, the network limit and each operator's shares, limit
and opt-ins.

``apply_snapshot`` turns it into what the model reads: the ``current`` allocation, each
stake's ``max_magnitude``, pairs fixed where a modification is pending (it cannot change
now), per-pair caps from max network limits and from magnitude encumbered outside the
instance. Amounts stay exact integers (magnitudes in wad, Symbiotic amounts in the
collateral's base units).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from optimizer.errors import InstanceError, Problem
from optimizer.instance.cells import parse_address
from optimizer.instance.columns import WAD

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance

UINT64 = 2**64 - 1
UINT256 = 2**256 - 1


@dataclass(frozen=True)
class Pending:
    """A modification waiting for its effect block: the magnitude it sets, and when (block)."""

    magnitude: int
    effect_block: int | None


@dataclass(frozen=True)
class SetAllocation:
    """One operator set's magnitude of one strategy (wad), and its pending modification."""

    avs: str
    operator_set_id: int
    magnitude: int
    pending: Pending | None = None

    @property
    def encumbered(self) -> int:
        """Magnitude held against the max now: a pending decrease still holds the old one."""
        return max(self.magnitude, self.pending.magnitude if self.pending else 0)


@dataclass(frozen=True)
class StrategyState:
    """An operator's state in one strategy (every amount in wad of magnitude)."""

    strategy: str
    max_magnitude: int
    allocations: tuple[SetAllocation, ...]
    encumbered_magnitude: int | None = None

    @property
    def encumbered(self) -> int:
        """The encumbered magnitude: as given, else the sum over the sets listed."""
        if self.encumbered_magnitude is not None:
            return self.encumbered_magnitude
        return sum(a.encumbered for a in self.allocations)


@dataclass(frozen=True)
class OperatorState:
    """An EigenLayer operator: its allocation delay (blocks; None: never set) and strategies."""

    operator: str
    allocation_delay: int | None
    strategies: tuple[StrategyState, ...]


@dataclass(frozen=True)
class NetworkOperator:
    """One operator's standing in a vault's subnetwork (base units of the collateral)."""

    operator: str
    shares: int = 0
    operator_network_limit: int = 0
    opted_in_vault: bool = True
    opted_in_network: bool = True


@dataclass(frozen=True)
class SubnetworkState:
    """A vault's limits in one subnetwork (base units)."""

    network: str
    identifier: int
    network_limit: int
    max_network_limit: int | None
    operators: tuple[NetworkOperator, ...] = ()


@dataclass(frozen=True)
class VaultState:
    """A Symbiotic vault as the chain holds it.

    Its delegator, the delegator's type (0 NetworkRestake, 1 FullRestake), the active stake
    (base units), the epoch (seconds) and the subnetworks it has limits in.
    """

    vault: str
    delegator: str | None
    delegator_type: int | None
    active_stake: int | None
    epoch_duration: int | None
    subnetworks: tuple[SubnetworkState, ...]


@dataclass(frozen=True)
class Snapshot:
    """The on-chain state a plan starts from (see the module's docstring)."""

    origin: str
    chain_id: int | None = None
    block: int | None = None
    timestamp: str | None = None
    operators: tuple[OperatorState, ...] = ()
    vaults: tuple[VaultState, ...] = ()
    notes: list[str] = field(default_factory=list)

    def operator(self, address: str | None) -> OperatorState | None:
        """The state of the EigenLayer operator at ``address``, if the snapshot has it."""
        return next((o for o in self.operators if o.operator == address), None)

    def vault(self, address: str | None) -> VaultState | None:
        """The state of the Symbiotic vault at ``address``, if the snapshot has it."""
        return next((v for v in self.vaults if v.vault == address), None)


# --- reading ------------------------------------------------------------------------------------

class _Reader:
    """Typed access to a JSON document that collects every problem with its JSON path."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def table(self, node: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            self.fail(path, "must be an object")
            return {}
        return node

    def rows(self, node: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        value = node.get(key, [])
        if not isinstance(value, list):
            self.fail(f"{path}.{key}" if path else key, "must be a list")
            return []
        where = f"{path}.{key}" if path else key
        return [(f"{where}[{n}]", self.table(item, f"{where}[{n}]"))
                for n, item in enumerate(value)]

    def address(self, node: dict[str, Any], key: str, path: str, required: bool = True
                ) -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "is missing")
            return None
        checked, problem = parse_address(value)
        if problem:
            self.fail(f"{path}.{key}", problem)
        return checked

    def integer(self, node: dict[str, Any], key: str, path: str, high: int = UINT256,
                required: bool = True, default: int | None = None) -> int | None:
        value = node.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "is missing")
            return default
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None:
            self.fail(f"{path}.{key}", f"is {value!r}, not a whole number (write large "
                      "amounts as decimal digits in a string)")
            return default
        if not 0 <= number <= high:
            self.fail(f"{path}.{key}", f"is {number}, must be in [0, {high}]")
            return default
        return number

    def flag(self, node: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", f"is {value!r}, must be true or false")
            return default
        return value


def read_snapshot(path: str | Path) -> Snapshot:
    """Read and check a snapshot file (JSON; docs/protocols.md).

    Raises
    ------
    InstanceError
        Every problem at once, each named by the file and the JSON path of the value
        (``snapshot.json: eigenlayer.operators[0].strategies[1].max_magnitude is ...``).
    """
    file = Path(path)
    name = file.name
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstanceError([Problem(str(file), None, "does not exist")]) from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InstanceError([Problem(name, None, f"cannot be read as JSON: {error}")]) from None
    read = _Reader(name)
    top = read.table(document, "(the document)")
    known = {"chain_id", "block", "timestamp", "eigenlayer", "symbiotic", "description"}
    for key in set(top) - known:
        read.fail(str(key), f"is not a key of a snapshot (known: {', '.join(sorted(known))})")
    eigenlayer = read.table(top.get("eigenlayer", {}), "eigenlayer")
    operators = tuple(_operator(read, node, where)
                      for where, node in read.rows(eigenlayer, "operators", "eigenlayer"))
    symbiotic = read.table(top.get("symbiotic", {}), "symbiotic")
    vaults = tuple(_vault(read, node, where)
                   for where, node in read.rows(symbiotic, "vaults", "symbiotic"))
    timestamp = top.get("timestamp")
    if timestamp is not None and not isinstance(timestamp, str):
        read.fail("timestamp", f"is {timestamp!r}, must be text (ISO 8601)")
        timestamp = None
    snapshot = Snapshot(origin=str(file),
                        chain_id=read.integer(top, "chain_id", "(the document)", required=False),
                        block=read.integer(top, "block", "(the document)", required=False),
                        timestamp=timestamp, operators=operators, vaults=vaults)
    _check_unique(read, snapshot)
    if read.problems:
        raise InstanceError([Problem(p.where, p.column.removeprefix("(the document)."), p.message)
                             if p.column else p for p in read.problems])
    return snapshot


def _operator(read: _Reader, node: dict[str, Any], where: str) -> OperatorState:
    strategies = []
    for path, item in read.rows(node, "strategies", where):
        allocations = []
        for set_path, entry in read.rows(item, "allocations", path):
            pending_node = entry.get("pending")
            pending = None
            if pending_node is not None:
                pending_table = read.table(pending_node, f"{set_path}.pending")
                pending = Pending(
                    magnitude=read.integer(pending_table, "magnitude", f"{set_path}.pending",
                                           high=UINT64) or 0,
                    effect_block=read.integer(pending_table, "effect_block",
                                              f"{set_path}.pending", required=False))
            allocations.append(SetAllocation(
                avs=read.address(entry, "avs", set_path) or "",
                operator_set_id=read.integer(entry, "operator_set_id", set_path,
                                             high=2**32 - 1) or 0,
                magnitude=read.integer(entry, "magnitude", set_path, high=UINT64) or 0,
                pending=pending))
        maximum = read.integer(item, "max_magnitude", path, high=WAD, required=False,
                               default=WAD)
        state = StrategyState(
            strategy=read.address(item, "strategy", path) or "",
            max_magnitude=WAD if maximum is None else maximum,
            allocations=tuple(allocations),
            encumbered_magnitude=read.integer(item, "encumbered_magnitude", path, high=UINT64,
                                              required=False))
        if state.encumbered > state.max_magnitude:
            read.fail(f"{path}", f"encumbers {state.encumbered} of a max magnitude of "
                      f"{state.max_magnitude}: the chain never allows that")
        listed = sum(a.encumbered for a in state.allocations)
        if state.encumbered_magnitude is not None and state.encumbered_magnitude < listed:
            read.fail(f"{path}.encumbered_magnitude", f"is {state.encumbered_magnitude}, below "
                      f"the {listed} its operator sets encumber")
        strategies.append(state)
    return OperatorState(operator=read.address(node, "operator", where) or "",
                         allocation_delay=read.integer(node, "allocation_delay", where,
                                                       high=2**32 - 1, required=False),
                         strategies=tuple(strategies))


def _vault(read: _Reader, node: dict[str, Any], where: str) -> VaultState:
    subnetworks = []
    for path, item in read.rows(node, "subnetworks", where):
        operators = tuple(
            NetworkOperator(
                operator=read.address(entry, "operator", op_path) or "",
                shares=read.integer(entry, "shares", op_path, required=False, default=0) or 0,
                operator_network_limit=read.integer(entry, "operator_network_limit", op_path,
                                                    required=False, default=0) or 0,
                opted_in_vault=read.flag(entry, "opted_in_vault", op_path, True),
                opted_in_network=read.flag(entry, "opted_in_network", op_path, True))
            for op_path, entry in read.rows(item, "operators", path))
        subnetworks.append(SubnetworkState(
            network=read.address(item, "network", path) or "",
            identifier=read.integer(item, "identifier", path, high=2**96 - 1, required=False,
                                    default=0) or 0,
            network_limit=read.integer(item, "network_limit", path, required=False,
                                       default=0) or 0,
            max_network_limit=read.integer(item, "max_network_limit", path, required=False),
            operators=operators))
    delegator_type = read.integer(node, "delegator_type", where, high=3, required=False)
    return VaultState(vault=read.address(node, "vault", where) or "",
                      delegator=read.address(node, "delegator", where, required=False),
                      delegator_type=delegator_type,
                      active_stake=read.integer(node, "active_stake", where, required=False),
                      epoch_duration=read.integer(node, "epoch_duration", where,
                                                  required=False),
                      subnetworks=tuple(subnetworks))


def _check_unique(read: _Reader, snapshot: Snapshot) -> None:
    seen: dict[object, str] = {}

    def once(key: object, where: str, what: str) -> None:
        if key in seen:
            read.fail(where, f"repeats {what} already given at {seen[key]}")
        else:
            seen[key] = where

    for n, operator in enumerate(snapshot.operators):
        base = f"eigenlayer.operators[{n}]"
        once(("operator", operator.operator), base, f"operator {operator.operator}")
        for m, state in enumerate(operator.strategies):
            place = f"{base}.strategies[{m}]"
            once(("strategy", operator.operator, state.strategy), place,
                 f"strategy {state.strategy}")
            for k, entry in enumerate(state.allocations):
                once(("set", operator.operator, state.strategy, entry.avs,
                      entry.operator_set_id), f"{place}.allocations[{k}]",
                     f"operator set {entry.avs}/{entry.operator_set_id}")
    for n, vault in enumerate(snapshot.vaults):
        base = f"symbiotic.vaults[{n}]"
        once(("vault", vault.vault), base, f"vault {vault.vault}")
        for m, sub in enumerate(vault.subnetworks):
            once(("subnetwork", vault.vault, sub.network, sub.identifier),
                 f"{base}.subnetworks[{m}]", f"subnetwork {sub.network}/{sub.identifier}")


# --- what the snapshot means to the model --------------------------------------------------------

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
    by_operator = {a: h for h, a in holders["eigenlayer_operator"].items() if _given(a)}
    by_vault = {a: h for h, a in holders["symbiotic_vault"].items() if _given(a)}
    by_set = {(a, int(n)): s for s, a, n in zip(services.index, services["eigenlayer_avs"],
                                                services["eigenlayer_operator_set"], strict=True)
              if _given(a) and _given(n)}
    by_subnetwork = {(a, int(n)): s for s, a, n in zip(
        services.index, services["symbiotic_network"], services["symbiotic_identifier"],
        strict=True) if _given(a) and _given(n)}
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
    counted once, at most min(active, network limit).
    """
    ceiling = min(active, sub.network_limit)
    if delegator_type == 1:
        return min(ceiling, max((min(ceiling, o.operator_network_limit) for o in sub.operators),
                                default=0))
    total = sum(o.shares for o in sub.operators)
    if total == 0:
        return 0
    return sum(o.shares * ceiling // total for o in sub.operators)


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


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)
