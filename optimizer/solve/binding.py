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

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.instance.columns import PARAMETERS, TABLES
from optimizer.model.build import build_model, pair_upper_bound
from optimizer.model.families import FAMILY_OF_ROWS, ROW_BLOCKS
from optimizer.model.family import Allocated, RowBlock
from optimizer.solve.highs import HighsSession
from optimizer.solve.options import SolveOptions

COLUMNS = ("limit", "family", "column", "id", "value", "unit", "slack", "shadow_price",
           "gain_of_1pct", "measured", "basis")
"""The columns of the binding table (``binding.csv``), in order."""

LP_BASIS = "lp"
FIXED_BASIS = "lp, binaries fixed"

RELAXED_STEP = 0.01
"""The relaxation ``gain_of_1pct`` prices: 1% of the limit's value."""

PAIR_BOUND_COLUMNS = ("max_per_service", "max_worst_case_loss")
"""Stake limits that bound each of the stake's pairs (``max_worst_case_loss`` when k = 1)."""

REBUILT_PAIRS = 20_000
"""Largest instance (eligible pairs) whose pair-bound limits are measured on rebuilt models."""

REBUILT_CELLS = 50
"""Most pair-bound limits measured on rebuilt models."""

MEASURED_CELLS = 200
"""Most limits whose price is measured by re-solves (those of largest dual gain first)."""

FIRST_STEP = 1e-3
"""The first step of a price's measurement, as a fraction of the limit's value."""

STEP_HALVINGS = 3
"""Most halvings of the step while two steps' slopes differ."""

SAME_SLOPE = 1e-6
"""Relative difference below which two steps' slopes are the same linear piece."""

ZERO = 1e-9
"""Relative size below which a slack or a price is round-off (see ``_table``)."""

MINIMA = ("min_security", "min_allocation", "profit_from_corruption")
"""Columns whose limit is a minimum (relaxing it lowers the value)."""

_SINGULAR = {"stakes": "stake", "services": "service", "holders": "holder",
             "groups": "group"}


@dataclass
class _Cell:
    """One limit of the instance, with its rows' contributions added up."""

    family: str
    table: str
    column: str
    id: str
    value: float
    price: float = 0.0
    slack: float = np.inf
    rows: int = 0
    gain: float | None = None
    measured: bool = False
    measurable: bool = True
    row_moves: list[tuple[int, str, float]] = field(default_factory=list)
    """(row, side, model units the bound moves per unit of the limit)."""
    column_moves: list[tuple[int, str, float]] = field(default_factory=list)
    """(column, side, model units the bound moves per unit of the limit)."""

    @property
    def direction(self) -> float:
        """+1 for a maximum (relaxed upward), -1 for a minimum."""
        return -1.0 if self.column in MINIMA else 1.0

    def add(self, price: float, slack: float) -> None:
        self.price += price
        self.slack = min(self.slack, slack)
        self.rows += 1


def allocated_of(instance: Instance, x: np.ndarray) -> Allocated:
    """Where the allocation ``x`` (fractions of ``instance.pairs``) puts value."""
    pairs = instance.pairs
    stake_pos = pairs["stake_pos"].to_numpy()
    service_pos = pairs["service_pos"].to_numpy()
    value = instance.stake_value.to_numpy()[stake_pos] * np.asarray(x)
    holder = instance.holders.index.get_indexer(pairs["holder"]).astype(np.int64)
    security = np.bincount(service_pos, weights=value, minlength=len(instance.services))
    used = value > 0
    holder_service: dict[tuple[int, int], float] = {}
    for h, s, v in zip(holder[used].tolist(), service_pos[used].tolist(),
                       value[used].tolist(), strict=True):
        holder_service[(h, s)] = holder_service.get((h, s), 0.0) + v
    return Allocated(security, holder_service, holder)


