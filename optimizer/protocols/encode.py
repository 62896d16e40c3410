"""Calldata of the allocation calls: ABI-encoded with eth-abi, decoded back before use.

Owns the bytes a plan asks a signer to send, not which values (the planning modules' job).
Selectors are keccak of the canonical signature (eth-utils); every :class:`Call` is decoded
back by :func:`decode_call` and compared with its arguments before it is returned.

Signatures as read in the sources (Layr-Labs/eigenlayer-contracts, symbioticfi/core):
``modifyAllocations(address operator, AllocateParams[] calldata params)`` and
``AllocateParams { OperatorSet operatorSet; IStrategy[] strategies; uint64[] newMagnitudes; }``
in ``src/contracts/interfaces/IAllocationManager.sol`` (``IAllocationManagerTypes``),
``OperatorSet { address avs; uint32 id; }`` in ``src/contracts/libraries/OperatorSetLib.sol``,
the reverts ruled out here (``InputArrayLengthMismatch``, ``ModificationAlreadyPending``,
``InsufficientMagnitude``) in ``src/contracts/core/AllocationManager.sol``;
``setNetworkLimit(bytes32 subnetwork, uint256 amount)`` in
``src/interfaces/delegator/INetworkRestakeDelegator.sol`` and ``IFullRestakeDelegator.sol``,
``setOperatorNetworkShares(bytes32 subnetwork, address operator, uint256 shares)`` in the
first, ``setOperatorNetworkLimit(bytes32 subnetwork, address operator, uint256 amount)`` in the
second; the subnetwork ``bytes32(uint256(uint160(network_)) << 96 | identifier_)`` (20 address
bytes, then a uint96) in ``src/contracts/libraries/Subnetwork.sol``. eigenlayer-cli
(Layr-Labs/eigenlayer-cli ``pkg/operator/allocations/``): CSV columns
``avs_address,operator_set_id,strategy_address,bips`` (``types.go``); ``update.go`` rejects a
repeated (avs, set, strategy), reads ``maxMagnitude`` when it runs and sets
``maxMagnitude * bips / 10_000`` in ``big.Int``, rounded down (``calculateMagnitudeToUpdate``);
it does not check bips <= 10,000.

Units: magnitudes in wad of ``maxMagnitude`` (starts at ``WAD``, only falls); Symbiotic limits
in the collateral's base units, shares unitless. Addresses come out EIP-55; a mixed case that
is not the checksum is refused (eth-utils 6's ``is_address`` no longer checks it).
"""

from __future__ import annotations

import csv
import io
import operator as _operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import eth_utils
from eth_abi import decode, encode

WAD = 10**18  # the initial (and largest) maxMagnitude of every operator and strategy
BIPS = 10_000  # basis points in a whole: eigenlayer-cli's resolution for a magnitude


@dataclass(frozen=True)
class Param:
    """One ABI input: Solidity type, name, compiler ``internalType`` and tuple components."""

    name: str
    type: str
    internal_type: str
    components: tuple[Param, ...] = ()

    @property
    def canonical(self) -> str:
        """The type as written in a canonical signature, e.g. ``(address,uint32)[]``."""
        if self.type.startswith("tuple"):
            return f"({','.join(c.canonical for c in self.components)}){self.type[5:]}"
        return self.type

    def element(self) -> Param:
        """The element of an array type (``uint64`` of ``uint64[]``)."""
        return Param(self.name, self.type[:-2], self.internal_type, self.components)


@dataclass(frozen=True)
class Function:
    """An external function: name, inputs, and where its signature was read."""

    name: str
    inputs: tuple[Param, ...]
    source: str

    @property
    def signature(self) -> str:
        """Canonical signature, e.g. ``setNetworkLimit(bytes32,uint256)``."""
        return f"{self.name}({','.join(self.types)})"

    @property
    def selector(self) -> str:
        """First four bytes of the keccak-256 of the signature, 8 hex digits."""
        return eth_utils.function_signature_to_4byte_selector(self.signature).hex()

    @property
    def types(self) -> list[str]:
        """The canonical input types, as eth-abi takes them."""
        return [p.canonical for p in self.inputs]


_SUBNETWORK = Param("subnetwork", "bytes32", "bytes32")
_OPERATOR = Param("operator", "address", "address")
_SYMBIOTIC = "symbioticfi/core src/interfaces/delegator/"
MODIFY_ALLOCATIONS = Function("modifyAllocations", (
    _OPERATOR,
    Param("params", "tuple[]", "struct IAllocationManagerTypes.AllocateParams[]", (
        Param("operatorSet", "tuple", "struct OperatorSet", (
            Param("avs", "address", "address"), Param("id", "uint32", "uint32"))),
        Param("strategies", "address[]", "contract IStrategy[]"),
        Param("newMagnitudes", "uint64[]", "uint64[]"))),
), "Layr-Labs/eigenlayer-contracts src/contracts/interfaces/IAllocationManager.sol")
SET_NETWORK_LIMIT = Function(
    "setNetworkLimit", (_SUBNETWORK, Param("amount", "uint256", "uint256")),
    _SYMBIOTIC + "INetworkRestakeDelegator.sol, IFullRestakeDelegator.sol")
