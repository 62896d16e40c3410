"""The limits of an instance that a solved model carries, gathered from its rows and bounds.

One ``LimitCell`` per instance cell that sets a limit (``stakes.max_expected_loss`` of
stake ``lrt-a``...): the duals of its rows and the reduced costs of the bounds it sets,
each times how far it moves that row or bound (``RowBlock.slope``), added up into its
price; its least slack; and what it moves, in the instance's terms (rows by block and
key, pairs, service totals), so that ``optimizer.solve.binding`` can move them in a
session and measure the price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import pair_bounds, rule_id, rule_words
from optimizer.model.build import pair_upper_bound
from optimizer.model.families import FAMILY_OF_ROWS, ROW_BLOCKS
from optimizer.model.family import Allocated, RowBlock
from optimizer.solve.highs import HighsSession

MINIMA = ("min_security", "min_allocation", "profit_from_corruption", "min_fraction")
"""Columns whose limit is a minimum (relaxing it lowers the value)."""


@dataclass
class LimitCell:
    """One limit of the instance (a cell of a table, or a parameter), its rows added up.

    Attributes
    ----------
    family, table, column, id, value
        The family of its first row, the table (``stakes``... or ``parameters``), the
        column, the row id ("" for a parameter) and the limit's value (column's unit).
    price : float
        Numeraire per year per unit of the column (the duals' sum until measured).
    slack : float
        Its least slack over its rows and bounds, in the column's unit.
    rows : int
        How many rows and bounds it sets.
    gain : float or None
        The re-solved gain of relaxing it by 1% (numeraire per year), once measured.
    measured : bool
        Whether its price was measured by re-solves.
    basis : str or None
        What its price is of, where not the table's (``milp`` for a count of binaries).
    row_keys : list
        (block, key, slope): its rows, keyed as in the original instance, and how far
        each row's bound moves (row unit) per unit of the limit.
    pairs : list
        (pair, rate): the pairs whose bound it sets, and how far the bound moves
        (fraction of stake) per unit of the limit.
    pair_side : str
        Which bound of its pairs it sets: ``upper``, or ``lower`` (``min_fraction``).
    words : str or None
        The limit in the instance's words where its table has no row ids (an eligibility
        row's bound: ``max_fraction of stake a for service s1``).
    totals : list
        (service position, side, rate): the bounds of X_s it sets, and how far they move
        (numeraire) per unit of the limit.
    """

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
    basis: str | None = None
    row_keys: list[tuple[str, object, float]] = field(default_factory=list)
    pairs: list[tuple[int, float]] = field(default_factory=list)
    totals: list[tuple[int, str, float]] = field(default_factory=list)
    pair_side: str = "upper"
    words: str | None = None

    @property
    def direction(self) -> float:
        """+1 for a maximum (relaxed upward), -1 for a minimum."""
        return -1.0 if self.column in MINIMA else 1.0

    def add(self, price: float, slack: float, rows: int = 1) -> None:
        """Add the price and slack of ``rows`` rows or bounds."""
        self.price += price
        self.slack = min(self.slack, slack)
        self.rows += rows


def allocated_of(instance: Instance, x: np.ndarray) -> Allocated:
    """Where the allocation ``x`` (fractions of ``instance.pairs``) puts value."""
    pairs = instance.pairs
    stake_pos = pairs["stake_pos"].to_numpy()
    service_pos = pairs["service_pos"].to_numpy()
    value = instance.stake_value.to_numpy()[stake_pos] * np.asarray(x)
    holder = instance.holders.index.get_indexer(pairs["holder"]).astype(np.int64)
    security = np.bincount(service_pos, weights=value, minlength=len(instance.services))
    used = value > 0
    count = len(instance.services)
    cell, at = np.unique(holder[used] * count + service_pos[used], return_inverse=True)
    totals = np.bincount(at, weights=value[used], minlength=len(cell))
    holder_service = {(int(c // count), int(c % count)): float(v)
                      for c, v in zip(cell.tolist(), totals.tolist(), strict=True)}
    return Allocated(security, holder_service, holder)


class Cells(dict[tuple[str, str], LimitCell]):
    """The limits found, by (``table.column``, row id), with the solution they are read at.

    Ids and values are read from the instance's tables once, as arrays and dicts: a
    model has a row per stake, and pandas' row lookups would cost more than the solve.
    """

    def __init__(self, instance: Instance, allocated: Allocated) -> None:
        super().__init__()
        self.instance = instance
        self.allocated = allocated
        self.pair_stake = instance.pairs["stake_pos"].to_numpy()
        self.pair_service = instance.pairs["service_pos"].to_numpy()
        self._ids: dict[str, np.ndarray] = {}
        self._values: dict[tuple[str, str], dict[str, float]] = {}

    def id_of(self, table: str, position: int) -> str:
        """The id of row ``position`` of ``table`` (``stakes``, ``services``, ``holders``)."""
        if table not in self._ids:
            self._ids[table] = getattr(self.instance, table).index.astype(str).to_numpy()
        return str(self._ids[table][position])

    def cell(self, family: str, table: str, column: str, row_id: str,
             value: float | None = None) -> LimitCell:
        """The cell (table.column, row id), made on first use with its value.

        ``value``: the cell's value where the table has no row ids (``eligibility``).
        """
        key = (f"{table}.{column}", row_id)
        if key not in self:
            if value is None and table == "parameters":
                value = float(getattr(self.instance.parameters, column))
            elif value is None:
                if (table, column) not in self._values:
                    frame = getattr(self.instance, table)
                    self._values[(table, column)] = dict(zip(
                        frame.index.astype(str), frame[column].to_numpy(dtype=float),
                        strict=True))
                value = self._values[(table, column)][row_id]
            self[key] = LimitCell(family, table, column, row_id, value)
        return self[key]


def collect_cells(session: HighsSession,
                  duals: dict[str, dict[object, float]] | None = None) -> Cells:
    """Every limit the model in ``session`` carries, by (``table.column``, row id).

    Reads the session's solution, row slacks and reduced costs, and its row duals unless
    given (``HighsSession.row_duals``; in the original instance's keys when stakes were
    merged).
    """
    instance = session.built.instance
    x = session.fractions()
    cells = Cells(instance, allocated_of(instance, x))
    duals = session.row_duals() if duals is None else duals
    _add_pair_bounds(cells, session, x, duals)
    _add_security_bounds(cells, session)
    slacks = session.row_slacks()
    for name, rows in duals.items():
        block = ROW_BLOCKS[name]
        if block.limit is None or "." not in block.limit:
            continue  # a definition, the frontier's own limit, or a pair bound repeated
        family = FAMILY_OF_ROWS[name].name
        for key, dual in rows.items():
            slope = 1.0 if block.slope is None else block.slope(instance, key,
                                                                cells.allocated)
            if slope == 0.0:
                continue
            table, column, row_id = _cell_of(block, cells, key)
            if column == "min_security":
                column, factor = _minimum_source(instance, int(key))  # type: ignore[call-overload]
                slope *= factor
            cell = cells.cell(family, table, column, row_id)
            cell.add(dual * slope, slacks[name][key] / slope)
            cell.row_keys.append((name, key, slope))
    return cells


def _cell_of(block: RowBlock, cells: Cells, key: object) -> tuple[str, str, str]:
    """The table, column and row id of the instance cell that sets row ``key``'s limit."""
    assert block.limit is not None
    table, column = block.limit.split(".")
    if table == "parameters":
        return table, column, ""
    parts = key if isinstance(key, tuple) else (key,)
    if block.stands_for == "pair":
        pair = int(parts[0])  # type: ignore[call-overload]
        position = cells.pair_stake[pair] if table == "stakes" else cells.pair_service[pair]
    elif table == "groups":
        return table, column, str(parts[1])  # a stake-group row: (stake, group name)
    elif block.stands_for == "holder-service" and table == "services":
        position = parts[1]
    else:
        position = parts[0]
    return table, column, cells.id_of(table, int(position))  # type: ignore[call-overload]


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


def _add_pair_bounds(cells: Cells, session: HighsSession, x: np.ndarray,
                     duals: dict[str, dict[object, float]]) -> None:
    """The bounds of x_{i,s}: m_i, ``max_fraction``, c_i / f_s (k = 1); ``min_fraction``.

    A pair's price is its reduced cost at its bound, plus, at its upper bound, the duals of
    the rows that repeat that bound (``RowBlock.repeats_pair_bound``: opted in, x <= ub y
    is x <= ub): the price of the limit that sets the bound. The upper bound is set by
    the pair's ``max_fraction`` where it is the least of the three, else by m_i where
    m_i <= c_i / f_s, else by c_i, which moves the bound c_i / f_s by 1 / f_s; a stake's
    cell adds up its pairs', an eligibility row's cell the pairs it bounds (a holder
    row's: each of its stakes' that no stake row overrides). ``max_per_service`` and
    ``max_fraction`` are listed where below the stake's ``max_restaking`` (at or above it,
    the bound is implied by the restaking degree and cannot bind alone). The lower bound,
    a ``min_fraction``, is priced by a negative reduced cost (lowering it earns).
    """
    built, instance = session.built, cells.instance
    stakes, stake_pos = instance.stakes, cells.pair_stake
    # At its upper bound a pair's reduced cost is >= 0, at its lower bound <= 0.
    reduced_all = session.reduced_costs("x_alloc")
    if built.merge is not None:  # a member's reduced cost is its share of the merged one
        reduced_all = reduced_all[built.merge.pair_origin] * built.merge.value_share[stake_pos]
    reduced = np.maximum(reduced_all, 0.0)
    for name, table in duals.items():
        block = ROW_BLOCKS[name]
        if block.repeats_pair_bound and table:
            keys = np.fromiter(table.keys(), dtype=np.int64, count=len(table))
            values = np.fromiter(table.values(), dtype=float, count=len(table))
            on = np.array([block.slope(instance, int(p), cells.allocated) if block.slope
                           else 1.0 for p in keys.tolist()])
            np.add.at(reduced, keys, np.maximum(values, 0.0) * on)
    bounds = pair_bounds(instance)
    per_service = stakes["max_per_service"].to_numpy()[stake_pos].astype(float)
    restaking = stakes["max_restaking"].to_numpy()[stake_pos].astype(float)
    upper = pair_upper_bound(instance, bounds)
    cap = np.where(np.isnan(bounds.upper), np.inf, bounds.upper)
    slash = instance.services["slash_fraction"].to_numpy()[cells.pair_service]
    by_fraction = (cap <= upper) & (cap < restaking)
    by_worst_case = (cap > upper) & (upper < per_service)
    by_per_service = (cap > upper) & ~by_worst_case & (per_service < restaking)
    rate = np.divide(1.0, slash, out=np.zeros(len(slash)), where=slash >= np.finfo(float).tiny)
    for family, column, chosen, price, slack, move in (
            ("worst_case_budget", "max_worst_case_loss", by_worst_case, reduced * rate,
             (upper - x) * slash, rate),
            ("allocation", "max_per_service", by_per_service, reduced, upper - x,
             np.ones(len(x)))):
        count = len(stakes)
        owners = stake_pos[chosen]
        total = np.bincount(owners, weights=price[chosen], minlength=count)
        least = np.full(count, np.inf)
        np.minimum.at(least, owners, slack[chosen])
        rows = np.bincount(owners, minlength=count)
        order = np.flatnonzero(chosen)[np.argsort(owners, kind="stable")]
        members = np.split(order, np.cumsum(rows)[:-1])
        for i in np.flatnonzero(rows):
            cell = cells.cell(family, "stakes", column, cells.id_of("stakes", int(i)))
            cell.add(float(total[i]), float(least[i]), int(rows[i]))
            chosen_pairs = members[i]
            cell.pairs += zip(chosen_pairs.tolist(), move[chosen_pairs].tolist(), strict=True)
    _add_eligibility_bounds(cells, (
        ("max_fraction", by_fraction, bounds.upper_row, reduced, upper - x, "upper"),
        ("min_fraction", bounds.lower > 0, bounds.lower_row, np.minimum(reduced_all, 0.0),
         x - bounds.lower, "lower")))


def _add_eligibility_bounds(cells: Cells, sides: tuple[
        tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str], ...]) -> None:
    """One cell per eligibility row's bound: the pairs it sets, their prices and slacks.

    ``sides``: (column, pairs it sets, the row of each pair's bound, price per pair, slack
    per pair, the side of the pairs' bound it moves).
    """
    instance = cells.instance
    for column, chosen, owner_row, price, slack, side in sides:
        for pair in np.flatnonzero(chosen).tolist():
            row = int(owner_row[pair])
            value = float(instance.eligibility[column].iloc[row])
            cell = cells.cell("allocation", "eligibility", column,
                              rule_id(instance.eligibility, row), value=value)
            cell.words = f"{column} of {rule_words(instance.eligibility, row)}"
            cell.pair_side = side
            cell.add(float(price[pair]), float(slack[pair]))
            cell.pairs.append((pair, 1.0))


def _add_security_bounds(cells: Cells, session: HighsSession) -> None:
    """The bounds of X_s: its capacity C_s above, a required minimum below."""
    model, instance = session.built.model, cells.instance
    if not hasattr(model, "security") or not len(model.security):
        return
    reduced = session.reduced_costs("security") / session.built.scale
    security = cells.allocated.security
    services = instance.services
    capacity = services["capacity"].to_numpy()
    required = services["required"].to_numpy()
    minimum = instance.effective_min_security.to_numpy()
    for s, price in zip(model.security.keys(), reduced.tolist(), strict=True):
        s = int(s)
        service_id = cells.id_of("services", s)
        if not np.isnan(capacity[s]):
            cell = cells.cell("service_security", "services", "capacity", service_id)
            cell.add(max(price, 0.0), capacity[s] - security[s])
            cell.totals.append((s, "upper", 1.0))
        if required[s] and minimum[s] > 0:
            column, factor = _minimum_source(instance, s)
            cell = cells.cell("service_security", "services", column, service_id)
            cell.add(min(price, 0.0) * factor, (security[s] - minimum[s]) / factor)
            cell.totals.append((s, "lower", factor))
