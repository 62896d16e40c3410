"""The one-way pipeline: instance -> model -> solve -> results."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.atomic import atomic_path
from optimizer.errors import OutputError
from optimizer.instance import Instance
from optimizer.model.build import DEFAULT_POOL_ERROR, AllocationModel, build_model
from optimizer.model.memory import check_fits
from optimizer.model.merge import merge_interchangeable
from optimizer.model.tail_risk import uses_cvar
from optimizer.results.evaluate import Evaluation, allocation_frame, evaluate
from optimizer.results.out_of_sample import OutOfSample, applies, measure_solved
from optimizer.results.result import Result
from optimizer.solve.explain import explain_infeasibility
from optimizer.solve.highs import MIN_RUN_SECONDS, SOLVER_NAME, HighsSession
from optimizer.solve.options import SolveOptions
from optimizer.solve.outcome import SolverOutcome, solve_model

POOL_REFINEMENTS = 3
"""Times the pool-reward breakpoints may be refined to meet the tolerance."""

FINEST_POOL_ERROR = 1e-10
"""Smallest chord error tried, as a fraction of R_s (about 1e5 segments per pool)."""


def solve(instance: Instance, merge_stakes: bool = True, **options: Any) -> Result:
    """Find the allocation of most expected net reward within every limit.

    Parameters
    ----------
    instance : Instance
        The problem, from ``load_instance`` or ``Instance.from_frames``.
    merge_stakes : bool, default True
        Solve with interchangeable stakes merged (an exact reduction, see
        ``optimizer.model.merge``); the allocation is always per original stake.
    **options
        ``SolveOptions`` fields: ``time_limit`` (seconds), ``threads``, ``random_seed``,
        ``mip_rel_gap``, ``presolve``, ``solver`` (LP algorithm), ``verbose``,
        ``pool_tolerance``, ``binding`` (price every limit after an optimal solve).

    Returns
    -------
    Result
        Its ``status`` says what happened; ``Result.raise_for_status()`` turns an
        infeasible or failed solve into ``InfeasibleError`` or ``SolverError``.
    """
    started = time.monotonic()
    return solve_built(build(instance, merge_stakes), started=started, **options)


def build(instance: Instance, merge_stakes: bool = True,
          risk_limit: tuple[str, float] | None = None) -> AllocationModel:
    """Build the model of ``instance``, with its CVaR scenarios when it uses CVaR.

    With ``merge_stakes``, interchangeable stakes become one stake of the model (see
    ``optimizer.model.merge``), and the solution is split back to the original stakes.
    ``risk_limit`` (a measure and a limit in the numeraire) adds the row the frontier
    moves (``optimizer.model.risk_rows``).

    Raises
    ------
    ResourceError
        When the build is estimated not to fit in the memory available (checked first).
    """
    start = time.perf_counter()
    scenarios = instance.scenario_set() if uses_cvar(instance) else None
    merge = merge_interchangeable(instance) if merge_stakes else None
    before_model = time.perf_counter() - start
    check_fits(merge.instance if merge is not None else instance,
               len(scenarios.rows) if scenarios is not None else 0)
    built = build_model(instance, scenarios, merge=merge, risk_limit=risk_limit)
    built.build_seconds += before_model  # sampling and the reduction are part of building
    return built


MODEL_FILE_SUFFIXES = (".lp", ".mps")
"""The model file formats HiGHS writes, by the file name's suffix."""


def check_model_file(path: Path) -> None:
    """Refuse a model file name whose suffix names no format HiGHS writes.

    Raises
    ------
    OutputError
        When ``path`` does not end in ``.lp`` or ``.mps``.
    """
    if Path(path).suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise OutputError(f"cannot write the model to {path}: its name must end in .lp (LP "
                          "format) or .mps (MPS format)")


def write_model(built: AllocationModel, path: Path, **options: Any) -> None:
    """Write the model HiGHS solves to ``path`` (``.lp`` or ``.mps``), atomically.

    HiGHS writes it from the arrays it is handed (``HighsSession.write``), so the file is
    exactly what the solver sees: scaled units, merged stakes, bounds and all.

    Raises
    ------
    OutputError
        When the name's suffix is neither ``.lp`` nor ``.mps`` (nothing is written).
    """
    check_model_file(path)
    session = HighsSession(built, SolveOptions(**options))
    with atomic_path(Path(path)) as staged:  # the staged file keeps the name's suffix
        session.write(staged)


