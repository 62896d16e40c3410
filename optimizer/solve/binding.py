"""What binds at the optimum, and what relaxing it is worth, in the instance's own terms.

Every limit the model carries is one cell of the instance (``stakes.max_expected_loss``
of stake ``lrt-a``, ``services.capacity`` of service ``eigenda``, the parameter
``cvar_limit``). Its rows (a group's ``max_exposure`` has one per stake; a service's
``max_holder_share`` one per holder) and its variable bounds (``max_per_service`` bounds
each x_{i,s}, ``capacity`` each X_s) are read through the family records
(``optimizer.model.families``), and their duals and reduced costs add up to the cell's
**shadow price**: the derivative of the optimal expected net reward with respect to the
cell's value, in the numeraire per year per unit of the column. Where the limit is a
coefficient (``max_holder_share``: sum V x <= q (E + X)), a row's dual counts times how
far its bound moves per unit of the limit at the optimum (``RowBlock.slope``).

- ``shadow_price``: the rate at which relaxing the limit alone raises the optimum. At a
  vertex where one limit binds alone it is the LP dual; where several hold at once the
  dual is not unique and may credit one limit with what only relaxing another earns.
  So the price is measured: the LP is re-solved in the same HiGHS session (warm) with
  the limit's rows and bounds moved by a small step in the direction that relaxes it,
  halving the step until two steps give the same slope (the first linear piece of the
  optimum). ``measured`` says so; a limit not measured (beyond ``MEASURED_CELLS``, or a
  stake merged with others, see ``optimizer.model.merge``) keeps its dual.
- ``gain_of_1pct``: what relaxing the limit by 1% of its value earns (a maximum up, a
  minimum down), re-solved the same way; where not measured, the price times the step
  (for an LP, an upper bound: the optimum is concave in a bound). A limit that enters
  as a coefficient (``max_holder_share``) moves its rows' bounds by the slope at the
  optimum: exact in its derivative, first order in its 1% gain.
- ``slack``: how far the value could move against the user (a maximum down, a minimum
  up) before the tightest of its rows or bounds is reached, in the column's unit; 0 for
  a binding limit.
- For a MILP everything is of the LP with every binary fixed at the optimum (``basis``
  says so): what relaxing the limit earns with the same opt-ins.

Limits the model does not carry (a stake's ``max_restaking`` that its pair bounds
already keep, a row the build proved can never bind) cannot bind and are not listed;
neither are ``max_per_service`` limits that cannot bind alone (at or above the stake's
``max_restaking``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from optimizer.instance.columns import PARAMETERS, TABLES
from optimizer.model.build import build_model, pair_upper_bound
from optimizer.model.families import ROW_BLOCKS
from optimizer.model.merge import merge_interchangeable
from optimizer.solve.highs import HighsSession
from optimizer.solve.limit_cells import PAIR_BOUND_COLUMNS, Cells, LimitCell, collect_cells
from optimizer.solve.options import SolveOptions

COLUMNS = ("limit", "family", "column", "id", "value", "unit", "slack", "shadow_price",
           "gain_of_1pct", "measured", "basis")
"""The columns of the binding table (``binding.csv``), in order."""

LP_BASIS = "lp"
FIXED_BASIS = "lp with binaries fixed"

RELAXED_STEP = 0.01
"""The relaxation ``gain_of_1pct`` prices: 1% of the limit's value."""

COUNT_COLUMNS = ("max_services",)
"""Limits on a count of binaries, priced by the MILP with one more (``_measure_counts``)."""

FULL_MODEL_CELLS = 200
"""Most pair-bound limits measured on the model with every row (``keep_all_rows``)."""

MEASURED_CELLS = 200
"""Most limits whose price is measured by re-solves (those of largest dual gain first)."""

FIRST_STEP = 1e-5
"""The first step of a price's measurement, as a fraction of the limit's value."""

STEP_HALVINGS = 6
"""Most halvings of the step while two steps' slopes differ."""

SAME_SLOPE = 1e-7
"""Relative difference below which two steps' slopes are the same linear piece."""

ZERO = 1e-9
"""Relative size below which a slack or a price is round-off (see ``_table``)."""

_SINGULAR = {"stakes": "stake", "services": "service", "holders": "holder",
             "groups": "group"}