SET_OPERATOR_NETWORK_SHARES = Function(
    "setOperatorNetworkShares", (_SUBNETWORK, _OPERATOR, Param("shares", "uint256", "uint256")),
    _SYMBIOTIC + "INetworkRestakeDelegator.sol")
SET_OPERATOR_NETWORK_LIMIT = Function(
    "setOperatorNetworkLimit", (_SUBNETWORK, _OPERATOR, Param("amount", "uint256", "uint256")),
    _SYMBIOTIC + "IFullRestakeDelegator.sol")
FUNCTIONS: dict[str, Function] = {f.signature: f for f in (
    MODIFY_ALLOCATIONS, SET_NETWORK_LIMIT, SET_OPERATOR_NETWORK_SHARES, SET_OPERATOR_NETWORK_LIMIT)}
"""Every function this module writes, by canonical signature."""
_BY_SELECTOR = {f.selector: f for f in FUNCTIONS.values()}


def checksum_address(value: object, what: str) -> str:
    """Return ``value`` EIP-55 checksummed, or raise ValueError naming ``what``.

    A mixed case must be the checksum (a wrong one is how a typo shows); zero is refused.
    """
    if not (isinstance(value, str) and value.startswith("0x")
            and eth_utils.is_hex_address(value)):
        raise ValueError(f"{what} is {value!r}, not an address (0x and 40 hex digits)")
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and not eth_utils.is_checksum_address(value):
        raise ValueError(f"{what} {value} has a mixed case that is not its EIP-55 checksum: "
                         "check it against its source")
    if int(digits, 16) == 0:
        raise ValueError(f"{what} is the zero address")
    return eth_utils.to_checksum_address(value)


def _uint(value: object, bits: int, what: str) -> int:
    """Return ``value`` as an int in ``[0, 2**bits)``, or raise ValueError naming ``what``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = _operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} is {value!r}, not an integer (uint{bits})") from None
    if not 0 <= number < 1 << bits:
        raise ValueError(f"{what} is {number}, outside uint{bits} [0, 2**{bits} - 1]")
    return number


@dataclass(frozen=True)
class AllocateParams:
    """One operator set's new magnitudes: IAllocationManagerTypes.AllocateParams.

    Attributes
    ----------
    avs : str
        The AVS of the operator set (EIP-55 once built).
    operator_set_id : int
        The set's id within the AVS (uint32).
    strategies : tuple of str
        Strategy addresses, each at most once.
    new_magnitudes : tuple of int
        Absolute target per strategy (not a change), wad of ``maxMagnitude``: uint64, <= WAD.
    """

    avs: str
    operator_set_id: int
    strategies: tuple[str, ...]
    new_magnitudes: tuple[int, ...]

    def __post_init__(self) -> None:
        avs = checksum_address(self.avs, "AVS address")
        set_id = _uint(self.operator_set_id, 32, f"operator set id of AVS {avs}")
        where = f"operator set ({avs}, {set_id})"
        strategies = tuple(checksum_address(s, f"strategy {i} of {where}")
                           for i, s in enumerate(self.strategies))
        magnitudes = tuple(_uint(m, 64, f"magnitude {i} of {where}")
                           for i, m in enumerate(self.new_magnitudes))
        if len(strategies) != len(magnitudes):
            raise ValueError(f"{where} has {len(strategies)} strategies and {len(magnitudes)} "
                             "magnitudes: modifyAllocations reverts (InputArrayLengthMismatch)")
        if not strategies:
            raise ValueError(f"{where} has no strategy: an empty entry changes nothing")
        for strategy, magnitude in zip(strategies, magnitudes, strict=True):
            if magnitude > WAD:
                raise ValueError(f"magnitude {magnitude} of {strategy} in {where} exceeds WAD "
                                 "(1e18), the largest maxMagnitude: it can never be allocated")
        for name, value in (("avs", avs), ("operator_set_id", set_id),
                            ("strategies", strategies), ("new_magnitudes", magnitudes)):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Call:
    """One transaction: contract called (EIP-55), canonical signature, arguments, calldata.

    ``arguments`` are in eth-abi's shape, as :func:`decode_call` returns them (tuples, EIP-55
    addresses, bytes32 as ``bytes``); ``data`` is ``"0x"`` + selector + encoded arguments.
    """

    to: str
    signature: str
    arguments: tuple[Any, ...]
    data: str

    @property
    def function(self) -> Function:
        """The function called."""
        return FUNCTIONS[self.signature]

    def describe(self) -> str:
        """Lines a reviewer can check against the plan: the target, then each input."""
        lines = [f"{self.function.name} on {self.to}  [{self.signature}]"]
        for param, value in zip(self.function.inputs, self.arguments, strict=True):
            if param.type == "tuple[]":
                lines.append(f"  {param.name}:")
                lines.extend(f"    [{i}] {_show(param.element(), v)}" for i, v in enumerate(value))
            else:
                lines.append(f"  {param.name}: {_show(param, value)}")
        return "\n".join(lines)


def _show(param: Param, value: Any) -> str:
    if param.type.endswith("[]"):
        return "[" + ", ".join(_show(param.element(), v) for v in value) + "]"
    if param.type == "tuple":
        parts = (f"{c.name}: {_show(c, v)}" for c, v in zip(param.components, value, strict=True))
        return "{" + ", ".join(parts) + "}"
    if param.type == "bytes32" and param.name == "subnetwork":
        network, identifier = parse_subnetwork(value)
        return f"0x{value.hex()} (network {network}, identifier {identifier})"
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _normalise(param: Param, value: Any) -> Any:
    """eth-abi's decoded value in the shape of :attr:`Call.arguments`."""
    if param.type.endswith("[]"):
        return tuple(_normalise(param.element(), v) for v in value)
    if param.type == "tuple":
        return tuple(_normalise(c, v) for c, v in zip(param.components, value, strict=True))
    return eth_utils.to_checksum_address(value) if param.type == "address" else value


