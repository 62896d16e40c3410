"""Writing a result's solution files, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.instance.io import atomic_path

if TYPE_CHECKING:
    from optimizer.results.result import Result

SOLUTION_FILES = ("allocation.csv", "stakes.csv", "services.csv", "summary.json")
"""The files of a solution folder, all written together."""


def write_solution(result: Result, folder: Path) -> None:
    """Write allocation.csv, stakes.csv, services.csv and summary.json into ``folder``.

    The files are written to a temporary folder beside ``folder`` and moved into place
    in one step: a reader sees the previous complete output or the new one, never a mix.
    An existing ``folder`` is replaced only if it holds nothing but solution files.
    """
    with atomic_path(folder, frozenset(SOLUTION_FILES)) as staged:
        staged.mkdir()
        result.allocation.to_csv(staged / "allocation.csv", index=False)
        result.stakes.to_csv(staged / "stakes.csv", index=False)
        result.services.to_csv(staged / "services.csv", index=False)
        (staged / "summary.json").write_text(result.to_json() + "\n", encoding="utf-8")
