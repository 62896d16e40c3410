"""Calldata of the allocation calls, Safe batches and eigenlayer-cli CSVs, checked independently.

Every expectation here is computed apart from the code under test: selectors from the
Solidity signature strings, arguments by decoding with eth-abi directly, subnetworks with
Subnetwork.sol's integer formula, the Safe checksum against the tx-builder's own test vector.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from optimizer.protocols.encode import (
    BIPS,
    FUNCTIONS,
    WAD,
    AllocateParams,
    CliRow,
    cli_bips,
    cli_magnitude,
    decode_call,
    eigenlayer_cli_csv,
    modify_allocations,
    parse_subnetwork,
    set_network_limit,
    set_operator_network_limit,
    set_operator_network_shares,
    subnetwork,
)
from optimizer.protocols.safe import (
    batch_problems,
    check_safe_batch,
    checksum_matches,
    safe_batch,
    tx_builder_checksum,
    write_safe_batch,
)

# Mainnet addresses from docs/protocol-addresses.md (sources named there).
ALLOCATION_MANAGER = "0x948a420b8CC1d6BFd0B6087C2E7c344a2CD0bc39"
EIGEN_STRATEGY = "0xaCB55C530Acdb2849e6d4f36992Cd8c9D50ED8F7"
STETH_STRATEGY = "0x93c4b944D05dfe6df7645A86cd2206016c51564D"
BEACON_ETH = "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"
EIGENDA = "0x870679E138bCdf293b7Ff14dD44b70FC97e12fc0"
# Placeholders, not real parties: an operator, two AVSs, a network, a delegator, a Safe.
OPERATOR = to_checksum_address("0x" + "0a" * 20)
AVS_1 = to_checksum_address("0x" + "a1" * 20)
AVS_2 = to_checksum_address("0x" + "a2" * 20)
NETWORK = to_checksum_address("0x" + "4e" * 20)
DELEGATOR = to_checksum_address("0x" + "de" * 20)
SAFE = to_checksum_address("0x" + "5a" * 20)

# The Solidity declarations, reduced to canonical signatures by hand.
SOLIDITY = {
    # IAllocationManager.sol: modifyAllocations(address operator, AllocateParams[] params),
    # AllocateParams {OperatorSet operatorSet; IStrategy[] strategies; uint64[] newMagnitudes},
    # OperatorSet {address avs; uint32 id}
    "modifyAllocations": "modifyAllocations(address,((address,uint32),address[],uint64[])[])",
    "setNetworkLimit": "setNetworkLimit(bytes32,uint256)",
    "setOperatorNetworkShares": "setOperatorNetworkShares(bytes32,address,uint256)",
    "setOperatorNetworkLimit": "setOperatorNetworkLimit(bytes32,address,uint256)",
}
TYPES = {
    "modifyAllocations": ["address", "((address,uint32),address[],uint64[])[]"],
    "setNetworkLimit": ["bytes32", "uint256"],
    "setOperatorNetworkShares": ["bytes32", "address", "uint256"],
    "setOperatorNetworkLimit": ["bytes32", "address", "uint256"],
}


def selector(solidity: str) -> str:
    return "0x" + keccak(text=solidity)[:4].hex()


def raw_decode(name: str, data: str) -> tuple:
    assert data[:10] == selector(SOLIDITY[name])
    return decode(TYPES[name], bytes.fromhex(data[10:]))


def lower(address: str) -> str:
    return address.lower()


def sample_calls():
    key = subnetwork(NETWORK, 7)
    params = [AllocateParams(AVS_1, 1, (EIGEN_STRATEGY, STETH_STRATEGY), (3 * 10**17, 5)),
              AllocateParams(EIGENDA, 0, (BEACON_ETH,), (WAD,))]
    return [modify_allocations(ALLOCATION_MANAGER, OPERATOR, params),
            set_network_limit(DELEGATOR, key, 2**256 - 1),
            set_operator_network_shares(DELEGATOR, key, OPERATOR, 10**18),
            set_operator_network_limit(DELEGATOR, key, OPERATOR, 12_345 * 10**18)]


# --- selectors and round trips -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SOLIDITY))
def test_selector_is_keccak_of_the_solidity_signature(name):
    function = FUNCTIONS[SOLIDITY[name]]
    assert function.name == name
    assert "0x" + function.selector == selector(SOLIDITY[name])


def test_every_call_starts_with_its_selector_and_decodes_back():
    for call in sample_calls():
        name = call.function.name
        assert call.signature == SOLIDITY[name]
        assert call.data.startswith(selector(SOLIDITY[name]))
        assert decode_call(call.data) == (call.signature, call.arguments)


def test_modify_allocations_arguments_decoded_with_eth_abi():
    call = sample_calls()[0]
    operator, params = raw_decode("modifyAllocations", call.data)
    assert call.to == ALLOCATION_MANAGER
    assert operator == lower(OPERATOR)
    assert params == (
        ((lower(AVS_1), 1), (lower(EIGEN_STRATEGY), lower(STETH_STRATEGY)), (3 * 10**17, 5)),
        ((lower(EIGENDA), 0), (lower(BEACON_ETH),), (WAD,)),
    )


def test_delegator_arguments_decoded_with_eth_abi():
    _, limit, shares, operator_limit = sample_calls()
    key = bytes.fromhex(NETWORK[2:]) + (7).to_bytes(12, "big")
    assert raw_decode("setNetworkLimit", limit.data) == (key, 2**256 - 1)
    assert raw_decode("setOperatorNetworkShares", shares.data) == (key, lower(OPERATOR), 10**18)
    assert raw_decode("setOperatorNetworkLimit", operator_limit.data) == (
        key, lower(OPERATOR), 12_345 * 10**18)
    assert {limit.to, shares.to, operator_limit.to} == {DELEGATOR}


def test_calldata_matches_eth_abi_encoding_of_the_same_values():
    call = sample_calls()[1]
    key = subnetwork(NETWORK, 7)
    expected = selector(SOLIDITY["setNetworkLimit"]) + encode(
        ["bytes32", "uint256"], [key, 2**256 - 1]).hex()
    assert call.data == expected


def test_describe_names_every_input():
    text = sample_calls()[0].describe()
    assert text.startswith(f"modifyAllocations on {ALLOCATION_MANAGER}")
    for word in ("operator:", "operatorSet", "newMagnitudes", EIGEN_STRATEGY, str(WAD)):
        assert word in text
    assert "identifier 7" in sample_calls()[1].describe()


def test_decode_call_rejects_foreign_or_broken_data():
    good = sample_calls()[1].data
    with pytest.raises(ValueError, match="selector"):
        decode_call("0xa9059cbb" + good[10:])  # ERC-20 transfer
    with pytest.raises(ValueError, match="hex"):
        decode_call("0x12zz")
    with pytest.raises(ValueError, match="canonical"):
        decode_call(good + "00" * 32)


# --- subnetworks ---------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**96 - 1))
def test_subnetwork_is_network_then_uint96_identifier(identifier):
    key = subnetwork(NETWORK.lower(), identifier)
    # Subnetwork.sol: bytes32(uint256(uint160(network_)) << 96 | identifier_)
    assert int.from_bytes(key, "big") == (int(NETWORK, 16) << 96) | identifier
    assert len(key) == 32
    assert parse_subnetwork(key) == (NETWORK, identifier)


# --- range and shape errors ----------------------------------------------------------------


@pytest.mark.parametrize(("build", "message"), [
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (2**64,)), "uint64"),
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (-1,)), "uint64"),
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (WAD + 1,)), "exceeds WAD"),
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (0.5,)), "not an integer"),
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (True,)), "not an integer"),
    (lambda: AllocateParams(AVS_1, 2**32, (EIGEN_STRATEGY,), (1,)), "uint32"),
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY, STETH_STRATEGY), (1,)),
     "InputArrayLengthMismatch"),
    (lambda: AllocateParams(AVS_1, 1, (), ()), "no strategy"),
    (lambda: modify_allocations(ALLOCATION_MANAGER, OPERATOR, [AllocateParams(
        AVS_1, 1, (EIGEN_STRATEGY, EIGEN_STRATEGY.lower()), (1, 2))]), "twice"),
    (lambda: AllocateParams("0x" + "0" * 40, 1, (EIGEN_STRATEGY,), (1,)), "zero address"),
    (lambda: AllocateParams(AVS_1[:-1], 1, (EIGEN_STRATEGY,), (1,)), "not an address"),
    # one digit changed, case kept: no longer its checksum
    (lambda: AllocateParams(AVS_1, 1, (EIGEN_STRATEGY[:-1] + "6",), (1,)), "EIP-55"),
    (lambda: subnetwork(NETWORK, 2**96), "uint96"),
    (lambda: set_network_limit(DELEGATOR, subnetwork(NETWORK, 0), 2**256), "uint256"),
    (lambda: set_network_limit(DELEGATOR, b"\x01" * 31, 1), "32 bytes"),
    (lambda: set_operator_network_shares(DELEGATOR, subnetwork(NETWORK, 0), OPERATOR, -1),
     "uint256"),
    (lambda: set_operator_network_limit(DELEGATOR, subnetwork(NETWORK, 0), "0x12", 1),
     "not an address"),
    (lambda: modify_allocations(ALLOCATION_MANAGER, OPERATOR, []), "at least one"),
    (lambda: modify_allocations(ALLOCATION_MANAGER, OPERATOR, [
        AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (1,)),
        AllocateParams(AVS_1, 1, (EIGEN_STRATEGY,), (2,))]), "ModificationAlreadyPending"),
])
def test_values_the_contracts_cannot_take_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_addresses_come_out_checksummed():
    params = AllocateParams(AVS_1.lower(), 1, [EIGEN_STRATEGY.upper().replace("0X", "0x")], [1])
    assert params.avs == AVS_1
    assert params.strategies == (EIGEN_STRATEGY,)
    assert modify_allocations(ALLOCATION_MANAGER.lower(), OPERATOR, [params]).to == \
        ALLOCATION_MANAGER


# --- ELIP-002's worked example --------------------------------------------------------------
# eigenfoundation/ELIPs ELIPs/ELIP-002.md, "Unique Stake Allocation & Deallocation" and
# "Slashing of Unique Stake": an operator's EIGEN strategy with total magnitude 10,000 "for
# legibility" (1e18 on chain): AVS_1 3,000, AVS_2 2,500, EigenDA 2,000, 2,500 non-slashable.
# The operator then deallocates AVS_1 to 2,000, a staker deposits (100 -> 200 EIGEN), and
# AVS_1 slashes 50% (5e17 wads): AVS_1 1,000, AVS_2 2,500, EigenDA 2,000, non-slashable 3,500,
# total 9,000; proportions 11%, 28%, 22%, 39%; EIGEN 20, 50, 40, 70 of 180.
ELIP_TOTAL = 10_000
ELIP_ALLOCATION = {AVS_1: 3_000, AVS_2: 2_500, EIGENDA: 2_000}
ELIP_AFTER_DEALLOCATION = {AVS_1: 2_000, AVS_2: 2_500, EIGENDA: 2_000}
ELIP_SHARES = 200
ELIP_WADS_TO_SLASH = 5 * 10**17
ELIP_AFTER_SLASH = {AVS_1: 1_000, AVS_2: 2_500, EIGENDA: 2_000}
ELIP_TOTAL_AFTER_SLASH = 9_000
ELIP_PERCENT_AFTER_SLASH = {AVS_1: 11, AVS_2: 28, EIGENDA: 22, "non-slashable": 39}
ELIP_EIGEN_AFTER_SLASH = {AVS_1: 20, AVS_2: 50, EIGENDA: 40, "non-slashable": 70}
SCALE = WAD // ELIP_TOTAL  # the ELIP's 10,000 is 1e18 on chain


def elip_call(magnitudes):
    params = [AllocateParams(avs, 0, (EIGEN_STRATEGY,), (magnitude * SCALE,))
              for avs, magnitude in magnitudes.items()]
    return modify_allocations(ALLOCATION_MANAGER, OPERATOR, params)


def mul_wad_round_up(x: int, wad: int) -> int:
    return -(-x * wad // WAD)


def test_elip002_allocation_and_deallocation_round_trip():
    for magnitudes in (ELIP_ALLOCATION, ELIP_AFTER_DEALLOCATION):
        operator, params = raw_decode("modifyAllocations", elip_call(magnitudes).data)
        assert operator == lower(OPERATOR)
        assert {avs: mags[0] // SCALE for (avs, _), _, mags in params} == {
            lower(a): m for a, m in magnitudes.items()}
        assert all(strategies == (lower(EIGEN_STRATEGY),) for _, strategies, _ in params)
    assert ELIP_TOTAL - sum(ELIP_ALLOCATION.values()) == 2_500


def test_elip002_slash_recomputed_from_the_encoded_magnitudes():
    _, (_, params) = decode_call(elip_call(ELIP_AFTER_DEALLOCATION).data)
    magnitudes = {avs: mags[0] for (avs, _), _, mags in params}
    max_magnitude = WAD
    # AllocationManager.slashOperator: the set's magnitude and maxMagnitude both fall by
    # mulWadRoundUp(currentMagnitude, wadsToSlash); the other sets keep theirs.
    slashed = mul_wad_round_up(magnitudes[AVS_1], ELIP_WADS_TO_SLASH)
    magnitudes[AVS_1] -= slashed
    new_max = max_magnitude - slashed
    shares = Fraction(ELIP_SHARES) * new_max / max_magnitude
    assert {a: m // SCALE for a, m in magnitudes.items()} == ELIP_AFTER_SLASH
    assert new_max // SCALE == ELIP_TOTAL_AFTER_SLASH
    parts = {**magnitudes, "non-slashable": new_max - sum(magnitudes.values())}
    assert {k: round(100 * Fraction(m, new_max)) for k, m in parts.items()} == \
        ELIP_PERCENT_AFTER_SLASH
    assert {k: shares * m / new_max for k, m in parts.items()} == ELIP_EIGEN_AFTER_SLASH


# --- Safe Transaction Builder ----------------------------------------------------------------

# safe-global/safe-react-apps apps/tx-builder/src/lib/checksum.test.js: the app's own vector.
APP_BATCH = {
    "version": "1.0", "chainId": "4", "createdAt": 1646321521061,
    "meta": {"name": "test batch file", "txBuilderVersion": "1.4.0", "checksum": "",
             "createdFromSafeAddress": "0xDF8a1Ce35c9a6ACE153B4e0767942f1E2291a1Aa",
             "createdFromOwnerAddress": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6"},
    "transactions": [
        {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "0",
         "contractMethod": {"inputs": [{"internalType": "address", "name": "paramAddress",
                                        "type": "address"}],
                            "name": "testAddress", "payable": False},
         "contractInputsValues": {
             "paramAddress": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6"}},
        {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "0",
         "contractMethod": {"inputs": [{"internalType": "bool", "name": "paramBool",
                                        "type": "bool"}],
                            "name": "testBool", "payable": False},
         "contractInputsValues": {"paramAddress": "", "paramBool": "false"}},
        {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "2000000000000000000",
         "data": "0x42f4579000000000000000000000000049d4450977e2c95362c13d3a31a09311e0ea26a6"},
    ],
}
APP_CHECKSUM = "0x4ecbfd364aa6759983915644e73f8bd411e85a2dc306f252a387c2728c4db64c"


def test_checksum_reproduces_the_tx_builder_test_vector():
    assert tx_builder_checksum(APP_BATCH) == APP_CHECKSUM
    reversed_keys = {k: APP_BATCH[k] for k in reversed(APP_BATCH)}
    reversed_keys["meta"] = {k: APP_BATCH["meta"][k] for k in reversed(APP_BATCH["meta"])}
    assert tx_builder_checksum(reversed_keys) == APP_CHECKSUM
    renamed = {**APP_BATCH, "meta": {**APP_BATCH["meta"], "name": "another name"}}
    assert tx_builder_checksum(renamed) == APP_CHECKSUM
    swapped = {**APP_BATCH, "transactions": APP_BATCH["transactions"][::-1]}
    assert tx_builder_checksum(swapped) != APP_CHECKSUM


def make_batch():
    return safe_batch(sample_calls(), 1, 1_750_000_000_000, "restake plan", "stage 1",
                      safe_address=SAFE.lower())


def test_safe_batch_has_the_structure_the_tx_builder_loads():
    batch = make_batch()
    assert list(batch) == ["version", "chainId", "createdAt", "meta", "transactions"]
    assert (batch["version"], batch["chainId"], batch["createdAt"]) == ("1.0", "1",
                                                                        1_750_000_000_000)
    assert set(batch["meta"]) == {"name", "description", "txBuilderVersion",
                                  "createdFromSafeAddress", "createdFromOwnerAddress",
                                  "checksum"}
    assert batch["meta"]["createdFromSafeAddress"] == SAFE
    for tx, call in zip(batch["transactions"], sample_calls(), strict=True):
        assert set(tx) == {"to", "value", "data", "contractMethod", "contractInputsValues"}
        assert (tx["to"], tx["value"], tx["data"]) == (call.to, "0", call.data)
        assert all(isinstance(v, str) for v in tx["contractInputsValues"].values())
    assert batch_problems(batch) == []
    assert checksum_matches(batch)


def app_type(param: dict) -> str:
    """The canonical type of a contractMethod input, as the ABI fragment defines it."""
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(app_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def split_tuple(kind: str) -> list[str]:
    parts, depth, start = [], 0, 1
    for i, ch in enumerate(kind):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 1:
            parts.append(kind[start:i])
            start = i + 1
    parts.append(kind[start:-1])
    return parts


def convert(kind: str, value):
    if kind.endswith("[]"):
        return [convert(kind[:-2], v) for v in value]
    if kind.startswith("("):
        return tuple(convert(k, v) for k, v in zip(split_tuple(kind), value, strict=True))
    if kind.startswith("uint"):
        return int(value)
    if kind == "bytes32":
        return bytes.fromhex(value[2:])
    return value


def app_value(kind: str, text: str):
    """contractInputsValues parsed as the tx-builder does (tuples and arrays: JSON.parse)."""
    parsed = json.loads(text) if kind.startswith("(") or kind.endswith("]") else text
    return convert(kind, parsed)


def test_contract_method_and_inputs_encode_to_the_same_data():
    # The app sends `data` when present; the method and values written beside it must say
    # the same thing, so encode them the app's way and compare.
    for tx in make_batch()["transactions"]:
        method = tx["contractMethod"]
        types = [app_type(p) for p in method["inputs"]]
        values = [app_value(t, tx["contractInputsValues"][p["name"]])
                  for t, p in zip(types, method["inputs"], strict=True)]
        signature = f"{method['name']}({','.join(types)})"
        assert tx["data"] == selector(signature) + encode(types, values).hex()


def test_a_changed_batch_fails_its_checksum(tmp_path):
    batch = make_batch()
    batch["transactions"][1]["data"] = sample_calls()[2].data
    assert not checksum_matches(batch)
    with pytest.raises(ValueError, match="checksum"):
        write_safe_batch(tmp_path / "x.json", batch)
    numeric = make_batch()
    numeric["transactions"][0]["value"] = 0
    assert any("strings" in p for p in batch_problems(numeric))


def test_write_safe_batch_is_deterministic(tmp_path):
    first = write_safe_batch(tmp_path / "a.json", make_batch()).read_bytes()
    second = write_safe_batch(tmp_path / "b.json", make_batch()).read_bytes()
    assert first == second
    assert first.decode().startswith('{\n  "version": "1.0",\n')
    loaded = json.loads(first)
    assert loaded == make_batch()
    check_safe_batch(loaded)


def test_safe_batch_refuses_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        safe_batch([], 1, 0, "n", "d")
    with pytest.raises(ValueError, match="chain id"):
        safe_batch(sample_calls(), "1", 0, "n", "d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="createdAt"):
        safe_batch(sample_calls(), 1, 2**53, "n", "d")


# --- eigenlayer-cli ---------------------------------------------------------------------------


def go_calculate_magnitude_to_update(total: int, bips: int) -> int:
    # pkg/operator/allocations/update.go: big.Int Mul(total, bips).Div(_, 10_000)
    return total * bips // 10_000


@given(st.integers(min_value=1, max_value=WAD), st.data())
def test_cli_bips_never_exceed_the_plan_and_miss_it_by_under_one_bip(max_magnitude, data):
    target = data.draw(st.integers(min_value=0, max_value=max_magnitude))
    bips, magnitude, shortfall = cli_bips(target, max_magnitude)
    assert 0 <= bips <= BIPS
    assert magnitude == go_calculate_magnitude_to_update(max_magnitude, bips)
    assert magnitude == cli_magnitude(max_magnitude, bips)
    assert 0 <= shortfall == target - magnitude
    assert shortfall * BIPS < max_magnitude or shortfall == 0  # under one bip of max
    assert bips >= target * BIPS // max_magnitude  # at least the plain floor
    if bips < BIPS:  # the most bips that do not overshoot
        assert go_calculate_magnitude_to_update(max_magnitude, bips + 1) > target


def test_cli_bips_examples():
    assert cli_bips(3 * 10**17, WAD) == (3_000, 3 * 10**17, 0)
    assert cli_bips(3 * 10**17 + 10**13, WAD) == (3_000, 3 * 10**17, 10**13)
    assert cli_bips(WAD, WAD) == (BIPS, WAD, 0)
    # after a slash maxMagnitude is no multiple of 10,000: the CLI's floor decides
    assert cli_bips(1, 9_999) == (2, 1, 0)
    with pytest.raises(ValueError, match="exceeds"):
        cli_bips(11, 10)
    with pytest.raises(ValueError, match="outside"):
        cli_bips(0, WAD + 1)


def test_eigenlayer_cli_csv_has_the_columns_the_cli_reads():
    rows = [CliRow(AVS_1.lower(), 1, EIGEN_STRATEGY, 3_000), CliRow(EIGENDA, 0, BEACON_ETH, 0)]
    text = eigenlayer_cli_csv(rows)
    assert text.splitlines()[0] == "avs_address,operator_set_id,strategy_address,bips"
    assert list(csv.DictReader(io.StringIO(text))) == [
        {"avs_address": AVS_1, "operator_set_id": "1", "strategy_address": EIGEN_STRATEGY,
         "bips": "3000"},
        {"avs_address": EIGENDA, "operator_set_id": "0", "strategy_address": BEACON_ETH,
         "bips": "0"},
    ]
    with pytest.raises(ValueError, match="duplicate"):
        eigenlayer_cli_csv(rows + [CliRow(AVS_1, 1, EIGEN_STRATEGY, 1)])
    with pytest.raises(ValueError, match="exceed"):
        CliRow(AVS_1, 1, EIGEN_STRATEGY, BIPS + 1)
    with pytest.raises(ValueError, match="at least one"):
        eigenlayer_cli_csv([])
