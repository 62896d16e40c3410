"""Writing a result's solution files, atomically, and reading an allocation back."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pandas as pd

from optimizer.atomic import atomic_path
from optimizer.errors import InstanceError, Problem
from optimizer.instance.outputs import OUTPUT_TABLES

SOLUTION_FILES = ("allocation.csv", "stakes.csv", "services.csv", "holders.csv",
                  "binding.csv", "summary.json")
"""The files of a solution folder, all written together."""

ALLOCATION_NUMBERS = ("fraction", "amount", "value")
"""The number columns of ``allocation.csv``; every other column holds ids."""


class Solution(Protocol):
    """What a solution folder is written from: ``optimizer.results.result.Result`` is one.

    Declared here rather than imported, so that writing depends on the shape of a result
    and not on the module that defines it (which writes through this one).
    """

    allocation: pd.DataFrame
    stakes: pd.DataFrame
    services: pd.DataFrame
    holders: pd.DataFrame
    binding: pd.DataFrame

    def to_json(self) -> str:
        """The contents of ``summary.json``."""
        ...


def write_solution(result: Solution, folder: Path) -> None:
    """Write allocation, stakes, services, holders, binding (.csv) and summary.json.

    The files are written to a temporary folder beside ``folder`` and moved into place
    in one step: a reader sees the previous complete output or the new one, never a mix.
    An existing ``folder`` is replaced only if it holds nothing but solution files.
    """
    with atomic_path(folder, frozenset(SOLUTION_FILES)) as staged:
        staged.mkdir()
        for file, frame in _frames(result).items():
            frame.to_csv(staged / file, index=False)
        (staged / "summary.json").write_text(result.to_json() + "\n", encoding="utf-8")


def check_declared(result: Solution) -> None:
    """Check that a result's tables have exactly the columns the outputs' dictionary declares.

    Raises
    ------
    AssertionError
        When a table's columns differ from ``optimizer.instance.outputs`` (a table without
        rows and columns, a failed solve's, passes).
    """
    for file, frame in _frames(result).items():
        declared = [column.name for column in OUTPUT_TABLES[file].columns]
        if list(frame.columns) != declared and len(frame.columns):
            raise AssertionError(f"{file} has the columns {list(frame.columns)}, not the "
                                 f"declared {declared} (optimizer/instance/outputs.py)")


def _frames(result: Solution) -> dict[str, pd.DataFrame]:
    return {"allocation.csv": result.allocation, "stakes.csv": result.stakes,
            "services.csv": result.services, "holders.csv": result.holders,
            "binding.csv": result.binding}


def read_allocation(path: Path) -> pd.DataFrame:
    """Read an allocation: ``allocation.csv`` itself, or a solution folder holding it.

    Ids are read as the exact text written (``007``, ``NA`` or ``1e3`` stay ids, not
    numbers or missing values); ``fraction``, ``amount`` and ``value`` as numbers (an
    empty cell is NaN).

    Raises
    ------
    InstanceError
        When the file is missing, lacks the stake, service and fraction columns, or has
        a number column with text in it (each such cell named by row).
    """
    file = path / "allocation.csv" if path.is_dir() or not path.suffix else path
    if not file.is_file():
        raise InstanceError([Problem(str(file), None, "does not exist (give a solution "
                                     "folder or its allocation.csv)")])
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        raise InstanceError([Problem(file.name, None, f"cannot be read as CSV: {error}")]) \
            from None
    missing = [c for c in ("stake", "service", "fraction") if c not in frame.columns]
    if missing:
        raise InstanceError([Problem(file.name, ", ".join(missing), "is missing (an allocation "
                                     "has stake, service and fraction columns)")])
    problems = []
    for column in [c for c in ALLOCATION_NUMBERS if c in frame.columns]:
        text = frame[column].astype(object).map(str.strip)
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
        for row in (numbers.isna() & (text != "")).to_numpy().nonzero()[0]:
            problems.append(Problem(f"{file.name} row {row + 2}", column,
                                    f"is {text.iloc[row]!r}, not a number"))
        frame[column] = numbers
    if problems:
        raise InstanceError(problems)
    return frame
