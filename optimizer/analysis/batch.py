"""Batches of re-solves of one instance with changed parameters, serially or on Dask.

A task is a list of ``Change`` s applied to one instance. Tasks are cut into chunks of
``chunk_size`` in task order; a chunk runs in one process. Where a chunk's changes only move
the model's costs and coefficients (``services.reward_rate``, ``services.slash_probability``
on an LP without CVaR, robust expected loss or pool rewards), it builds the model once and
re-solves one HiGHS session from the previous task's basis; else each task is a pipeline
solve. Chunks depend on the task order and ``chunk_size`` only, never on the workers, so
serial, one worker and many agree. On ``dask.distributed`` (imported only then) the instance
is scattered to every worker once and each chunk is one task. See ``docs/batch.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.analysis.cluster import on_dask
from optimizer.analysis.progress import progress as progress_bar
from optimizer.errors import InstanceError, Problem
from optimizer.instance import Instance
from optimizer.instance.columns import PARAMETERS, TABLES, Column
from optimizer.model.build import build_model
from optimizer.model.merge import merge_interchangeable
from optimizer.model.tail_risk import uses_cvar
from optimizer.pipeline import solve
from optimizer.results.evaluate import allocation_frame, evaluate
from optimizer.solve.highs import HighsSession
from optimizer.solve.options import SolveOptions

DEFAULT_CHUNK_SIZE = 8
"""Tasks per chunk unless told: fixed, so that results never depend on the workers."""

WARM_CHANGES = frozenset({("services", "reward_rate"), ("services", "slash_probability")})
"""Changes that move only the model's costs and coefficients (one build per chunk)."""

CHANGEABLE_TABLES = ("stakes", "services", "holders", "groups", "assets")
"""Tables indexed by id whose numeric columns a change may set (and ``parameters``)."""


@dataclass(frozen=True)
class Change:
    """One change of an instance: a column of a table (or a parameter), set or multiplied.

    Attributes
    ----------
    table : str
        ``stakes``, ``services``, ``holders``, ``groups``, ``assets`` or ``parameters``.
    column : str
        The column (the parameter's name for ``parameters``).
    value : float or tuple of float
        The value (one, or one per row), or the multiplier with ``multiply``.
    rows : tuple of str or None
        Row ids; ``None`` for every row (ignored for ``parameters``).
    multiply : bool
        Multiply the current values by ``value`` instead of setting them.
    """

    table: str
    column: str
    value: float | tuple[float, ...]
    rows: tuple[str, ...] | None = None
    multiply: bool = False

    @property
    def target(self) -> str:
        """``table.column`` and the rows, e.g. ``services.slash_probability[eigenda]``."""
        rows = f"[{','.join(self.rows)}]" if self.rows else ""
        return f"{self.table}.{self.column}{rows}"


@dataclass
class BatchResult:
    """The solve of one task.

    Attributes
    ----------
    task : int
        Position of the task in the list given; ``changes`` are its changes.
    status : str
        ``optimal``, ``infeasible``, ``time_limit``...
    objective, reward, expected_loss, cvar : float or None
        The evaluator's measures (numeraire per year; CVaR in the numeraire), None without
        an allocation (cvar without CVaR).
    seconds : float
        Wall time of the task in its worker (build share, solve, evaluation).
    warm : bool
        Whether the task re-solved the chunk's model (False: a pipeline solve).
    allocation : pandas.DataFrame or None
        stake, service, fraction, value.
    """

    task: int
    changes: tuple[Change, ...]
    status: str
    objective: float | None
    reward: float | None
    expected_loss: float | None
    cvar: float | None
    seconds: float
    warm: bool
    allocation: pd.DataFrame | None


Task = tuple[int, tuple[Change, ...]]


