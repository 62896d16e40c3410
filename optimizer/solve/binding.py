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
  So the price is measured: the LP is re-solved (warm, with feasibility tolerances of
  ``PRICING_TOLERANCE``) with the limit's rows and bounds moved by a small step in the
  direction that relaxes it, halving the step until two steps give the same slope (the
  first linear piece of the optimum). Limits whose rows the solved model has as they
  are are measured in its own session. The others, a stake's pair bounds (raising them
  can make a row bind that the build left out because it could not) and the rows of
  merged stakes, are measured in a second session of the instance built unmerged with
  every row (``keep_all_rows``; a MILP's binaries fixed at the optimum). ``measured``
  says which prices were; the others (the time budget spent, no two steps agreeing, a
  re-solve failing) keep their dual.
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

from optimizer.instance import Instance
from optimizer.instance.columns import PARAMETERS, TABLES
from optimizer.model.build import build_model
from optimizer.model.families import ROW_BLOCKS
from optimizer.model.merge import merge_interchangeable
from optimizer.solve.highs import HighsSession
from optimizer.solve.limit_cells import Cells, LimitCell, collect_cells
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

MEASURED_CELLS = 400
"""Most limits whose price is measured by re-solves (those of largest dual gain first)."""

FIRST_STEP = 1e-3
"""The first step of a price's measurement, as a fraction of the limit's value."""

STEP_HALVINGS = 8
"""Most halvings of the step while two steps' slopes differ."""

SAME_SLOPE = 1e-6
"""Relative difference below which two steps' slopes are the same linear piece."""

PRICING_TOLERANCE = 1e-10
"""HiGHS's primal and dual feasibility tolerances in the pricing re-solves: with its
default 1e-7 the optimum of one LP varies from run to run by about 1e-6 of itself, more
than a small step's gain."""

NOISE = 1e-12
"""Relative round-off of an optimum re-solved with ``PRICING_TOLERANCE``."""

ZERO = 1e-9
"""Relative size below which a slack or a price is round-off (see ``_table``)."""

_SINGULAR = {"stakes": "stake", "services": "service", "holders": "holder",
             "groups": "group"}


def binding_limits(session: HighsSession, basis: str = LP_BASIS,
                   options: SolveOptions | None = None,
                   deadline: float | None = None,
                   duals: dict[str, dict[object, float]] | None = None) -> pd.DataFrame:
    """The binding table of the solution ``session`` holds (columns ``COLUMNS``).

    One row per limit of the instance the model carries, sorted by the gain of relaxing
    it, largest first. Empty when HiGHS holds no valid duals. ``basis`` names the LP the
    duals are of (``lp``, or ``lp with binaries fixed`` for a MILP). The prices'
    re-solves run in ``session`` (its solution is then theirs) and in a second session
    made with ``options``. Measuring stops at ``deadline`` (a ``time.monotonic()``
    instant): the limits not measured by then keep their duals. ``duals``: the session's
    row duals when already read (``HighsSession.row_duals``).
    """
    if session.empty or session.is_mip or not session.highs.getSolution().dual_valid:
        return pd.DataFrame(columns=list(COLUMNS))
    options = options or SolveOptions()
    clock = _Deadline(deadline)
    cells = collect_cells(session, duals)
    priced = sorted((cell for cell in cells.values()
                     if cell.price != 0.0 and cell.column not in COUNT_COLUMNS),
                    key=lambda cell: -abs(cell.price * cell.value))[:MEASURED_CELLS]
    merged = session.built.merge is not None
    here = [cell for cell in priced if not cell.pairs and not (merged and cell.row_keys)]
    if here and clock.left() != 0.0:
        _measure_in(session, here, cells, clock)
    measured_here = {id(cell) for cell in here}
    rest = [cell for cell in priced if id(cell) not in measured_here]
    if rest and clock.affords(session.built.build_seconds * (2.0 if merged else 1.0)):
        _measure_in(_full_session(session, options), rest, cells, clock)
    if session.form.integrality.any():
        _measure_counts(session, cells, options, clock)
    return _table(cells, basis, abs(session.objective()))


class _Deadline:
    """The time left for measuring, in seconds (None: no limit; 0: spent)."""

    def __init__(self, at: float | None) -> None:
        self.at = at

    def left(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def affords(self, seconds: float) -> bool:
        left = self.left()
        return left is None or left > seconds


def _full_session(session: HighsSession, options: SolveOptions) -> HighsSession:
    """The instance built unmerged with every row, its binaries fixed as ``session``'s."""
    built = session.built
    full = HighsSession(build_model(built.instance, built.scenarios, built.pool_error,
                                    keep_all_rows=True), options)
    if session.form.integrality.any():
        full.fix_binaries_as(session)
    return full


def _measure_in(session: HighsSession, chosen: list[LimitCell], cells: Cells,
                clock: _Deadline) -> None:
    """Measure the price and 1% gain of ``chosen`` limits by re-solves in ``session``.

    The base is the session's own optimum, re-solved with the pricing tolerances.
    """
    session.set_option("primal_feasibility_tolerance", PRICING_TOLERANCE)
    session.set_option("dual_feasibility_tolerance", PRICING_TOLERANCE)
    if session.run(clock.left()) != "optimal":
        return
    base = session.objective()
    rows = {span.name: dict(zip(span.keys, range(span.start, span.stop), strict=True))
            for span in session.form.blocks}
    for cell in chosen:
        if clock.left() == 0.0:
            return
        moves = _moves(session, cell, cells, rows)
        if moves is not None:
            _measure_cell(session, cell, base, moves, clock)


def _moves(session: HighsSession, cell: LimitCell, cells: Cells,
           rows: dict[str, dict[object, int]]
           ) -> tuple[list[tuple[int, str, float]], list[tuple[int, str, float]]] | None:
    """The row and column bounds ``cell`` moves in ``session``, per unit of its value.

    None when the session lacks one of its rows (the cell cannot be measured there).
    """
    form = session.form
    row_moves, column_moves = [], []
    for name, key, slope in cell.row_keys:
        row = rows.get(name, {}).get(key)
        if row is None:
            return None
        side = "upper" if np.isfinite(form.row_upper[row]) else "lower"
        row_moves.append((row, side, slope * session.row_unit(name)))
    repeats = [block for block in ROW_BLOCKS.values() if block.repeats_pair_bound]
    for pair, rate in cell.pairs:
        column_moves.append((int(form.pair_column[pair]), cell.pair_side, rate))
        if cell.pair_side != "upper":
            continue
        for block in repeats:  # opted in, x <= ub y moves with the bound ub
            row = rows.get(block.name, {}).get(pair)
            on = 1.0 if block.slope is None else block.slope(cells.instance, pair,
                                                             cells.allocated)
            if row is not None and on:
                row_moves.append((row, "upper", rate * on))
    if cell.totals:
        model = session.built.model
        position = {int(s): j for j, s in enumerate(model.security.keys())}
        columns = form.component_columns["security"]
        for s, side, rate in cell.totals:
            column_moves.append((int(columns[position[s]]), side,
                                 rate / session.built.scale))
    return row_moves, column_moves


def _measure_cell(session: HighsSession, cell: LimitCell, base: float,
                  moves: tuple[list[tuple[int, str, float]], list[tuple[int, str, float]]],
                  clock: _Deadline) -> None:
    """Measure one limit's price and 1% gain by re-solves in ``session``.

    A slope that no two steps agree on, or that says relaxing the limit lowers the
    optimum, is not taken: the limit keeps its dual.
    """
    row_moves, column_moves = moves

    def optimum(change: float) -> float | None:
        return session.objective_with_bounds_moved(
            [(row, side, rate * change) for row, side, rate in row_moves],
            [(col, side, rate * change) for col, side, rate in column_moves],
            clock.left())

    step = FIRST_STEP * (abs(cell.value) or 1.0)
    slope = _slope(optimum, base, step * cell.direction)
    if slope is None or slope * cell.direction < -SAME_SLOPE * abs(slope) - \
            2 * NOISE * max(abs(base), 1.0) / (step / 2**STEP_HALVINGS):
        return
    cell.price, cell.measured = slope, True
    relaxed = optimum(RELAXED_STEP * abs(cell.value) * cell.direction)
    cell.gain = None if relaxed is None else max(0.0, relaxed - base)


def _measure_counts(session: HighsSession, cells: Cells, options: SolveOptions,
                    clock: _Deadline) -> None:
    """Price each binding count of binaries (``max_services``) by the MILP with one more.

    With the binaries fixed such a limit holds no variable, so its LP price is 0 and
    says nothing; a fraction of a service earns nothing either. Its price and gain are
    what one more earns: the MILP of the instance with that count raised by 1, against
    the MILP as it is, both solved to a gap of 0 (``basis`` ``milp``).
    """
    built = session.built
    exact = replace(options, mip_rel_gap=0.0)
    counts = [cell for cell in cells.values()
              if cell.column in COUNT_COLUMNS and cell.slack <= 0.0]
    if not counts:
        return

    def optimum(instance: Instance) -> float | None:
        trial = HighsSession(build_model(instance, built.scenarios, built.pool_error,
                                         merge=merge_interchangeable(instance)), exact)
        return trial.objective() if trial.run(clock.left()) == "optimal" else None

    base = optimum(built.instance) if clock.left() != 0.0 else None
    for cell in counts:
        if base is None or clock.left() == 0.0:
            return
        frame = getattr(built.instance, cell.table).copy()
        frame.loc[cell.id, cell.column] = cell.value + 1
        more = optimum(built.instance.with_changes(keep_scenarios=True,
                                                   **{cell.table: frame}))
        if more is not None:
            cell.price = cell.gain = max(0.0, more - base)  # one more cannot earn less
            cell.measured, cell.basis = True, "milp"


def _slope(optimum: Callable[[float], float | None], base: float,
           step: float) -> float | None:
    """The optimum's slope on its first linear piece in the direction of ``step``.

    The step is halved until two consecutive steps give the same slope; None when a
    re-solve fails or no two steps agree.
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
        noise = 2 * NOISE * max(abs(base), 1.0) / abs(step)  # round-off of the optima
        if abs(finer - slope) <= SAME_SLOPE * max(abs(finer), abs(slope)) + noise:
            return finer
        slope = finer
    return None


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
        words = (cell.words if cell.words is not None
                 else f"parameter {cell.column}" if cell.table == "parameters"
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