def decode_call(data: str) -> tuple[str, tuple[Any, ...]]:
    """(signature, arguments as in :attr:`Call.arguments`) of calldata of :data:`FUNCTIONS`.

    ValueError when ``data`` is not hex, of an unknown selector, or not canonically encoded.
    """
    try:
        raw = bytes.fromhex(data[2:]) if data.startswith("0x") else None
    except (AttributeError, ValueError):
        raw = None
    if raw is None or len(raw) < 4:
        raise ValueError(f"calldata {data!r:.80} is not 0x-prefixed hex with a 4-byte selector")
    function = _BY_SELECTOR.get(raw[:4].hex())
    if function is None:
        raise ValueError(f"selector 0x{raw[:4].hex()} is none of {sorted(FUNCTIONS)}")
    values = decode(function.types, raw[4:])
    if encode(function.types, values) != raw[4:]:
        raise ValueError(f"calldata of {function.signature} is not in canonical ABI encoding")
    arguments = tuple(_normalise(p, v) for p, v in zip(function.inputs, values, strict=True))
    return function.signature, arguments


def _call(to: str, function: Function, arguments: tuple[Any, ...]) -> Call:
    """Encode, then decode back: a call whose bytes say anything else is never returned."""
    target = checksum_address(to, f"contract called by {function.name}")
    data = "0x" + function.selector + encode(function.types, arguments).hex()
    if decode_call(data) != (function.signature, arguments):
        raise RuntimeError(f"{function.signature} calldata does not decode to its arguments")
    return Call(target, function.signature, arguments, data)


def modify_allocations(allocation_manager: str, operator: str,
                       params: Sequence[AllocateParams]) -> Call:
    """``modifyAllocations(operator, params)``: each (set, strategy) pair at most once."""
    who = checksum_address(operator, "operator")
    if not params:
        raise ValueError("modifyAllocations needs at least one operator set")
    keys = [(p.avs, p.operator_set_id, s) for p in params for s in p.strategies]
    if len(set(keys)) != len(keys):
        twice = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise ValueError(f"(AVS, set id, strategy) {twice} is changed twice in one call: the "
                         "second change reverts (ModificationAlreadyPending)")
    arguments = (who, tuple(((p.avs, p.operator_set_id), p.strategies, p.new_magnitudes)
                            for p in params))
    return _call(allocation_manager, MODIFY_ALLOCATIONS, arguments)


def subnetwork(network: str, identifier: int) -> bytes:
    """The 32-byte subnetwork key: the network's 20 address bytes, then uint96 ``identifier``."""
    address = checksum_address(network, "network")
    number = _uint(identifier, 96, f"subnetwork identifier of network {address}")
    return bytes.fromhex(address[2:]) + number.to_bytes(12, "big")


def parse_subnetwork(key: bytes) -> tuple[str, int]:
    """Split a subnetwork key into its network (EIP-55) and identifier, as Subnetwork.sol does."""
    if not isinstance(key, bytes) or len(key) != 32:
        raise ValueError(f"a subnetwork is 32 bytes, not {key!r}")
    network = checksum_address("0x" + key[:20].hex(), "network of the subnetwork")
    return network, int.from_bytes(key[20:], "big")


