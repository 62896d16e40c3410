"""Restaking allocation optimizer: which services each stake secures, and how much.

The public API::

    import optimizer
    instance = optimizer.load_instance("instances/realistic/eigenlayer-symbiotic-2026.toml")
    result = optimizer.solve(instance, time_limit=60)
    result.allocation          # pandas DataFrame: stake, service, fraction, amount, value
    optimizer.evaluate(instance, result.allocation).violations   # [] when feasible
    result.to_dir("last-month")   # next month, rebalance from it:
    instance.with_current(optimizer.current_from_solution("last-month"))
    chain = optimizer.read_snapshot("chain.json")   # or from what is on chain today
    instance, notes = optimizer.apply_snapshot(instance, chain)
    plan = optimizer.make_plan(instance, result.allocation, chain)   # transactions
    plan.moves                 # pandas DataFrame: per pair, from, to, stage, when

``import optimizer`` is quick: the errors are imported with it, every other name of the
API (and with it pandas, Pyomo and HiGHS) on its first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimizer.errors import (
    InfeasibleError,
    InstanceError,
    OptimizerError,
    Problem,
    ResourceError,
    SolverError,
)

if TYPE_CHECKING:
    from optimizer.instance import Instance, Parameters, load_instance
    from optimizer.instance.chain_state import apply_snapshot
    from optimizer.instance.current import current_from_solution
    from optimizer.instance.snapshot import Snapshot, read_snapshot
    from optimizer.pipeline import allocation_table, solve
    from optimizer.protocols.plan import Plan, make_plan, write_plan
    from optimizer.results.evaluate import Evaluation, Violation, evaluate
    from optimizer.results.result import Result
    from optimizer.solve.options import SolveOptions

# The subpackage optimizer.solve (light: its modules are imported one by one), imported
# now and its attribute dropped, so that ``optimizer.solve`` is the function, bound on
# first use: a first import of the subpackage after that would replace the function.
importlib.import_module("optimizer.solve")
del globals()["solve"]

__version__ = "0.1.0"

_LAZY = {
    "Evaluation": "optimizer.results.evaluate",
    "Instance": "optimizer.instance",
    "Parameters": "optimizer.instance",
    "Plan": "optimizer.protocols.plan",
    "Result": "optimizer.results.result",
    "Snapshot": "optimizer.instance.snapshot",
    "SolveOptions": "optimizer.solve.options",
    "Violation": "optimizer.results.evaluate",
    "allocation_table": "optimizer.pipeline",
    "apply_snapshot": "optimizer.instance.chain_state",
    "current_from_solution": "optimizer.instance.current",
    "evaluate": "optimizer.results.evaluate",
    "load_instance": "optimizer.instance",
    "make_plan": "optimizer.protocols.plan",
    "read_snapshot": "optimizer.instance.snapshot",
    "solve": "optimizer.pipeline",
    "write_plan": "optimizer.protocols.plan",
}
"""The module of each name imported on first use."""


def __getattr__(name: str) -> Any:
    """Import a name of the API on its first use (PEP 562), then keep it here.

    Parameters
    ----------
    name : str
        An attribute of the package not yet set.

    Returns
    -------
    Any
        The name's object, from its module in ``_LAZY``.

    Raises
    ------
    AttributeError
        For a name the API does not have.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, those of the API not yet imported included."""
    return sorted({*globals(), *__all__})


__all__ = [
    "Evaluation",
    "InfeasibleError",
    "Instance",
    "InstanceError",
    "OptimizerError",
    "Parameters",
    "Plan",
    "Problem",
    "ResourceError",
    "Result",
    "Snapshot",
    "SolveOptions",
    "SolverError",
    "Violation",
    "allocation_table",
    "apply_snapshot",
    "current_from_solution",
    "evaluate",
    "load_instance",
    "make_plan",
    "read_snapshot",
    "solve",
    "write_plan",
]