def binding_limits(session: HighsSession, basis: str = LP_BASIS,
                   options: SolveOptions | None = None,
                   deadline: float | None = None) -> pd.DataFrame:
    """The binding table of the solution ``session`` holds (columns ``COLUMNS``).

    One row per limit of the instance the model carries, sorted by the gain of relaxing
    it, largest first. Empty when HiGHS holds no valid duals. ``basis`` names the LP the
    duals are of (``lp``, or ``lp with binaries fixed`` for a MILP). The prices' re-solves
    run in ``session`` (its solution is then theirs); ``options`` are those of the model
    with every row (see ``_measure_on_full_model``). Measuring stops at ``deadline`` (a
    ``time.monotonic()`` instant): the limits not measured by then keep their duals.
    """
    if session.empty or session.is_mip or not session.highs.getSolution().dual_valid:
        return pd.DataFrame(columns=list(COLUMNS))
    base = session.objective()
    cells = collect_cells(session)
    clock = _Deadline(deadline)
    _measure(session, cells, base, clock)
    if session.built.merge is None and clock.left() != 0.0:
        _measure_on_full_model(session, cells, base, options or SolveOptions(), clock)
    if session.form.integrality.any():
        _measure_counts(session, cells, base, options or SolveOptions(), clock)
    return _table(cells, basis, abs(base))


class _Deadline:
    """The time left for measuring, in seconds (None: no limit; 0: spent)."""

    def __init__(self, at: float | None) -> None:
        self.at = at

    def left(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())


def _measure(session: HighsSession, cells: Cells, base: float,
             clock: _Deadline) -> None:
    """Measure the price and 1% gain of the priced limits by warm re-solves.

    The ``MEASURED_CELLS`` limits of largest dual gain are measured (see the module
    docstring); a re-solve that does not end optimal leaves the limit's dual.
    """
    priced = [cell for cell in cells.values()
              if cell.price != 0.0 and cell.measurable and (cell.row_moves or cell.column_moves)]
    priced.sort(key=lambda cell: -abs(cell.price * cell.value))
    for cell in priced[:MEASURED_CELLS]:
        if clock.left() == 0.0:
            return
        _measure_cell(session, cell, base, clock)


def _measure_cell(session: HighsSession, cell: LimitCell, base: float,
                  clock: _Deadline) -> None:
    """Measure one limit's price and 1% gain by re-solves in ``session`` (its moves)."""
    def optimum(change: float) -> float | None:
        return session.objective_with_bounds_moved(
            [(row, side, rate * change) for row, side, rate in cell.row_moves],
            [(col, side, rate * change) for col, side, rate in cell.column_moves],
            clock.left())

    slope = _slope(optimum, base, FIRST_STEP * (abs(cell.value) or 1.0) * cell.direction)
    if slope is None:
        return
    cell.price, cell.measured = slope, True
    relaxed = optimum(RELAXED_STEP * abs(cell.value) * cell.direction)
    cell.gain = None if relaxed is None else relaxed - base


def _measure_on_full_model(session: HighsSession, cells: Cells,
                           base: float, options: SolveOptions,
                           clock: _Deadline) -> None:
    """Measure the priced pair-bound limits left to it, on a model with every row.

    A stake's ``max_per_service`` (or, with k = 1, ``max_worst_case_loss``) bounds its
    pairs; raising it may make a row bind that the build left out because it could not
    (``keep_all_rows``). These limits are measured in a session of the same instance
    built with every row (a MILP's binaries fixed at the optimum), ``FULL_MODEL_CELLS`` at
    most (largest dual gain first); the others keep their dual.
    """
    chosen = [cell for cell in cells.values() if cell.price != 0.0 and not cell.measurable
              and cell.table == "stakes" and cell.column in PAIR_BOUND_COLUMNS]
    if not chosen:
        return
    built = session.built
    full = HighsSession(build_model(built.instance, built.scenarios, built.pool_error,
                                    keep_all_rows=True), options)
    if session.form.integrality.any():
        full.fix_binaries_as(session)
    if clock.left() == 0.0 or full.run(clock.left()) != "optimal":
        return
    instance = built.instance
    stake_pos = instance.pairs["stake_pos"].to_numpy()
    slash = instance.services["slash_fraction"].to_numpy()[instance.pairs["service_pos"]]
    upper = pair_upper_bound(instance)
    per_service = instance.stakes["max_per_service"].to_numpy()[stake_pos]
    chosen.sort(key=lambda cell: -abs(cell.price * cell.value))
    for cell in chosen[:FULL_MODEL_CELLS]:
        if clock.left() == 0.0:
            return
        stake = int(instance.stakes.index.get_loc(cell.id))
        if cell.column == "max_worst_case_loss":
            bounded = (stake_pos == stake) & (upper < per_service)
            move = 1.0 / slash
        else:
            bounded = (stake_pos == stake) & (upper >= per_service)
            move = np.ones(len(stake_pos))
        cell.column_moves = [(int(full.form.pair_column[p]), "upper", float(move[p]))
                             for p in np.flatnonzero(bounded)]
        cell.row_moves = _pair_row_moves(full, cells, cell, np.flatnonzero(stake_pos == stake))
        _measure_cell(full, cell, base, clock)


