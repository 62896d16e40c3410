"""A first allocation for a MILP, handed to HiGHS as its MIP start (``setSolution``).

On a curator's book (2,000 stakes x 100 services, every feature on) HiGHS's own
heuristics found no feasible allocation in 300 s: the opt-in links, minimum allocations,
services per holder and semi-continuous minimum securities, with pairs that must allocate
(a positive ``min_fraction``), leave some 38,000 binaries to set at once. Here the LP
relaxation is solved and its binaries rounded, and the LP with them fixed solved for the
rest:

- an opt-in ``y_{h,s}`` is 1 where the relaxation's is at least ``OPT_IN_THRESHOLD`` and
  the holder's relaxed allocation already reaches the minimum ``l_s``, keeping only a
  holder's ``K_h`` largest where ``holders.max_services`` caps them;
- a switch ``u_s`` of a semi-continuous minimum security is 1 where the relaxation already
  puts the minimum ``M_s`` behind the service (its ``u_s`` is tiny however much is there:
  the switch row ``X_s <= U_s u_s`` is loose);
- should the fixed LP be infeasible, the binaries of the rows that cannot hold are moved
  (``repair``, up to ``REPAIRS`` times);
- failing that, HiGHS solves the sub-MIP in which every binary the relaxation leaves at 0
  stays 0, up to its first feasible point (``mip_max_improving_sols`` 1).

The point found is feasible for the MILP (its binaries exactly 0 or 1). When none is,
``MipStart.hard`` names the row families the rounded relaxation breaks: what made the
MILP hard to satisfy (``hard_features`` says it in words).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import highspy
import numpy as np

from optimizer.solve.highs_run import new_highs, pass_to_highs, run_highs
from optimizer.solve.matrices import StandardForm
from optimizer.solve.options import SolveOptions

OPT_IN_THRESHOLD = 0.5
"""Relaxed opt-in value from which the first rounding opts in."""

TOLERANCE = 1e-6
"""Feasibility tolerance of a row or bound of the rounded point (model units)."""

REPAIRS = 2
"""Times a rounding whose fixed LP is infeasible is repaired (``repair``) and tried again."""


@dataclass
class MipStart:
    """What the MIP-start heuristic found.

    Attributes
    ----------
    values : numpy.ndarray or None
        Every column's value (binaries 0 or 1), feasible for the MILP; ``None`` if no
        rounding gave a feasible LP (or the relaxation was not solved in time).
    objective : float or None
        The model's objective at ``values`` (model units, before the model's scale).
    seconds : float
        Time spent: relaxation, roundings and fixed LPs.
    hard : list of str
        Row families the first rounded relaxation breaks, when no start was found.
    """

    values: np.ndarray | None
    objective: float | None
    seconds: float
    hard: list[str] = field(default_factory=list)


def find_mip_start(form: StandardForm, options: SolveOptions,
                   time_limit: float | None = None) -> MipStart:
    """Round the LP relaxation of ``form`` to a feasible point, within ``time_limit``."""
    started = time.monotonic()
    ends = None if time_limit is None else started + time_limit
    highs = new_highs(replace(options, verbose=False, time_limit=None))
    pass_to_highs(highs, form)
    binaries = np.flatnonzero(form.integrality).astype(np.int32)
    highs.changeColsIntegrality(len(binaries), binaries, np.zeros(len(binaries), np.uint8))
    if not _run(highs, ends):
        return MipStart(None, None, time.monotonic() - started)
    relaxed = np.asarray(highs.getSolution().col_value)
    rounded = rounding(form, relaxed, OPT_IN_THRESHOLD)
    point = relaxed.copy()
    point[binaries] = rounded
    hard = broken_blocks(form, point)
    for _ in range(REPAIRS + 1):
        highs.changeColsBounds(len(binaries), binaries, rounded, rounded)
        if _run(highs, ends):
            values = np.asarray(highs.getSolution().col_value).copy()
            values[binaries] = rounded
            return _found(highs, values, started)
        if not repair(form, rounded, relaxed):
            break
    # The sub-MIP: the binaries the relaxation leaves at 0 stay there, HiGHS sets the rest.
    lower, upper = form.col_lower[binaries], form.col_upper[binaries].copy()
    upper[relaxed[binaries] < TOLERANCE] = np.maximum(lower[relaxed[binaries] < TOLERANCE], 0)
    highs.changeColsBounds(len(binaries), binaries, lower, upper)
    highs.changeColsIntegrality(len(binaries), binaries, form.integrality[binaries])
    highs.setOptionValue("mip_max_improving_sols", 1)
    _run(highs, ends)
    if highs.getInfo().primal_solution_status == 2:
        values = np.asarray(highs.getSolution().col_value).copy()
        values[binaries] = np.round(values[binaries])
        return _found(highs, values, started)
    return MipStart(None, None, time.monotonic() - started, hard)


def _found(highs: highspy.Highs, values: np.ndarray, started: float) -> MipStart:
    return MipStart(values, float(highs.getInfo().objective_function_value),
                    time.monotonic() - started)


def _run(highs: highspy.Highs, ends: float | None) -> bool:
    """Run within what is left until ``ends``; whether it ended optimal."""
    if ends is not None:
        left = ends - time.monotonic()
        if left <= 0:
            return False
        highs.setOptionValue("time_limit", left)
    run_highs(highs)
    return bool(highs.getModelStatus() == highspy.HighsModelStatus.kOptimal)


def rounding(form: StandardForm, relaxed: np.ndarray, threshold: float) -> np.ndarray:
    """0/1 values of the binary columns (in column order) rounded from ``relaxed``."""
    binaries = np.flatnonzero(form.integrality)
    value = relaxed[binaries]
    rounded = (value >= threshold).astype(float)
    rounded = np.minimum(rounded, np.floor(form.col_upper[binaries] + TOLERANCE))
    rounded = np.maximum(rounded, np.ceil(form.col_lower[binaries] - TOLERANCE))
    position = np.full(len(form.cost), -1)
    position[binaries] = np.arange(len(binaries))
    _drop_short(form, position, relaxed, rounded)
    _cap_services(form, position, value, rounded)
    _set_switches(form, position, relaxed, rounded)
    return rounded


def _drop_short(form: StandardForm, position: np.ndarray, relaxed: np.ndarray,
                rounded: np.ndarray) -> None:
    """Opt out where the relaxed allocation is short of the minimum (``min_allocation``).

    A ``min_allocation`` row is ``sum_i V_i x_{i,s} - l_s y_{h,s} >= 0``: a holder whose
    relaxed allocation is below ``l_s`` has a tiny ``y_{h,s}`` and often cannot reach
    ``l_s`` within its other limits, so opting it in would make the fixed LP infeasible.
    """
    block = form.block("min_allocation")
    if block is None:
        return
    for row in range(block.start, block.stop):
        span = slice(form.indptr[row], form.indptr[row + 1])
        columns, data = form.indices[span], form.data[span]
        own = position[columns]
        switch = own >= 0
        if switch.sum() != 1:
            continue
        reach = float(data[~switch] @ relaxed[columns[~switch]])
        if reach < -float(data[switch][0]) * (1 - 1e-9):
            rounded[own[switch][0]] = 0.0


def _cap_services(form: StandardForm, position: np.ndarray, value: np.ndarray,
                  rounded: np.ndarray) -> None:
    """Keep a holder's ``K_h`` opt-ins of largest relaxed value (``max_services`` rows)."""
    block = form.block("max_services")
    if block is None:
        return
    for row in range(block.start, block.stop):
        span = slice(form.indptr[row], form.indptr[row + 1])
        own = position[form.indices[span]]
        own = own[own >= 0]
        cap = int(np.floor(form.row_upper[row] + TOLERANCE))
        chosen = own[rounded[own] > 0]
        if len(chosen) > cap:
            order = chosen[np.argsort(-value[chosen], kind="stable")]
            rounded[order[cap:]] = 0.0