def run_batch(instance: Instance, changes: Sequence[Change | Sequence[Change]], *,
              workers: int | None = None, scheduler: str | None = None,
              chunk_size: int | None = None, progress: bool = True,
              **solve_options: Any) -> list[BatchResult]:
    """Solve ``instance`` once per task of ``changes``, serially or on ``dask.distributed``.

    Parameters
    ----------
    instance : Instance
        The problem every task starts from.
    changes : sequence
        One task per item: a ``Change`` or a sequence of them applied together.
    workers : int or None
        0: serial, in this process (no cluster). N: a local cluster of N worker processes.
        None: the cluster at ``scheduler`` or ``DASK_SCHEDULER_ADDRESS``, else a local
        cluster with one worker per core.
    scheduler : str or None
        Address of an existing Dask scheduler (``tcp://host:8786``).
    chunk_size : int or None
        Tasks per chunk (default ``DEFAULT_CHUNK_SIZE``).
    progress : bool
        A bar counting finished tasks on a terminal's standard error.
    **solve_options
        ``SolveOptions`` fields for every solve (``time_limit`` is per task); ``binding``
        is False unless given.

    Returns
    -------
    list of BatchResult
        In task order.

    Raises
    ------
    InstanceError
        A change naming an unknown table, column or row, or a value out of the column's
        range (before any solve). ValueError: bad ``workers`` or ``chunk_size``.
    """
    tasks: list[Task] = [(k, (one,) if isinstance(one, Change) else tuple(one))
                         for k, one in enumerate(changes)]
    check_changes(instance, [change for _, point in tasks for change in point])
    size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {size}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 (serial) or more, got {workers}")
    if workers and scheduler:
        raise ValueError("workers sizes a local cluster: give it or a scheduler, not both")
    options = {"binding": False} | solve_options
    SolveOptions(**options)  # bad option names fail here, not in a worker
    chunks = [tasks[k:k + size] for k in range(0, len(tasks), size)]
    if workers == 0 or not tasks:
        finished: Iterator[BatchResult] = (one for chunk in chunks
                                           for one in run_chunk(instance, chunk, options))
    else:
        finished = on_dask(instance, chunks, run_chunk, options, workers, scheduler)
    results = list(progress_bar(finished, len(tasks), "tasks", progress))
    return sorted(results, key=lambda one: one.task)


def run_chunk(instance: Instance, chunk: list[Task], options: dict[str, Any]
              ) -> list[BatchResult]:
    """Solve the tasks of one chunk in order, with one warm model where the changes allow."""
    changes = [c for _, point in chunk for c in point]
    warm = _WarmModel(instance, changes, options) if _warm_applies(instance, chunk) else None
    results = []
    for task, point in chunk:
        start = time.perf_counter()
        moved = apply_changes(instance, point)
        result = warm.solve(moved, task, point) if warm is not None else None
        if result is None:
            result = _pipeline(moved, task, point, options)
        result.seconds = time.perf_counter() - start + (warm.build_share(task) if warm else 0.0)
        results.append(result)
    return results


def _pipeline(moved: Instance, task: int, point: tuple[Change, ...],
              options: dict[str, Any]) -> BatchResult:
    result = solve(moved, **options)
    allocation = result.allocation if result.status in ("optimal", "feasible") else None
    return BatchResult(task, point, result.status, result.objective, result.reward,
                       result.expected_loss, result.cvar, 0.0, False, allocation)


def _warm_applies(instance: Instance, chunk: list[Task]) -> bool:
    """Whether every task of the chunk only moves the costs and coefficients of an LP."""
    if len(chunk) < 2 or uses_cvar(instance):
        return False
    if not all((c.table, c.column) in WARM_CHANGES for _, point in chunk for c in point):
        return False
    return (not instance.parameters.uncertainty_budget
            and not (instance.services["reward_pool"] > 0).any())


class _WarmModel:
    """The chunk's model built once (every budget row kept) in one HiGHS session."""

    def __init__(self, instance: Instance, changes: list[Change], options: dict[str, Any]):
        start = time.perf_counter()
        self.settings = SolveOptions(**options)
        moves_p = any(c.column == "slash_probability" for c in changes)
        self.built = build_model(instance, None, merge=merge_interchangeable(instance),
                                 keep_all_rows=moves_p)
        self.usable = not self.built.has_binaries and not self.built.pool_errors
        self.session = HighsSession(self.built, self.settings)
        index, form = self.built.index, self.session.form
        services = instance.services
        self.service_pos, self.value = index.service_pos, index.value
        self.columns = form.pair_column[np.arange(len(index.service_pos))]
        self.cost = form.cost[self.columns].copy()
        self.rate0 = services["reward_rate"].to_numpy(dtype=float)
        self.probability0 = services["slash_probability"].to_numpy(dtype=float)
        self.fraction = services["slash_fraction"].to_numpy(dtype=float)
        block = form.block("expected_loss_budget")
        row_of = {} if block is None else dict(zip(block.keys, range(block.start, block.stop),
                                                   strict=True))
        pairs = [p for p, stake in enumerate(index.stake_pos) if int(stake) in row_of]
        self.entry_pairs = np.asarray(pairs, dtype=np.int64)
        self.entry_rows = np.asarray([row_of[int(index.stake_pos[p])] for p in pairs],
                                     dtype=np.int64)
        self.build_seconds = time.perf_counter() - start
        self.first: int | None = None

    def build_share(self, task: int) -> float:
        """The build's seconds, counted in the chunk's first task."""
        self.first = task if self.first is None else self.first
        return self.build_seconds if task == self.first else 0.0

    def solve(self, moved: Instance, task: int, point: tuple[Change, ...]) -> BatchResult | None:
        """Re-solve with ``moved``'s rates; None when the pipeline must decide instead."""
        if not self.usable:
            return None
        services = moved.services
        rate = services["reward_rate"].to_numpy(dtype=float)
        probability = services["slash_probability"].to_numpy(dtype=float)
        delta = (rate - self.rate0) - (probability - self.probability0) * self.fraction
        costs = self.cost + delta[self.service_pos] * self.value
        loss = (probability * self.fraction)[self.service_pos[self.entry_pairs]]
        entries = (self.entry_rows, self.columns[self.entry_pairs], loss)
        self.session.change_coefficients(self.columns, costs, entries)
        self.session.run(self.settings.time_limit)
        if self.session.status() != "optimal":
            return None  # the pipeline solve says what happened, with its explanation
        built = self.built
        x = np.clip(self.session.fractions(), built.fractions(built.index.lower),
                    built.fractions(built.index.upper))
        allocation = allocation_frame(moved, x)
        evaluation = evaluate(moved, allocation)
        if evaluation.violations:
            return None
        return BatchResult(task, point, "optimal", evaluation.objective, evaluation.reward,
                           evaluation.expected_loss, evaluation.cvar, 0.0, True, allocation)


