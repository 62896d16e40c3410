"""What every check shares: the ``Violation`` it reports, the tolerances, and row tests.

A check compares a left-hand side with a limit row by row and reports each row broken
beyond a tolerance: absolute for limits in fractions of a stake, relative to the limit's
size for limits in numeraire.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

ZERO_THRESHOLD = 1e-9
"""Fractions at or below this are reported as no allocation."""

FRACTION_TOLERANCE = 1e-6
"""Absolute slack allowed on limits expressed as fractions of a stake."""

VALUE_TOLERANCE = 1e-6
"""Relative slack allowed on limits in numeraire (relative to max(1, limit))."""


@dataclass(frozen=True)
class Violation:
    """One limit the allocation breaks.

    Attributes
    ----------
    constraint : str
        The family, named as in the model (``restaking_degree``, ``service_capacity``...).
    where : str
        The row, in the instance's names (``stake op1-steth``, ``service eigenda``).
    value, limit : float
        The left-hand side and the limit it breaks (unit of the family).
    """

    constraint: str
    where: str
    value: float
    limit: float
    sense: str = "<="

    def __str__(self) -> str:
        """E.g. ``restaking_degree at stake a: 1.2 > 1 (limit <= 1)``."""
        return (f"{self.constraint} at {self.where}: {self.value:.9g} breaks "
                f"{self.sense} {self.limit:.9g}")


def row_names(kind: str, ids: Iterable[object], suffix: str = "") -> list[str]:
    """Rows named in the instance's words: ``stake a``, ``stake a, group g``...

    Parameters
    ----------
    kind : str
        What a row stands for (``stake``, ``service``, ``holder``).
    ids : iterable
        The ids, in row order.
    suffix : str, optional
        Appended to every name.
    """
    return [f"{kind} {i}{suffix}" for i in ids]


def pair_names(allocation: pd.DataFrame) -> list[str]:
    """``stake i, service s`` for every row of an allocation (its stake and service ids)."""
    return [f"stake {i}, service {s}" for i, s in
            zip(allocation["stake"], allocation["service"], strict=True)]


def broken_rows(constraint: str, names: list[str], value: np.ndarray, limit: np.ndarray,
                tolerance: float | np.ndarray, sense: str = "<=") -> list[Violation]:
    """Every row where ``value > limit + tolerance``; a NaN limit is inactive.

    Parameters
    ----------
    constraint : str
        The check's name, reported in each violation.
    names : list of str
        The rows' names (``row_names``).
    value, limit : numpy.ndarray
        Left-hand sides and limits, one per row, in the family's unit. A ``>=`` row is
        passed negated (``-value > -limit``) and reported the right way round.
    tolerance : float or numpy.ndarray
        Slack allowed, in the same unit.
    sense : {"<=", ">="}
        The sense reported.
    """
    with np.errstate(invalid="ignore"):
        broken = ~np.isnan(limit) & (value > limit + tolerance)
    sign = 1.0 if sense == "<=" else -1.0
    return [Violation(constraint, names[row], float(sign * value[row]),
                      float(sign * limit[row]), sense) for row in np.flatnonzero(broken)]


def broken_values(constraint: str, names: list[str], value: np.ndarray, limit: np.ndarray,
                  sense: str = "<=") -> list[Violation]:
    """``broken_rows`` with ``VALUE_TOLERANCE`` relative to max(1, |limit|) (numeraire rows)."""
    tolerance = VALUE_TOLERANCE * np.maximum(1.0, np.abs(np.nan_to_num(limit)))
    return broken_rows(constraint, names, value, limit, tolerance, sense)