def set_network_limit(delegator: str, subnetwork: bytes, amount: int) -> Call:
    """``setNetworkLimit`` on a Network- or FullRestakeDelegator; amount in base units."""
    parse_subnetwork(subnetwork)
    arguments = (subnetwork, _uint(amount, 256, "network limit"))
    return _call(delegator, SET_NETWORK_LIMIT, arguments)


def set_operator_network_shares(delegator: str, subnetwork: bytes, operator: str,
                                shares: int) -> Call:
    """``setOperatorNetworkShares`` on a NetworkRestakeDelegator; shares unitless."""
    parse_subnetwork(subnetwork)
    arguments = (subnetwork, checksum_address(operator, "operator"),
                 _uint(shares, 256, "operator network shares"))
    return _call(delegator, SET_OPERATOR_NETWORK_SHARES, arguments)


def set_operator_network_limit(delegator: str, subnetwork: bytes, operator: str,
                               amount: int) -> Call:
    """``setOperatorNetworkLimit`` on a FullRestakeDelegator; amount in base units."""
    parse_subnetwork(subnetwork)
    arguments = (subnetwork, checksum_address(operator, "operator"),
                 _uint(amount, 256, "operator network limit"))
    return _call(delegator, SET_OPERATOR_NETWORK_LIMIT, arguments)


class CliBips(NamedTuple):
    """Bips for the CLI, the magnitude it then sets (wad) and target - magnitude (wad, >= 0)."""

    bips: int
    magnitude: int
    shortfall: int


def cli_magnitude(max_magnitude: int, bips: int) -> int:
    """The magnitude eigenlayer-cli sets for ``bips`` (``calculateMagnitudeToUpdate``), wad."""
    return _uint(max_magnitude, 64, "maxMagnitude") * _uint(bips, 64, "bips") // BIPS


def cli_bips(target_magnitude: int, max_magnitude: int) -> CliBips:
    """The most bips whose CLI magnitude does not exceed ``target_magnitude``.

    floor(target x 10,000 / max), or one more where the CLI's own floor allows (max 9,999,
    target 1: 2 bips set exactly 1). The CLI never allocates more than the plan.
    Both in wad; ``max_magnitude`` in (0, WAD] is the strategy's maxMagnitude now: the CLI
    reads it again when it runs, so a slash in between lowers what it sets.
    """
    top = _uint(max_magnitude, 64, "maxMagnitude")
    target = _uint(target_magnitude, 64, "target magnitude")
    if not 0 < top <= WAD:
        raise ValueError(f"maxMagnitude is {top}, outside (0, WAD]")
    if target > top:
        raise ValueError(f"target magnitude {target} exceeds maxMagnitude {top}")
    # floor(top * bips / BIPS) <= target  <=>  top * bips < (target + 1) * BIPS
    bips = min(BIPS, ((target + 1) * BIPS - 1) // top)
    magnitude = cli_magnitude(top, bips)
    return CliBips(bips, magnitude, target - magnitude)


@dataclass(frozen=True)
class CliRow:
    """One line of eigenlayer-cli's allocation CSV; bips of maxMagnitude in [0, 10,000]."""

    avs: str
    operator_set_id: int
    strategy: str
    bips: int

    def __post_init__(self) -> None:
        where = f"({self.avs}, {self.operator_set_id}, {self.strategy})"
        bips = _uint(self.bips, 64, f"bips of {where}")
        if bips > BIPS:  # the CLI does not check this; the contract would revert
            raise ValueError(f"bips {bips} of {where} exceed {BIPS}")
        for name, value in (("avs", checksum_address(self.avs, "AVS address")),
                            ("operator_set_id", _uint(self.operator_set_id, 32, "set id")),
                            ("strategy", checksum_address(self.strategy, "strategy")),
                            ("bips", bips)):
            object.__setattr__(self, name, value)


CLI_CSV_COLUMNS = ("avs_address", "operator_set_id", "strategy_address", "bips")


def eigenlayer_cli_csv(rows: Iterable[CliRow]) -> str:
    """The CSV ``eigenlayer operator allocations update --csv-file`` reads.

    Raises ValueError on no rows or a repeated (avs, set, strategy), which the CLI rejects.
    """
    lines = [(r.avs, r.operator_set_id, r.strategy, r.bips) for r in rows]
    if not lines:
        raise ValueError("an allocation CSV needs at least one row")
    keys = [line[:3] for line in lines]
    if len(set(keys)) != len(keys):
        twice = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise ValueError(f"duplicate CSV row for {twice}: eigenlayer-cli rejects the file")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([CLI_CSV_COLUMNS, *lines])
    return out.getvalue()
