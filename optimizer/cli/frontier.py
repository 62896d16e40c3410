"""``restake frontier``: the reward-versus-risk efficient frontier."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import load
from optimizer.cli.options import (
    allow_extra_columns,
    current_option,
    instance_argument,
    output_option,
    plot_option,
    quiet_option,
)
from optimizer.cli.output import show_frontier, write_frontier


@click.command()
@instance_argument
@click.option("--points", type=click.IntRange(2, 500), default=10, show_default=True)
@click.option("--risk", type=click.Choice(["cvar", "expected_loss", "portfolio_worst_case"]),
              default="cvar", show_default=True, help="Risk measure on the frontier's x axis: "
              "CVaR, expected loss, or the portfolio's loss when the worst_case_k services "
              "costing it most are slashed at once.")
@output_option("Write the points and their allocations: FILE.csv (points; allocations in "
               "FILE-allocations.csv) or FILE.json (both).")
@plot_option("the frontier")
@click.option("--compare-rebuild", is_flag=True, help="Also solve each point by rebuilding "
              "the model, to measure the speed-up and check the answers agree.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.COLUMN=SPEC,...",
              help="A frontier surface: one frontier per point of these changes, as "
              "restake sweep takes them (x0.5 multiplies, a number sets; several --set make "
              "their cartesian product); the table of every point, --output FILE.csv.")
@click.option("--grid", type=click.Path(exists=True, dir_okay=False),
              help="A frontier surface over the points of a CSV (one column per "
              "TABLE.COLUMN, one row per point).")
@click.option("--workers", type=click.IntRange(min=0), help="For a surface: local Dask "
              "worker processes (0: in this process; default one per core).")
@click.option("--scheduler", metavar="ADDRESS", help="For a surface: an existing Dask "
              "scheduler (default: $DASK_SCHEDULER_ADDRESS, else a local cluster).")
@quiet_option
@current_option
@allow_extra_columns
@guarded
def frontier(instance: str, points: int, risk: str, output: str | None, plot: str | None,
             compare_rebuild: bool, sets: tuple[str, ...], grid: str | None,
             workers: int | None, scheduler: str | None, quiet: bool) -> None:
    """The reward-versus-risk efficient frontier of INSTANCE, from one persistent model.

    With --set or --grid, a frontier surface: the frontier at every point of a sweep,
    each one a task of a batch on Dask (docs/batch.md).
    """
    from pathlib import Path

    from optimizer.analysis.frontier import frontier as trace
    from optimizer.analysis.plots import plot_frontier, pyplot

    if sets or grid:
        surface(instance, points, risk, output, sets, grid, workers, scheduler,
                plot or compare_rebuild, quiet)
        return
    if plot:
        pyplot()  # fail before the work when matplotlib is missing
    problem = load(instance)
    result = trace(problem, points=points, risk=risk, compare_rebuild=compare_rebuild,
                   show_progress=not quiet)
    show_frontier(result, compare_rebuild)
    if output:
        write_frontier(result, risk, output)
    if plot:
        plot_frontier(result, problem, Path(plot))


def surface(instance: str, points: int, risk: str, output: str | None, sets: tuple[str, ...],
            grid: str | None, workers: int | None, scheduler: str | None,
            single_only: object, quiet: bool) -> None:
    """Print (and write as CSV) the frontier surface over the sweep's points."""
    from optimizer.analysis.surface import frontier_surface
    from optimizer.cli.errors import fail
    from optimizer.cli.sweep import load_sweep, show_table

    if single_only:
        raise click.UsageError("--plot and --compare-rebuild are for one frontier, not a "
                               "surface (--set, --grid)")
    problem, sweep = load_sweep(instance, sets, grid, output, workers, scheduler,
                                "a frontier surface")
    try:
        table = frontier_surface(problem, sweep, points=points, risk=risk, workers=workers,
                                 scheduler=scheduler, progress=not quiet)
    except ConnectionError as error:  # a wrong --scheduler or DASK_SCHEDULER_ADDRESS
        fail(f"error: {error} (nothing was written)", 2)
    show_table(table, output, False)
