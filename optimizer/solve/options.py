"""Solver options: names mirror HiGHS's own (kebab-case on the command line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

LpAlgorithm = Literal["choose", "simplex", "ipm", "ipx", "hipo", "pdlp"]
LP_ALGORITHMS = ("choose", "simplex", "ipm", "ipx", "hipo", "pdlp")
Presolve = Literal["choose", "on", "off"]


@dataclass(frozen=True)
class SolveOptions:
    """How to solve.

    Attributes
    ----------
    time_limit : float or None
        Wall-clock limit of the solver, seconds; ``None`` for none.
    threads : int or None
        HiGHS threads; ``None`` lets HiGHS choose (half the cores).
    random_seed : int
        HiGHS's random seed, recorded in every result for reproducibility.
    mip_rel_gap : float or None
        Relative gap at which a MILP solve stops; ``None`` keeps HiGHS's 1e-4.
    presolve : str
        ``choose``, ``on`` or ``off``.
    solver : str
        LP algorithm: ``choose`` (HiGHS decides: the dual simplex for an LP, which
        measured fastest on this model's LPs, see ``benchmarks/README.md``), ``simplex``,
        ``ipm`` (HiPO when the highspy-extras package is installed, else IPX), ``ipx``,
        ``hipo`` (needs highspy-extras; HiGHS falls back without it) or ``pdlp``.
    verbose : bool
        Write the solver's log to standard error.
    pool_tolerance : float
        Relative tolerance on the exact objective when pool rewards are approximated:
        the returned allocation's exact objective is within this of the exact optimum.
    binding : bool
        After an optimal solve, price every limit (``Result.binding``, ``binding.csv``;
        see ``optimizer.solve.binding``). Its re-solves take time; analyses that only
        need the optimum (finite differences, stability ranges) turn it off.
    """

    time_limit: float | None = None
    threads: int | None = None
    random_seed: int = 0
    mip_rel_gap: float | None = None
    presolve: Presolve = "choose"
    solver: LpAlgorithm = "choose"
    verbose: bool = False
    pool_tolerance: float = 1e-4
    binding: bool = True

    def __post_init__(self) -> None:
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be > 0 seconds, got {self.time_limit}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.mip_rel_gap is not None and not 0 <= self.mip_rel_gap < 1:
            raise ValueError(f"mip_rel_gap must be in [0, 1), got {self.mip_rel_gap}")
        if not 0 < self.pool_tolerance < 1:
            raise ValueError(f"pool_tolerance must be in (0, 1), got {self.pool_tolerance}")
        if self.presolve not in ("choose", "on", "off"):
            raise ValueError(f"presolve must be choose, on or off, got {self.presolve!r}")
        if self.solver not in LP_ALGORITHMS:
            raise ValueError(f"solver must be one of {', '.join(LP_ALGORITHMS)}, "
                             f"got {self.solver!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (for the summary)."""
        return asdict(self)
