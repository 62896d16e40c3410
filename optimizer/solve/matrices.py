"""Compile a built Pyomo model to the matrices HiGHS takes (one column per variable).

- ``MatrixRows`` families (``optimizer.model.rows``) are copied as they are: their
  columns are whole variable components, so mapping them to the model's columns is
  one numpy gather.
- Every other active constraint, and the objective, is read term by term with Pyomo's
  ``generate_standard_repn``; these are the small families.

Every variable of the model is a column, in the order the components were declared,
each component in its own order; a fixed variable is a column with equal bounds (and
is never integer, so fixing the binaries of a MILP leaves an LP with duals).
Measured against Pyomo's standard-form compiler, which walked every row's expression,
this cut the hand-off at 10,000 stakes x 200 services several-fold (see
benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.repn.standard_repn import generate_standard_repn
from scipy import sparse

from optimizer.model.build import AllocationModel
from optimizer.model.rows import MatrixRows


@dataclass(frozen=True)
class RowBlock:
    """The consecutive matrix rows of one constraint component.

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


@dataclass
class StandardForm:
    """The model as ``row_lower <= A x <= row_upper``, column bounds and a cost vector."""

    cost: np.ndarray
    offset: float
    maximize: bool
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    matrix: sparse.csc_array
    blocks: list[RowBlock]
    columns: list
    """The Pyomo variable of each column."""
    pair_column: np.ndarray
    """For each model pair p, the column of ``x_alloc[p]``."""

    def first_row(self, name: str) -> int:
        """The first matrix row of the component ``name``."""
        return next(block.start for block in self.blocks if block.name == name
                    and block.stop > block.start)


def compile_standard_form(built: AllocationModel) -> StandardForm:
    """Compile the model's variables, active constraints and active objective."""
    model = built.model
    columns: list = []
    offset_of: dict[int, int] = {}
    for component in model.component_objects(pyo.Var, descend_into=True):
        offset_of[id(component)] = len(columns)
        columns.extend(component.values())
    col_lower, col_upper, integrality = _column_bounds(columns)
    positions = _ColumnPositions(offset_of)

    blocks: list[RowBlock] = []
    pieces: list[sparse.csr_array] = []
    lowers: list[np.ndarray] = []
    uppers: list[np.ndarray] = []
    count = 0
    for component in model.component_objects(pyo.Constraint, active=True, descend_into=True):
        if isinstance(component, MatrixRows):
            matrix, lower, upper, keys = _matrix_rows(component, offset_of, len(columns))
        else:
            matrix, lower, upper, keys = _expression_rows(component, positions, len(columns))
        if not keys:
            continue
        pieces.append(matrix)
        lowers.append(lower)
        uppers.append(upper)
        blocks.append(RowBlock(component.local_name, count, count + len(keys), keys))
        count += len(keys)

    cost = np.zeros(len(columns))
    offset, maximize = 0.0, False
    objectives = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objectives) > 1:
        raise ValueError(f"the model has {len(objectives)} active objectives, not one")
    if objectives:
        objective = objectives[0]
        terms = _linear_terms(objective.expr, objective.name)
        np.add.at(cost, positions.of(terms.linear_vars), np.asarray(terms.linear_coefs, float))
        offset = float(pyo.value(terms.constant))
        maximize = objective.sense == pyo.maximize

    matrix = (sparse.vstack(pieces, format="csc") if pieces
              else sparse.csc_array((0, len(columns))))
    x_alloc = model.x_alloc
    pair_column = offset_of[id(x_alloc)] + np.arange(len(x_alloc))
    return StandardForm(
        cost=cost, offset=offset, maximize=maximize, col_lower=col_lower,
        col_upper=col_upper, integrality=integrality,
        row_lower=np.concatenate(lowers) if lowers else np.zeros(0),
        row_upper=np.concatenate(uppers) if uppers else np.zeros(0),
        matrix=matrix, blocks=blocks, columns=columns,
        pair_column=pair_column)


class _ColumnPositions:
    """Column of any variable: its component's offset plus its position within it.

    A component's variables are mapped on first use, so a model whose expression rows
    touch a few components never maps the others.
    """

    def __init__(self, offset_of: dict[int, int]) -> None:
        self._offset_of = offset_of
        self._column: dict[int, int] = {}
        self._mapped: set[int] = set()

    def of(self, variables: object) -> np.ndarray:
        found = []
        for var in variables:
            column = self._column.get(id(var))
            if column is None:
                self._map(var.parent_component())
                column = self._column.get(id(var))
                if column is None:
                    raise ValueError(f"variable {var.name} is not part of the model")
            found.append(column)
        return np.asarray(found, dtype=np.int64)

    def _map(self, component: pyo.Var) -> None:
        start = self._offset_of.get(id(component))
        if start is None or id(component) in self._mapped:
            return
        self._mapped.add(id(component))
        for k, var in enumerate(component.values()):
            self._column[id(var)] = start + k


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
        lower[j] = -highspy.kHighsInf if low is None else low
        upper[j] = highspy.kHighsInf if high is None else high
        if var.is_integer():
            integrality[j] = 1
    return lower, upper, integrality


def _matrix_rows(component: MatrixRows, offset_of: dict[int, int],
                 width: int) -> tuple[sparse.csr_array, np.ndarray, np.ndarray, list]:
    """A ``MatrixRows`` family with its columns moved to the model's."""
    local_to_model = np.concatenate(
        [offset_of[id(part)] + np.arange(len(part)) for part in component.parts]
    ) if component.parts else np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_array(
        (component.data, local_to_model[component.indices], component.indptr),
        shape=(len(component.keys_of_rows), width))
    return matrix, component.lower, component.upper, component.keys_of_rows


def _expression_rows(component: pyo.Constraint, positions: _ColumnPositions,
                     width: int) -> tuple[sparse.csr_array, np.ndarray, np.ndarray, list]:
    """A family of Pyomo expressions, one row per active constraint."""
    keys, lower, upper = [], [], []
    indptr, indices, data = [0], [], []
    for con in component.values():
        if not con.active:
            continue
        low, body, high = con.to_bounded_expression(evaluate_bounds=True)
        if low is None and high is None:
            continue
        terms = _linear_terms(body, con.name)
        constant = float(pyo.value(terms.constant))
        keys.append(con.index())
        lower.append(-np.inf if low is None else low - constant)
        upper.append(np.inf if high is None else high - constant)
        indices.append(positions.of(terms.linear_vars))
        data.append(np.asarray(terms.linear_coefs, dtype=float))
        indptr.append(indptr[-1] + len(terms.linear_vars))
    matrix = sparse.csr_array(
        (np.concatenate(data) if data else np.zeros(0),
         np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
         np.asarray(indptr)), shape=(len(keys), width))
    matrix.sum_duplicates()
    return matrix, np.asarray(lower, float), np.asarray(upper, float), keys


def _linear_terms(expression: object, name: str) -> object:
    terms = generate_standard_repn(expression, compute_values=True, quadratic=False)
    if terms.nonlinear_expr is not None:
        raise ValueError(f"{name} is not linear")
    return terms