def solve_built(built: AllocationModel, started: float | None = None,
                **options: Any) -> Result:
    """Solve a model built by ``build_model`` (e.g. after writing it out).

    ``time_limit`` is the budget of the whole solve, counted from ``started`` (a
    ``time.monotonic()`` instant; by default, when the model's build began): every run of
    HiGHS gets what is left, less a reserve for reading and checking the answer, and a
    refinement or re-solve that no longer fits is skipped, with a warning. A solve that
    still overruns its limit by more than ``OVERRUN_GRACE`` says so in a warning.

    With pool rewards, the model's chords under-state the exact reward by at most
    ``built.pool_errors``; when the certified gap between the exact objective of the
    allocation found and the exact optimum is above ``pool_tolerance``, the breakpoints
    are refined so that the errors sum to half the tolerance, and the finer model solved
    (up to ``POOL_REFINEMENTS`` times, never finer than ``FINEST_POOL_ERROR``). The best
    allocation found over all the models solved is returned, with the tightest bound any
    of them proved; a model built but not solved proves nothing and is never used.
    """
    instance = built.instance
    settings = SolveOptions(**options)
    if built.pool_errors and built.has_binaries and settings.mip_rel_gap is None:
        # The MIP's own gap comes on top of the chords': leave it half the tolerance.
        settings = replace(settings, mip_rel_gap=0.5 * settings.pool_tolerance)
    clock = _Clock(settings.time_limit,
                   time.monotonic() - built.build_seconds if started is None else started,
                   reserve=EXTRACT_SECONDS_PER_PAIR * len(instance.pairs))
    timings: dict[str, float] = {}
    error = DEFAULT_POOL_ERROR
    _add(timings, build=built.build_seconds)
    solved: list[_Solved] = []
    for refinement in range(POOL_REFINEMENTS + 1):
        if refinement:
            if not clock.left():
                clock.skipped.append("the refinement of the pool-reward breakpoints")
                break
            built = build_model(instance, built.scenarios, pool_error=error, merge=built.merge)
            _add(timings, build=built.build_seconds)
        outcome, evaluation = _solve_and_evaluate(built, clock.limit(settings), timings)
        if _contradicts_bound(built, outcome, evaluation) and settings.presolve != "off":
            # An allocation worth more than the proven bound: the presolved model was
            # wrong (seen with HiGHS's MIP presolve). Solve again without presolve.
            if clock.left():
                outcome, evaluation = _solve_and_evaluate(
                    built, clock.limit(replace(settings, presolve="off")), timings)
            else:
                clock.skipped.append("the check without presolve of an allocation worth "
                                     "more than its bound (the bound is not reported)")
                outcome = replace(outcome, bound=None, gap=None)
        solved.append(_Solved(built, outcome, evaluation))
        pool_gap = _pool_gap(built, outcome, evaluation)
        if pool_gap is None or pool_gap <= settings.pool_tolerance or error <= FINEST_POOL_ERROR:
            break
        # Chord errors add up over the pools: aim their sum at half the tolerance.
        pools = float(instance.services["reward_pool"].sum())
        target = 0.5 * settings.pool_tolerance * max(abs(evaluation.objective), 1e-9) / pools
        error = max(FINEST_POOL_ERROR, min(error / 10.0, target))
    best = _best_of(solved)
    bound = _tightest_bound(solved)
    return _result(best, settings, timings, bound, refinements=len(solved) - 1, clock=clock)


OVERRUN_GRACE = 5.0
"""Seconds a solve may run past its time limit before a warning says so."""

EXTRACT_SECONDS_PER_PAIR = 2e-6
"""Time kept back from the solver's limit to read and evaluate the answer, per pair."""


class _Clock:
    """The time budget of one solve: ``limit`` seconds from ``started`` (monotonic)."""

    def __init__(self, limit: float | None, started: float, reserve: float):
        self.limit_seconds = limit
        self.started = started
        self.reserve = reserve
        self.skipped: list[str] = []
        """Work left out for lack of time, said in a warning."""

    def elapsed(self) -> float:
        """Seconds since the budget began."""
        return time.monotonic() - self.started

    def left(self) -> bool:
        """Whether time is left for another solve (always, without a limit)."""
        return (self.limit_seconds is None
                or self.elapsed() + self.reserve < self.limit_seconds)

    def limit(self, settings: SolveOptions) -> SolveOptions:
        """``settings`` with ``time_limit`` set to what is left for the solver."""
        if self.limit_seconds is None:
            return settings
        left = self.limit_seconds - self.elapsed() - self.reserve
        return replace(settings, time_limit=max(MIN_RUN_SECONDS, left))

    def warnings(self, timings: dict[str, float]) -> list[str]:
        """What the budget made the solve leave out, and any overrun, in words."""
        said = [f"time limit: {what} was skipped" for what in self.skipped]
        if self.limit_seconds is not None:
            elapsed = self.elapsed()
            if elapsed > self.limit_seconds + OVERRUN_GRACE:
                phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in
                                   sorted(timings.items(), key=lambda item: -item[1]))
                said.append(f"the solve took {elapsed:.1f} s, over its time limit of "
                            f"{self.limit_seconds:g} s ({phases})")
        return said


