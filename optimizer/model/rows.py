"""The one way the model writes rows: ``lower <= A y <= upper`` as a sparse matrix.

Every constraint family builds its coefficients with numpy and adds them as one
``MatrixRows`` component. It is a Pyomo constraint like any other (indexed by what each
row stands for, with ``body``, ``lower``, ``upper``, ``expr``, writable by Pyomo's LP
writer), built on Pyomo's public API only: the component is an ``IndexedConstraint``
whose mapping methods (``keys``, ``values``, ``items``, ``[key]``) read the matrix, and a
row's ``ConstraintData`` is made by its public constructor the first time it is asked
for, with its expression made from the matrix then. No expression exists for a row the
solve never looks at, and the solver adapter (``optimizer.solve.matrices``) hands the
matrix to HiGHS as it is. Building rows through Pyomo's expression system and its
standard-form compiler took most of the modelling time at 10,000 stakes x 200 services;
see benchmarks/README.md.

Pyomo ships ``pyomo.core.base.matrix_constraint.MatrixConstraint`` for the same purpose,
but at Pyomo 6.10 its rows fail ``to_bounded_expression`` (they lack the ``_expr`` slot
the method reads), so neither Pyomo's writers nor ``generate_standard_repn`` can read
them, and it addresses columns one ``VarData`` at a time; it does not serve here.

The matrix's columns are the variables of whole ``Var`` components, one after the
other (``parts``): column ``j`` is the ``j``-th variable of that concatenation, in each
component's own order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence

import numpy as np
import pyomo.core as pyo
from pyomo.core.base.constraint import ConstraintData, IndexedConstraint
from pyomo.core.base.set import Any
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.core.expr.relational_expr import (
    EqualityExpression,
    InequalityExpression,
    RangedExpression,
)


class MatrixRowData(ConstraintData):
    """One row of a ``MatrixRows``: its expression is made from the matrix when asked."""

    __slots__ = ("_key", "_row")

    def __init__(self, row: int, key: Hashable, component: MatrixRows) -> None:
        super().__init__(component=component)
        self._row = row
        self._key = key

    def index(self) -> Hashable:
        """What the row stands for: its key in the component."""
        return self._key

    def to_bounded_expression(self, evaluate_bounds: bool = False) -> tuple:
        """(lower, body, upper) of the row; a missing bound is None."""
        rows = self.parent_component()
        return rows.lower_bound(self._row), rows.row_body(self._row), rows.upper_bound(self._row)

    @property
    def expr(self) -> object:
        """The row as a Pyomo relational expression."""
        lower, body, upper = self.to_bounded_expression()
        if lower is not None and upper is not None:
            if lower == upper:
                return EqualityExpression((body, upper))
            return RangedExpression((lower, body, upper), False)
        if upper is not None:
            return InequalityExpression((body, upper), False)
        return InequalityExpression((lower, body), False)

    def set_value(self, expr: object) -> None:
        """A matrix row is fixed at construction; replace the family to change it."""
        raise TypeError(f"{self.name} is a row of a matrix family and cannot be changed")


class MatrixRows(IndexedConstraint):
    """Rows ``lower <= A y <= upper`` given by a sparse matrix (see the module docstring).

    Parameters
    ----------
    keys : sequence
        What each row stands for (a stake position, a pair position, a (stake, group)
        tuple...): the row's index in the component, and the key of its dual.
    parts : sequence of pyomo Var components
        The columns of the matrix: these components' variables, one after the other.
    rows, columns, coefficients : numpy.ndarray
        The nonzeros as triplets (row position, column position, value); zeros are
        dropped and repeated (row, column) entries summed.
    lower, upper : numpy.ndarray
        Each row's bounds; NaN (or an infinity) where there is none.
    doc : str
        What the rows are, with units.
    """

    def __init__(self, keys: Sequence[Hashable], parts: Sequence[pyo.Var], rows: np.ndarray,
                 columns: np.ndarray, coefficients: np.ndarray, lower: np.ndarray | float,
                 upper: np.ndarray | float, doc: str) -> None:
        IndexedConstraint.__init__(self, Any, doc=doc)
        count = len(keys)
        self.keys_of_rows = list(keys)
        self.parts = tuple(parts)
        self._variables: list | None = None
        self._positions: dict[Hashable, int] | None = None
        self._made: dict[int, MatrixRowData] = {}
        width = sum(len(part) for part in self.parts)
        rows = np.asarray(rows, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        coefficients = np.asarray(coefficients, dtype=float)
        if len(rows) and (rows.min() < 0 or rows.max() >= count or columns.min() < 0
                          or columns.max() >= width):
            raise ValueError(f"a nonzero of {doc!r} lies outside its {count} x {width} matrix")
        # Sort by (row, column), sum repeats, drop zeros: one canonical CSR.
        order = np.lexsort((columns, rows))
        rows, columns, coefficients = rows[order], columns[order], coefficients[order]
        if len(rows):
            first = np.r_[True, (rows[1:] != rows[:-1]) | (columns[1:] != columns[:-1])]
            starts = np.flatnonzero(first)
            coefficients = np.add.reduceat(coefficients, starts)
            rows, columns = rows[starts], columns[starts]
        keep = coefficients != 0
        self.indices = columns[keep]
        self.data = coefficients[keep]
        self.indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=count))]
        self.lower = _bounds(lower, count, -np.inf)
        self.upper = _bounds(upper, count, np.inf)

    def construct(self, data: object = None) -> None:
        """Nothing to make: a row's data object is made when it is first asked for."""
        super().construct(data)

    def __len__(self) -> int:
        return len(self.keys_of_rows)

    def __contains__(self, key: object) -> bool:
        return key in self._row_of()

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.keys_of_rows)

    def __getitem__(self, key: Hashable) -> MatrixRowData:
        row = self._row_of().get(key)
        if row is None:
            raise KeyError(f"{self.name} has no row {key!r}")
        made = self._made.get(row)
        if made is None:
            made = self._made[row] = MatrixRowData(row, key, self)
        return made

    def keys(self, sort: object = False, ordered: object = False) -> Iterator[Hashable]:
        """The rows' keys, in row order."""
        return iter(self.keys_of_rows)

    def values(self, sort: object = False, ordered: object = False) -> Iterator[MatrixRowData]:
        """The rows, in row order."""
        return (self[key] for key in self.keys_of_rows)

    def items(self, sort: object = False,
              ordered: object = False) -> Iterator[tuple[Hashable, MatrixRowData]]:
        """(key, row) pairs, in row order."""
        return ((key, self[key]) for key in self.keys_of_rows)

    def _row_of(self) -> dict[Hashable, int]:
        if self._positions is None:
            self._positions = {key: row for row, key in enumerate(self.keys_of_rows)}
        return self._positions

    def variables(self) -> list:
        """The variable of each column, in column order."""
        if self._variables is None:
            self._variables = [var for part in self.parts for var in part.values()]
        return self._variables

    def row_body(self, row: int) -> LinearExpression:
        """Row ``row``'s sum of coefficient x variable, as a Pyomo expression."""
        span = slice(self.indptr[row], self.indptr[row + 1])
        variables = self.variables()
        return LinearExpression(
            constant=0.0,
            linear_coefs=self.data[span].tolist(),
            linear_vars=[variables[j] for j in self.indices[span].tolist()],
        )

    def lower_bound(self, row: int) -> float | None:
        """Row ``row``'s lower bound, None when it has none."""
        value = float(self.lower[row])
        return None if np.isinf(value) else value

    def upper_bound(self, row: int) -> float | None:
        """Row ``row``'s upper bound, None when it has none."""
        value = float(self.upper[row])
        return None if np.isinf(value) else value