def apply_changes(instance: Instance, changes: Sequence[Change]) -> Instance:
    """A copy of ``instance`` with ``changes`` applied in order (scenarios drawn again)."""
    tables: dict[str, pd.DataFrame] = {}
    parameters: dict[str, Any] = {}
    for change in changes:
        if change.table == "parameters":
            old = parameters.get(change.column, getattr(instance.parameters, change.column))
            parameters[change.column] = _new_values(change, np.array([old], dtype=float))[0]
            continue
        table = tables.setdefault(change.table, getattr(instance, change.table).copy())
        rows = list(change.rows) if change.rows else list(table.index)
        old_values = table.loc[rows, change.column].to_numpy(dtype=float)
        table.loc[rows, change.column] = _new_values(change, old_values)
    if parameters:
        kinds = {c.name: c.kind for c in PARAMETERS}
        parameters = {k: int(v) if kinds[k] == "int" else float(v) for k, v in parameters.items()}
        return instance.with_changes(parameters=parameters, **tables)
    return instance.with_changes(**tables)


def _new_values(change: Change, old: np.ndarray) -> np.ndarray:
    value = np.asarray(change.value, dtype=float)
    return old * value if change.multiply else np.broadcast_to(value, old.shape).copy()


def check_changes(instance: Instance, changes: Sequence[Change]) -> None:
    """Refuse changes naming no table, column or row of ``instance``, or values out of range.

    Raises
    ------
    InstanceError
        Every problem found, each named by the change's target.
    """
    problems = [Problem(f"change {c.target}", c.column, said) for c in changes
                for said in [_problem(instance, c)] if said]
    if problems:
        raise InstanceError(problems)


def _problem(instance: Instance, change: Change) -> str | None:
    """What is wrong with ``change``, in words; None when nothing is."""
    if change.table == "parameters":
        spec = {c.name: c for c in PARAMETERS}.get(change.column)
        if spec is None or spec.kind not in ("float", "int"):
            return f"is not a numeric parameter; they are {', '.join(_numeric(PARAMETERS))}"
        old = getattr(instance.parameters, change.column)
        if change.multiply and old is None:
            return "is not set in the instance: it cannot be multiplied"
        values = _new_values(change, np.array([np.nan if old is None else old], dtype=float))
        return _out_of_range(spec, values)
    if change.table not in CHANGEABLE_TABLES:
        return f"names no table that can change; they are {', '.join(CHANGEABLE_TABLES)}, " \
               "parameters"
    columns = TABLES[change.table].columns
    spec = next((c for c in columns if c.name == change.column), None)
    if spec is None or spec.kind not in ("float", "int"):
        return f"is not a numeric column of {change.table}; they are " \
               f"{', '.join(_numeric(columns))}"
    table = getattr(instance, change.table)
    rows = list(change.rows) if change.rows else list(table.index)
    unknown = [r for r in rows if r not in table.index]
    if unknown:
        return f"{', '.join(map(repr, unknown))} is not a row of {change.table}"
    count = np.asarray(change.value).size
    if count != 1 and count != len(rows):
        return f"gives {count} values for {len(rows)} rows: give one or one per row"
    values = _new_values(change, table.loc[rows, change.column].to_numpy(dtype=float))
    return _out_of_range(spec, values)


def _numeric(columns: Sequence[Column]) -> list[str]:
    return [c.name for c in columns if c.kind in ("float", "int")]


def _out_of_range(spec: Column, values: np.ndarray) -> str | None:
    given = values[~np.isnan(values)]
    if not np.isfinite(given).all():
        return "must be finite"
    low = spec.low if spec.low is not None else -math.inf
    high = spec.high if spec.high is not None else math.inf
    bad = given[(given < low) | (given > high) | ((given == low) & spec.low_open)
                | ((given == high) & spec.high_open)]
    if len(bad):
        return f"would be {bad[0]:g}, must be {spec.range_text()}"
    if spec.kind == "int" and (given != np.round(given)).any():
        return "must be a whole number"
    return None
