"""Protocol identity columns: addresses checked by EIP-55, exact integers of any size."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomli_w
from eth_utils import keccak

from optimizer.errors import InstanceError
from optimizer.instance.instance import load_instance

STRATEGY = "0x93c4b944D05dfe6df7645A86cd2206016c51564D"


def eip55(address: str) -> str:
    """EIP-55 from its definition: hex digit i upper-cased when nibble i of keccak >= 8."""
    digits = address.lower().removeprefix("0x")
    hashed = keccak(text=digits).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c
                          for c, h in zip(digits, hashed, strict=False))


def document(**changes) -> dict:
    doc = {
        "instance": {"name": "ids"},
        "assets": [{"asset": "stETH", "price": 1.0, "eigenlayer_strategy": STRATEGY}],
        "holders": [{"holder": "op", "eigenlayer_operator": "0x" + "ab" * 20}],
        "stakes": [{"stake": "a", "holder": "op", "asset": "stETH", "amount": 10.0,
                    "max_magnitude": "999999999999999937"}],
        "services": [{"service": "s", "reward_rate": 0.01,
                      "eigenlayer_avs": "0x870679E138bCdf293b7Ff14dD44b70FC97e12fc0",
                      "eigenlayer_operator_set": 4294967295},
                     {"service": "n", "reward_rate": 0.01,
                      "symbiotic_network": "0x" + "CD" * 20,
                      "symbiotic_identifier": str(2**96 - 1)}],
    }
    for path, value in changes.items():
        table, column = path.split("__")
        doc[table][0][column] = value
    return doc


def load(tmp_path, doc):
    path = tmp_path / "i.toml"
    path.write_text(tomli_w.dumps(doc))
    return load_instance(path)


def problems(tmp_path, doc) -> str:
    with pytest.raises(InstanceError) as caught:
        load(tmp_path, doc)
    return "\n".join(str(p) for p in caught.value.problems)


def test_addresses_are_kept_checksummed_and_integers_exact(tmp_path):
    instance = load(tmp_path, document())
    assert eip55(STRATEGY) == STRATEGY  # the test's own EIP-55 agrees with the published case
    assert instance.holders.loc["op", "eigenlayer_operator"] == eip55("0x" + "ab" * 20)
    assert instance.services.loc["n", "symbiotic_network"] == eip55("0x" + "cd" * 20)
    assert instance.stakes.loc["a", "max_magnitude"] == 999_999_999_999_999_937
    assert instance.services.loc["n", "symbiotic_identifier"] == 2**96 - 1
    assert instance.services.loc["s", "eigenlayer_operator_set"] == 2**32 - 1


@pytest.mark.parametrize("spelling", ["toml", "json", "csv"])
def test_exact_integers_survive_every_spelling(tmp_path, spelling):
    instance = load(tmp_path, document())
    target = tmp_path / ("out" if spelling == "csv" else f"out.{spelling}")
    instance.write(target)
    again = load_instance(target)
    assert again.stakes.loc["a", "max_magnitude"] == 999_999_999_999_999_937
    assert again.services.loc["n", "symbiotic_identifier"] == 2**96 - 1
    assert again.assets.loc["stETH", "eigenlayer_strategy"] == STRATEGY


@pytest.mark.parametrize(("change", "expected"), [
    ({"assets__eigenlayer_strategy": STRATEGY[:-1] + "d"},
     "eigenlayer_strategy is 0x93c4b944D05dfe6df7645A86cd2206016c51564d, whose mixed case "
     "fails its EIP-55 checksum"),
    ({"holders__eigenlayer_operator": "0x1234"}, "eigenlayer_operator is '0x1234', not an "
     "address"),
    ({"services__eigenlayer_operator_set": 2**32}, "eigenlayer_operator_set is 4294967296, "
     "must be in [0, 2^32 - 1]"),
    ({"services__symbiotic_identifier": str(2**96)}, "must be in [0, 2^96 - 1]"),
    ({"stakes__max_magnitude": 1e18 + 2**12}, "above 2^53 a float cannot hold every whole "
     "number"),
    ({"stakes__max_magnitude": "lots"}, "max_magnitude is 'lots', not a whole number"),
    ({"stakes__max_magnitude": 0}, "max_magnitude is 0, must be in [1, "),
])
def test_bad_identities_are_named_by_row_and_column(tmp_path, change, expected):
    text = problems(tmp_path, document(**change))
    assert expected in text
    assert "i.toml" in text


def test_the_cli_refuses_a_bad_checksum_with_exit_2(tmp_path):
    path = tmp_path / "i.toml"
    path.write_text(tomli_w.dumps(document(assets__eigenlayer_strategy=STRATEGY.lower()[:-1]
                                           + "D")))
    run = subprocess.run([sys.executable, "-m", "optimizer", "validate", str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert "(asset=stETH): eigenlayer_strategy" in run.stderr and "EIP-55" in run.stderr


def conflicting(**extra) -> dict:
    doc = document()
    for table, rows in extra.items():
        doc[table] = doc.get(table, []) + rows
    return doc


@pytest.mark.parametrize(("extra", "expected"), [
    ({"holders": [{"holder": "op2", "eigenlayer_operator": "0x" + "AB" * 20}]},
     "(holder=op2): eigenlayer_operator " + eip55("0x" + "ab" * 20) + " is already used by "
     "i.toml holders (holder=op)"),
    ({"holders": [{"holder": "both", "eigenlayer_operator": "0x" + "01" * 20,
                   "symbiotic_vault": "0x" + "02" * 20}]},
     "(holder=both): symbiotic_vault is given with eigenlayer_operator"),
    ({"services": [{"service": "s-again",
                    "eigenlayer_avs": "0x870679e138bcdf293b7ff14dd44b70fc97e12fc0",
                    "eigenlayer_operator_set": 4294967295}]},
     "(service=s-again): eigenlayer_avs, eigenlayer_operator_set "
     "0x870679E138bCdf293b7Ff14dD44b70FC97e12fc0 / 4294967295 is already used by"),
    ({"services": [{"service": "half", "symbiotic_network": "0x" + "03" * 20}]},
     "(service=half): symbiotic_identifier is missing: symbiotic_network is given, and a "
     "subnetwork needs both"),
    ({"services": [{"service": "dual", "eigenlayer_avs": "0x" + "04" * 20,
                    "eigenlayer_operator_set": 1, "symbiotic_network": "0x" + "05" * 20,
                    "symbiotic_identifier": 1}]},
     "(service=dual): symbiotic_network is given with eigenlayer_avs"),
    ({"assets": [{"asset": "stETH-2", "price": 1.0, "eigenlayer_strategy": STRATEGY}],
      "stakes": [{"stake": "a2", "holder": "op", "asset": "stETH-2", "amount": 1.0}]},
     "(stake=a2): asset is held by strategy " + STRATEGY + ", like the asset of stake a of "
     "the same operator"),
])
def test_identities_that_cannot_be_right_together_are_refused(tmp_path, extra, expected):
    assert expected in problems(tmp_path, conflicting(**extra))


def test_two_operators_may_share_a_strategy_and_sets(tmp_path):
    doc = conflicting(holders=[{"holder": "op2", "eigenlayer_operator": "0x" + "cd" * 20}],
                      stakes=[{"stake": "b", "holder": "op2", "asset": "stETH",
                               "amount": 5.0}])
    assert len(load(tmp_path, doc).stakes) == 2
