"""A HiGHS object set up and run as the package needs: options, hand-off, threads, signals.

``HighsSession`` (``optimizer.solve.highs``) holds one; the benchmark's direct formulation
uses the same functions, so both run HiGHS the same way.
"""

from __future__ import annotations

import sys
import threading
from functools import cache
from typing import Any

import highspy
import numpy as np

from optimizer.errors import SolverError
from optimizer.solve.console import quiet_highs
from optimizer.solve.interrupt import solver_running
from optimizer.solve.matrices import StandardForm
from optimizer.solve.options import SolveOptions

SOLVER_NAME = "HiGHS"

PRESOLVE_RULES_OFF = (1 << 12) | (1 << 15)
"""HiGHS presolve rules switched off (a bit mask); see ``new_highs``."""

TIME_LIMIT_GRACE = 2.0
"""Seconds past HiGHS's own ``time_limit`` after which the package stops a run itself."""

MIN_RUN_SECONDS = 0.05
"""The least time a run is given, even when the budget is spent (HiGHS needs a limit > 0)."""

CRASH_MIN_ROWS = 10_000
"""Worst-case excess rows from which an LP's simplex starts from ``crash_basis``."""


@cache
def solver_version() -> str:
    """HiGHS's version and git hash, e.g. ``1.15.1 (04024d7)``."""
    highs = quiet_highs()
    return f"{highs.version()} ({highs.githash()})"


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


def pass_to_highs(highs: highspy.Highs, form: StandardForm) -> None:
    """Hand the arrays to HiGHS in one ``passModel`` call (row-wise).

    Raises
    ------
    SolverError
        When HiGHS refuses the model (a coefficient or bound beyond what it accepts, for
        one): solving what it kept would answer another problem.
    """
    status = highs.passModel(
        len(form.cost), len(form.row_lower), len(form.data),
        int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMaximize if form.maximize else highspy.ObjSense.kMinimize),
        form.offset, form.cost, form.col_lower, form.col_upper, form.row_lower, form.row_upper,
        form.indptr.astype(np.int32), form.indices.astype(np.int32),
        form.data.astype(float), form.integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS refused the model (passModel returned an error): a "
                          "coefficient, bound or limit is beyond what it accepts (about 1e15 "
                          "in size, or not a number); -v shows HiGHS's own message")
    basis = crash_basis(highs, form)
    if basis is not None:
        highs.setBasis(basis)


def _option(highs: highspy.Highs, name: str) -> Any:
    answer = highs.getOptionValue(name)  # (status, value) in highspy 1.15 and 1.16
    return answer[1] if isinstance(answer, tuple) else answer


def crash_basis(highs: highspy.Highs, form: StandardForm) -> highspy.HighsBasis | None:
    """A dual feasible starting basis for the simplex, or ``None`` where none is needed.

    From HiGHS's slack basis, every pair at its most profitable bound violates its row
    ``v_{i,s} - f_s x_{i,s} + t_i >= 0`` of the worst case of k, and the dual simplex
    spends one nearly degenerate pivot on each (hundreds of thousands on a 10,000 x 200
    book; it stalled for over ten minutes with HiGHS 1.16.0, see ``benchmarks/README.md``).
    Here each excess v_{i,s} is basic in its own row instead of the row's slack, every
    other column nonbasic at its most profitable finite bound: the basis matrix is
    triangular, the duals are those of the slack basis (v costs nothing), so the basis is
    dual feasible and only the stake rows are left infeasible. HiGHS then solves the LP
    from it without presolve. Only for an LP solved by the simplex (``choose`` or
    ``simplex``) with at least ``CRASH_MIN_ROWS`` such rows.
    """
    block = form.block("worst_case_excess_definition")
    excess = form.component_columns.get("worst_case_excess")
    if (block is None or excess is None or block.stop - block.start < CRASH_MIN_ROWS
            or len(excess) != block.stop - block.start  # one excess basic in each row
            or form.integrality.any() or _option(highs, "solver") not in ("choose", "simplex")):
        return None
    status = highspy.HighsBasisStatus
    gain = form.cost if form.maximize else -form.cost
    upper = (gain > 0) & np.isfinite(form.col_upper)
    columns = np.full(len(form.cost), status.kLower, dtype=object)
    columns[upper] = status.kUpper
    no_lower = ~upper & ~np.isfinite(form.col_lower)  # nonbasic at a finite bound, or free
    columns[no_lower & np.isfinite(form.col_upper)] = status.kUpper
    columns[no_lower & ~np.isfinite(form.col_upper)] = status.kZero
    columns[excess] = status.kBasic
    rows = np.full(len(form.row_lower), status.kBasic, dtype=object)
    rows[block.start:block.stop] = status.kLower
    basis = highspy.HighsBasis()
    basis.col_status = columns.tolist()
    basis.row_status = rows.tolist()
    basis.valid = True
    return basis


def _log_to_stderr(event: Any) -> None:
    sys.stderr.write(event.message)


def new_highs(options: SolveOptions) -> highspy.Highs:
    """A HiGHS object with the options set (threads, seed, limits, log to stderr)."""
    highs = quiet_highs(log_to_stderr=options.verbose)
    threads = options.threads or 0
    highs.setOptionValue("output_flag", bool(options.verbose))
    if options.verbose:
        highs.cbLogging.subscribe(_log_to_stderr)
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