def binding_limits(session: HighsSession, basis: str = LP_BASIS,
                   time_limit: float | None = None,
                   options: SolveOptions | None = None) -> pd.DataFrame:
    """The binding table of the solution ``session`` holds (columns ``COLUMNS``).

    One row per limit of the instance the model carries, sorted by the gain of relaxing
    it, largest first. Empty when HiGHS holds no valid duals. ``basis`` names the LP the
    duals are of (``lp``, or ``lp, binaries fixed`` for a MILP). The prices' re-solves
    run in ``session`` (its solution is then theirs) within ``time_limit`` seconds each;
    ``options`` are those of the rebuilt models (see ``_measure_rebuilt``).
    """
    if session.empty or session.is_mip or not session.highs.getSolution().dual_valid:
        return pd.DataFrame(columns=list(COLUMNS))
    base = session.objective()
    duals = session.row_duals()
    instance = session.built.instance
    x = session.fractions()
    allocated = allocated_of(instance, x)
    cells: dict[tuple[str, str], _Cell] = {}
    _add_pair_bounds(cells, session, instance, x)
    _add_security_bounds(cells, session, instance, allocated)
    slacks = session.row_slacks()
    spans = {span.name: span for span in session.form.blocks}
    for name, rows in duals.items():
        block = ROW_BLOCKS[name]
        if block.limit is None or "." not in block.limit:
            continue  # a definition, or the frontier's own limit
        family = FAMILY_OF_ROWS[name].name
        for key, dual in rows.items():
            slope = 1.0 if block.slope is None else block.slope(instance, key, allocated)
            if slope == 0.0:
                continue
            table, column, row_id = _cell_of(block, instance, key)
            if column == "min_security":
                column, factor = _minimum_source(instance, int(key))
                slope *= factor
            cell = _cell(cells, family, table, column, row_id, instance)
            cell.add(dual * slope, slacks[name][key] / slope)
            if session.built.merge is not None and block.merged_by is not None:
                cell.measurable = False  # member rows are merged rows: not one stake's
            else:
                span = spans[name]
                row = span.row(key)
                side = "upper" if np.isfinite(session.form.row_upper[row]) else "lower"
                cell.row_moves.append((row, side, slope * session.row_unit(name)))
    _measure(session, cells, base, time_limit)
    if session.built.merge is None:
        _measure_rebuilt(session, cells, base, options or SolveOptions(), time_limit)
    return _table(cells, basis, abs(base))


def _cell_of(block: RowBlock, instance: Instance, key: object) -> tuple[str, str, str]:
    """The table, column and row id of the instance cell that sets row ``key``'s limit."""
    assert block.limit is not None
    table, column = block.limit.split(".")
    if table == "parameters":
        return table, column, ""
    parts = key if isinstance(key, tuple) else (key,)
    if block.stands_for == "pair":
        pairs = instance.pairs
        position = int(pairs["stake_pos" if table == "stakes" else "service_pos"].iloc[
            int(parts[0])])
    elif block.stands_for in ("holder-service", "stake-group") and table != "stakes" \
            and table != "holders":
        position = parts[1]  # type: ignore[assignment]
    else:
        position = int(parts[0])  # type: ignore[call-overload]
    frame = getattr(instance, table)
    if table == "groups":
        return table, column, str(position)
    return table, column, str(frame.index[int(position)])  # type: ignore[call-overload]


def _minimum_source(instance: Instance, s: int) -> tuple[str, float]:
    """What sets service s's effective minimum security, and its slope per unit of it.

    M_s^eff = max(M_s, (1 + gamma) pi_s / (alpha_s f_s) - E_s): where the second term is
    the larger, the limit is ``profit_from_corruption``, and M_s^eff moves by
    (1 + gamma) / (alpha_s f_s) per unit of pi_s.
    """
    services = instance.services
    effective = float(instance.effective_min_security.iloc[s])
    minimum = services["min_security"].iloc[s]
    if not np.isnan(minimum) and effective <= float(minimum) * (1 + 1e-12):
        return "min_security", 1.0
    margin = 1.0 + instance.parameters.security_margin
    return "profit_from_corruption", margin / float(
        services["attack_threshold"].iloc[s] * services["slash_fraction"].iloc[s])


def _cell(cells: dict[tuple[str, str], _Cell], family: str, table: str, column: str,
          row_id: str, instance: Instance) -> _Cell:
    """The cell (table.column, row id), made on first use with its value."""
    key = (f"{table}.{column}", row_id)
    if key not in cells:
        if table == "parameters":
            value = float(getattr(instance.parameters, column))
        else:
            value = float(getattr(instance, table)[column].loc[row_id])
        cells[key] = _Cell(family, table, column, row_id, value)
    return cells[key]


