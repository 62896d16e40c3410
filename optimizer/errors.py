"""The typed errors of the public API.

Every failure a user can cause or meet is one of these, never a bare exception:
the command line maps them to exit codes (2 bad input, 1 infeasible, 3 solver).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an instance, located as precisely as the input allows.

    Attributes
    ----------
    where : str
        The file, table and row, e.g. ``"stakes.csv row 18 (stake=op3-steth)"``.
    column : str or None
        The column (or parameter key) at fault, ``None`` when the whole row or file is.
    message : str
        What is wrong and what is expected, e.g. ``"is -5, must be >= 0"``.
    """

    where: str
    column: str | None
    message: str

    def __str__(self) -> str:
        """Render as ``where: column message``."""
        if self.column:
            return f"{self.where}: {self.column} {self.message}"
        return f"{self.where}: {self.message}"


class OptimizerError(Exception):
    """Base class of every error this package raises on purpose."""


class InstanceError(OptimizerError, ValueError):
    """The instance is invalid; ``problems`` lists every problem found, all at once."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("instance", None, problems)]
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the instance"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class InfeasibleError(OptimizerError):
    """No allocation satisfies every limit; ``explanation`` names the conflicting limits."""

    def __init__(self, explanation: list[str]):
        self.explanation = list(explanation)
        super().__init__("the instance is infeasible:\n" + "\n".join(f"  {e}" for e in explanation))


class SolverError(OptimizerError):
    """The solver failed, or stopped without any feasible allocation to return."""


class OutputError(OptimizerError):
    """An output cannot be written where asked (a folder holding other files, say)."""


class ResourceError(OptimizerError):
    """The instance is too large for this machine; the message gives the estimate."""
