"""A plan: the moves of an allocation as calls, staged, with their in-flight exposure.

``make_plan`` takes an instance, a target allocation and (best) a snapshot of the chain,
refuses with every pre-flight problem at once, and otherwise returns the calls per holder
and stage, the eigenlayer-cli rows, and the exposure of each period measured by the
evaluator. ``write_plan`` writes it all into one folder, atomically.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.atomic import atomic_path
from optimizer.errors import InstanceError, Problem
from optimizer.instance.identities import given
from optimizer.instance.outputs import PLAN_TABLES
from optimizer.protocols.encode import (
    WAD,
    AllocateParams,
    Call,
    CliRow,
    cli_bips,
    decode_call,
    eigenlayer_cli_csv,
    modify_allocations,
    set_network_limit,
    set_operator_network_limit,
    set_operator_network_shares,
    subnetwork,
)
from optimizer.protocols.moves import DEALLOCATION_DELAY, Move, Moves
from optimizer.protocols.preflight import plan_moves
from optimizer.protocols.safe import safe_batch, write_safe_batch
from optimizer.results.evaluate import evaluate

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance
    from optimizer.instance.snapshot import Snapshot

PLAN_FILES = frozenset({"plan.csv", "exposure.csv", "calls.csv", "notes.txt", "safe",
                        "eigenlayer-cli"})
"""What a plan folder holds: an existing folder is replaced only if it holds nothing else."""


@dataclass(frozen=True)
class StagedCall:
    """A call with the holder that signs it and its stage."""

    holder: str
    stage: int
    protocol: str
    call: Call


@dataclass
class Plan:
    """Everything ``restake plan`` writes.

    Attributes
    ----------
    moves : pandas.DataFrame
        plan.csv: one row per pair changed (``optimizer.instance.outputs.PLAN_OUT``).
    calls : list of StagedCall
        The transactions, per holder and stage in order.
    cli_rows : dict
        eigenlayer-cli rows per (holder, stage).
    exposure : pandas.DataFrame
        exposure.csv: per period, what is slashable, measured by the evaluator.
    notes : list of str
        What the plan assumed or left out (no snapshot, holders without identity, rounding).
    """

    moves: pd.DataFrame
    calls: list[StagedCall]
    cli_rows: dict[tuple[str, int], list[CliRow]]
    exposure: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    chain_id: int = 1
    created_at_ms: int = 0
    safes: dict[str, str | None] = field(default_factory=dict)

    @property
    def stages(self) -> int:
        """How many stages the plan needs (0 when nothing changes)."""
        return int(self.moves["stage"].max()) if len(self.moves) else 0


def make_plan(instance: Instance, allocation: pd.DataFrame,
              snapshot: Snapshot | None = None) -> Plan:
    """Plan the transactions that take the chain to ``allocation``.

    Parameters
    ----------
    instance : Instance
        The problem with its protocol identities.
    allocation : pandas.DataFrame
        The target (stake, service, fraction), e.g. a solution's allocation.csv.
    snapshot : Snapshot, optional
        The chain's state (``optimizer.instance.snapshot.read_snapshot``).

    Raises
    ------
    InstanceError
        Every pre-flight refusal, each naming the holder, stake, service and the instance
        column (or snapshot value) at fault.
    """
    moves = plan_moves(instance, allocation, snapshot)
    if moves.problems:
        raise InstanceError(moves.problems)
    parameters = instance.parameters
    chain_id = parameters.chain_id
    if snapshot is not None and snapshot.chain_id is not None and snapshot.chain_id != chain_id:
        raise InstanceError([Problem("[parameters]", "chain_id",
                                      f"is {chain_id} but the snapshot was read on chain "
                                      f"{snapshot.chain_id}")])
    calls = _eigenlayer_calls(instance, moves) + _symbiotic_calls(instance, moves, snapshot)
    for staged in calls:  # every call decodes back to what it was built from
        if decode_call(staged.call.data) != (staged.call.signature, staged.call.arguments):
            raise AssertionError(f"the calldata of {staged.call.signature} for holder "
                                 f"{staged.holder} does not decode to its arguments")
    table = _moves_table(moves)
    return Plan(moves=table, calls=calls, cli_rows=_cli_rows(instance, moves),
                exposure=_exposure(instance, allocation, moves), notes=moves.notes,
                chain_id=chain_id, created_at_ms=_created_at(snapshot),
                safes={h: str(safe) if given(safe := instance.holders.loc[h, "safe"]) else None
                       for h in moves.planned})


# --- calls -----------------------------------------------------------------------------------

def _eigenlayer_calls(instance: Instance, moves: Moves) -> list[StagedCall]:
    holders, stakes, services, assets = (instance.holders, instance.stakes, instance.services,
                                         instance.assets)
    manager = instance.parameters.allocation_manager
    grouped: dict[tuple[str, int], list[Move]] = {}
    for move in moves.moves:
        if move.protocol == "eigenlayer":
            grouped.setdefault((move.holder, move.stage), []).append(move)
    calls = []
    for (holder, stage), group in grouped.items():
        by_set: dict[tuple[str, int], list[Move]] = {}
        for move in group:
            key = (str(services.loc[move.service, "eigenlayer_avs"]),
                   int(services.loc[move.service, "eigenlayer_operator_set"]))
            by_set.setdefault(key, []).append(move)
        params = [AllocateParams(avs, set_id,
                                 tuple(str(assets.loc[stakes.loc[m.stake, "asset"],
                                                      "eigenlayer_strategy"]) for m in members),
                                 tuple(m.after for m in members))
                  for (avs, set_id), members in by_set.items()]
        operator = str(holders.loc[holder, "eigenlayer_operator"])
        calls.append(StagedCall(holder, stage, "eigenlayer",
                                modify_allocations(manager, operator, params)))
    return calls


def _symbiotic_calls(instance: Instance, moves: Moves, snapshot: Snapshot | None
                     ) -> list[StagedCall]:
    holders, services = instance.holders, instance.services
    calls = []
    for move in moves.moves:
        if move.protocol != "symbiotic":
            continue
        holder = move.holder
        state = snapshot.vault(holders.loc[holder, "symbiotic_vault"]) if snapshot else None
        delegator = (state.delegator if state and state.delegator else
                     str(holders.loc[holder, "symbiotic_delegator"]))
        kind = (state.delegator_type if state and state.delegator_type is not None else
                int(holders.loc[holder, "symbiotic_delegator_type"]))
        operator = str(holders.loc[holder, "symbiotic_operator"])
        network = str(services.loc[move.service, "symbiotic_network"])
        identifier = int(services.loc[move.service, "symbiotic_identifier"])
        key = subnetwork(network, identifier)
        sub = next((s for s in state.subnetworks
                    if s.network == network and s.identifier == identifier), None) \
            if state else None
        standing = next((o for o in sub.operators if o.operator == operator), None) \
            if sub else None
        if sub is None or sub.network_limit != move.after:
            calls.append(StagedCall(holder, 1, "symbiotic",
                                    set_network_limit(delegator, key, move.after)))
        if kind == 0 and move.after > 0:
            total = sum(o.shares for o in sub.operators) if sub else None
            if total == 0 or (sub is None and move.before == 0):
                calls.append(StagedCall(holder, 1, "symbiotic", set_operator_network_shares(
                    delegator, key, operator, WAD)))
        elif kind == 1 and (standing is None or standing.operator_network_limit != move.after):
            calls.append(StagedCall(holder, 1, "symbiotic", set_operator_network_limit(
                delegator, key, operator, move.after)))
    return calls


def _cli_rows(instance: Instance, moves: Moves) -> dict[tuple[str, int], list[CliRow]]:
    stakes, services, assets = instance.stakes, instance.services, instance.assets
    rows: dict[tuple[str, int], list[CliRow]] = {}
    for move in moves.moves:
        if move.protocol != "eigenlayer":
            continue
        bips = cli_bips(move.after, move.scale)
        if move.increase and bips.magnitude <= move.before:
            # Whole bips would resend today's value (SameMagnitude reverts) or turn the
            # increase into a decrease: the CSV leaves the pair to the exact calldata.
            moves.notes.append(f"eigenlayer-cli: {move.stake} -> {move.service} is left out "
                               "of the CSV: its whole bips give no more than today's magnitude "
                               "(the CLI rounds down); the Safe batch's exact calldata moves it")
            continue
        rows.setdefault((move.holder, move.stage), []).append(CliRow(
            str(services.loc[move.service, "eigenlayer_avs"]),
            int(services.loc[move.service, "eigenlayer_operator_set"]),
            str(assets.loc[stakes.loc[move.stake, "asset"], "eigenlayer_strategy"]), bips.bips))
    return rows


# --- tables ----------------------------------------------------------------------------------

def _moves_table(moves: Moves) -> pd.DataFrame:
    rows = []
    for move in sorted(moves.moves, key=lambda m: (m.holder, m.stage)):
        before, after = Fraction(move.before, move.scale), Fraction(move.after, move.scale)
        rows.append({
            "holder": move.holder, "protocol": move.protocol, "stake": move.stake,
            "service": move.service, "stage": move.stage, "from_fraction": float(before),
            "to_fraction": float(after), "change": float(after - before),
            "from_value": move.before, "to_value": move.after, "scale": move.scale,
            "unit": move.unit, "takes_effect": _when(move, moves)})
    columns = [c.name for c in PLAN_TABLES["plan.csv"].columns]
    return pd.DataFrame(rows, columns=columns)


def _when(move: Move, moves: Moves) -> str:
    """When a move is in force, relative to the block its stage is mined in."""
    if move.protocol == "symbiotic":
        epoch = moves.epochs.get(move.holder)
        span = f"{epoch:,} s" if epoch else "one vault epoch"
        return ("counts from the next capture" if move.increase else
                f"the lower limit stays slashable for up to {span}")
    if not move.increase:
        return (f"decrease: slashable until it completes, {DEALLOCATION_DELAY + 1:,} blocks "
                "(about 14 days) after it is mined")
    delay = moves.delays.get(move.holder)
    wait = f"{delay:,} blocks (the operator's allocation delay)" if delay is not None else \
        "the operator's allocation delay"
    slashable = f"slashable {wait} after it is mined"
    if move.stage == 1:
        return slashable
    return f"send once {move.waits_for}; {slashable}"


def _exposure(instance: Instance, allocation: pd.DataFrame, moves: Moves) -> pd.DataFrame:
    """Evaluate what is slashable now, while each stage is in flight, and at the end."""
    plain = instance.with_changes(keep_scenarios=True, parameters={
        "turnover_limit": None, "turnover_cost": 0.0, "transition_exposure": False})
    target = {(r.stake, r.service): float(r.fraction) for r in allocation.itertuples()}
    today = {(r.stake, r.service): float(r.fraction) for r in instance.current.itertuples()}
    planned = moves.exposure
    unplanned_target = {k: v for k, v in target.items() if k not in planned}
    now = {k: float(v[0]) for k, v in planned.items()}
    first = {k: float(v[1]) for k, v in planned.items()}
    final = {k: float(v[2]) for k, v in planned.items()}
    periods = [("now", {**{k: v for k, v in today.items() if k not in planned}, **now}),
               ("stage 1 in flight", {**unplanned_target, **_larger(now, first)})]
    if any(m.stage == 2 for m in moves.moves):
        periods.append(("stage 2 in flight", {**unplanned_target, **_larger(first, final)}))
    periods.append(("final", {**unplanned_target, **final}))
    rows = []
    for period, fractions in periods:
        frame = pd.DataFrame([(s, v, f) for (s, v), f in fractions.items() if f > 0],
                             columns=["stake", "service", "fraction"])
        result = evaluate(plain, frame)
        broken = [str(v) for v in result.violations]
        rows.append({"period": period, "expected_loss": result.expected_loss,
                     "worst_case_loss": float(np.nansum(result.stakes["worst_case_loss"])),
                     "cvar": result.cvar, "limits_broken": len(broken),
                     "broken": "; ".join(broken[:3]) + (" ..." if len(broken) > 3 else "")})
    return pd.DataFrame(rows, columns=[c.name for c in PLAN_TABLES["exposure.csv"].columns])


def _larger(a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]
            ) -> dict[tuple[str, str], float]:
    return {k: max(a.get(k, 0.0), b.get(k, 0.0)) for k in {*a, *b}}


# --- writing ---------------------------------------------------------------------------------

def write_plan(plan: Plan, folder: str | Path, name: str) -> None:
    """Write the plan folder at once (nothing is left half-written).

    plan.csv, exposure.csv, calls.csv (every call with its calldata), notes.txt, and per
    holder and stage ``safe/HOLDER-stage-N.json`` (a Safe Transaction Builder batch) and,
    for EigenLayer, ``eigenlayer-cli/HOLDER-stage-N.csv``.
    """
    with atomic_path(Path(folder), PLAN_FILES) as staged:
        staged.mkdir()
        plan.moves.to_csv(staged / "plan.csv", index=False)
        plan.exposure.to_csv(staged / "exposure.csv", index=False)
        pd.DataFrame([{"holder": c.holder, "stage": c.stage, "protocol": c.protocol,
                       "to": c.call.to, "function": c.call.signature, "data": c.call.data}
                      for c in plan.calls],
                     columns=["holder", "stage", "protocol", "to", "function", "data"]
                     ).to_csv(staged / "calls.csv", index=False)
        (staged / "notes.txt").write_text("".join(f"{n}\n" for n in plan.notes),
                                          encoding="utf-8")
        names = _file_names(sorted({c.holder for c in plan.calls} |
                                   {h for h, _ in plan.cli_rows}))
        batches: dict[tuple[str, int], list[Call]] = {}
        for staged_call in plan.calls:
            batches.setdefault((staged_call.holder, staged_call.stage), []).append(
                staged_call.call)
        if batches:
            (staged / "safe").mkdir()
        for (holder, stage), calls in batches.items():
            batch = safe_batch(calls, plan.chain_id, plan.created_at_ms,
                               f"{name}: {holder}, stage {stage}",
                               f"restake plan for holder {holder}, stage {stage} of "
                               f"{plan.stages}", plan.safes.get(holder))
            write_safe_batch(staged / "safe" / f"{names[holder]}-stage-{stage}.json", batch)
        if plan.cli_rows:
            (staged / "eigenlayer-cli").mkdir()
        for (holder, stage), rows in plan.cli_rows.items():
            (staged / "eigenlayer-cli" / f"{names[holder]}-stage-{stage}.csv").write_text(
                eigenlayer_cli_csv(rows), encoding="utf-8")


def _file_names(holders: list[str]) -> dict[str, str]:
    """A file name per holder id: its letters, digits, '.', '_' and '-', made unique."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for holder in holders:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", holder).strip(".") or "holder"
        name, n = base, 2
        while name.lower() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.lower())
        names[holder] = name
    return names


