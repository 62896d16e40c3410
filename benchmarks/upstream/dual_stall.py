"""The dual simplex stalls on a presolved LP of HiGHS 1.16.0: a reproducer to send upstream.

The LP is restake's ``lp-coupled-10000x200-seed1`` (533,079 rows, 969,754 columns,
3,159,208 nonzeros; optimum 4190.7353812), written as MPS by::

    restake bench large            # or generate the case with optimizer.bench.suites
    restake solve <instance> --write-lp model.mps

Run with each release (``pip install highspy==1.15.1`` / ``highspy==1.16.0``)::

    python benchmarks/upstream/dual_stall.py model.mps [seconds]

It prints, for this release: the default run (presolve on) within the time limit; the
presolved LP written to ``presolved-<version>.mps``, to be solved with ``presolve=off``
by the other release (``--presolved FILE``); and the same LP from a dual feasible crash
basis (each worst-case excess column basic in its own row), which skips presolve.
"""

from __future__ import annotations

import sys
import time

import highspy
import numpy as np

PAIRS, EXCESS, FIRST_EXCESS_ROW = 588_881, 373_497, 15_378
"""Columns x, then the excess v; rows: 15,378 stake rows, then one excess row per v."""


def _highs(path: str, seconds: float, **options: str) -> highspy.Highs:
    highs = highspy.Highs()
    highs.readModel(path)
    highs.setOptionValue("time_limit", seconds)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    return highs


def _report(label: str, highs: highspy.Highs, started: float) -> None:
    info = highs.getInfo()
    print(f"## HiGHS {highs.version()} {label}: "
          f"{highs.modelStatusToString(highs.getModelStatus())}, objective "
          f"{info.objective_function_value:.10g}, {info.simplex_iteration_count} "
          f"iterations, {time.perf_counter() - started:.1f} s", flush=True)


def crash_basis(highs: highspy.Highs) -> highspy.HighsBasis:
    """Each excess column basic in its row, the rest nonbasic at its profitable bound."""
    lp = highs.getLp()
    status = highspy.HighsBasisStatus
    gain = np.asarray(lp.col_cost_) * (1 if lp.sense_ == highspy.ObjSense.kMaximize else -1)
    upper = (gain > 0) & np.isfinite(np.asarray(lp.col_upper_))
    columns = np.full(lp.num_col_, status.kLower, dtype=object)
    columns[upper] = status.kUpper
    columns[PAIRS:PAIRS + EXCESS] = status.kBasic
    rows = np.full(lp.num_row_, status.kBasic, dtype=object)
    rows[FIRST_EXCESS_ROW:FIRST_EXCESS_ROW + EXCESS] = status.kLower
    basis = highspy.HighsBasis()
    basis.col_status, basis.row_status, basis.valid = columns.tolist(), rows.tolist(), True
    return basis


def main() -> None:
    """Run the three solves of the module's docstring."""
    args = sys.argv[1:]
    if args[:1] == ["--presolved"]:
        highs = _highs(args[1], float(args[2]) if len(args) > 2 else 300.0, presolve="off")
        started = time.perf_counter()
        highs.run()
        _report(f"on {args[1]}, presolve off", highs, started)
        return
    path, seconds = args[0], float(args[1]) if len(args) > 1 else 300.0
    highs = _highs(path, seconds)
    started = time.perf_counter()
    highs.run()
    _report("default (presolve on, dual simplex)", highs, started)
    highs = _highs(path, seconds)
    highs.presolve()
    highs.writePresolvedModel(f"presolved-{highs.version()}.mps")
    highs = _highs(path, seconds)
    highs.setBasis(crash_basis(highs))
    started = time.perf_counter()
    highs.run()
    _report("from the crash basis (presolve skipped)", highs, started)


if __name__ == "__main__":
    main()
