"""A previous solution as the instance's ``current`` allocation (``restake solve --current``).

``restake solve --output DIR`` writes ``DIR/allocation.csv`` (stake, holder, service,
asset, fraction, amount, value); read back as the ``current`` table (stake, service,
fraction), it is what turnover counts from, so last month's answer is this month's
starting point. Every problem (no such folder or file, a missing column, a stake or
service the instance does not know, a fraction that is not a number in [0, 1]) is
reported at once with the file, row and column, as for an instance.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.errors import InstanceError, Problem

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance

ALLOCATION_FILE = "allocation.csv"
"""The solution file read."""

COLUMNS = ("stake", "service", "fraction")
"""Its columns that make the ``current`` table."""

ROUNDING = 1e-6
"""How far outside [0, 1] a written fraction may be and still be read (at the bound): the
solver's fractions are within its feasibility tolerance of their bounds, unclipped."""


def current_from_solution(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The ``current`` table (stake, service, fraction) of a solution folder.

    Parameters
    ----------
    path : str or path
        A folder written by ``restake solve --output`` (or ``Result.to_dir``), or its
        ``allocation.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``stake``, ``service`` (ids) and ``fraction`` (of the stake, in [0, 1]),
        and ``where``: the row of the file each came from (``allocation.csv row 2``).

    Raises
    ------
    InstanceError
        Naming the file, row and column of every problem found.
    """
    file = Path(path)
    if file.is_dir():
        file = file / ALLOCATION_FILE
    if not file.is_file():
        what = "does not exist" if not file.exists() else "is not a file"
        raise InstanceError([Problem(str(file), None, f"{what} (--current reads the "
                                     f"{ALLOCATION_FILE} of a solution folder)")])
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceError([Problem(str(file), None, f"cannot be read: {error}")]) from None
    rows = [row for row in csv.reader(io.StringIO(text, newline=""))]
    header = [cell.strip() for cell in rows[0]] if rows else []
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise InstanceError([Problem(f"{file.name} row 1", column, f"is missing from "
                                     f"{file.name} (a solution's allocation)")
                             for column in missing])
    at = {column: header.index(column) for column in COLUMNS}
    problems: list[Problem] = []
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{file.name} row {number}"
        if len(row) != len(header):
            problems.append(Problem(where, None, f"has {len(row)} fields, the header has "
                                    f"{len(header)}"))
            continue
        stake, service = row[at["stake"]].strip(), row[at["service"]].strip()
        where += f" (stake={stake}, service={service})"
        fraction = _fraction(row[at["fraction"]], where, problems)
        for column, value in (("stake", stake), ("service", service)):
            if not value:
                problems.append(Problem(where, column, "is missing (required)"))
        records.append((stake, service, fraction, where))
    if problems:
        raise InstanceError(problems)
    return pd.DataFrame(records, columns=[*COLUMNS, "where"])


def _fraction(cell: str, where: str, problems: list[Problem]) -> float:
    """The fraction in ``cell``, or NaN with a problem said."""
    try:
        value = float(cell)
    except ValueError:
        problems.append(Problem(where, "fraction", f"is {cell.strip()!r}, not a number"))
        return math.nan
    if not math.isfinite(value) or not -ROUNDING <= value <= 1.0 + ROUNDING:
        problems.append(Problem(where, "fraction", f"is {cell.strip()}, must be a finite "
                                "fraction of the stake in [0, 1]"))
        return math.nan
    return min(max(value, 0.0), 1.0)


def with_current(instance: Instance, current: pd.DataFrame) -> Instance:
    """A copy of ``instance`` whose ``current`` table is ``current`` (replacing its own).

    Parameters
    ----------
    instance : Instance
        The problem.
    current : pandas.DataFrame
        Columns ``stake``, ``service`` and ``fraction`` (of the stake, in [0, 1]); an
        optional ``where`` column locates each row in messages (``current_from_solution``
        gives one), else rows are named ``current row N``.

    Raises
    ------
    InstanceError
        When a row names a stake or service the instance does not know, repeats a pair,
        or gives a fraction that is not a number in [0, 1].
    """
    missing = [column for column in COLUMNS if column not in current.columns]
    if missing:
        raise InstanceError([Problem("current", column, "is missing (a required column)")
                             for column in missing])
    where = (current["where"].astype(str).tolist() if "where" in current.columns else
             [f"current row {n + 1}" for n in range(len(current))])
    fraction = pd.to_numeric(current["fraction"], errors="coerce").to_numpy(dtype=float)
    problems: list[Problem] = []
    known = {"stake": set(instance.stakes.index), "service": set(instance.services.index)}
    seen: set[tuple[str, str]] = set()
    for row, (stake, service) in enumerate(zip(current["stake"], current["service"],
                                               strict=True)):
        for column, value in (("stake", stake), ("service", service)):
            if value not in known[column]:
                problems.append(Problem(where[row], column, f"names {value!r}, which is not "
                                        f"in '{column}s' of instance {instance.name}"))
        if (stake, service) in seen:
            problems.append(Problem(where[row], None, "repeats an earlier row with the same "
                                    "stake, service"))
        seen.add((stake, service))
        if not (0.0 <= fraction[row] <= 1.0):
            problems.append(Problem(where[row], "fraction", f"is {current['fraction'].iloc[row]}"
                                    ", must be a fraction of the stake in [0, 1]"))
    if problems:
        raise InstanceError(problems)
    table = pd.DataFrame({"stake": current["stake"].astype(str).to_numpy(),
                          "service": current["service"].astype(str).to_numpy(),
                          "fraction": fraction})
    return instance.with_changes(keep_scenarios=True, current=table)
