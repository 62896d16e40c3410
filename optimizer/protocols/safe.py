"""Safe Transaction Builder batch files: the JSON a multisig curator imports.

The format is the tx-builder app's own, read in safe-global/safe-react-apps
``apps/tx-builder/src/typings/models.ts`` (``BatchFile``, ``BatchFileMeta``,
``BatchTransaction``, ``ContractMethod``) and ``apps/tx-builder/src/store/
transactionLibraryContext.tsx`` (``generateBatchFile``: ``version`` "1.0", ``chainId`` a
string, ``createdAt`` in ms, ``meta.createdFromOwnerAddress`` ""; ``txBuilderVersion`` is the
app's package version, 1.18.3 in ``apps/tx-builder/package.json`` where it was read).

What the app does on import (``initializeBatch``): a batch whose ``value`` is not a string, or
whose ``contractInputsValues`` hold a number, is refused ("make sure all numbers are encoded
as strings"); then ``meta.checksum`` is recomputed and, if it differs, the app loads the
batch but warns "This batch contains some changed properties since you saved or downloaded
it". A transaction with ``data`` is sent with exactly that data (``convertToProposedTransactions``
takes ``transaction.data`` before encoding ``contractMethod`` with ``contractInputsValues``); so
every transaction here carries the verified calldata, and also the method and its inputs
(the ABI fragment and the values as strings, tuples as JSON with numbers as strings) for a
reader of the file.

The checksum is computed as ``apps/tx-builder/src/lib/checksum.ts`` does (``calculateChecksum``,
``serializeJSONObject``): the batch with ``meta.name`` set to null and without ``meta.checksum``
is serialised as ``{`` + the JSON array of its sorted keys + each value serialised and followed
by a comma + ``}`` (arrays as ``[a,b]``, anything else by ``JSON.stringify``), and hashed with
keccak-256 of the UTF-8 text (``web3.utils.sha3``). It is tested against the app's own test
vector in ``apps/tx-builder/src/lib/checksum.test.js``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eth_utils import keccak

from optimizer.protocols.encode import Call, Param, checksum_address

BATCH_VERSION = "1.0"
TX_BUILDER_VERSION = "1.18.3"
"""The tx-builder version the format was read from (safe-react-apps apps/tx-builder)."""
_JS_SAFE_INTEGER = 2**53 - 1


def _param_json(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"internalType": param.internal_type, "name": param.name,
                           "type": param.type}
    if param.components:
        out["components"] = [_param_json(c) for c in param.components]
    return out


def contract_method(call: Call) -> dict[str, Any]:
    """The ``contractMethod`` of a call: its ABI fragment as the tx-builder stores it."""
    function = call.function
    return {"inputs": [_param_json(p) for p in function.inputs], "name": function.name,
            "payable": False}


def _as_json_value(value: Any) -> Any:
    """Numbers become decimal strings (JSON.parse would round past 2**53), bytes 0x-hex."""
    if isinstance(value, tuple | list):
        return [_as_json_value(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int):
        return str(value)
    return value


def contract_inputs_values(call: Call) -> dict[str, str]:
    """The ``contractInputsValues`` of a call: every input as the string the app parses."""
    values: dict[str, str] = {}
    for param, value in zip(call.function.inputs, call.arguments, strict=True):
        shown = _as_json_value(value)
        values[param.name] = shown if isinstance(shown, str) else json.dumps(
            shown, separators=(",", ":"))
    return values


def _serialise(value: Any) -> str:
    """checksum.ts ``serializeJSONObject``, with JSON.stringify's output for leaves."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_serialise(v) for v in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(value)
        head = json.dumps(keys, separators=(",", ":"), ensure_ascii=False)
        return "{" + head + "".join(_serialise(value[k]) + "," for k in keys) + "}"
    if isinstance(value, float):
        raise ValueError(f"{value!r}: a float has no single JSON.stringify form here")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _JS_SAFE_INTEGER:
        raise ValueError(f"{value} is not exact as a JavaScript number")
    return json.dumps(value, ensure_ascii=False)


def tx_builder_checksum(batch: Mapping[str, Any]) -> str:
    """``calculateChecksum`` of checksum.ts: keccak-256 of the batch with ``meta.name`` null.

    The batch is hashed as given, so a ``meta.checksum`` key in it is hashed too (the app
    adds the checksum to a batch that has none, and deletes it before checking).
    """
    hashed = {**batch, "meta": {**batch["meta"], "name": None}}
    return "0x" + keccak(text=_serialise(hashed)).hex()