def _set_switches(form: StandardForm, position: np.ndarray, relaxed: np.ndarray,
                  rounded: np.ndarray) -> None:
    """``u_s`` = 1 where the relaxation's X_s reaches M_s, else 0.

    A ``security_minimum`` row is ``X_s - M_s u_s >= 0``: its positive entry is X_s.
    """
    block = form.block("security_minimum")
    if block is None:
        return
    for row in range(block.start, block.stop):
        span = slice(form.indptr[row], form.indptr[row + 1])
        columns, data = form.indices[span], form.data[span]
        switch = columns[data < 0]
        security = columns[data > 0]
        if len(switch) != 1 or len(security) != 1 or position[switch[0]] < 0:
            continue
        reached = relaxed[security[0]] >= -data[data < 0][0] * (1 - 1e-9)
        rounded[position[switch[0]]] = float(reached)


def broken_blocks(form: StandardForm, values: np.ndarray) -> list[str]:
    """Row families (block names) whose rows ``values`` breaks beyond ``TOLERANCE``."""
    activity = form.matrix @ values
    scale = np.maximum(1.0, np.abs(activity))
    with np.errstate(invalid="ignore"):
        broken = ((form.row_lower - activity > TOLERANCE * scale)
                  | (activity - form.row_upper > TOLERANCE * scale))
    return [block.name for block in form.blocks if broken[block.start:block.stop].any()]