@dataclass
class _Solved:
    """One model solved: the model, what HiGHS returned and the evaluator's verdict."""

    built: AllocationModel
    outcome: SolverOutcome
    evaluation: Evaluation

    @property
    def usable(self) -> bool:
        """Whether it holds an allocation that may be returned (one that keeps every limit)."""
        return (self.outcome.x is not None and self.outcome.status in ("optimal", "feasible")
                and not self.evaluation.violations)


def _best_of(solved: list[_Solved]) -> _Solved:
    """The solve whose allocation has the best exact objective (the last one if none has)."""
    usable = [one for one in solved if one.usable]
    if not usable:
        return solved[-1]
    return max(usable, key=lambda one: one.evaluation.objective)


def _tightest_bound(solved: list[_Solved]) -> float | None:
    """The smallest upper bound on the exact optimum proved by any of the models solved.

    A model's bound holds for its chords, which under-state the exact reward by at most
    its chord errors: each solved model bounds the exact optimum by its bound plus its
    own errors. ``None`` when no model proved a bound.
    """
    bounds = [one.outcome.bound + sum(one.built.pool_errors.values()) for one in solved
              if one.outcome.bound is not None and one.outcome.x is not None]
    return min(bounds) if bounds else None


def _solve_and_evaluate(built: AllocationModel, settings: SolveOptions,
                        timings: dict[str, float]) -> tuple[SolverOutcome, Evaluation]:
    """Solve, then evaluate the allocation found (all zero without one), adding timings."""
    instance = built.instance
    outcome = solve_model(built, settings)
    _add(timings, handoff=outcome.handoff_seconds, solve=outcome.solve_seconds,
         extract=outcome.extract_seconds, binding=outcome.pricing_seconds)
    start = time.perf_counter()
    fractions = outcome.x if outcome.x is not None else np.zeros(len(instance.pairs))
    evaluation = evaluate(instance, allocation_frame(instance, fractions), built.scenarios)
    _add(timings, evaluate=time.perf_counter() - start)
    return outcome, evaluation


def _contradicts_bound(built: AllocationModel, outcome: SolverOutcome,
                       evaluation: Evaluation) -> bool:
    """Whether the allocation's exact objective exceeds what the solver proved possible."""
    if outcome.x is None or outcome.bound is None:
        return False
    ceiling = outcome.bound + sum(built.pool_errors.values())
    return evaluation.objective > ceiling + 1e-6 * max(1.0, abs(ceiling))


def _add(timings: dict[str, float], **seconds: float) -> None:
    for phase, value in seconds.items():
        timings[phase] = timings.get(phase, 0.0) + value


def _pool_gap(built: AllocationModel, outcome: SolverOutcome,
              evaluation: Evaluation) -> float | None:
    """Relative gap the pool chords can account for (None without pools or a solution).

    The model's value of x* plus the chord errors bounds the exact objective of every
    allocation the model would rank at or below x*; the exact value of x* is known. Their
    difference is the part of the gap due to the approximation (a MIP's own gap to its
    bound comes on top and is not reduced by refining the chords).
    """
    if not built.pool_errors or outcome.objective is None or outcome.x is None:
        return None
    ceiling = outcome.objective + sum(built.pool_errors.values())
    return max(0.0, ceiling - evaluation.objective) / max(abs(evaluation.objective), 1e-9)


