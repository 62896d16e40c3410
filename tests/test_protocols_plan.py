"""Plans the chain would agree with: decoded calldata, stages, the delegators' formulas, refusals.

Every check recomputes from what was written: the calldata is decoded with eth-abi directly
(not the package's decoder), magnitudes are compared with x times the max magnitude, a
Symbiotic plan's stakes are recomputed with the delegator's own formula after applying the
decoded calls to the snapshot's state.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from eth_abi import decode
from eth_utils import keccak

from optimizer.errors import InstanceError
from optimizer.instance.chain_state import apply_snapshot
from optimizer.instance.instance import load_instance
from optimizer.instance.snapshot import read_snapshot
from optimizer.protocols.plan import make_plan, write_plan
from optimizer.protocols.safe import checksum_matches

WAD = 10**18
STETH_STRATEGY = "0x93c4b944D05dfe6df7645A86cd2206016c51564D"
EIGEN_STRATEGY = "0xaCB55C530Acdb2849e6d4f36992Cd8c9D50ED8F7"
WSTETH = "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0"
ALLOCATION_MANAGER = "0x948a420b8CC1d6BFd0B6087C2E7c344a2CD0bc39"
# Placeholders: an operator, a Safe, a vault, its delegator and operator, AVSs, networks.
OPERATOR = "0x1111111111111111111111111111111111111111"
SAFE = "0x2222222222222222222222222222222222222222"
VAULT = "0x3333333333333333333333333333333333333333"
DELEGATOR = "0x4444444444444444444444444444444444444444"
VAULT_OPERATOR = "0x5555555555555555555555555555555555555555"
AVS_1 = "0x6666666666666666666666666666666666666666"
AVS_2 = "0x7777777777777777777777777777777777777777"
NETWORK_1 = "0x8888888888888888888888888888888888888888"
NETWORK_2 = "0x9999999999999999999999999999999999999999"

MODIFY = "modifyAllocations(address,((address,uint32),address[],uint64[])[])"
SIGNATURES = {keccak(text=s)[:4].hex(): s for s in (
    MODIFY, "setNetworkLimit(bytes32,uint256)",
    "setOperatorNetworkShares(bytes32,address,uint256)",
    "setOperatorNetworkLimit(bytes32,address,uint256)")}
TYPES = {MODIFY: ["address", "((address,uint32),address[],uint64[])[]"],
         "setNetworkLimit(bytes32,uint256)": ["bytes32", "uint256"],
         "setOperatorNetworkShares(bytes32,address,uint256)": ["bytes32", "address", "uint256"],
         "setOperatorNetworkLimit(bytes32,address,uint256)": ["bytes32", "address", "uint256"]}


def document(**parameters) -> dict:
    """An operator (unique stake, two operator sets) and a vault (two subnetworks).

    Without transition exposure the optimum is x(a, s1) = 1 (rate 5% beats 3%) and the
    vault restakes fully into both networks (degree 2); the operator holds 0.6 in s2 today.
    """
    return {
        "instance": {"name": "plan"},
        "parameters": parameters,
        "assets": [{"asset": "stETH", "price": 1.0, "eigenlayer_strategy": STETH_STRATEGY},
                   {"asset": "wstETH", "price": 1.2, "symbiotic_collateral": WSTETH}],
        "holders": [{"holder": "op-a", "eigenlayer_operator": OPERATOR, "safe": SAFE},
                    {"holder": "vault-b", "symbiotic_vault": VAULT,
                     "symbiotic_delegator": DELEGATOR, "symbiotic_delegator_type": 0,
                     "symbiotic_operator": VAULT_OPERATOR}],
        "stakes": [{"stake": "a", "holder": "op-a", "asset": "stETH", "amount": 100.0},
                   {"stake": "b", "holder": "vault-b", "asset": "wstETH", "amount": 50.0,
                    "max_restaking": 2.0}],
        "services": [
            {"service": "s1", "reward_rate": 0.05, "accepts": ["stETH"],
             "eigenlayer_avs": AVS_1, "eigenlayer_operator_set": 1,
             "slash_probability": 0.01, "slash_fraction": 0.5},
            {"service": "s2", "reward_rate": 0.03, "accepts": ["stETH"],
             "eigenlayer_avs": AVS_2, "eigenlayer_operator_set": 0,
             "slash_probability": 0.01, "slash_fraction": 0.1},
            {"service": "n1", "reward_rate": 0.04, "accepts": ["wstETH"],
             "symbiotic_network": NETWORK_1, "symbiotic_identifier": 0},
            {"service": "n2", "reward_rate": 0.02, "accepts": ["wstETH"],
             "symbiotic_network": NETWORK_2, "symbiotic_identifier": 3}],
        "current": [{"stake": "a", "service": "s2", "fraction": 0.6}],
    }


SNAPSHOT = {
    "chain_id": 1, "block": 21_000_000, "timestamp": "2026-11-29T00:00:00+00:00",
    "eigenlayer": {"operators": [{
        "operator": OPERATOR, "allocation_delay": 75_600,
        "strategies": [{"strategy": STETH_STRATEGY, "max_magnitude": str(WAD),
                        "allocations": [{"avs": AVS_2, "operator_set_id": 0,
                                         "magnitude": str(6 * WAD // 10)}]}]}]},
    "symbiotic": {"vaults": [{
        "vault": VAULT, "delegator": DELEGATOR, "delegator_type": 0,
        "active_stake": str(50 * WAD), "epoch_duration": 604_800,
        "subnetworks": [{"network": NETWORK_1, "identifier": 0,
                         "network_limit": str(10 * WAD), "max_network_limit": str(50 * WAD),
                         "operators": [{"operator": VAULT_OPERATOR, "shares": str(WAD)}]}]}]},
}


def write(path: Path, content: dict) -> Path:
    if path.suffix == ".toml":
        path.write_text(tomli_w.dumps(content))
    else:
        path.write_text(json.dumps(content))
    return path


def allocation(**fractions: float) -> pd.DataFrame:
    return pd.DataFrame([(*key.split("_"), value) for key, value in fractions.items()],
                        columns=["stake", "service", "fraction"])


def decoded(data: str) -> tuple[str, tuple]:
    """Signature and arguments of calldata, by eth-abi alone."""
    raw = bytes.fromhex(data.removeprefix("0x"))
    signature = SIGNATURES[raw[:4].hex()]
    return signature, decode(TYPES[signature], raw[4:])


def as_strings(value: object) -> object:
    """Decoded arguments as the tx-builder shows them: numbers as text, bytes as 0x-hex."""
    if isinstance(value, tuple | list):
        return [as_strings(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value).lower()


def shown(values: dict[str, str]) -> list[object]:
    """A transaction's contractInputsValues, arrays and tuples parsed from their JSON."""
    return [as_strings(json.loads(v)) if v.startswith("[") else v.lower()
            for v in values.values()]