def set_mip_start(highs: highspy.Highs, start: MipStart) -> bool:
    """Hand ``start`` to HiGHS as the MIP's starting solution; whether it took it."""
    if start.values is None:
        return False
    solution = highspy.HighsSolution()
    solution.col_value = start.values.tolist()
    solution.value_valid = True
    return bool(highs.setSolution(solution) != highspy.HighsStatus.kError)


def repair(form: StandardForm, rounded: np.ndarray, relaxed: np.ndarray) -> bool:
    """Flip the binaries of the rows no allocation meets with ``rounded`` fixed.

    The least total violation with the binaries fixed (``elastic_violation``) shows the
    rows that cannot hold: a pair with a positive lower bound whose holder was opted out,
    a service such a pair secures whose switch was off, a minimum allocation a holder
    cannot reach. Each binary in such a row is moved the way that eases it; a switch or
    opt-in turned on wins over one turned off. Whether any binary moved.
    """
    violation = elastic_violation(form, rounded)
    binaries = np.flatnonzero(form.integrality)
    position = np.full(len(form.cost), -1)
    position[binaries] = np.arange(len(binaries))
    on, off = set(), set()
    for row in np.flatnonzero(np.abs(violation) > TOLERANCE):
        span = slice(form.indptr[row], form.indptr[row + 1])
        for column, coefficient in zip(form.indices[span], form.data[span], strict=True):
            j = position[column]
            if j < 0:
                continue
            wanted_up = (coefficient > 0) == (violation[row] > 0)
            if wanted_up and rounded[j] == 0 and form.col_upper[column] >= 1:
                on.add(int(j))
            elif not wanted_up and rounded[j] == 1 and form.col_lower[column] <= 0:
                off.add(int(j))
    for j in off - on:
        rounded[j] = 0.0
    for j in on:
        rounded[j] = 1.0
    _cap_services(form, position, relaxed[binaries] + rounded, rounded)
    return bool(on or off)


def elastic_violation(form: StandardForm, rounded: np.ndarray) -> np.ndarray:
    """Each row's violation at the least total violation with the binaries fixed.

    Only the rows with a binary may be violated (the others hold as they are, which the
    relaxation shows possible), so the violation sits where a binary can ease it.
    Positive where the row's activity stays below its lower bound, negative above its
    upper bound (model units). An LP with a surplus and a shortfall column per such row.
    """
    from scipy import sparse

    rows, columns = len(form.row_lower), len(form.cost)
    matrix = form.matrix
    binaries = np.flatnonzero(form.integrality)
    soft = np.flatnonzero(np.asarray(abs(matrix[:, binaries]).sum(axis=1)).ravel() > 0)
    count = len(soft)
    pick = sparse.csr_array((np.ones(count), (soft, np.arange(count))), shape=(rows, count))
    elastic = sparse.hstack([matrix, pick, -pick], format="csc")
    lower, upper = form.col_lower.copy(), form.col_upper.copy()
    lower[binaries] = upper[binaries] = rounded
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.passModel(
        elastic.shape[1], rows, elastic.nnz, int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0, np.r_[np.zeros(columns), np.ones(2 * count)],
        np.r_[lower, np.zeros(2 * count)], np.r_[upper, np.full(2 * count, highspy.kHighsInf)],
        form.row_lower, form.row_upper, elastic.indptr.astype(np.int32),
        elastic.indices.astype(np.int32), elastic.data.astype(float),
        np.zeros(elastic.shape[1], dtype=np.int32))
    run_highs(highs)
    values = np.asarray(highs.getSolution().col_value)
    violation = np.zeros(rows)
    violation[soft] = values[columns:columns + count] - values[columns + count:]
    return violation


FEATURES = {
    "opt_in_link": "opt-in links (a pair allocates only where its holder opted in)",
    "min_allocation": "minimum allocations (services.min_allocation)",
    "max_services": "services per holder (holders.max_services)",
    "security_minimum": "semi-continuous minimum securities (services.min_security)",
    "security_switch": "semi-continuous minimum securities (a service with a pair that "
                       "must allocate, switched off)",
}
"""The features behind each row family with binaries, in words."""


def hard_features(start: MipStart) -> list[str]:
    """Why no allocation was found, in words: the features the rounded relaxation broke."""
    named = list(dict.fromkeys(FEATURES.get(name, name) for name in start.hard))
    if start.values is not None or not named:
        return []
    return ["no feasible allocation was found within the time limit; the LP relaxation, "
            "rounded, breaks " + "; ".join(named) + f" (the start heuristic took "
            f"{start.seconds:.1f} s): raise --time-limit, or relax these limits"]
