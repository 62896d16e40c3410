"""``restake plan``: an allocation as protocol-native transactions (docs/protocols.md)."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import check_writable, load
from optimizer.cli.options import (
    allow_extra_columns,
    instance_argument,
    output_option,
    snapshot_option,
    solution_argument,
)


@click.command()
@instance_argument
@solution_argument
@output_option("The folder to write the plan into.", required=True)
@snapshot_option
@allow_extra_columns
@guarded
def plan(instance: str, solution: str, output: str, snapshot: str | None) -> None:
    """The transactions that take the chain to SOLUTION (a folder of restake solve).

    For every holder with a protocol identity: EigenLayer modifyAllocations calls with
    absolute magnitudes and the eigenlayer-cli CSV; Symbiotic network limits and operator
    shares or limits; a Safe Transaction Builder batch per holder and stage. Every call is
    checked before anything is written; a move that cannot be made in one step is staged.
    Prints the readable plan; the files are described in docs/protocols.md.
    """
    from pathlib import Path

    from optimizer.instance.snapshot import read_snapshot
    from optimizer.protocols.plan import make_plan, plan_summary, write_plan
    from optimizer.results.write import read_allocation

    check_writable(output, "folder")
    problem = load(instance)
    chain = read_snapshot(snapshot) if snapshot else None
    made = make_plan(problem, read_allocation(Path(solution)), chain)
    write_plan(made, output, problem.name)
    for note in made.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(plan_summary(made, problem.numeraire), nl=False)
