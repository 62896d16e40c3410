"""The one solver adapter: a built Pyomo model to HiGHS and back.

The model is compiled to matrices (``optimizer.solve.matrices``) and handed to
``highspy`` in one ``passModel`` call; the solution is mapped back by column.
Measured against Pyomo's ``highs`` / ``appsi_highs`` interfaces, which walk the
constraints in Python, this hand-off is several times faster (see
``benchmarks/handoff.py``) and keeps statuses, bounds and row duals.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import highspy
import numpy as np

from optimizer.errors import SolverError
from optimizer.model.build import NUMERAIRE_ROWS, AllocationModel
from optimizer.solve.interrupt import solver_running
from optimizer.solve.matrices import StandardForm, compile_standard_form
from optimizer.solve.options import SolveOptions
from optimizer.solve.status import Status, status_of, termination_of

SOLVER_NAME = "HiGHS"

PRESOLVE_RULES_OFF = (1 << 12) | (1 << 15)
"""HiGHS presolve rules switched off (a bit mask); see ``new_highs``."""


@cache
def solver_version() -> str:
    """HiGHS's version and git hash, e.g. ``1.15.1 (04024d7)``."""
    highs = quiet_highs()
    return f"{highs.version()} ({highs.githash()})"


_standard_output_lock = threading.Lock()
"""Held while file descriptor 1 points elsewhere (one redirection at a time)."""


def _flush_c_streams() -> None:
    """Flush C's stdio buffers, so text HiGHS printed leaves by the descriptor it was meant for."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to reach (not on this platform)
        pass


@contextmanager
def _standard_output_to(target_fd: int | None) -> Iterator[None]:
    """Point file descriptor 1 at ``target_fd`` (``None``: the null device) for the duration.

    Python's ``sys.stdout`` is flushed first, so nothing of the product's own output is
    sent astray; C's buffers are flushed before the descriptor is restored, so nothing
    printed meanwhile reaches standard output later.
    """
    with _standard_output_lock:
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError):  # replaced or closed by the embedding program
            pass
        try:
            saved = os.dup(1)
        except OSError:  # no standard output at all: nothing to protect
            yield
            return
        null = os.open(os.devnull, os.O_WRONLY) if target_fd is None else None
        try:
            os.dup2(null if null is not None else target_fd, 1)
            try:
                yield
            finally:
                _flush_c_streams()
                os.dup2(saved, 1)
        finally:
            os.close(saved)
            if null is not None:
                os.close(null)


class _SchedulerThreads(threading.local):
    """The thread count of HiGHS's task scheduler, as this thread last started it.

    HiGHS keeps one task scheduler per operating-system thread (a ``thread_local``
    handle), started by that thread's first run with the run's thread count; a later run
    of the same thread asking for another count fails unless the thread resets its
    scheduler first. The count is therefore remembered per thread, never per process:
    solves in several threads at once each have their own scheduler.
    """

    threads: int | None = None


_SCHEDULER = _SchedulerThreads()


def _use_scheduler_threads(threads: int) -> None:
    """Make this thread's HiGHS scheduler run with ``threads`` (0: HiGHS's choice)."""
    if _SCHEDULER.threads is not None and _SCHEDULER.threads != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _SCHEDULER.threads = threads


def run_highs(highs: highspy.Highs, stop_at: float | None = None) -> bool:
    """Run HiGHS on the model it holds, on this thread's scheduler, heeding signals.

    Every run of the package goes through here (solve, frontier, explanations), so that
    concurrent solves in one process are safe and Ctrl-C stops any of them. ``stop_at``
    (a ``time.monotonic()`` instant) interrupts the run if it is still going then; the
    return value says whether that happened.
    """
    answer = highs.getOptionValue("threads")  # (status, value) in highspy 1.15 and 1.16
    threads = int(answer[1] if isinstance(answer, tuple) else answer)
    _use_scheduler_threads(threads)
    with solver_running(highs, stop_at) as stop:
        highs.run()
    return stop.deadline_passed


def quiet_highs(log_to_stderr: bool = False) -> highspy.Highs:
    """A new ``highspy.Highs`` whose construction writes nothing to standard output.

    HiGHS 1.16 prints its banner on standard output when the first object of a process is
    made, before any option can switch logging off. Standard output belongs to the
    product (JSON with ``--json``), so the construction runs with file descriptor 1
    pointed at standard error (``log_to_stderr``, as with ``-v``) or at the null device,
    and logging to the console is switched off before the object is returned. Every
    ``Highs`` of the package is made here.
    """
    with _standard_output_to(2 if log_to_stderr else None):
        highs = highspy.Highs()
    highs.setOptionValue("log_to_console", False)
    highs.setOptionValue("output_flag", False)
    return highs


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
        For LPs solved to optimality, each constraint component's duals by index
        (change of the objective per unit of right-hand side).
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
    columns: list = field(default_factory=list, repr=False)
    column_values: np.ndarray | None = field(default=None, repr=False)
    """Every matrix column (a Pyomo variable) and its value, when solved."""


def solve_model(built: AllocationModel, options: SolveOptions) -> SolverOutcome:
    """Solve a built model with HiGHS and map the solution back to the pairs.

    ``options.time_limit`` bounds this whole call, hand-off included: each run of HiGHS
    gets what is left of it.
    """
    start = time.perf_counter()
    budget = _Budget(options.time_limit)
    form = compile_standard_form(built)
    highs = new_highs(options)
    if len(form.cost) == 0:
        handoff = time.perf_counter() - start
        x = built.fractions(np.zeros(len(built.index.upper)))
        offset = form.offset * built.scale
        return SolverOutcome("optimal", "empty_model", x, offset, offset, 0.0, False,
                             handoff, 0.0, 0.0, solver_version())
    is_mip = bool(form.integrality.any())
    pass_to_highs(highs, form)
    handoff = time.perf_counter() - start

    start = time.perf_counter()
    termination = budget.run(highs)
    if termination == "unbounded_or_infeasible" and budget.left():
        # Presolve could not tell which; a solve without it can. Still undecided, it is
        # said so: calling it infeasible would explain an infeasibility that may not exist.
        highs.setOptionValue("presolve", "off")
        termination = budget.run(highs)
    solve_seconds = time.perf_counter() - start

    start = time.perf_counter()
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2
    status = status_of(termination, has_solution)
    x = objective = bound = gap = values = None
    duals: dict[str, dict[object, float]] = {}
    if status in ("optimal", "feasible") and has_solution:
        solution = highs.getSolution()
        values = np.asarray(solution.col_value)
        # The solver's own values, unclipped: the evaluator is there to catch an answer
        # outside its bounds (an uncertified PDLP answer), and clipping would hide it.
        x = built.fractions(values[form.pair_column])
        # The model is in units of built.scale numeraire: objective and bound scale back.
        objective = float(info.objective_function_value) * built.scale
        if is_mip:
            bound = float(info.mip_dual_bound) * built.scale
            gap = float(info.mip_gap)
        elif status == "optimal":
            bound, gap = objective, 0.0
            if solution.dual_valid:
                duals = _row_duals(form, np.asarray(solution.row_dual), built.scale)
                if built.merge is not None:
                    duals = built.merge.split_duals(
                        duals, built.instance.pairs["stake_pos"].to_numpy())
        # An LP stopped early proves no bound: bound and gap stay None.
    extract = time.perf_counter() - start
    return SolverOutcome(status, termination, x, objective, bound, gap, is_mip, handoff,
                         solve_seconds, extract, solver_version(), duals, form.columns, values)


TIME_LIMIT_GRACE = 2.0
"""Seconds past HiGHS's own ``time_limit`` after which the package stops a run itself."""

