"""The evaluator's limit checks, one function per constraint family, in one registry.

Every check has the signature of ``Check``: it reads the shared quantities of one
allocation (``Context``) and returns the rows it finds broken beyond the tolerances, as
``Violation``s named after the check. ``CHECKS`` maps each family's name, as the model
names it, to its check, in the order the evaluator runs them (the order of MODEL.md's
families). The checks never look at a model: they recompute each limit from the instance
and the allocation alone.
"""

from __future__ import annotations

from typing import Protocol

from optimizer.results.checks import (
    holder_limits,
    robust_loss,
    service_limits,
    stake_limits,
    tail_risk,
    transition,
    turnover,
)
from optimizer.results.checks.base import Violation
from optimizer.results.checks.context import Context, build_context


class Check(Protocol):
    """A limit check: ``check(context) -> violations``."""

    def __call__(self, context: Context) -> list[Violation]:
        """The rows of one constraint family that ``context``'s allocation breaks.

        Parameters
        ----------
        context : Context
            The instance, the allocation and their shared quantities.

        Returns
        -------
        list of Violation
            In row order; empty when every row holds within the tolerances.
        """
        ...


CHECKS: dict[str, Check] = {
    "allocation_bounds": stake_limits.allocation_bounds,
    "restaking_degree": stake_limits.restaking_degree,
    "expected_loss_budget": stake_limits.expected_loss_budget,
    "worst_case_budget": stake_limits.worst_case_budget,
    "group_exposure": stake_limits.group_exposure,
    "service_capacity": service_limits.service_capacity,
    "min_security": service_limits.min_security,
    "holder_concentration": holder_limits.holder_concentration,
    "min_allocation": holder_limits.min_allocation,
    "max_services": holder_limits.max_services,
    "cvar_limit": tail_risk.cvar_limit,
    "turnover_limit": turnover.turnover_limit,
    "transition_exposure": transition.transition_exposure,
    "robust_loss_budget": robust_loss.robust_loss_budget,
}
"""Every check of the evaluator, by the name of the family it checks (run in this order)."""


def run_checks(context: Context) -> list[Violation]:
    """Every violation of every check in ``CHECKS``, in registry order.

    Parameters
    ----------
    context : Context
        The instance, the allocation and their shared quantities.
    """
    return [violation for check in CHECKS.values() for violation in check(context)]


__all__ = ["CHECKS", "Check", "Context", "Violation", "build_context", "run_checks"]
