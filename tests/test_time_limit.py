"""A time limit is the whole solve's: building, every run of HiGHS, re-solves, checking."""

from __future__ import annotations

import importlib
import time

import pytest

import optimizer
import optimizer.pipeline as pipeline
from optimizer.instance.generate import generate_instance

from .test_pools import _mixed_instance

adapter = importlib.import_module("optimizer.solve.highs")  # optimizer.solve is the function


@pytest.fixture(scope="module")
def hard_mip() -> optimizer.Instance:
    # Opt-in costs and all-or-nothing minimum securities: far more than 2 s to prove.
    return generate_instance(600, 40, seed=3, opt_in=True, min_security=0.5)


def test_the_whole_solve_keeps_its_time_limit(hard_mip: optimizer.Instance) -> None:
    start = time.monotonic()
    result = optimizer.solve(hard_mip, time_limit=2.0)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0 + 3.0, result.timings  # what HiGHS takes to notice, and checking
    assert result.status in ("feasible", "optimal") and result.violations == []
    assert not any("over its time limit" in w for w in result.warnings)


def test_the_limit_counts_from_the_given_start(hard_mip: optimizer.Instance) -> None:
    # Time already spent before the solve (loading, building) is part of the budget: with
    # 7.5 s of an 8 s limit gone, the solve ends about 0.5 s later, not 8 s later.
    built = pipeline.build(hard_mip)
    start = time.monotonic()
    pipeline.solve_built(built, started=start - 7.5, time_limit=8.0)
    assert time.monotonic() - start < 0.5 + 3.0


def test_work_that_no_longer_fits_is_skipped_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool chords need refining for this tolerance; with no time left after the first
    # solve (the reserve for checking the answer takes the whole limit), the refinement
    # is skipped, and a warning says so, instead of running past the limit.
    monkeypatch.setattr(pipeline, "EXTRACT_SECONDS_PER_PAIR", 10.0)
    builds: list[float] = []
    real = pipeline.build_model

    def counted(*args: object, **kwargs: object) -> object:
        builds.append(1.0)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "build_model", counted)
    result = optimizer.solve(_mixed_instance(), pool_tolerance=1e-7, time_limit=5.0)
    assert result.status == "optimal" and result.violations == []
    assert len(builds) == 1  # the first model only: no refined model was built
    assert any("refinement of the pool-reward breakpoints was skipped" in w
               for w in result.warnings)
    optimizer.solve(_mixed_instance(), pool_tolerance=1e-7)  # without a limit, it refines
    assert len(builds) > 2


def test_a_run_that_overshoots_is_stopped_by_the_backstop(hard_mip: optimizer.Instance) -> None:
    # An algorithm that ignores HiGHS's time_limit (HiPO has) is interrupted at stop_at.
    from optimizer.solve.matrices import compile_standard_form
    from optimizer.solve.options import SolveOptions

    built = pipeline.build(hard_mip)
    highs = adapter.new_highs(SolveOptions())  # no time_limit for HiGHS itself
    adapter.pass_to_highs(highs, compile_standard_form(built))
    start = time.monotonic()
    stopped = adapter.run_highs(highs, stop_at=start + 1.0)
    assert stopped and time.monotonic() - start < 1.0 + 4.0  # HiGHS looks between steps
    assert adapter.termination_of(highs.getModelStatus()) == "interrupted"


def test_an_overrun_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the limit by more than the grace (here: a build that alone took longer than
    # the limit), the result says how long it took and where the time went.
    monkeypatch.setattr(pipeline, "OVERRUN_GRACE", 0.0)
    instance = optimizer.load_instance(_tiny())
    built = pipeline.build(instance)
    result = pipeline.solve_built(built, started=time.monotonic() - 10.0, time_limit=1.0)
    warning = next(w for w in result.warnings if "over its time limit of 1 s" in w)
    assert "the solve took 1" in warning and "build" in warning


def _tiny() -> str:
    from .conftest import INSTANCES

    return str(INSTANCES / "tiny" / "cvar-limit.toml")
