"""The one-way pipeline: instance -> model -> solve -> results."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.model.build import AllocationModel, build_model
from optimizer.results.evaluate import allocation_frame, evaluate
from optimizer.results.result import Result
from optimizer.solve.explain import explain_infeasibility
from optimizer.solve.highs import SOLVER_NAME, solve_model
from optimizer.solve.options import SolveOptions


def solve(instance: Instance, **options: Any) -> Result:
    """Find the allocation of most expected net reward within every limit.

    Parameters
    ----------
    instance : Instance
        The problem, from ``load_instance`` or ``Instance.from_frames``.
    **options
        ``SolveOptions`` fields: ``time_limit`` (seconds), ``threads``, ``random_seed``,
        ``mip_rel_gap``, ``presolve``, ``solver`` (LP algorithm), ``verbose``.

    Returns
    -------
    Result
        Its ``status`` says what happened; ``Result.raise_for_status()`` turns an
        infeasible or failed solve into ``InfeasibleError`` or ``SolverError``.

    Raises
    ------
    UnsupportedFeatureError
        When the instance uses a feature this release does not solve yet.
    """
    return solve_built(build_model(instance), **options)


def solve_built(built: AllocationModel, **options: Any) -> Result:
    """Solve a model already built by ``build_model`` (e.g. after writing it out)."""
    instance = built.instance
    settings = SolveOptions(**options)
    outcome = solve_model(built, settings)
    timings = {"build": built.build_seconds, "handoff": outcome.handoff_seconds,
               "solve": outcome.solve_seconds, "extract": outcome.extract_seconds}
    start = time.perf_counter()
    fractions = outcome.x if outcome.x is not None else np.zeros(len(instance.pairs))
    evaluation = evaluate(instance, allocation_frame(instance, fractions))
    timings["evaluate"] = time.perf_counter() - start
    explanation: list[str] = []
    if outcome.status == "infeasible":
        start = time.perf_counter()
        explanation = explain_infeasibility(instance, settings)
        timings["explain"] = time.perf_counter() - start
    elif outcome.status == "unbounded":
        explanation = ["the objective can grow without limit: a service pays without any "
                       "limit on the stake behind it"]
    solved = outcome.x is not None
    warnings = [str(w) for w in instance.warnings]
    if outcome.status == "feasible":
        warnings.append(f"the solver stopped at a limit ({outcome.termination}): the allocation "
                        f"is feasible but may not be optimal (gap {outcome.gap:.3g})")
    empty = evaluation.allocation.iloc[0:0]
    return Result(
        status=outcome.status,
        termination=outcome.termination,
        objective=evaluation.objective if solved else None,
        bound=outcome.bound,
        gap=outcome.gap,
        reward=evaluation.reward if solved else None,
        expected_loss=evaluation.expected_loss if solved else None,
        opt_in_cost=evaluation.opt_in_cost if solved else None,
        turnover_cost=evaluation.turnover_cost if solved else None,
        cvar=evaluation.cvar,
        allocation=evaluation.allocation if solved else empty,
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
    )


def allocation_table(result: Result) -> pd.DataFrame:
    """The allocation as a stake x service matrix of fractions (a pivot of the long table)."""
    if result.allocation.empty:
        return pd.DataFrame()
    return result.allocation.pivot_table(index="stake", columns="service", values="fraction",
                                         fill_value=0.0)