def positions(variable: pyo.Var, wanted: np.ndarray) -> np.ndarray:
    """The position within ``variable`` (its column within its part) of each wanted index.

    ``variable`` is indexed by increasing integers; an index it lacks is an error.
    """
    keys = np.fromiter(variable.keys(), dtype=np.int64, count=len(variable))
    if np.any(keys[1:] <= keys[:-1]):
        raise ValueError(f"{variable.name} is not indexed by increasing integers")
    found = np.searchsorted(keys, wanted)
    if len(wanted) and (len(keys) == 0
                        or np.any(keys[np.minimum(found, len(keys) - 1)] != wanted)):
        raise ValueError(f"{variable.name} lacks some of the indices its rows need")
    return found


def rows_by_owner(owner: np.ndarray, chosen: np.ndarray, owner_count: int,
                  coefficient: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzeros of the rows sum_p coefficient[p] x_p over the pairs of each chosen owner.

    ``owner`` is each pair's stake (or service) position; row k is owner ``chosen[k]``;
    columns are pair positions (the ``x_alloc`` part).
    """
    row_of = np.full(owner_count, -1, dtype=np.int64)
    row_of[chosen] = np.arange(len(chosen))
    rows = row_of[owner]
    pairs = np.flatnonzero((rows >= 0) & (coefficient != 0))
    return rows[pairs], pairs, coefficient[pairs]


def _bounds(values: np.ndarray | float, count: int, missing: float) -> np.ndarray:
    bounds = np.broadcast_to(np.asarray(values, dtype=float), (count,)).copy()
    bounds[np.isnan(bounds)] = missing
    return bounds
