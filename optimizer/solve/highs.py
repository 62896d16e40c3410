"""The one solver adapter: a built model in one HiGHS session, and back.

The model is compiled to arrays (``optimizer.solve.matrices``) and handed to ``highspy``
in one ``passModel`` call. A ``HighsSession`` holds that one HiGHS object for as long as
its user needs: it runs it (heeding time limits and Ctrl-C), maps its statuses, reads
primal values and row duals by family and key, and changes bounds, costs and rows by
family and key for re-solves. Solve, frontier and infeasibility explanation go through
it; nothing else in the package touches ``highspy`` (the benchmark's direct formulation
apart, which exists to be compared with it). Measured against Pyomo's ``highs`` /
``appsi_highs`` interfaces, which walk the constraints in Python, this hand-off is several
times faster (see ``benchmarks/handoff.py``).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from pathlib import Path

import highspy
import numpy as np

from optimizer.errors import SolverError
from optimizer.model.build import AllocationModel
from optimizer.model.families import ROW_BLOCKS, binary_components
from optimizer.solve.console import quiet_highs
from optimizer.solve.highs_run import (
    MIN_RUN_SECONDS,
    PRESOLVE_RULES_OFF,
    SOLVER_NAME,
    TIME_LIMIT_GRACE,
    new_highs,
    pass_to_highs,
    run_highs,
    solver_version,
)
from optimizer.solve.lp_names import LpNames, key_text
from optimizer.solve.matrices import compile_standard_form
from optimizer.solve.options import SolveOptions
from optimizer.solve.status import Status, status_of, termination_of

__all__ = ["MIN_RUN_SECONDS", "PRESOLVE_RULES_OFF", "SOLVER_NAME", "TIME_LIMIT_GRACE",
           "HighsSession", "new_highs", "pass_to_highs", "quiet_highs", "run_highs",
           "solver_version"]

class HighsSession:
    """One built model in one HiGHS object, for every run its user needs.

    Values handed in and out are in the instance's units: a row's bound in its family's
    unit (``RowBlock.unit``; numeraire rows in the numeraire, not in the model's scaled
    units), objective values in the numeraire per year, duals in the numeraire per year per
    unit of the row's bound.

    Parameters
    ----------
    built : AllocationModel
        The model.
    options : SolveOptions
        Threads, seed, presolve, algorithm, gap, logging.
    """

    def __init__(self, built: AllocationModel, options: SolveOptions) -> None:
        self.built = built
        self.form = compile_standard_form(built)
        self.highs = new_highs(options)
        self.is_mip = bool(self.form.integrality.any())
        self.termination = "not_run"
        if not self.empty:
            pass_to_highs(self.highs, self.form)

    @property
    def empty(self) -> bool:
        """Whether the model has no variable at all (nothing to hand to HiGHS)."""
        return len(self.form.cost) == 0

    def run(self, time_limit: float | None = None) -> str:
        """Run HiGHS, within ``time_limit`` seconds if given; its termination, in words.

        The run is stopped by HiGHS at its ``time_limit``; should an algorithm overrun it
        (HiPO has), the package interrupts it ``TIME_LIMIT_GRACE`` seconds later, and the
        termination is then ``time_limit``. Ctrl-C interrupts it too.
        """
        if self.empty:
            # No variable: every row's activity is 0 (a stranded turnover can break one).
            met = (self.form.row_lower <= 0.0).all() and (self.form.row_upper >= 0.0).all()
            self.termination = "empty_model" if met else "infeasible"
            return self.termination
        stop_at = None
        if time_limit is not None:
            left = max(MIN_RUN_SECONDS, time_limit)
            self.highs.setOptionValue("time_limit", left)
            stop_at = time.monotonic() + left + TIME_LIMIT_GRACE
        stopped_for_time = run_highs(self.highs, stop_at)
        termination = termination_of(self.highs.getModelStatus())
        self.termination = ("time_limit" if stopped_for_time and termination == "interrupted"
                            else termination)
        return self.termination

    def set_option(self, name: str, value: bool | float | str) -> None:
        """Set a HiGHS option for the next runs (``presolve``, ``solver``...)."""
        self.highs.setOptionValue(name, value)

    def has_solution(self) -> bool:
        """Whether HiGHS holds a feasible primal solution."""
        if self.empty:
            return self.termination == "empty_model"
        return self.highs.getInfo().primal_solution_status == 2

    def status(self) -> Status:
        """The last run's status in the package's words (``optimal``, ``infeasible``...)."""
        if self.empty:
            return "optimal" if self.termination == "empty_model" else "infeasible"
        return status_of(self.termination, self.has_solution())

    def column_values(self) -> np.ndarray:
        """Every column's value, in column order (the model's units)."""
        if self.empty:
            return np.zeros(0)
        return np.asarray(self.highs.getSolution().col_value)

    def values(self, component: str) -> np.ndarray:
        """The values of the variable component ``component``, in its order (model units)."""
        return self.column_values()[self.form.component_columns[component]]

    def fractions(self) -> np.ndarray:
        """x_{i,s} of every pair of ``instance.pairs`` (fraction of stake), unclipped."""
        values = self.column_values()
        if self.empty:
            return self.built.fractions(np.zeros(len(self.built.index.upper)))
        # The solver's own values: the evaluator is there to catch an answer outside its
        # bounds (an uncertified PDLP answer), and clipping would hide it.
        return self.built.fractions(values[self.form.pair_column])

    def objective(self) -> float:
        """The model's objective at HiGHS's solution (numeraire per year)."""
        if self.empty:
            return self.form.offset * self.built.scale
        return float(self.highs.getInfo().objective_function_value) * self.built.scale

    def bound_and_gap(self) -> tuple[float | None, float | None]:
        """The proven bound on the objective (numeraire per year) and the relative gap.

        For a MILP, HiGHS's dual bound and gap; for an LP solved to optimality, its
        objective and 0; an LP stopped early proves nothing: ``(None, None)``.
        """
        if self.is_mip:
            info = self.highs.getInfo()
            return float(info.mip_dual_bound) * self.built.scale, float(info.mip_gap)
        if self.status() == "optimal":
            return self.objective(), 0.0
        return None, None

    def row_duals(self) -> dict[str, dict[object, float]]:
        """Row duals by family and key: numeraire per year per unit of the row's bound.

        Empty unless HiGHS holds valid duals (an LP solved to optimality). With merged
        stakes, the duals are those of the original model's rows (``StakeMerge``).
        """
        if self.empty or self.is_mip:
            return {}
        solution = self.highs.getSolution()
        if not solution.dual_valid:
            return {}
        row_dual = np.asarray(solution.row_dual)
        duals: dict[str, dict[object, float]] = {}
        for block in self.form.blocks:
            factor = ROW_BLOCKS[block.name].dual_factor(self.built.scale)
            values = (row_dual[block.start:block.stop] * factor).tolist()
            duals[block.name] = dict(zip(block.keys, values, strict=True))
        if self.built.merge is not None:
            duals = self.built.merge.split_duals(
                duals, self.built.instance.pairs["stake_pos"].to_numpy())
        return duals

    def row_slacks(self) -> dict[str, dict[object, float]]:
        """How far each row is from the bound it may reach, by family and key (row unit).

        A row limited above: upper bound less activity; below: activity less lower bound;
        an equality: 0. Empty without a primal solution. With merged stakes, each
        original row has its merged row's slack (``StakeMerge.split_slacks``).
        """
        if self.empty or not self.has_solution():
            return {}
        activity = np.asarray(self.highs.getSolution().row_value)
        with np.errstate(invalid="ignore"):
            slack = np.fmin(self.form.row_upper - activity, activity - self.form.row_lower)
        slacks: dict[str, dict[object, float]] = {}
        for block in self.form.blocks:
            values = (slack[block.start:block.stop] / self.row_unit(block.name)).tolist()
            slacks[block.name] = dict(zip(block.keys, values, strict=True))
        if self.built.merge is not None:
            slacks = self.built.merge.split_slacks(
                slacks, self.built.instance.pairs["stake_pos"].to_numpy())
        return slacks

    def reduced_costs(self, component: str) -> np.ndarray:
        """The reduced costs of variable component ``component``, in its order.

        In the numeraire per year per model unit of the variable (a fraction for
        ``x_alloc``; the model's scaled numeraire for a value such as ``security``:
        multiply by ``1 / scale`` for per numeraire). Zeros without valid duals.
        """
        columns = self.form.component_columns[component]
        if self.empty or self.is_mip or not self.highs.getSolution().dual_valid:
            return np.zeros(len(columns))
        return np.asarray(self.highs.getSolution().col_dual)[columns] * self.built.scale

    def objective_with_bounds_moved(self, rows: list[tuple[int, str, float]],
                                    columns: list[tuple[int, str, float]],
                                    time_limit: float | None = None) -> float | None:
        """The optimum (numeraire per year) with some bounds moved, then put back.

        ``rows`` and ``columns`` are ``(index, side, amount)``: move the ``upper`` or
        ``lower`` bound of that row or column by ``amount`` (model units), from the bound
        the model was compiled with (a row or continuous column no earlier call left
        moved). The run starts from the basis HiGHS holds (warm). ``None`` when it does
        not end optimal.
        """
        def moved(lower: float, upper: float, side: str, amount: float) -> tuple[float, float]:
            return (lower, upper + amount) if side == "upper" else (lower + amount, upper)

        form = self.form
        row_bounds = [(r, float(form.row_lower[r]), float(form.row_upper[r])) for r, _, _ in rows]
        col_bounds = [(c, float(form.col_lower[c]), float(form.col_upper[c]))
                      for c, _, _ in columns]
        for (row, lower, upper), (_, side, amount) in zip(row_bounds, rows, strict=True):
            self.highs.changeRowBounds(row, *moved(lower, upper, side, amount))
        for (col, lower, upper), (_, side, amount) in zip(col_bounds, columns, strict=True):
            self.highs.changeColBounds(col, *moved(lower, upper, side, amount))
        try:
            solved = self.run(time_limit) == "optimal"
            return self.objective() if solved else None
        finally:
            for row, lower, upper in row_bounds:
                self.highs.changeRowBounds(row, lower, upper)
            for col, lower, upper in col_bounds:
                self.highs.changeColBounds(col, lower, upper)

    def row_unit(self, name: str) -> float:
        """Model units per unit of the row family ``name``'s bound (1 / scale or 1)."""
        return 1.0 / self.built.scale if ROW_BLOCKS[name].in_numeraire else 1.0

    def set_row_upper(self, name: str, value: float, key: Hashable = None) -> None:
        """Move the upper bound of row ``key`` of family ``name`` to ``value`` (its unit)."""
        block = self.form.block(name)
        if block is None:
            raise KeyError(f"the model has no row family {name!r}")
        row = block.row(key)
        self.highs.changeRowBounds(row, float(self.form.row_lower[row]),
                                   float(value) * self.row_unit(name))

    def minimize_row(self, name: str, key: Hashable = None) -> None:
        """Make the objective the activity of row ``key`` of family ``name``, minimized.

        ``restore_objective`` puts the model's own objective back. The objective value
        (``objective()``) is then the least activity, in the numeraire when the row is.
        """
        block = self.form.block(name)
        if block is None:
            raise KeyError(f"the model has no row family {name!r}")
        row = block.row(key)
        cost = np.zeros(len(self.form.cost))
        span = slice(self.form.indptr[row], self.form.indptr[row + 1])
        cost[self.form.indices[span]] = self.form.data[span] / self.row_unit(name) \
            / self.built.scale
        self._change_objective(cost, 0.0, highspy.ObjSense.kMinimize)

    def restore_objective(self) -> None:
        """The model's own objective again (after ``minimize_row``)."""
        sense = highspy.ObjSense.kMaximize if self.form.maximize else highspy.ObjSense.kMinimize
        self._change_objective(self.form.cost, self.form.offset, sense)

    def change_coefficients(self, columns: np.ndarray, costs: np.ndarray,
                            entries: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                            ) -> None:
        """Set the objective cost of ``columns`` and, if given, matrix coefficients.

        Values are in the model's units (costs in numeraire / ``built.scale`` per year, a
        coefficient in its row's units per unit of its column). ``entries`` is ``(rows,
        columns, values)``. The next ``run`` starts from the basis HiGHS holds. The compiled
        form is left as it was: ``restore_objective`` puts the model's own costs back.
        """
        count = len(columns)
        if count:
            self.highs.changeColsCost(count, np.asarray(columns, dtype=np.int32),
                                      np.asarray(costs, dtype=float))
        if entries is not None:
            for row, column, value in zip(*entries, strict=True):
                self.highs.changeCoeff(int(row), int(column), float(value))

    def fix_integers(self) -> None:
        """Fix every integer column at its rounded value and make it continuous.

        What is left is an LP (its duals exist) with the MILP's choices kept.
        """
        columns = np.flatnonzero(self.form.integrality)
        if not len(columns):
            return
        self._fix_columns(columns, np.round(self.column_values()[columns]))

    def fix_binaries_as(self, other: HighsSession) -> None:
        """Fix every binary of this model at its value in ``other``'s, key by key.

        For a model of the same instance built otherwise (``keep_all_rows``): the
        binaries of one, fixed at the other's optimum, leave an LP with the same opt-ins.
        A key ``other`` does not have is fixed at 0.
        """
        for name in binary_components():
            if name not in self.form.component_columns:
                continue
            columns = self.form.component_columns[name]
            known = {}
            if name in other.form.component_columns:
                component = getattr(other.built.model, name)
                known = dict(zip(component.keys(), np.round(other.values(name)).tolist(),
                                 strict=True))
            keys = list(getattr(self.built.model, name).keys())
            self._fix_columns(columns, np.array([known.get(key, 0.0) for key in keys],
                                                dtype=float))
        self.is_mip = False

    def _fix_columns(self, columns: np.ndarray, values: np.ndarray) -> None:
        """Make ``columns`` continuous, fixed at ``values``: the model is then an LP."""
        count = len(columns)
        self.highs.changeColsIntegrality(count, columns.astype(np.int32),
                                         np.zeros(count, dtype=np.uint8))
        self.highs.changeColsBounds(count, columns.astype(np.int32), values, values)
        self.is_mip = False

    def write(self, path: Path) -> None:
        """Write the model HiGHS holds (the one it solves) to ``path`` (``.lp`` or ``.mps``).

        Columns and rows are named after the model's components (``x_alloc(3)``,
        ``restaking_degree(12)``).
        """
        names = LpNames()
        for j, var in enumerate(self.form.columns):
            self.highs.passColName(j, names.of(var.name))
        for block in self.form.blocks:
            for row, key in zip(range(block.start, block.stop), block.keys, strict=True):
                label = block.name if key is None else f"{block.name}({key_text(key)})"
                self.highs.passRowName(row, names.of(label))
        status = self.highs.writeModel(str(path))
        if status == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS could not write the model to {path}")

    def _change_objective(self, cost: np.ndarray, offset: float,
                          sense: highspy.ObjSense) -> None:
        count = len(cost)
        self.highs.changeColsCost(count, np.arange(count, dtype=np.int32), cost)
        self.highs.changeObjectiveOffset(offset)
        self.highs.changeObjectiveSense(sense)
