"""The commands that analyse a solution: ``restake simulate`` and ``restake security``."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded, input_problem
from optimizer.cli.inputs import load
from optimizer.cli.options import (
    allow_extra_columns,
    instance_argument,
    json_option,
    plot_option,
    quiet_option,
    seed_option,
    solution_argument,
)
from optimizer.cli.output import show_security, show_simulation


@click.command()
@instance_argument
@solution_argument
@click.option("--runs", type=click.IntRange(1, 1_000_000), default=100_000, show_default=True,
              help="Slashing scenarios to draw.")
@seed_option()
@json_option("Print the results as JSON.")
@plot_option("a histogram of the losses")
@quiet_option
@allow_extra_columns
@guarded
def simulate(instance: str, solution: str, runs: int, seed: int, as_json: bool,
             plot: str | None, quiet: bool) -> None:
    """Monte Carlo slashing of SOLUTION: the distribution of realised losses.

    Expected loss, VaR and CVaR at 90/95/99%, the chance of losing more than 0.1/1/5/10%
    of the value allocated, per-holder losses and each service's share of the tail.
    """
    from pathlib import Path

    from optimizer.analysis.plots import plot_losses, pyplot
    from optimizer.analysis.simulate import simulate as run_simulation
    from optimizer.results.write import read_allocation

    if plot:
        pyplot()  # fail before the work when matplotlib is missing
    problem = load(instance)
    try:
        result = run_simulation(problem, read_allocation(Path(solution)), runs=runs, seed=seed,
                                show_progress=not quiet)
    except ValueError as error:
        raise input_problem(solution, error) from None
    if plot:
        plot_losses(result, problem, Path(plot))
    show_simulation(result, runs, seed, problem.numeraire, as_json)


@click.command()
@instance_argument
@solution_argument
@allow_extra_columns
@guarded
def security(instance: str, solution: str) -> None:
    """Security of the restaking graph of SOLUTION (a solution folder or allocation.csv).

    Per service, cost of corruption against profit from corruption; per holder, the
    Durvasula-Roughgarden condition (at most 1 means no profitable cascading attack).
    """
    from pathlib import Path

    from optimizer.analysis.security import security_report
    from optimizer.results.write import read_allocation

    problem = load(instance)
    try:
        services, holders = security_report(problem, read_allocation(Path(solution)))
    except ValueError as error:  # an allocation that does not fit the instance
        raise input_problem(solution, error) from None
    show_security(services, holders)