def checksum_matches(batch: Mapping[str, Any]) -> bool:
    """``validateChecksum`` of checksum.ts: the stored checksum equals the recomputed one."""
    meta = {k: v for k, v in batch["meta"].items() if k != "checksum"}
    return tx_builder_checksum({**batch, "meta": meta}) == batch["meta"].get("checksum")


def safe_batch(calls: Sequence[Call], chain_id: int, created_at_ms: int, name: str,
               description: str, safe_address: str | None = None, *,
               tx_builder_version: str = TX_BUILDER_VERSION) -> dict[str, Any]:
    """A tx-builder batch of ``calls``, in order, with its checksum.

    Parameters
    ----------
    calls : sequence of Call
        Executed in this order, none payable (``value`` "0" wei).
    chain_id : int
        EIP-155 chain id (1 for Ethereum mainnet), written as a string.
    created_at_ms : int
        Creation time in ms since the Unix epoch; given, so that files are reproducible.
    name, description : str
        Shown by the app (the name is left out of the checksum, as the app does).
    safe_address : str, optional
        The Safe that will execute the batch (``meta.createdFromSafeAddress``), else "".
    tx_builder_version : str
        ``meta.txBuilderVersion``.
    """
    if not calls:
        raise ValueError("a Safe batch needs at least one call")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise ValueError(f"chain id is {chain_id!r}, not a positive integer")
    if (isinstance(created_at_ms, bool) or not isinstance(created_at_ms, int)
            or not 0 <= created_at_ms <= _JS_SAFE_INTEGER):
        raise ValueError(f"createdAt is {created_at_ms!r}, not a time in ms since the epoch")
    safe = "" if safe_address is None else checksum_address(safe_address, "Safe address")
    batch: dict[str, Any] = {
        "version": BATCH_VERSION,
        "chainId": str(chain_id),
        "createdAt": created_at_ms,
        "meta": {"name": name, "description": description,
                 "txBuilderVersion": tx_builder_version, "createdFromSafeAddress": safe,
                 "createdFromOwnerAddress": ""},
        "transactions": [{"to": call.to, "value": "0", "data": call.data,
                          "contractMethod": contract_method(call),
                          "contractInputsValues": contract_inputs_values(call)}
                         for call in calls],
    }
    batch["meta"]["checksum"] = tx_builder_checksum(batch)
    check_safe_batch(batch)
    return batch


def batch_problems(batch: Mapping[str, Any]) -> list[str]:
    """Every way ``batch`` departs from what the tx-builder loads without error or warning."""
    problems: list[str] = []
    for key, kind in (("version", str), ("chainId", str), ("createdAt", int), ("meta", dict),
                      ("transactions", list)):
        if not isinstance(batch.get(key), kind):
            problems.append(f"{key} is {batch.get(key)!r}, not a {kind.__name__}")
    if problems:
        return problems
    if not isinstance(batch["meta"].get("name"), str):
        problems.append("meta.name is not a string")
    for i, tx in enumerate(batch["transactions"]):
        if not isinstance(tx.get("to"), str) or not isinstance(tx.get("value"), str):
            problems.append(f"transaction {i}: to and value must be strings")
        inputs = tx.get("contractInputsValues")
        if inputs is not None and not all(isinstance(v, str) for v in inputs.values()):
            problems.append(f"transaction {i}: every contractInputsValues value must be a string")
        if not tx.get("data") and not tx.get("contractMethod"):
            problems.append(f"transaction {i}: neither data nor contractMethod")
    if not checksum_matches(batch):
        problems.append("meta.checksum does not match the batch: the app warns on import")
    return problems


def check_safe_batch(batch: Mapping[str, Any]) -> None:
    """Raise ValueError listing every problem :func:`batch_problems` finds."""
    problems = batch_problems(batch)
    if problems:
        raise ValueError("not a valid tx-builder batch: " + "; ".join(problems))


def write_safe_batch(path: str | Path, batch: Mapping[str, Any]) -> Path:
    """Check ``batch`` and write it as UTF-8 JSON, 2-space indent, keys in the app's order.

    The same batch always gives the same bytes; the transactions keep their order (it is
    the execution order, and the checksum covers it).
    """
    check_safe_batch(batch)
    target = Path(path)
    target.write_text(json.dumps(batch, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
