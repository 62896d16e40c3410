"""``restake frontier``: the reward-versus-risk efficient frontier."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import load
from optimizer.cli.options import (
    allow_extra_columns,
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
@quiet_option
@allow_extra_columns
@guarded
def frontier(instance: str, points: int, risk: str, output: str | None, plot: str | None,
             compare_rebuild: bool, quiet: bool) -> None:
    """The reward-versus-risk efficient frontier of INSTANCE, from one persistent model."""
    from pathlib import Path

    from optimizer.analysis.frontier import frontier as trace
    from optimizer.analysis.plots import plot_frontier, pyplot

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
