"""HiGHS's model statuses in the product's words, and the exit code each one gives."""

from __future__ import annotations

from typing import Literal

import highspy

Status = Literal["optimal", "feasible", "infeasible", "unbounded", "infeasible_or_unbounded",
                 "error"]

EXIT_CODES: dict[str, int] = {"optimal": 0, "feasible": 0, "infeasible": 1, "unbounded": 1,
                              "infeasible_or_unbounded": 1, "error": 3}
"""Exit code of ``restake solve`` by status (2 is bad input, raised before any solve)."""

_M = highspy.HighsModelStatus
TERMINATION: dict[object, str] = {
    _M.kOptimal: "optimal",
    _M.kInfeasible: "infeasible",
    _M.kUnboundedOrInfeasible: "unbounded_or_infeasible",
    _M.kUnbounded: "unbounded",
    _M.kObjectiveBound: "objective_bound",
    _M.kObjectiveTarget: "objective_target",
    _M.kTimeLimit: "time_limit",
    _M.kIterationLimit: "iteration_limit",
    _M.kSolutionLimit: "solution_limit",
    _M.kInterrupt: "interrupted",
    _M.kHighsInterrupt: "interrupted",  # type: ignore[attr-defined]  # not in the stubs
    _M.kMemoryLimit: "memory_limit",
    _M.kModelEmpty: "empty_model",
    _M.kUnknown: "unknown",
}
"""The solver's own words for how it stopped."""

LIMITS = {"objective_bound", "objective_target", "time_limit", "iteration_limit",
          "solution_limit", "interrupted", "memory_limit", "unknown"}
"""Terminations short of a proof: the allocation found is returned if there is one.

``unknown`` is how HiGHS ends when it cannot certify its answer (PDLP's first-order
tolerances, for one); with a primal-feasible solution the allocation comes back as
``feasible`` and the evaluator checks every limit of it.
"""


def termination_of(model_status: object) -> str:
    """The solver's termination, e.g. ``time_limit``; ``error`` for load or solve errors."""
    return TERMINATION.get(model_status, "error")


def status_of(termination: str, has_feasible_solution: bool) -> Status:
    """The product status of a termination."""
    if termination in ("optimal", "empty_model"):
        return "optimal"
    if termination == "infeasible":
        return "infeasible"
    if termination == "unbounded":
        return "unbounded"
    if termination == "unbounded_or_infeasible":
        # HiGHS proved that no optimum exists but not which of the two is the case.
        return "infeasible_or_unbounded"
    if termination in LIMITS and has_feasible_solution:
        return "feasible"
    return "error"
