"""Restaking allocation optimizer: which services each stake secures, and how much.

The public API::

    import optimizer
    instance = optimizer.load_instance("instances/realistic/eigenlayer-symbiotic-2026.toml")
    result = optimizer.solve(instance, time_limit=60)
    result.allocation          # pandas DataFrame: stake, service, fraction, amount, value
    optimizer.evaluate(instance, result.allocation).violations   # [] when feasible
"""

from optimizer.errors import (
    InfeasibleError,
    InstanceError,
    OptimizerError,
    Problem,
    ResourceError,
    SolverError,
)
from optimizer.instance import Instance, Parameters, load_instance
from optimizer.pipeline import allocation_table, solve
from optimizer.results.evaluate import Evaluation, Violation, evaluate
from optimizer.results.result import Result
from optimizer.solve.options import SolveOptions

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "InfeasibleError",
    "Instance",
    "InstanceError",
    "OptimizerError",
    "Parameters",
    "Problem",
    "ResourceError",
    "Result",
    "SolveOptions",
    "SolverError",
    "Violation",
    "allocation_table",
    "evaluate",
    "load_instance",
    "solve",
]
