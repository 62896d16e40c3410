"""The allocation closest to a wanted one that meets every limit of an instance.

Resampling averages the optima of many draws; the average of feasible allocations meets
every convex limit, but not the opt-in and minimum-security ones (binaries), nor the
limits of the nominal instance when the draws' limits differed. ``closest_feasible``
finds the feasible allocation nearest to it, in value-weighted L1 distance

    minimise  sum_{i,s} V_i |x_{i,s} - xbar_{i,s}|

subject to every row of the nominal model: the package's own model is built (every
family's limits, exactly as ``restake solve`` would), one variable t_{i,s} >= |x - xbar|
and its two rows are added to it (``distance_excess``, ``distance_definition``: a
family-free objective, not a limit), and the objective handed to HiGHS is replaced by
-sum V_i t_{i,s} (maximised). With binaries (opt-in, minimum security) the model is first
solved with its own objective, and its binaries are fixed at that nominal optimum's
choices: the result then opts in exactly where the nominal optimum does, and is an LP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.core as pyo

from optimizer.errors import SolverError
from optimizer.instance import Instance
from optimizer.model.rows import MatrixRows
from optimizer.pipeline import build
from optimizer.results.evaluate import allocation_frame, evaluate
from optimizer.solve.highs import HighsSession
from optimizer.solve.options import SolveOptions

BINARIES_NOMINAL = "fixed at the nominal optimum's opt-ins"
"""How the binaries are handled when the model has some."""


@dataclass
class ClosestAllocation:
    """The closest feasible allocation to a wanted one (see the module's docstring).

    Attributes
    ----------
    fractions : numpy.ndarray
        x_{i,s} per pair of ``instance.pairs`` (fraction of stake).
    wanted : numpy.ndarray
        The allocation asked for (the draws' average), same order.
    distance : float
        sum V_i |x - xbar|: value moved to make the wanted allocation feasible (numeraire).
    objective : float
        The allocation's nominal objective (the evaluator's, numeraire per year).
    violations : list of str
        The limits it breaks by the evaluator; empty when all is well.
    binaries : str
        ``"none"`` (an LP), ``"not needed"`` (the wanted allocation already met every
        limit and is returned as it is) or ``BINARIES_NOMINAL``.
    """

    fractions: np.ndarray
    wanted: np.ndarray
    distance: float
    objective: float
    violations: list[str] = field(default_factory=list)
    binaries: str = "none"

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {"objective": self.objective, "distance": self.distance,
                "violations": list(self.violations), "binaries": self.binaries,
                "wanted_was_feasible": self.binaries == "not needed"}


def closest_feasible(instance: Instance, wanted: np.ndarray,
                     **solve_options: Any) -> ClosestAllocation:
    """The allocation nearest to ``wanted`` (per pair of ``instance.pairs``) in every limit.

    ``wanted`` is returned as it is when the evaluator finds it breaks nothing. The
    answer is checked by the evaluator again (``violations``), never assumed feasible.

    Raises
    ------
    SolverError
        When HiGHS does not find the closest allocation (the nominal model is feasible,
        so the problem always has one).
    """
    wanted = np.asarray(wanted, dtype=float)
    value = instance.stake_value.to_numpy()[instance.pairs["stake_pos"].to_numpy()]
    checked = evaluate(instance, allocation_frame(instance, wanted))
    if checked.feasible:
        return ClosestAllocation(wanted.copy(), wanted, 0.0, checked.objective, [],
                                 "not needed")
    options = SolveOptions(**{**solve_options, "binding": False})
    built = build(instance, merge_stakes=False)
    _add_distance(built.model, wanted)
    session = HighsSession(built, options)
    binaries = "none"
    if session.is_mip:
        session.run(options.time_limit)
        if not session.has_solution():
            raise SolverError("the nominal model was not solved again to fix its opt-ins: "
                              f"HiGHS stopped with {session.termination}")
        session.fix_integers()
        binaries = BINARIES_NOMINAL
    cost = np.zeros(len(session.form.cost))
    cost[session.form.component_columns["distance_excess"]] = -value / built.scale
    session.change_coefficients(np.arange(len(cost)), cost)
    session.run(options.time_limit)
    if session.status() != "optimal":
        raise SolverError(f"the closest feasible allocation was not found: HiGHS stopped "
                          f"with {session.termination}")
    fractions = np.clip(session.fractions(), built.fractions(built.index.lower),
                        built.fractions(built.index.upper))
    found = evaluate(instance, allocation_frame(instance, fractions))
    return ClosestAllocation(fractions, wanted, float(np.abs(fractions - wanted) @ value),
                             found.objective, [str(v) for v in found.violations], binaries)


def _add_distance(model: pyo.ConcreteModel, wanted: np.ndarray) -> None:
    """Add t_{i,s} >= |x_{i,s} - xbar_{i,s}|: ``distance_excess`` and its two rows per pair."""
    count = len(wanted)
    model.distance_excess = pyo.Var(
        model.pairs, bounds=(0.0, None),
        doc="t_{i,s} >= |x_{i,s} - xbar_{i,s}|, distance to the wanted allocation "
            "(fraction of stake)")
    pair = np.arange(count)
    rows = np.concatenate([pair, pair, count + pair, count + pair])
    columns = np.concatenate([count + pair, pair, count + pair, pair])
    coefficients = np.concatenate([np.ones(count), -np.ones(count), np.ones(count),
                                   np.ones(count)])
    model.distance_definition = MatrixRows(
        list(range(2 * count)), [model.x_alloc, model.distance_excess], rows, columns,
        coefficients, np.concatenate([-wanted, wanted]), np.inf,
        doc="t - x >= -xbar and t + x >= xbar, per pair (fraction of stake)")