def _result(best: _Solved, settings: SolveOptions, timings: dict[str, float],
            bound: float | None, refinements: int, clock: _Clock) -> Result:
    built, outcome, evaluation = best.built, best.outcome, best.evaluation
    instance = built.instance
    status = outcome.status
    if status == "feasible" and outcome.termination == "unknown" and evaluation.violations:
        # HiGHS could not certify its answer (PDLP's tolerances) and it breaks limits.
        status = "error"
    explanation: list[str] = list(outcome.explanation)
    if outcome.status == "infeasible":
        start = time.perf_counter()
        explanation = explain_infeasibility(instance, clock.limit(settings), built.scenarios)
        timings["explain"] = time.perf_counter() - start
    elif outcome.status == "unbounded":
        explanation = ["the objective can grow without limit: a service pays without any "
                       "limit on the stake behind it"]
    elif outcome.status == "infeasible_or_unbounded":
        explanation = ["HiGHS proved that the model has no optimum but could not tell, even "
                       "without presolve, whether no allocation meets every limit "
                       "(infeasible) or the objective can grow without limit (unbounded); "
                       f"its status was {outcome.termination!r}. Check the limits with "
                       "restake validate, and the rewards for a service paid without any "
                       "limit on the stake behind it"]
    solved = outcome.x is not None and status != "error"
    warnings = [str(w) for w in instance.warnings]
    if status == "error" and outcome.x is not None:
        warnings.append("the solver's uncertified answer breaks limits beyond tolerance; "
                        "try --solver ipm or simplex")
    if status == "feasible":
        shown = "unknown" if outcome.gap is None else f"{outcome.gap:.3g}"
        warnings.append(f"the solver stopped short of a proof ({outcome.termination}): the "
                        f"allocation is feasible but may not be optimal (gap {shown})")
    gap = outcome.gap
    if solved and bound is not None:
        # The gap is always measured from the exact objective that is reported, against
        # the tightest bound on the exact optimum (chord errors included).
        gap = max(0.0, bound - evaluation.objective) / max(abs(evaluation.objective), 1e-9)
        if built.pool_errors and status == "optimal" and gap > settings.pool_tolerance:
            warnings.append(
                f"pool rewards: the certified gap {gap:.3g} is above the tolerance "
                f"{settings.pool_tolerance:g} after {refinements} refinement"
                f"{'s' if refinements != 1 else ''} of the breakpoints; the allocation is "
                "the best of the models solved, and the bound is the tightest they proved")
    elif not solved:
        bound = None
    measured = _out_of_sample(built, evaluation, clock, timings, warnings) if solved else None
    warnings += clock.warnings(timings)
    return Result(
        status=status,
        termination=outcome.termination,
        objective=evaluation.objective if solved else None,
        bound=bound,
        gap=gap,
        reward=evaluation.reward if solved else None,
        expected_loss=evaluation.expected_loss if solved else None,
        robust_expected_loss=evaluation.robust_expected_loss if solved else None,
        opt_in_cost=evaluation.opt_in_cost if solved else None,
        turnover_cost=evaluation.turnover_cost if solved else None,
        cvar=evaluation.cvar if solved else None,
        allocation=evaluation.allocation if solved else evaluation.allocation.iloc[0:0],
        stakes=evaluation.stakes if solved else evaluation.stakes.iloc[0:0],
        services=evaluation.services if solved else evaluation.services.iloc[0:0],
        timings=timings,
        solver={"name": SOLVER_NAME, "version": outcome.solver_version},
        instance={"name": instance.name, "numeraire": instance.numeraire, **instance.size()},
        options=settings.as_dict(),
        model_objective=outcome.objective,
        violations=evaluation.violations if solved else [],
        explanation=explanation,
        warnings=warnings,
        duals=outcome.row_duals,
        binding=outcome.binding,
        is_mip=outcome.is_mip,
        holders=evaluation.holders if solved else pd.DataFrame(),
        scenario_count=built.scenarios.count if built.scenarios is not None else 0,
        **(measured.result_fields() if measured else {}),
    )


def _out_of_sample(built: AllocationModel, evaluation: Evaluation, clock: _Clock,
                   timings: dict[str, float], warnings: list[str]) -> OutOfSample | None:
    """The allocation's CVaR on fresh scenarios (timed), its warnings added to ``warnings``."""
    if built.scenarios is None or not applies(built.instance):
        return None
    if not clock.left():
        clock.skipped.append("the out-of-sample CVaR")
        return None
    return measure_solved(built.instance, evaluation.allocation, built.scenarios.count,
                          warnings, timings)


def allocation_table(result: Result) -> pd.DataFrame:
    """The allocation as a stake x service matrix of fractions (a pivot of the long table)."""
    if result.allocation.empty:
        return pd.DataFrame()
    return result.allocation.pivot_table(index="stake", columns="service", values="fraction",
                                         fill_value=0.0)