def _add_pair_bounds(cells: dict[tuple[str, str], _Cell], session: HighsSession,
                     instance: Instance, x: np.ndarray) -> None:
    """The bounds of x_{i,s}: m_i (``max_per_service``), and c_i / f_s when k = 1.

    A pair's reduced cost at its bound is the price of the limit that sets the bound
    (m_i where m_i <= c_i / f_s); c_i moves the bound c_i / f_s by 1 / f_s. A stake's
    cell adds up its pairs'. ``max_per_service`` is listed where it is below the stake's
    ``max_restaking`` (at or above it, it is implied and cannot bind alone).
    """
    built = session.built
    stakes, pairs = instance.stakes, instance.pairs
    stake_pos = pairs["stake_pos"].to_numpy()
    # A pair at its upper bound has a reduced cost >= 0 (one at 0, <= 0: no limit's).
    reduced = np.maximum(session.reduced_costs("x_alloc"), 0.0)
    if built.merge is not None:  # a member's reduced cost is its share of the merged one
        reduced = reduced[built.merge.pair_origin] * built.merge.value_share[stake_pos]
    per_service = stakes["max_per_service"].to_numpy()[stake_pos].astype(float)
    upper = pair_upper_bound(instance)
    slash = instance.services["slash_fraction"].to_numpy()[pairs["service_pos"].to_numpy()]
    # x_{i,s} <= m_i is implied by sum_s x_{i,s} <= L_i where m_i >= L_i: relaxing m_i
    # alone then earns nothing, and the bound's reduced cost is no price of m_i's.
    restaking = stakes["max_restaking"].to_numpy()[stake_pos].astype(float)
    by_worst_case = upper < per_service
    by_per_service = ~by_worst_case & (per_service < restaking)
    columns = session.form.pair_column
    with np.errstate(divide="ignore", invalid="ignore"):
        for family, column, chosen, price, slack in (
                ("worst_case_budget", "max_worst_case_loss", by_worst_case,
                 reduced / slash, (upper - x) * slash),
                ("allocation", "max_per_service", by_per_service, reduced, upper - x)):
            count = len(stakes)
            owners = stake_pos[chosen]
            total = np.bincount(owners, weights=price[chosen], minlength=count)
            least = np.full(count, np.inf)
            np.minimum.at(least, owners, slack[chosen])
            rows = np.bincount(owners, minlength=count)
            for i in np.flatnonzero(rows):
                cell = _cell(cells, family, "stakes", column, str(stakes.index[i]), instance)
                cell.price += float(total[i])
                cell.slack = min(cell.slack, float(least[i]))
                cell.rows += int(rows[i])
                # Raising a pair's bound may make a stake row bind that the build left out
                # (it could not bind): unless the stake has all its rows, such a limit is
                # measured on rebuilt models.
                if built.merge is not None or not _has_all_rows(session, instance, int(i)):
                    cell.measurable = False
                    continue
                for p in np.flatnonzero(chosen & (stake_pos == i)):
                    move = 1.0 / slash[p] if column == "max_worst_case_loss" else 1.0
                    cell.column_moves.append((int(columns[p]), "upper", float(move)))


def _has_all_rows(session: HighsSession, instance: Instance, stake: int) -> bool:
    """Whether the model has every row a stake's pair bounds could make bind.

    Its ``max_restaking`` row, its ``max_expected_loss`` row when that is set, and none of
    its services in a limited group or under a holder share cap (whose rows are by stake
    and group, or holder and service, and left out where they cannot bind).
    """
    model = session.built.model
    if stake not in model.restaking_degree:
        return False
    if not np.isnan(instance.stakes["max_expected_loss"].iloc[stake]) \
            and stake not in model.expected_loss_budget:
        return False
    pairs = instance.pairs
    services = instance.services.iloc[pairs.loc[pairs["stake_pos"] == stake, "service_pos"]]
    limited = set(instance.groups.index[instance.groups["max_exposure"].notna()])
    return bool((services["max_holder_share"] >= 1.0).all()
                and not any(set(groups) & limited for groups in services["groups"]))


def _add_security_bounds(cells: dict[tuple[str, str], _Cell], session: HighsSession,
                         instance: Instance, allocated: Allocated) -> None:
    """The bounds of X_s: its capacity C_s above, a required minimum below."""
    model = session.built.model
    if not hasattr(model, "security") or not len(model.security):
        return
    reduced = session.reduced_costs("security") / session.built.scale
    services = instance.services
    capacity = services["capacity"].to_numpy()
    required = services["required"].to_numpy()
    minimum = instance.effective_min_security.to_numpy()
    columns = session.form.component_columns["security"]
    per_numeraire = 1.0 / session.built.scale
    for s, price, col in zip(model.security.keys(), reduced.tolist(), columns.tolist(),
                             strict=True):
        s = int(s)
        service_id = str(services.index[s])
        if not np.isnan(capacity[s]):
            cell = _cell(cells, "service_security", "services", "capacity", service_id,
                         instance)
            cell.add(max(price, 0.0), capacity[s] - allocated.security[s])
            cell.column_moves.append((col, "upper", per_numeraire))
        if required[s] and minimum[s] > 0:
            column, factor = _minimum_source(instance, s)
            cell = _cell(cells, "service_security", "services", column, service_id,
                         instance)
            cell.add(min(price, 0.0) * factor, (allocated.security[s] - minimum[s]) / factor)
            cell.column_moves.append((col, "lower", factor * per_numeraire))


