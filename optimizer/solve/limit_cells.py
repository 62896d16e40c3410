"""The limits of an instance that a solved model carries, gathered from its rows and bounds.

One ``LimitCell`` per instance cell that sets a limit (``stakes.max_expected_loss`` of
stake ``lrt-a``...): the duals of its rows and the reduced costs of the bounds it sets,
each times how far it moves that row or bound (``RowBlock.slope``), added up into its
price; its least slack; and the moves of its rows' and bounds' limits per unit of it, for
re-solves (``optimizer.solve.binding`` measures and tabulates them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.instance import Instance
from optimizer.model.build import pair_upper_bound
from optimizer.model.families import FAMILY_OF_ROWS, ROW_BLOCKS
from optimizer.model.family import Allocated, RowBlock
from optimizer.solve.highs import HighsSession

MINIMA = ("min_security", "min_allocation", "profit_from_corruption")
"""Columns whose limit is a minimum (relaxing it lowers the value)."""

PAIR_BOUND_COLUMNS = ("max_per_service", "max_worst_case_loss")
"""Stake limits that bound each of the stake's pairs (``max_worst_case_loss`` when k = 1)."""


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
    measured, measurable : bool
        Whether its price was measured by re-solves, and whether the first session can.
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
    measurable: bool = True
    basis: str | None = None
    """What its price is of, where not the table's (``milp`` for a count of binaries)."""
    row_moves: list[tuple[int, str, float]] = field(default_factory=list)
    """(row, side, model units the bound moves per unit of the limit)."""
    column_moves: list[tuple[int, str, float]] = field(default_factory=list)
    """(column, side, model units the bound moves per unit of the limit)."""

    @property
    def direction(self) -> float:
        """+1 for a maximum (relaxed upward), -1 for a minimum."""
        return -1.0 if self.column in MINIMA else 1.0

    def add(self, price: float, slack: float) -> None:
        """Add one row's or bound's price and slack."""
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


class Cells(dict[tuple[str, str], LimitCell]):
    """The limits found so far, by (``table.column``, row id), and the instance's ids.

    Ids and values are read from the instance's tables once, as arrays and dicts: a
    model has a row per stake, and pandas' row lookups would cost more than the solve.
    """

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        self.instance = instance
        self.pair_stake = instance.pairs["stake_pos"].to_numpy()
        self.pair_service = instance.pairs["service_pos"].to_numpy()
        self.allocated: Allocated | None = None
        self._ids: dict[str, np.ndarray] = {}
        self._values: dict[tuple[str, str], dict[str, float]] = {}

    def id_of(self, table: str, position: int) -> str:
        """The id of row ``position`` of ``table`` (``stakes``, ``services``, ``holders``)."""
        if table not in self._ids:
            self._ids[table] = getattr(self.instance, table).index.astype(str).to_numpy()
        return str(self._ids[table][position])

    def cell(self, family: str, table: str, column: str, row_id: str) -> LimitCell:
        """The cell (table.column, row id), made on first use with its value."""
        key = (f"{table}.{column}", row_id)
        if key not in self:
            if table == "parameters":
                value = float(getattr(self.instance.parameters, column))
            else:
                if (table, column) not in self._values:
                    frame = getattr(self.instance, table)
                    self._values[(table, column)] = dict(zip(
                        frame.index.astype(str), frame[column].to_numpy(dtype=float),
                        strict=True))
                value = self._values[(table, column)][row_id]
            self[key] = LimitCell(family, table, column, row_id, value)
        return self[key]


def collect_cells(session: HighsSession) -> Cells:
    """Every limit the model in ``session`` carries, by (``table.column``, row id)."""
    instance = session.built.instance
    x = session.fractions()
    allocated = allocated_of(instance, x)
    cells = Cells(instance)
    cells.allocated = allocated
    _add_pair_bounds(cells, session, instance, x)
    _add_security_bounds(cells, session, instance, allocated)
    slacks = session.row_slacks()
    spans = {span.name: span for span in session.form.blocks}
    for name, rows in session.row_duals().items():
        block = ROW_BLOCKS[name]
        if block.limit is None or "." not in block.limit:
            continue  # a definition, or the frontier's own limit
        family = FAMILY_OF_ROWS[name].name
        for key, dual in rows.items():
            slope = 1.0 if block.slope is None else block.slope(instance, key, allocated)
            if slope == 0.0:
                continue
            table, column, row_id = _cell_of(block, cells, key)
            if column == "min_security":
                column, factor = _minimum_source(instance, int(key))  # type: ignore[call-overload]
                slope *= factor
            cell = cells.cell(family, table, column, row_id)
            cell.add(dual * slope, slacks[name][key] / slope)
            if session.built.merge is not None and block.merged_by is not None:
                cell.measurable = False  # member rows are merged rows: not one stake's
            else:
                span = spans[name]
                row = span.row(key)
                side = "upper" if np.isfinite(session.form.row_upper[row]) else "lower"
                cell.row_moves.append((row, side, slope * session.row_unit(name)))
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


def _add_pair_bounds(cells: Cells, session: HighsSession,
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
            members = np.split(np.flatnonzero(chosen)[np.argsort(owners, kind="stable")],
                               np.cumsum(rows)[:-1])
            for i in np.flatnonzero(rows):
                cell = cells.cell(family, "stakes", column, cells.id_of("stakes", int(i)))
                cell.price += float(total[i])
                cell.slack = min(cell.slack, float(least[i]))
                cell.rows += int(rows[i])
                # Raising a pair's bound may make a stake row bind that the build left out
                # (it could not bind): unless the stake has all its rows, such a limit is
                # measured on a model built with every row.
                if built.merge is not None or not _has_all_rows(session, instance, int(i)):
                    cell.measurable = False
                    continue
                for p in members[i].tolist():
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


def _add_security_bounds(cells: Cells, session: HighsSession,
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
            cell = cells.cell("service_security", "services", "capacity", service_id)
            cell.add(max(price, 0.0), capacity[s] - allocated.security[s])
            cell.column_moves.append((col, "upper", per_numeraire))
        if required[s] and minimum[s] > 0:
            column, factor = _minimum_source(instance, s)
            cell = cells.cell("service_security", "services", column, service_id)
            cell.add(min(price, 0.0) * factor, (allocated.security[s] - minimum[s]) / factor)
            cell.column_moves.append((col, "lower", factor * per_numeraire))


