"""The HiGHS adapter: what HiGHS said is what is reported, and solves may run concurrently."""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import optimizer
import optimizer.pipeline as pipeline
from optimizer.cli import main

from .conftest import INSTANCES, ROOT

adapter = importlib.import_module("optimizer.solve.highs")  # optimizer.solve is the function

REALISTIC = INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml"
TINY = INSTANCES / "tiny" / "cvar-limit.toml"


def test_undecided_infeasible_or_unbounded_is_reported_as_such(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # HiGHS ends with "unbounded or infeasible" even without presolve: that is the status,
    # and no infeasibility explanation is made up for a problem that may be unbounded.
    runs: list[str] = []
    real = adapter.termination_of

    def undecided(status: object) -> str:
        runs.append(real(status))
        return "unbounded_or_infeasible"

    def no_explanation(*args: object) -> list[str]:
        raise AssertionError("an infeasibility explanation was attempted")

    monkeypatch.setattr(adapter, "termination_of", undecided)
    monkeypatch.setattr(pipeline, "explain_infeasibility", no_explanation)
    result = optimizer.solve(optimizer.load_instance(TINY))
    assert len(runs) == 2  # with presolve, then without
    assert result.status == "infeasible_or_unbounded"
    assert result.termination == "unbounded_or_infeasible"
    assert result.exit_code == 1 and result.objective is None
    assert "could not tell" in result.explanation[0]
    assert result.summary()["explanation"] == result.explanation
    with pytest.raises(optimizer.InfeasibleError):
        result.raise_for_status()


def test_cli_says_infeasible_or_unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    monkeypatch.setattr(adapter, "termination_of", lambda status: "unbounded_or_infeasible")
    done = CliRunner().invoke(main, ["solve", str(TINY)])
    assert done.exit_code == 1
    assert "infeasible_or_unbounded: HiGHS proved that the model has no optimum" in done.stderr


def test_the_evaluator_sees_the_solvers_raw_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # An answer outside its bounds (as an uncertified first-order answer can be) must reach
    # the evaluator as it is; clipping it into [0, upper] would hide the violation.
    real = adapter.highspy.Highs.getSolution

    def off_bounds(self: adapter.highspy.Highs) -> SimpleNamespace:
        solution = real(self)
        values = np.asarray(solution.col_value, dtype=float)
        values[0] = -0.25  # the first column is the first pair's x
        return SimpleNamespace(col_value=values, row_dual=solution.row_dual,
                               col_dual=solution.col_dual, row_value=solution.row_value,
                               dual_valid=solution.dual_valid)

    monkeypatch.setattr(adapter.highspy.Highs, "getSolution", off_bounds)
    result = optimizer.solve(optimizer.load_instance(TINY), merge_stakes=False)
    assert any(v.constraint == "allocation_bounds" for v in result.violations)


CONCURRENT = """
import sys, threading
import optimizer
from optimizer.instance import load_instance

paths = sys.argv[1:]
instances = [load_instance(p) for p in paths]
jobs = [(i, threads) for i in range(len(instances)) for threads in (1, 2)]
serial = [optimizer.solve(instances[i], threads=t).objective for i, t in jobs]
for round in range(4):
    results = [None] * len(jobs)
    def work(k):
        i, t = jobs[k]
        result = optimizer.solve(instances[i], threads=t)
        results[k] = (result.status, result.objective)
    workers = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for w in workers: w.start()
    for w in workers: w.join()
    assert [r[0] for r in results] == ["optimal"] * len(jobs), results
    assert [r[1] for r in results] == serial, (results, serial)
print("same", len(jobs) * 4)
"""


def test_concurrent_solves_in_one_process_equal_serial_ones() -> None:
    # Solves from several threads at once, with different thread counts (HiGHS has one
    # scheduler per process): same answers as one after the other. A subprocess, so that
    # a crash of the solver fails this test and not the test run.
    done = subprocess.run([sys.executable, "-c", CONCURRENT, str(REALISTIC), str(TINY)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same 16"


def test_thread_counts_are_kept_per_thread() -> None:
    # HiGHS keeps one scheduler per thread, fixed at the thread count of that thread's
    # first run. Thread A solves with 2 threads, thread B with 1, then A with 1: A's
    # scheduler must be reset for its second solve, whatever B did meanwhile.
    from concurrent.futures import ThreadPoolExecutor

    instance = optimizer.load_instance(TINY)
    expected = optimizer.solve(instance, threads=1).objective
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        assert first.submit(optimizer.solve, instance, threads=2).result().status == "optimal"
        assert second.submit(optimizer.solve, instance, threads=1).result().status == "optimal"
        again = first.submit(optimizer.solve, instance, threads=1).result()
    assert (again.status, again.objective) == ("optimal", expected), again.termination


def test_a_model_highs_refuses_is_an_error_not_an_empty_optimum() -> None:
    # HiGHS refuses a matrix value of 1e20 in passModel; solving what it kept (nothing)
    # answered "optimal, empty model" before.
    from optimizer.solve.matrices import compile_standard_form
    from optimizer.solve.options import SolveOptions

    form = compile_standard_form(pipeline.build(optimizer.load_instance(TINY)))
    form.matrix.data[0] = 1e20
    with pytest.raises(optimizer.SolverError, match="HiGHS refused the model"):
        adapter.pass_to_highs(adapter.new_highs(SolveOptions()), form)
