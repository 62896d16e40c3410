"""Compile a built model to the arrays HiGHS takes (one column per variable).

Every row of the model is a ``MatrixRows`` family (``optimizer.model.rows``) whose columns
are whole variable components, so mapping it to the model's columns is one numpy gather;
the objective is the cost arrays its families declared (``AllocationModel.objective``).
No Pyomo expression is walked, and neither scipy nor Pyomo's writers are needed.

Every variable of the model is a column, in the order the components were declared,
each component in its own order; a fixed variable is a column with equal bounds (and
is never integer, so fixing the binaries of a MILP leaves an LP with duals). The rows are
the active row families in declaration order, as one CSR matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.core as pyo

from optimizer.model.build import AllocationModel
from optimizer.model.rows import MatrixRows


@dataclass(frozen=True)
class RowSpan:
    """The consecutive matrix rows of one row family (its record is a ``RowBlock``).

    Attributes
    ----------
    name : str
        The component's name (``restaking_degree``...).
    start, stop : int
        Its rows are ``start`` to ``stop - 1`` of the matrix.
    keys : list
        The component index of each of its rows (what the row stands for).
    """

    name: str
    start: int
    stop: int
    keys: list

    def row(self, key: object) -> int:
        """The matrix row of the row ``key`` of this block."""
        return self.start + self.keys.index(key)


@dataclass
class StandardForm:
    """The model as ``row_lower <= A x <= row_upper``, column bounds and a cost vector.

    ``A`` is kept as CSR arrays (``indptr``, ``indices``, ``data``).
    """

    cost: np.ndarray
    offset: float
    maximize: bool
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    blocks: list[RowSpan]
    columns: list
    """The Pyomo variable of each column."""
    pair_column: np.ndarray
    """For each model pair p, the column of ``x_alloc[p]``."""
    component_columns: dict[str, np.ndarray]
    """The columns of each variable component, by name."""

    @property
    def matrix(self) -> Any:
        """``A`` as a scipy CSR array (for checks; the solve never needs scipy)."""
        from scipy import sparse

        return sparse.csr_array((self.data, self.indices, self.indptr),
                                shape=(len(self.row_lower), len(self.cost)))

    def block(self, name: str) -> RowSpan | None:
        """The rows of the family ``name``, ``None`` when the model has none."""
        return next((block for block in self.blocks if block.name == name), None)


def compile_standard_form(built: AllocationModel) -> StandardForm:
    """Compile the model's variables, active row families and objective."""
    model = built.model
    columns: list = []
    offset_of: dict[int, int] = {}
    component_columns: dict[str, np.ndarray] = {}
    for component in model.component_objects(pyo.Var, descend_into=True):
        offset_of[id(component)] = len(columns)
        component_columns[component.local_name] = len(columns) + np.arange(len(component))
        columns.extend(component.values())
    col_lower, col_upper, integrality = _column_bounds(columns)

    blocks: list[RowSpan] = []
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lowers: list[np.ndarray] = []
    uppers: list[np.ndarray] = []
    count = 0
    for component in model.component_objects(pyo.Constraint, active=True, descend_into=True):
        if not isinstance(component, MatrixRows):
            raise TypeError(f"{component.name} is not a MatrixRows family: every family "
                            "writes its rows as one (optimizer.model.rows)")
        if not len(component):
            continue
        pieces.append(_moved_columns(component, offset_of))
        lowers.append(component.lower)
        uppers.append(component.upper)
        blocks.append(RowSpan(component.local_name, count, count + len(component),
                               component.keys_of_rows))
        count += len(component)

    cost = np.zeros(len(columns))
    objective = built.objective
    if objective is not None:
        for name, values in objective.costs.items():
            cost[component_columns[name]] += values
    indptr, indices, data = _stacked(pieces)
    return StandardForm(
        cost=cost, offset=0.0 if objective is None else objective.constant,
        maximize=True if objective is None else objective.maximize,
        col_lower=col_lower, col_upper=col_upper, integrality=integrality,
        row_lower=np.concatenate(lowers) if lowers else np.zeros(0),
        row_upper=np.concatenate(uppers) if uppers else np.zeros(0),
        indptr=indptr, indices=indices, data=data, blocks=blocks, columns=columns,
        pair_column=component_columns["x_alloc"], component_columns=component_columns)


def _column_bounds(columns: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = len(columns)
    lower = np.empty(count)
    upper = np.empty(count)
    integrality = np.zeros(count, dtype=np.int32)
    for j, var in enumerate(columns):
        if var.fixed:
            lower[j] = upper[j] = float(var.value)
            continue
        low, high = var.bounds
        lower[j] = -np.inf if low is None else low
        upper[j] = np.inf if high is None else high
        if var.is_integer():
            integrality[j] = 1
    return lower, upper, integrality


def _moved_columns(component: MatrixRows,
                   offset_of: dict[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A family's CSR with its columns moved to the model's."""
    local_to_model = np.concatenate(
        [offset_of[id(part)] + np.arange(len(part)) for part in component.parts]
    ) if component.parts else np.zeros(0, dtype=np.int64)
    return component.indptr, local_to_model[component.indices], component.data


def _stacked(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row blocks' CSR arrays one above the other."""
    if not pieces:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    starts = np.cumsum([0] + [int(indptr[-1]) for indptr, _, _ in pieces[:-1]])
    indptr = np.concatenate([pieces[0][0][:1]] + [indptr[1:] + start for (indptr, _, _), start
                                                  in zip(pieces, starts, strict=True)])
    return (indptr, np.concatenate([piece[1] for piece in pieces]),
            np.concatenate([piece[2] for piece in pieces]))
