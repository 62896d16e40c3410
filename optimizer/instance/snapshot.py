"""On-chain state as a file: what EigenLayer and Symbiotic hold today for the instance's holders.

A snapshot is a JSON document (docs/protocols.md has its full description and an example)
that someone reads off chain with any tool they trust and hands to ``restake``; nothing here
reaches the network. It holds, per EigenLayer operator and strategy, the max magnitude, the
encumbered magnitude and each operator set's magnitude with its pending modification, and the
operator's allocation delay; per Symbiotic vault, its delegator, active stake and epoch, and
per subnetwork the max network limit, the network limit and each operator's shares, limit
and opt-ins.

``optimizer.instance.chain_state`` turns it into what the model reads. Amounts stay exact
integers (magnitudes in wad, Symbiotic amounts in the collateral's base units).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import InstanceError, Problem
from optimizer.instance.cells import parse_address
from optimizer.instance.columns import WAD

if TYPE_CHECKING:
    pass

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
    block = read.integer(top, "block", "(the document)", required=False)
    eigenlayer = read.table(top.get("eigenlayer", {}), "eigenlayer")
    operators = tuple(_settled(_operator(read, node, where), block)
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
                        block=block,
                        timestamp=timestamp, operators=operators, vaults=vaults)
    _check_unique(read, snapshot)
    if read.problems:
        raise InstanceError([Problem(p.where, p.column.removeprefix("(the document)."), p.message)
                             if p.column else p for p in read.problems])
    return snapshot


def _settled(operator: OperatorState, block: int | None) -> OperatorState:
    """The operator with every modification whose effect block has passed taken as done.

    The chain does the same when it reads an allocation: a pending change at or before the
    current block is the magnitude; a completed decrease frees its magnitude (a given
    encumbered magnitude is lowered by it, as modifyAllocations clears the queue first).
    """
    if block is None:
        return operator
    strategies = []
    for state in operator.strategies:
        allocations, freed = [], 0
        for entry in state.allocations:
            landed = entry.pending
            if landed is not None and landed.effect_block is not None and \
                    landed.effect_block <= block:
                freed += max(0, entry.magnitude - landed.magnitude)
                entry = replace(entry, magnitude=landed.magnitude, pending=None)
            allocations.append(entry)
        encumbered = state.encumbered_magnitude
        strategies.append(replace(state, allocations=tuple(allocations),
                                  encumbered_magnitude=None if encumbered is None
                                  else encumbered - freed))
    return replace(operator, strategies=tuple(strategies))


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