def solve_to(tmp_path: Path, doc: dict, name: str = "solution") -> Path:
    instance = write(tmp_path / "instance.toml", doc)
    run = subprocess.run([sys.executable, "-m", "optimizer", "solve", str(instance), "--output",
                          str(tmp_path / name)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return tmp_path / name


# --- the two-stage move and its files ---------------------------------------------------------

def test_a_move_that_does_not_fit_is_staged_and_every_call_decodes_to_the_allocation(tmp_path):
    solution = solve_to(tmp_path, document())
    instance = tmp_path / "instance.toml"
    out = tmp_path / "plan"
    run = subprocess.run([sys.executable, "-m", "optimizer", "plan", str(instance),
                          str(solution), "--output", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()  # the documented plan and exposure table, nothing else
    assert lines[0] == "op-a (eigenlayer, 2 stages)"
    assert lines[1].startswith("  1  a -> s2: 60.0000% -> 0.0000% (-60.0000%); decrease")
    assert lines[2].startswith("  2  a -> s1: 0.0000% -> 100.0000% (+100.0000%); send once")
    assert lines[3] == "vault-b (symbiotic, 1 stage)"
    assert lines[-7:-5] == ["", "exposure (ETH):"] and lines[-5].split()[0] == "period"
    assert [line.split()[0] for line in lines[-4:]] == ["now", "stage", "stage", "final"]
    assert "note: no snapshot" in run.stderr and "Traceback" not in run.stderr
    target = pd.read_csv(solution / "allocation.csv")
    x = {(r.stake, r.service): Fraction(repr(r.fraction)) for r in target.itertuples()}
    plan = pd.read_csv(out / "plan.csv")
    assert list(zip(plan["service"], plan["stage"], strict=True))[:2] == [("s2", 1), ("s1", 2)]
    # Stage 1 releases s2 (0.6 -> 0) but 0.6 stays encumbered: s1 (0 -> 1) must wait.
    stage_one = json.loads((out / "safe" / "op-a-stage-1.json").read_text())
    stage_two = json.loads((out / "safe" / "op-a-stage-2.json").read_text())
    assert stage_one["meta"]["createdFromSafeAddress"] == SAFE
    magnitudes = {}
    for batch in (stage_one, stage_two):
        (transaction,) = batch["transactions"]
        assert transaction["to"] == ALLOCATION_MANAGER and transaction["value"] == "0"
        signature, (operator, params) = decoded(transaction["data"])
        assert signature == MODIFY and operator.lower() == OPERATOR.lower()
        for (avs, set_id), strategies, news in params:
            assert [s.lower() for s in strategies] == [STETH_STRATEGY.lower()]
            magnitudes[(avs.lower(), set_id)] = news[0]
    assert magnitudes[(AVS_2.lower(), 0)] == 0
    assert abs(magnitudes[(AVS_1.lower(), 1)] - x[("a", "s1")] * WAD) < 1  # within one wad
    # The vault: one batch, each network limit x A within one base unit, shares given.
    vault_batch = json.loads((out / "safe" / "vault-b-stage-1.json").read_text())
    limits, shares = {}, {}
    for transaction in vault_batch["transactions"]:
        signature, arguments = decoded(transaction["data"])
        assert transaction["to"] == DELEGATOR
        if signature.startswith("setNetworkLimit"):
            limits[arguments[0][:20].hex()] = arguments[1]
        else:
            shares[arguments[0][:20].hex()] = arguments[2]
    for service, network in (("n1", NETWORK_1), ("n2", NETWORK_2)):
        assert abs(limits[network[2:].lower()] - x[("b", service)] * 50 * WAD) < 1
        assert shares[network[2:].lower()] == WAD
    # calls.csv holds the same calldata, and the eigenlayer-cli files the bips.
    calls = pd.read_csv(out / "calls.csv")
    assert set(calls["data"]) == {t["data"] for b in (stage_one, stage_two, vault_batch)
                                  for t in b["transactions"]}
    with open(out / "eigenlayer-cli" / "op-a-stage-2.csv") as file:
        rows = list(csv.DictReader(file))
    assert rows == [{"avs_address": AVS_1, "operator_set_id": "1",
                     "strategy_address": STETH_STRATEGY, "bips": "10000"}]
    exposure = pd.read_csv(out / "exposure.csv").set_index("period")
    # Stage 1: s2's 0.6 of 100 (p f = 0.001) stays slashable until it completes; stage 2 is
    # sent after that, so only s1 (1.0 at p f = 0.005) is. Staged, no period breaks a limit.
    assert exposure.loc["now", "expected_loss"] == pytest.approx(0.06)
    assert exposure.loc["stage 1 in flight", "expected_loss"] == pytest.approx(0.06)
    assert exposure.loc["stage 2 in flight", "expected_loss"] == pytest.approx(0.5)
    assert exposure.loc["final", "expected_loss"] == pytest.approx(0.5)
    assert (exposure["limits_broken"] == 0).all()


def test_the_transition_family_makes_the_same_move_single_stage(tmp_path):
    solution = solve_to(tmp_path, document(transition_exposure=True))
    instance = load_instance(tmp_path / "instance.toml")
    target = pd.read_csv(solution / "allocation.csv")
    plan = make_plan(instance, target)
    assert plan.stages == 1
    # Hand-derived: max(0.6, x_s2) + x_s1 <= 1, so x_s1 = 0.4 and s2 stays at 0.6.
    x = target.set_index(["stake", "service"])["fraction"]
    assert x[("a", "s1")] == pytest.approx(0.4) and x[("a", "s2")] == pytest.approx(0.6)
    assert (plan.exposure["limits_broken"] == 0).all()


def test_elip002_magnitudes_from_fractions_of_a_total_of_10000(tmp_path):
    doc = document()
    doc["stakes"][0]["max_magnitude"] = 10_000
    doc["services"].append({"service": "eigenda", "accepts": ["stETH"],
                            "eigenlayer_avs": "0x870679E138bCdf293b7Ff14dD44b70FC97e12fc0",
                            "eigenlayer_operator_set": 0})
    doc["current"] = []
    instance = load_instance(write(tmp_path / "i.toml", doc))
    plan = make_plan(instance, allocation(a_s1=0.30, a_s2=0.25, a_eigenda=0.20))
    (call,) = [c.call for c in plan.calls if c.protocol == "eigenlayer"]
    _, (_, params) = decoded(call.data)
    got = {set_id if avs.lower() != AVS_2.lower() else "avs2": news[0]
           for (avs, set_id), _, news in params}
    assert sorted(got.values()) == [2_000, 2_500, 3_000]  # 2,500 of 10,000 left unallocated


def test_symbiotic_stakes_recomputed_with_the_delegator_formula(tmp_path):
    """Apply the decoded calls to the snapshot's state; stake = shares / total x min(A, L)."""
    instance = load_instance(write(tmp_path / "i.toml", document()))
    snapshot = read_snapshot(write(tmp_path / "s.json", SNAPSHOT))
    target = allocation(b_n1=0.7, b_n2=0.35)
    plan = make_plan(instance, target, snapshot)
    active = 50 * WAD
    limits = {NETWORK_1[2:].lower(): 10 * WAD}
    shares = {NETWORK_1[2:].lower(): {VAULT_OPERATOR.lower(): WAD}}
    for staged in [c for c in plan.calls if c.protocol == "symbiotic"]:
        signature, arguments = decoded(staged.call.data)
        network = arguments[0][:20].hex()
        if signature.startswith("setNetworkLimit"):
            limits[network] = arguments[1]
        elif signature.startswith("setOperatorNetworkShares"):
            shares.setdefault(network, {})[arguments[1].lower()] = arguments[2]
    for network, fraction in ((NETWORK_1, 0.7), (NETWORK_2, 0.35)):
        key = network[2:].lower()
        total = sum(shares[key].values())
        stake = sum(s * min(active, limits[key]) // total for s in shares[key].values())
        value = stake / 10**18 * 1.2  # numeraire, as allocation.csv's value
        assert abs(stake - Fraction(str(fraction)) * active) < 1
        assert value == pytest.approx(fraction * 50 * 1.2, rel=1e-15)
    # n1 already had shares: no second setOperatorNetworkShares (it would revert AlreadySet).
    assert sum(1 for c in plan.calls if "Shares" in c.call.signature) == 1


def test_no_change_is_left_out(tmp_path):
    instance = load_instance(write(tmp_path / "i.toml", document()))
    snapshot = read_snapshot(write(tmp_path / "s.json", SNAPSHOT))
    plan = make_plan(instance, allocation(a_s2=0.6, b_n1=0.2), snapshot)
    assert plan.calls == [] and plan.stages == 0


# --- snapshots into the model -----------------------------------------------------------------

def test_snapshot_sets_current_caps_and_fixes_pending_pairs(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    entry = snap["eigenlayer"]["operators"][0]["strategies"][0]
    entry["allocations"][0]["pending"] = {"magnitude": str(WAD // 4), "effect_block": 21_000_500}
    entry["allocations"].append({"avs": "0x" + "ab" * 20, "operator_set_id": 9,
                                 "magnitude": str(WAD // 10)})  # a set outside the instance
    snap["symbiotic"]["vaults"][0]["subnetworks"][0]["max_network_limit"] = str(40 * WAD)
    instance = load_instance(write(tmp_path / "i.toml", document()))
    changed, notes = apply_snapshot(instance, read_snapshot(write(tmp_path / "s.json", snap)))
    current = changed.current.set_index(["stake", "service"])["fraction"]
    assert current[("a", "s2")] == 0.6 and current[("b", "n1")] == pytest.approx(0.2)
    assert changed.stakes.loc["a", "max_restaking"] == pytest.approx(0.9)
    bounds = changed.eligibility.set_index(["stake", "service"])
    assert bounds.loc[("a", "s2"), "min_fraction"] == bounds.loc[("a", "s2"), "max_fraction"] \
        == 0.25
    assert bounds.loc[("b", "n1"), "max_fraction"] == pytest.approx(0.8)
    assert any("pending" in n for n in notes)


def test_solve_with_the_snapshot_keeps_what_the_chain_allows(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["symbiotic"]["vaults"][0]["subnetworks"][0]["max_network_limit"] = str(30 * WAD)
    instance = write(tmp_path / "instance.toml", document())
    snapshot = write(tmp_path / "s.json", snap)
    run = subprocess.run([sys.executable, "-m", "optimizer", "solve", str(instance),
                          "--snapshot", str(snapshot), "--output", str(tmp_path / "sol")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    x = pd.read_csv(tmp_path / "sol" / "allocation.csv").set_index(["stake", "service"])
    assert x.loc[("b", "n1"), "fraction"] == pytest.approx(0.6)  # 30 of 50 allowed
    planned = subprocess.run([sys.executable, "-m", "optimizer", "plan", str(instance),
                              str(tmp_path / "sol"), "--snapshot", str(snapshot), "--output",
                              str(tmp_path / "plan")], capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr


# --- refusals -----------------------------------------------------------------------------------

def refused(tmp_path: Path, doc: dict, target: pd.DataFrame, snapshot: dict | None = None
            ) -> str:
    instance = load_instance(write(tmp_path / "i.toml", doc))
    chain = read_snapshot(write(tmp_path / "s.json", snapshot)) if snapshot else None
    with pytest.raises(InstanceError) as caught:
        make_plan(instance, target, chain)
    return "\n".join(str(p) for p in caught.value.problems)


def test_refuses_more_magnitude_than_the_max(tmp_path):
    doc = document()
    doc["stakes"][0]["max_restaking"] = 1.5
    message = refused(tmp_path, doc, allocation(a_s1=1.0, a_s2=0.5))
    assert "InsufficientMagnitude" in message and "stake a" in message


def test_refuses_a_change_where_one_is_pending(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["eigenlayer"]["operators"][0]["strategies"][0]["allocations"][0]["pending"] = {
        "magnitude": str(WAD // 4), "effect_block": 21_000_500}
    message = refused(tmp_path, document(), allocation(a_s1=0.5, a_s2=0.5), snap)
    assert "ModificationAlreadyPending" in message and "service s2" in message


def test_refuses_a_tiny_magnitude_or_eigen_on_a_redistributing_set(tmp_path):
    doc = document()
    doc["services"][0]["redistributing"] = True
    doc["current"].append({"stake": "a", "service": "s1", "fraction": 0.3})
    message = refused(tmp_path, doc, allocation(a_s1=5e-10, a_s2=0.6))  # 5e8 of 1e18
    assert "below 1e9" in message and "service s1" in message
    doc["assets"][0]["eigenlayer_strategy"] = EIGEN_STRATEGY
    message = refused(tmp_path, doc, allocation(a_s1=0.5, a_s2=0.5))
    assert "ELIP-006" in message


def test_refuses_a_limit_over_the_max_network_limit(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["symbiotic"]["vaults"][0]["subnetworks"][0]["max_network_limit"] = str(30 * WAD)
    message = refused(tmp_path, document(), allocation(b_n1=0.9), snap)
    assert "max network limit" in message and "service n1" in message


def test_refuses_an_operator_without_allocation_delay_or_opt_in(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["eigenlayer"]["operators"][0]["allocation_delay"] = None
    assert "UninitializedAllocationDelay" in refused(tmp_path, document(),
                                                     allocation(a_s1=0.4, a_s2=0.6), snap)
    snap = json.loads(json.dumps(SNAPSHOT))
    operator = snap["symbiotic"]["vaults"][0]["subnetworks"][0]["operators"][0]
    operator["opted_in_network"] = False
    assert "has not opted into the network" in refused(tmp_path, document(),
                                                       allocation(b_n1=0.5), snap)


def test_refuses_a_service_without_identity(tmp_path):
    doc = document()
    del doc["services"][1]["eigenlayer_avs"], doc["services"][1]["eigenlayer_operator_set"]
    message = refused(tmp_path, doc, allocation(a_s1=0.4))
    assert "services (service=s2): eigenlayer_avs is missing" in message


def test_refusal_exits_2_and_writes_nothing(tmp_path):
    doc = document()
    doc["stakes"][0]["max_restaking"] = 1.5
    instance = write(tmp_path / "instance.toml", doc)
    solution = solve_to(tmp_path, doc)
    run = subprocess.run([sys.executable, "-m", "optimizer", "plan", str(instance),
                          str(solution), "--output", str(tmp_path / "plan")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert "InsufficientMagnitude" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "plan").exists()


def test_snapshot_problems_name_the_json_path(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["eigenlayer"]["operators"][0]["strategies"][0]["max_magnitude"] = "lots"
    snap["symbiotic"]["vaults"][0]["vault"] = "0x12"
    with pytest.raises(InstanceError) as caught:
        read_snapshot(write(tmp_path / "s.json", snap))
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "s.json: eigenlayer.operators[0].strategies[0].max_magnitude is 'lots'" in text
    assert "symbiotic.vaults[0].vault is '0x12', not an address" in text


def test_plan_writes_into_an_existing_plan_folder_only(tmp_path):
    instance = load_instance(write(tmp_path / "i.toml", document()))
    plan = make_plan(instance, allocation(a_s1=0.4, a_s2=0.6))
    write_plan(plan, tmp_path / "out", "plan")
    write_plan(plan, tmp_path / "out", "plan")  # a plan folder is replaced
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(Exception, match="keep.txt|not"):
        write_plan(plan, tmp_path / "other", "plan")


def test_the_readme_commands_on_the_realistic_instance_give_batches_that_decode_to_it(tmp_path):
    """restake solve, then restake plan: every calldata of every batch decodes to the allocation."""
    instance_path = Path(__file__).parent.parent / "instances" / "realistic" / \
        "eigenlayer-symbiotic-2026.toml"
    solution = tmp_path / "solution"
    for command in (["solve", str(instance_path), "--output", str(solution)],
                    ["plan", str(instance_path), str(solution), "--output",
                     str(tmp_path / "plan")]):
        run = subprocess.run([sys.executable, "-m", "optimizer", *command], capture_output=True,
                             text=True)
        assert run.returncode == 0, run.stderr
    instance = load_instance(instance_path)
    x = {(r.stake, r.service): Fraction(repr(r.fraction))
         for r in pd.read_csv(solution / "allocation.csv").itertuples()}
    stakes, assets, services = instance.stakes, instance.assets, instance.services
    strategy = assets["eigenlayer_strategy"]
    by_strategy = {(h, strategy[a].lower()): s for s, h, a in zip(
        stakes.index, stakes["holder"], stakes["asset"], strict=True)
        if isinstance(strategy[a], str)}
    by_set = {(str(a).lower(), int(n)): s for s, a, n in zip(
        services.index, services["eigenlayer_avs"], services["eigenlayer_operator_set"],
        strict=True) if isinstance(a, str)}
    by_network = {(str(a).lower(), int(n)): s for s, a, n in zip(
        services.index, services["symbiotic_network"], services["symbiotic_identifier"],
        strict=True) if isinstance(a, str)}
    holder_of = {str(v).lower(): h for h, v in instance.holders["eigenlayer_operator"].items()
                 if isinstance(v, str)}
    vault_of = {str(v).lower(): h for h, v in instance.holders["symbiotic_delegator"].items()
                if isinstance(v, str)}
    checked = set()
    written: dict[str, dict[str, int]] = {s: {} for s in stakes.index}
    batches = sorted((tmp_path / "plan" / "safe").glob("*.json"))
    assert len(batches) == 7  # four operators, three vaults (the preconf vault has no identity)
    for path in batches:
        batch = json.loads(path.read_text())
        assert checksum_matches(batch)
        for transaction in batch["transactions"]:
            signature, arguments = decoded(transaction["data"])
            assert shown(transaction["contractInputsValues"]) == as_strings(arguments)
            if signature == MODIFY:
                holder = holder_of[arguments[0].lower()]
                for (avs, set_id), strategies, magnitudes in arguments[1]:
                    service = by_set[(avs.lower(), set_id)]
                    for strategy, magnitude in zip(strategies, magnitudes, strict=True):
                        stake = by_strategy[(holder, strategy.lower())]
                        written[stake][service] = magnitude
                        checked.add((stake, service))
            elif signature.startswith("setNetworkLimit"):
                holder = vault_of[transaction["to"].lower()]
                (stake,) = stakes.index[stakes["holder"] == holder]
                network, identifier = arguments[0][:20], int.from_bytes(arguments[0][20:], "big")
                service = by_network[("0x" + network.hex(), identifier)]
                decimals = int(assets.loc[stakes.loc[stake, "asset"], "decimals"])
                active = Fraction(repr(float(stakes.loc[stake, "amount"]))) * 10**decimals
                assert abs(arguments[1] - x[(stake, service)] * active) < 1
                checked.add((stake, service))
    planned = {k for k in x if stakes.loc[k[0], "holder"] != "sym-op-preconf"}
    assert checked == planned
    # Magnitudes: x M to the nearest wad; where the solver's fractions sum past 1 (by up to
    # 1e-16), the few wad of excess come off the largest, and the stake's sum is exactly M.
    for stake, magnitudes in [(s, m) for s, m in written.items() if m]:
        exact = {s: x[(stake, s)] * WAD for s in magnitudes}
        excess = max(Fraction(0), sum(exact.values()) - WAD)
        assert sum(magnitudes.values()) <= WAD
        assert excess < 1e-15 * WAD
        for service, magnitude in magnitudes.items():
            assert abs(magnitude - exact[service]) <= 1 + excess
            if excess == 0:
                assert abs(magnitude - exact[service]) <= Fraction(1, 2)


def test_refuses_a_snapshot_of_another_chain(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["chain_id"] = 17000
    assert "chain_id is 1 but the snapshot was read on chain 17000" in refused(
        tmp_path, document(), allocation(a_s2=0.6), snap)


# --- the chain is what is there today ---------------------------------------------------------

def snapshot_with(**changes) -> dict:
    snap = json.loads(json.dumps(SNAPSHOT))
    strategy = snap["eigenlayer"]["operators"][0]["strategies"][0]
    for key, value in changes.items():
        if key == "allocations":
            strategy["allocations"] = value
        elif key == "delay":
            snap["eigenlayer"]["operators"][0]["allocation_delay"] = value
        elif key == "subnetworks":
            snap["symbiotic"]["vaults"][0]["subnetworks"] = value
    return snap


def set_entry(avs: str, set_id: int, magnitude: int, pending: dict | None = None) -> dict:
    entry = {"avs": avs, "operator_set_id": set_id, "magnitude": str(magnitude)}
    if pending:
        entry["pending"] = pending
    return entry


def test_a_set_held_on_chain_but_not_in_the_current_table_is_released(tmp_path):
    doc = document()
    doc["current"] = []  # the table says nothing; the chain holds 0.3 in s1 and 0.6 in s2
    snap = snapshot_with(allocations=[set_entry(AVS_1, 1, 3 * WAD // 10),
                                      set_entry(AVS_2, 0, 6 * WAD // 10)])
    instance = load_instance(write(tmp_path / "i.toml", doc))
    plan = make_plan(instance, allocation(a_s2=1.0), read_snapshot(write(tmp_path / "s.json",
                                                                         snap)))
    moves = plan.moves.set_index("service")
    assert moves.loc["s1", "to_value"] == 0 and moves.loc["s1", "stage"] == 1
    assert moves.loc["s2", "to_value"] == WAD and moves.loc["s2", "stage"] == 2
    assert plan.exposure.set_index("period").loc["now", "expected_loss"] == pytest.approx(
        0.3 * 100 * 0.005 + 0.06)


def test_a_current_row_the_chain_does_not_hold_is_not_moved(tmp_path):
    doc = document()
    doc["current"].append({"stake": "a", "service": "s1", "fraction": 0.3})  # not on chain
    instance = load_instance(write(tmp_path / "i.toml", doc))
    snapshot = read_snapshot(write(tmp_path / "s.json", SNAPSHOT))
    plan = make_plan(instance, allocation(a_s2=0.6, b_n1=0.2), snapshot)
    assert plan.calls == []  # a decrease of s1 from 0 would revert with SameMagnitude


def test_round_off_never_moves_a_pair_that_keeps_its_value(tmp_path):
    instance = load_instance(write(tmp_path / "i.toml", document()))
    snapshot = read_snapshot(write(tmp_path / "s.json", SNAPSHOT))
    target = allocation(a_s2=0.6, a_s1=0.4000000000000001, b_n1=0.2)  # a: 1 + 1e-16
    plan = make_plan(instance, target, snapshot)
    (move,) = plan.moves.itertuples()
    assert move.service == "s1" and move.stage == 1  # s2 untouched, s1 fits at once
    assert move.to_value == 4 * WAD // 10  # the excess came off the increase
    pending = snapshot_with(allocations=[set_entry(AVS_2, 0, 5 * WAD // 10, {
        "magnitude": str(6 * WAD // 10), "effect_block": 21_000_100})])
    plan = make_plan(instance, target, read_snapshot(write(tmp_path / "p.json", pending)))
    assert list(plan.moves["service"]) == ["s1"]  # the pending pair is never trimmed


def test_a_stage_waiting_for_a_pending_decrease_says_so(tmp_path):
    snap = snapshot_with(allocations=[set_entry(AVS_2, 0, 6 * WAD // 10, {
        "magnitude": str(2 * WAD // 10), "effect_block": 21_050_000})])
    instance = load_instance(write(tmp_path / "i.toml", document()))
    plan = make_plan(instance, allocation(a_s1=0.8, a_s2=0.2, b_n1=0.2),
                     read_snapshot(write(tmp_path / "s.json", snap)))
    (move,) = plan.moves.itertuples()
    assert move.stage == 2
    assert "the decreases pending on chain complete (block 21,050,000)" in move.takes_effect
    assert "stage 1's decreases" not in move.takes_effect


def test_a_modification_past_its_effect_block_is_settled(tmp_path):
    snap = snapshot_with(allocations=[set_entry(AVS_2, 0, 6 * WAD // 10, {
        "magnitude": str(2 * WAD // 10), "effect_block": 20_999_000})])  # before the block
    instance = load_instance(write(tmp_path / "i.toml", document()))
    plan = make_plan(instance, allocation(a_s1=0.8, a_s2=0.2, b_n1=0.2),
                     read_snapshot(write(tmp_path / "s.json", snap)))
    (move,) = plan.moves.itertuples()
    assert move.service == "s1" and move.stage == 1  # 0.8 is free now


def test_no_allocation_delay_refuses_a_decrease_too(tmp_path):
    message = refused(tmp_path, document(), allocation(a_s2=0.3), snapshot_with(delay=None))
    assert "UninitializedAllocationDelay" in message


def test_eigenlayer_cli_never_turns_an_increase_into_a_decrease(tmp_path):
    snap = snapshot_with(allocations=[set_entry(AVS_2, 0, 60004 * WAD // 100000)])
    instance = load_instance(write(tmp_path / "i.toml", document()))
    plan = make_plan(instance, allocation(a_s2=0.60008, b_n1=0.2),
                     read_snapshot(write(tmp_path / "s.json", snap)))
    assert len(plan.calls) == 1 and plan.cli_rows == {}  # 6,000 bips would set 0.6 < today
    assert any("eigenlayer-cli" in note for note in plan.notes)


def test_operators_not_opted_in_hold_nothing(tmp_path):
    idle = {"operator": "0x" + "77" * 20, "shares": str(WAD), "opted_in_network": False}
    ours = {"operator": VAULT_OPERATOR, "shares": str(WAD)}
    snap = snapshot_with(subnetworks=[{"network": NETWORK_1, "identifier": 0,
                                       "network_limit": str(10 * WAD),
                                       "operators": [ours, idle]}])
    instance = load_instance(write(tmp_path / "i.toml", document()))
    changed, _ = apply_snapshot(instance, read_snapshot(write(tmp_path / "s.json", snap)))
    today = changed.current.set_index(["stake", "service"])["fraction"]
    assert today[("b", "n1")] == pytest.approx(0.1)  # half of min(50, 10): the idle half counts not
    message = refused(tmp_path, document(), allocation(b_n1=0.5), snap)
    assert "hold shares in the subnetwork but have not opted in" in message


def test_notes_name_what_the_snapshot_does_not_match(tmp_path):
    snap = json.loads(json.dumps(SNAPSHOT))
    snap["symbiotic"]["vaults"][0]["vault"] = "0x" + "12" * 20
    snap["chain_id"] = 5
    doc = document(chain_id=5)
    instance = load_instance(write(tmp_path / "i.toml", doc))
    plan = make_plan(instance, allocation(a_s2=0.6, b_n1=0.5),
                     read_snapshot(write(tmp_path / "s.json", snap)))
    notes = "\n".join(plan.notes)
    assert "is no holder's symbiotic_vault" in notes
    assert f"vault {VAULT} of holder vault-b is not in the snapshot" in notes
    assert "delays in plan.csv are mainnet's" in notes