def _measure(session: HighsSession, cells: dict[tuple[str, str], _Cell], base: float,
             time_limit: float | None) -> None:
    """Measure the price and 1% gain of the priced limits by warm re-solves.

    The ``MEASURED_CELLS`` limits of largest dual gain are measured (see the module
    docstring); a re-solve that does not end optimal leaves the limit's dual.
    """
    priced = [cell for cell in cells.values()
              if cell.price != 0.0 and cell.measurable and (cell.row_moves or cell.column_moves)]
    priced.sort(key=lambda cell: -abs(cell.price * cell.value))
    for cell in priced[:MEASURED_CELLS]:
        def optimum(change: float, cell: _Cell = cell) -> float | None:
            return session.objective_with_bounds_moved(
                [(row, side, rate * change) for row, side, rate in cell.row_moves],
                [(col, side, rate * change) for col, side, rate in cell.column_moves],
                time_limit)

        step = FIRST_STEP * (abs(cell.value) or 1.0) * cell.direction
        slope = _slope(optimum, base, step)
        if slope is None:
            continue
        cell.price, cell.measured = slope, True
        relaxed = optimum(RELAXED_STEP * abs(cell.value) * cell.direction)
        cell.gain = None if relaxed is None else relaxed - base


def _measure_rebuilt(session: HighsSession, cells: dict[tuple[str, str], _Cell],
                     base: float, options: SolveOptions, time_limit: float | None) -> None:
    """Measure the priced pair-bound limits on models rebuilt with the limit moved.

    A stake's ``max_per_service`` (or, with k = 1, ``max_worst_case_loss``) bounds its
    pairs; raising it may make a row of the stake that the first build left out (it
    could not bind) bind, which the session does not have. Each step is a new model of
    the instance with that one cell moved, solved in its own session. Only for
    instances of at most ``REBUILT_PAIRS`` pairs, and ``REBUILT_CELLS`` limits (largest
    dual gain first); the others keep their dual. For a MILP the rebuilt model is the
    MILP itself (its binaries free to follow the limit).
    """
    built = session.built
    if len(built.instance.pairs) > REBUILT_PAIRS:
        return
    exact = replace(options, mip_rel_gap=0.0)  # a MILP's optimum, not one within a gap
    chosen = [cell for cell in cells.values() if cell.price != 0.0 and not cell.measurable
              and cell.table == "stakes" and cell.column in PAIR_BOUND_COLUMNS]
    chosen.sort(key=lambda cell: -abs(cell.price * cell.value))
    for cell in chosen[:REBUILT_CELLS]:
        def optimum(change: float, cell: _Cell = cell) -> float | None:
            frame = built.instance.stakes.copy()
            frame.loc[cell.id, cell.column] = cell.value + change
            instance = built.instance.with_changes(keep_scenarios=True, stakes=frame)
            rebuilt = HighsSession(build_model(instance, built.scenarios, built.pool_error),
                                   exact)
            solved = rebuilt.run(time_limit) == "optimal"
            return rebuilt.objective() if solved else None

        slope = _slope(optimum, base, FIRST_STEP * abs(cell.value) * cell.direction)
        if slope is None:
            continue
        cell.price, cell.measured = slope, True
        relaxed = optimum(RELAXED_STEP * abs(cell.value) * cell.direction)
        cell.gain = None if relaxed is None else relaxed - base


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


def _table(cells: dict[tuple[str, str], _Cell], basis: str, objective: float) -> pd.DataFrame:
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
                        max(cell.slack, 0.0), cell.price, gain, cell.measured, basis))
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    if table.empty:
        return table
    return table.sort_values(["gain_of_1pct", "slack"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def _unit(cell: _Cell) -> str:
    """The unit of the cell's column, from the data dictionary."""
    if cell.table == "parameters":
        return next(c.unit for c in PARAMETERS if c.name == cell.column)
    return TABLES[cell.table].column(cell.column).unit
