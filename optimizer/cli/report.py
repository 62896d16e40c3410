"""``restake report``: a solution as one self-contained HTML page (docs/report.md)."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import check_writable, load
from optimizer.cli.options import (
    allow_extra_columns,
    instance_argument,
    output_option,
    seed_option,
    solution_argument,
)


@click.command()
@instance_argument
@solution_argument
@output_option("The HTML file to write.", required=True)
@click.option("--simulate", "simulate_runs", type=click.IntRange(1, 1_000_000), metavar="RUNS",
              help="Also simulate RUNS years of slashing: the loss distribution.")
@click.option("--frontier", "frontier_points", type=click.IntRange(2, 500), metavar="POINTS",
              help="Also trace the reward-versus-risk frontier with POINTS allocations.")
@click.option("--no-sensitivity", is_flag=True,
              help="Leave out the stability ranges (they re-solve the model many times).")
@seed_option(help="Seed of the simulation.")
@allow_extra_columns
@guarded
def report(instance: str, solution: str, output: str, simulate_runs: int | None,
           frontier_points: int | None, no_sensitivity: bool, seed: int) -> None:
    """An HTML report of SOLUTION (a folder of restake solve) for a governance forum.

    One file with its plots inside, readable offline: the headline numbers, the
    allocation, the limits that bind and what relaxing them is worth, how far each
    estimate can move before the allocation changes, the restaking-graph security and
    the assumptions. Prints the path of the file written.
    """
    check_writable(output, "file")
    from optimizer.analysis.plots import pyplot
    from optimizer.analysis.report_html import write_report

    pyplot()  # fail before the work when matplotlib is missing
    problem = load(instance)
    write_report(problem, solution, output, simulate_runs=simulate_runs,
                 frontier_points=frontier_points, sensitivity=not no_sensitivity, seed=seed)
    click.echo(output)
