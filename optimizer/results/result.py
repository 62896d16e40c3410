"""The result of a solve: status, the exact objective and its parts, and the tables.

Every number here comes from the independent evaluator applied to the returned
allocation, never from the model, except ``bound`` and ``model_objective`` which
are the solver's.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.errors import InfeasibleError, SolverError
from optimizer.results.evaluate import Violation
from optimizer.results.write import check_declared, write_solution
from optimizer.solve.status import EXIT_CODES, Status


@dataclass
class Result:
    """What a solve returns.

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible`` (stopped at a limit with an allocation),
        ``infeasible``, ``unbounded`` or ``error``.
    termination : str
        The solver's own words for how it stopped (``optimal``, ``time_limit``...).
    objective : float or None
        Expected net reward of the allocation, numeraire per year, recomputed by the
        evaluator: reward - expected_loss - opt_in_cost - turnover_cost, with
        ``robust_expected_loss`` in place of ``expected_loss`` when the instance sets an
        ``uncertainty_budget``.
    bound, gap : float or None
        The solver's proven bound on the objective and the relative gap to it.
    allocation : pandas.DataFrame
        stake, holder, service, asset, fraction, amount, value; one row a pair in use.
    stakes, services : pandas.DataFrame
        Per-stake and per-service summaries.
    timings : dict
        Seconds spent in each phase: build, handoff, solve, extract, evaluate.
    explanation : list of str
        For an infeasible instance, the limits that conflict.
    """

    status: Status
    termination: str
    objective: float | None
    bound: float | None
    gap: float | None
    reward: float | None
    expected_loss: float | None
    opt_in_cost: float | None
    turnover_cost: float | None
    cvar: float | None
    allocation: pd.DataFrame
    stakes: pd.DataFrame
    services: pd.DataFrame
    timings: dict[str, float]
    solver: dict[str, str]
    instance: dict[str, Any]
    options: dict[str, Any]
    model_objective: float | None = None
    violations: list[Violation] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duals: dict[str, dict[object, float]] = field(default_factory=dict, repr=False)
    is_mip: bool = False
    scenario_count: int = 0
    holders: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per holder, the restaking-graph security condition, as the evaluator computed it
    (``optimizer.results.checks.graph``)."""
    binding: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every limit the model carries: its value, slack, shadow price (numeraire per year per
    unit of its column) and the gain of relaxing it by 1% (``optimizer.solve.binding``;
    ``binding.csv``). Empty when the solve proved no optimum (no duals)."""
    robust_expected_loss: float | None = None
    """With ``uncertainty_budget`` Gamma, the expected loss (numeraire per year) with the
    worst Gamma services at their ``slash_probability_high`` (``expected_loss`` stays the
    nominal one); None without it."""
    cvar_out_of_sample: float | None = None
    """CVaR of the allocation on fresh scenarios of the instance's common-shock model
    (numeraire; ``optimizer.results.out_of_sample``). None without CVaR, with scenarios given
    as a table, or without an allocation."""
    cvar_out_of_sample_error: float | None = None
    """The standard error of ``cvar_out_of_sample`` (numeraire)."""
    cvar_out_of_sample_draws: int = 0
    """Fresh scenarios drawn for ``cvar_out_of_sample`` (before identical ones merge)."""
    cvar_out_of_sample_seed: int | None = None
    """Their seed (``scenario_seed + 1`` by default: not the model's)."""

    @property
    def worth_writing(self) -> bool:
        """Whether this result's files may replace what an output folder holds.

        Only an allocation within every limit is written: a failed solve (no feasible
        allocation, or one breaking limits) leaves any previous output as it was.
        """
        return self.status != "error" and not self.violations

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this status (0, 1 or 3)."""
        return EXIT_CODES[self.status]

    def raise_for_status(self) -> Result:
        """Return self when an allocation came back; raise the typed error otherwise.

        Raises
        ------
        InfeasibleError
            Infeasible, unbounded, or one of the two (the solver could not tell), with
            the explanation.
        SolverError
            The solver failed or stopped without an allocation.
        """
        if self.status in ("infeasible", "unbounded", "infeasible_or_unbounded"):
            raise InfeasibleError(self.explanation or [f"the instance is {self.status}"])
        if self.status == "error":
            raise SolverError(f"the solver stopped without an allocation ({self.termination})")
        return self

    def summary(self) -> dict[str, Any]:
        """The contents of ``summary.json``."""
        summary: dict[str, Any] = {
            "status": self.status,
            "termination": self.termination,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "reward": self.reward,
            "expected_loss": self.expected_loss,
            "robust_expected_loss": self.robust_expected_loss,
            "opt_in_cost": self.opt_in_cost,
            "turnover_cost": self.turnover_cost,
            "cvar": self.cvar,
            "build_seconds": self.timings.get("build"),
            "solve_seconds": self.timings.get("solve"),
            "timings": self.timings,
            "solver": self.solver,
            "instance": self.instance,
            "options": self.options,
            "model_objective": self.model_objective,
            "is_mip": self.is_mip,
            "scenario_count": self.scenario_count,
            "violations": [str(v) for v in self.violations],
            "insecure_holders": ([] if self.holders.empty else
                                 self.holders.loc[~self.holders["holds"], "holder"].tolist()),
            "warnings": self.warnings,
        }
        if self.status in ("infeasible", "unbounded", "infeasible_or_unbounded"):
            summary["explanation"] = self.explanation
        if self.cvar_out_of_sample is not None:
            # Only a solve with sampled CVaR scenarios measures it (docs/model.md).
            summary.update(cvar_out_of_sample=self.cvar_out_of_sample,
                           cvar_out_of_sample_error=self.cvar_out_of_sample_error,
                           cvar_out_of_sample_draws=self.cvar_out_of_sample_draws,
                           cvar_out_of_sample_seed=self.cvar_out_of_sample_seed)
        return _finite(summary)

    def to_dir(self, path: str | os.PathLike[str]) -> None:
        """Write the solution files to the folder ``path``, atomically (all or nothing).

        Each table has exactly the columns ``optimizer.instance.outputs`` declares
        (checked before anything is written).
        """
        check_declared(self)
        write_solution(self, Path(path))

    def to_json(self) -> str:
        """The summary as JSON text."""
        return json.dumps(self.summary(), indent=2)


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively, so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