def _pair_row_moves(full: HighsSession, cells: Cells, cell: LimitCell,
                    pairs: np.ndarray) -> list[tuple[int, str, float]]:
    """The moves of the pair rows whose limit is ``cell``'s (``opt_in_link``: x <= m y)."""
    moves = []
    assert cells.allocated is not None
    for block in ROW_BLOCKS.values():
        span = full.form.block(block.name)
        if block.limit != f"stakes.{cell.column}" or block.stands_for != "pair" or span is None:
            continue
        present = set(span.keys)
        for p in pairs.tolist():
            slope = 1.0 if block.slope is None else block.slope(cells.instance, p,
                                                                cells.allocated)
            if p in present and slope:
                moves.append((span.row(p), "upper", slope * full.row_unit(block.name)))
    return moves


def _measure_counts(session: HighsSession, cells: Cells, base: float, options: SolveOptions,
                    clock: _Deadline) -> None:
    """Price each binding count of binaries (``max_services``) by the MILP with one more.

    With the binaries fixed such a limit holds no variable, so its LP price is 0 and
    says nothing; a fraction of a service earns nothing either. Its price and gain are
    what one more earns: the MILP of the instance with that count raised by 1, solved to
    a gap of 0 (``basis`` ``milp``).
    """
    built = session.built
    exact = replace(options, mip_rel_gap=0.0)
    for cell in cells.values():
        if cell.column not in COUNT_COLUMNS or cell.slack > 0.0 or clock.left() == 0.0:
            continue
        frame = getattr(built.instance, cell.table).copy()
        frame.loc[cell.id, cell.column] = cell.value + 1
        moved = built.instance.with_changes(keep_scenarios=True, **{cell.table: frame})
        trial = HighsSession(build_model(moved, built.scenarios, built.pool_error,
                                         merge=merge_interchangeable(moved)), exact)
        if trial.run(clock.left()) != "optimal":
            continue
        cell.price = cell.gain = max(0.0, trial.objective() - base)  # more cannot earn less
        cell.measured, cell.basis = True, "milp"


def _slope(optimum: Callable[[float], float | None], base: float,
           step: float) -> float | None:
    """The optimum's slope on its first linear piece in the direction of ``step``.

    The step is halved until two consecutive steps give the same slope; None when a
    re-solve fails.
    """
    found = optimum(step)
    if found is None:
        return None
    slope = (found - base) / step
    for _ in range(STEP_HALVINGS):
        step /= 2
        found = optimum(step)
        if found is None:
            return None
        finer = (found - base) / step
        if abs(finer - slope) <= SAME_SLOPE * max(abs(finer), abs(slope)):
            return finer
        slope = finer
    return slope


def _table(cells: Cells, basis: str, objective: float) -> pd.DataFrame:
    """The cells as the binding table, largest gain of relaxing first.

    Round-off is cleared: a slack below ``ZERO`` of the value (or of 1), and a price whose
    gain of relaxing the whole value is below ``ZERO`` of the objective (or of 1), are 0.
    """
    records = []
    for (name, row_id), cell in cells.items():
        if abs(cell.price * cell.value) <= ZERO * max(objective, 1.0) or cell.value == 0 \
                and abs(cell.price) <= ZERO:
            cell.price = 0.0
        if cell.slack <= ZERO * max(abs(cell.value), 1.0):
            cell.slack = 0.0
        gain = cell.gain if cell.gain is not None else \
            cell.price * cell.direction * RELAXED_STEP * abs(cell.value)
        if abs(gain) <= ZERO * max(objective, 1.0):
            gain = 0.0
        words = (f"parameter {cell.column}" if cell.table == "parameters"
                 else f"{cell.column} of {_SINGULAR[cell.table]} {row_id}")
        if cell.rows > 1:
            words += f" ({cell.rows} rows)"
        records.append((words, cell.family, name, row_id, cell.value, _unit(cell),
                        max(cell.slack, 0.0), cell.price, gain, cell.measured,
                        cell.basis or basis))
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    if table.empty:
        return table
    return table.sort_values(["gain_of_1pct", "slack"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def _unit(cell: LimitCell) -> str:
    """The unit of the cell's column, from the data dictionary."""
    if cell.table == "parameters":
        return next(c.unit for c in PARAMETERS if c.name == cell.column)
    return TABLES[cell.table].column(cell.column).unit
