"""One solve of a built model: a HiGHS session run within its time budget, read back."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.model.build import AllocationModel
from optimizer.solve.binding import COLUMNS, FIXED_BASIS, LP_BASIS, binding_limits
from optimizer.solve.highs import MIN_RUN_SECONDS, HighsSession, solver_version
from optimizer.solve.mip_start import MipStart, find_mip_start, hard_features, set_mip_start
from optimizer.solve.options import SolveOptions
from optimizer.solve.status import Status


@dataclass
class SolverOutcome:
    """What the solver returned, in the model's terms.

    Attributes
    ----------
    x : numpy.ndarray or None
        x_{i,s} for every eligible pair (fraction of stake), or ``None`` without a solution.
    objective, bound, gap : float or None
        The model's objective (numeraire per year), the solver's proven bound on it, and
        the relative gap between them (0 for a solved LP).
    row_duals : dict
        For LPs solved to optimality, each row family's duals by key (numeraire per year
        per unit of the row's bound); for a MILP, those of the LP with its binaries fixed.
    binding : pandas.DataFrame
        Every limit the model carries, with its slack and shadow price
        (``optimizer.solve.binding``); empty without duals.
    pricing_seconds : float
        Seconds spent pricing the limits (the binding table's re-solves).
    mip_start : MipStart or None
        A MILP's starting allocation (``optimizer.solve.mip_start``), its time included
        in ``solve_seconds``; ``None`` for an LP.
    explanation : list of str
        Why a MILP stopped without any feasible allocation: the features that made it hard.
    """

    status: Status
    termination: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    is_mip: bool
    handoff_seconds: float
    solve_seconds: float
    extract_seconds: float
    solver_version: str
    row_duals: dict[str, dict[object, float]] = field(default_factory=dict)
    binding: pd.DataFrame = field(default_factory=pd.DataFrame)
    pricing_seconds: float = 0.0
    mip_start: MipStart | None = None
    explanation: list[str] = field(default_factory=list)


MIP_START_SHARE = 0.5
"""Most of a MILP's time limit its starting allocation may take."""

PRICING_SECONDS = 1.0
"""Seconds the limits' pricing may always take, however quick the solve was."""


def solve_model(built: AllocationModel, options: SolveOptions) -> SolverOutcome:
    """Solve a built model with HiGHS and map the solution back to the pairs.

    ``options.time_limit`` bounds this whole call, hand-off included: each run of HiGHS
    gets what is left of it.
    """
    start = time.perf_counter()
    ends = None if options.time_limit is None else time.monotonic() + options.time_limit
    session = HighsSession(built, options)
    handoff = time.perf_counter() - start

    def left() -> float | None:
        return None if ends is None else max(MIN_RUN_SECONDS, ends - time.monotonic())

    start = time.perf_counter()
    mip_start = None
    if session.is_mip and not session.empty:
        budget = left()
        mip_start = find_mip_start(session.form, options,
                                   None if budget is None else MIP_START_SHARE * budget)
        taken = set_mip_start(session.highs, mip_start)
        if options.verbose:
            found = "none" if mip_start.objective is None else \
                f"objective {mip_start.objective * built.scale:.6g}, handed to HiGHS: {taken}"
            sys.stderr.write(f"MIP start: {found} ({mip_start.seconds:.1f} s)\n")
    termination = session.run(left())
    if termination in ("unbounded_or_infeasible", "infeasible") \
            and options.presolve != "off" and (ends is None or time.monotonic() < ends):
        # Presolve could not tell which; a solve without it can. Still undecided, it is
        # said so: calling it infeasible would explain an infeasibility that may not exist.
        # Presolve has also called feasible LPs of this model infeasible (HiGHS 1.15 and
        # 1.16; tests/test_regressions.py keeps one): an infeasibility is confirmed
        # without it.
        session.set_option("presolve", "off")
        termination = session.run(left())
    solve_seconds = time.perf_counter() - start

    start = time.perf_counter()
    has_solution = session.has_solution()
    status = session.status()
    x = objective = bound = gap = None
    duals: dict[str, dict[object, float]] = {}
    binding = pd.DataFrame(columns=list(COLUMNS))
    priced = False
    if status in ("optimal", "feasible") and has_solution:
        x = session.fractions()
        objective = session.objective()
        bound, gap = session.bound_and_gap()
        basis = LP_BASIS
        if status == "optimal" and session.is_mip:
            basis = FIXED_BASIS if _fixed_lp_solved(session, left()) else ""
            if basis:
                x, objective = session.fractions(), session.objective()
        if status == "optimal" and basis:
            duals = session.row_duals()
            priced = options.binding  # a model without rows has limits too: its bounds
    extract = time.perf_counter() - start

    start = time.perf_counter()
    if priced:
        # Pricing may take as long as the solve did (at least PRICING_SECONDS), within
        # the time limit; limits left unmeasured then keep their duals.
        budget = time.monotonic() + max(PRICING_SECONDS, solve_seconds)
        binding = binding_limits(session, basis, options,
                                 budget if ends is None else min(budget, ends), duals)
    pricing = time.perf_counter() - start
    explanation = (hard_features(mip_start) if mip_start is not None and x is None
                   and termination == "time_limit" else [])
    return SolverOutcome(status, termination, x, objective, bound, gap, bool(
        session.form.integrality.any()), handoff, solve_seconds, extract, solver_version(),
        duals, binding, pricing, mip_start, explanation)


def _fixed_lp_solved(session: HighsSession, time_limit: float | None) -> bool:
    """Solve the MILP's LP with every binary fixed at the optimum; whether it solved.

    Its duals price the limits with the same opt-ins. Its optimum is at least the
    MILP's (the MILP's solution is feasible for it) and usually the same allocation.
    """
    session.fix_integers()
    return session.run(time_limit) == "optimal" and session.has_solution()