MIN_RUN_SECONDS = 0.05
"""The least time a run is given, even when the budget is spent (HiGHS needs a limit > 0)."""


class _Budget:
    """The time left for the runs of one ``solve_model`` call (``None``: no limit)."""

    def __init__(self, seconds: float | None):
        self.ends = None if seconds is None else time.monotonic() + seconds

    def left(self) -> bool:
        """Whether any of the budget is left (always, without a limit)."""
        return self.ends is None or time.monotonic() < self.ends

    def run(self, highs: highspy.Highs) -> str:
        """Run HiGHS within what is left; its termination (``time_limit`` if stopped for it).

        HiGHS gets the time left as its ``time_limit``; should an algorithm overrun that
        (HiPO has), the run is interrupted ``TIME_LIMIT_GRACE`` seconds later.
        """
        stop_at = None
        if self.ends is not None:
            left = max(MIN_RUN_SECONDS, self.ends - time.monotonic())
            highs.setOptionValue("time_limit", left)
            stop_at = time.monotonic() + left + TIME_LIMIT_GRACE
        stopped_for_time = run_highs(highs, stop_at)
        termination = termination_of(highs.getModelStatus())
        return "time_limit" if stopped_for_time and termination == "interrupted" else termination


def pass_to_highs(highs: highspy.Highs, form: StandardForm) -> None:
    """Hand the matrices to HiGHS in one ``passModel`` call (column-wise).

    Raises
    ------
    SolverError
        When HiGHS refuses the model (a coefficient or bound beyond what it accepts, for
        one): solving what it kept would answer another problem.
    """
    matrix = form.matrix
    status = highs.passModel(
        len(form.cost), len(form.row_lower), int(matrix.nnz),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize if form.maximize else highspy.ObjSense.kMinimize),
        form.offset, form.cost, form.col_lower, form.col_upper, form.row_lower, form.row_upper,
        matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
        matrix.data.astype(float), form.integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS refused the model (passModel returned an error): a "
                          "coefficient, bound or limit is beyond what it accepts (about 1e15 "
                          "in size, or not a number); -v shows HiGHS's own message")


def _row_duals(form: StandardForm, row_dual: np.ndarray,
               scale: float) -> dict[str, dict[object, float]]:
    """Duals by component and index: numeraire per year per unit of each row's limit."""
    duals: dict[str, dict[object, float]] = {}
    for block in form.blocks:
        factor = 1.0 if block.name in NUMERAIRE_ROWS else scale
        values = (row_dual[block.start:block.stop] * factor).tolist()
        duals[block.name] = dict(zip(block.keys, values, strict=True))
    return duals


def new_highs(options: SolveOptions) -> highspy.Highs:
    """A HiGHS object with the options set (threads, seed, limits, log to stderr)."""
    highs = quiet_highs(log_to_stderr=options.verbose)
    threads = options.threads or 0
    highs.setOptionValue("output_flag", bool(options.verbose))
    if options.verbose:
        highs.cbLogging.subscribe(lambda event: sys.stderr.write(event.message))
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("random_seed", int(options.random_seed))
    highs.setOptionValue("presolve", options.presolve)
    # Two presolve reductions (rules 12 and 15) returned a wrong MIP optimum, consistent with
    # its own bound, on a small opt-in instance with HiGHS 1.15.1 (tests/test_generated.py
    # keeps it); they stay off.
    highs.setOptionValue("presolve_rule_off", PRESOLVE_RULES_OFF)
    highs.setOptionValue("solver", options.solver)
    if options.time_limit is not None:
        highs.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    return highs
