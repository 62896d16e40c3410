"""Frontier surfaces: the efficient frontier at every point of a sweep, run as a batch.

A surface answers "how does the reward-versus-risk trade-off move when my guesses move":
for each point of a sweep (``Change`` s, as ``restake sweep`` takes them) the instance is
changed and its frontier traced (``optimizer.analysis.frontier``, one persistent model per
frontier). Each frontier is one task; tasks run in this process (``workers=0``) or on
``dask.distributed`` like any batch (``optimizer.analysis.cluster``: a local cluster by
default, the instance scattered once), and the table is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from optimizer.analysis.batch import Change, apply_changes, check_changes
from optimizer.analysis.cluster import on_dask
from optimizer.analysis.frontier import frontier
from optimizer.analysis.progress import progress as progress_bar
from optimizer.instance import Instance
from optimizer.solve.options import SolveOptions

Point = tuple[int, tuple[Change, ...]]
"""A sweep point: its position and the changes that make it."""


def frontier_surface(instance: Instance, changes: Sequence[Change | Sequence[Change]], *,
                     points: int = 10, risk: str = "cvar", workers: int | None = None,
                     scheduler: str | None = None, progress: bool = True,
                     **solve_options: Any) -> pd.DataFrame:
    """The frontier of ``instance`` at each sweep point of ``changes``.

    Parameters
    ----------
    instance : Instance
        The problem every point starts from.
    changes : sequence
        One sweep point per item: a ``Change`` or a sequence of them applied together.
    points : int
        Points on each frontier.
    risk : str
        The frontier's risk measure (``cvar``, ``expected_loss``, ``portfolio_worst_case``).
    workers, scheduler
        As for ``optimizer.analysis.batch.run_batch``: 0 runs in this process; None uses
        the cluster at ``scheduler`` or ``DASK_SCHEDULER_ADDRESS``, else a local cluster
        with one worker per core.
    progress : bool
        A bar counting finished frontiers on a terminal's standard error.
    **solve_options
        ``SolveOptions`` fields for every solve.

    Returns
    -------
    pandas.DataFrame
        One row per frontier point: ``sweep_point``, the value set at that point per
        changed column (``table.column`` or ``table.column[rows]``), then the frontier's
        columns (``point``, ``risk_limit``, ``status``, ``objective``... numeraire per
        year and numeraire). In sweep order.

    Raises
    ------
    InstanceError
        A change naming an unknown table, column or row, or a value out of range.
    """
    tasks: list[Point] = [(k, (one,) if isinstance(one, Change) else tuple(one))
                          for k, one in enumerate(changes)]
    check_changes(instance, [change for _, point in tasks for change in point])
    SolveOptions(**solve_options)  # bad option names fail here, not in a worker
    options = {"points": points, "risk": risk, **solve_options}
    if workers == 0 or not tasks:
        finished: Iterator[pd.DataFrame] = (frame for task in tasks
                                            for frame in run_frontiers(instance, [task],
                                                                       options))
    else:
        finished = on_dask(instance, [[task] for task in tasks], run_frontiers, options,
                           workers, scheduler)
    frames = list(progress_bar(finished, len(tasks), "frontiers", progress))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values(
        ["sweep_point", "point"], kind="stable").reset_index(drop=True)


def run_frontiers(instance: Instance, chunk: list[Point],
                  options: dict[str, Any]) -> list[pd.DataFrame]:
    """Trace the frontier of each sweep point of ``chunk`` (one task of a surface)."""
    settings = dict(options)
    points, risk = settings.pop("points"), settings.pop("risk")
    frames = []
    for position, point in chunk:
        traced = frontier(apply_changes(instance, point), points=points, risk=risk,
                          **settings).points.copy()
        for column, value in reversed(_settings(point)):
            traced.insert(0, column, value)
        traced.insert(0, "sweep_point", position)
        frames.append(traced)
    return frames


def _settings(point: tuple[Change, ...]) -> list[tuple[str, Any]]:
    """Each change of a point as (what it sets, the value it sets it to)."""
    named = []
    for change in point:
        target = change.target
        values = change.value if isinstance(change.value, tuple) else (change.value,)
        text = ";".join(f"{v:g}" for v in values)  # as restake sweep writes it
        named.append((target, f"x{text}" if change.multiply else
                      (change.value if len(values) == 1 else text)))
    return named