def _created_at(snapshot: Snapshot | None) -> int:
    """Milliseconds since the epoch: the snapshot's time (reproducible files), else now."""
    if snapshot is not None and snapshot.timestamp:
        try:
            return int(datetime.fromisoformat(snapshot.timestamp).timestamp() * 1000)
        except ValueError:
            pass
    return int(time.time() * 1000)



def plan_summary(plan: Plan, numeraire: str = "ETH") -> str:
    """The readable plan printed on standard output.

    Per holder and stage, each pair's fraction from and to, the change and when it takes
    effect; then the exposure of each period (numeraire; expected loss per year).
    """
    if not len(plan.moves):
        return "nothing to change: the chain already holds the allocation\n"
    lines = []
    for holder, rows in plan.moves.groupby("holder", sort=False):
        lines.append(f"{holder} ({rows['protocol'].iloc[0]}, {int(rows['stage'].max())} "
                     f"stage{'s' if rows['stage'].max() > 1 else ''})")
        for row in rows.itertuples():
            lines.append(f"  {row.stage}  {row.stake} -> {row.service}: "
                         f"{row.from_fraction:.4%} -> {row.to_fraction:.4%} "
                         f"({row.change:+.4%}); {row.takes_effect}")
    with_cvar = plan.exposure["cvar"].notna().any()
    header = f"  {'period':<18} {'expected loss/yr':>16} {'worst case':>12}"
    header += f" {'CVaR':>12}" if with_cvar else ""
    lines += ["", f"exposure ({numeraire}):", header + "  limits broken"]
    for row in plan.exposure.itertuples():
        line = f"  {row.period:<18} {row.expected_loss:16,.2f} {row.worst_case_loss:12,.2f}"
        line += f" {row.cvar:12,.2f}" if with_cvar else ""
        lines.append(line + f"  {row.limits_broken}")
    return "\n".join(lines) + "\n"
