"""The commands on an instance's files: ``validate``, ``convert`` and ``scenarios``."""

from __future__ import annotations

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import load
from optimizer.cli.options import (
    allow_extra_columns,
    instance_argument,
    out_argument,
    seed_option,
)


@click.command()
@instance_argument
@allow_extra_columns
@guarded
def validate(instance: str) -> None:
    """Check INSTANCE and list every problem (exit 2 if there is one)."""
    problem = load(instance)
    size = problem.size()
    click.echo(f"{instance}: valid: {size['stakes']} stakes, {size['services']} services, "
               f"{size['pairs']} eligible pairs")


@click.command()
@instance_argument
@out_argument
@allow_extra_columns
@guarded
def convert(instance: str, out: str) -> None:
    """Write INSTANCE as OUT: a .toml or .json file, or any other path a CSV folder."""
    load(instance).write(out)
    click.echo(f"wrote {out}", err=True)


@click.command()
@instance_argument
@out_argument
@click.option("--count", type=click.IntRange(min=1), help="Scenarios to sample (default: the "
              "instance's scenario_count).")
@seed_option(default=None, help="Seed (default: scenario_seed).")
@allow_extra_columns
@guarded
def scenarios(instance: str, out: str, count: int | None, seed: int | None) -> None:
    """Write INSTANCE to OUT with its sampled CVaR scenarios as a scenarios table.

    The scenarios are those a solve would sample (the common-shock model, seeded);
    OUT solves with exactly them, and can be inspected or edited.
    """
    problem = load(instance)
    if len(problem.scenarios):
        raise click.UsageError(f"{instance} already has a scenarios table")
    changes = {k: v for k, v in (("scenario_count", count), ("scenario_seed", seed))
               if v is not None}
    problem = problem.with_changes(parameters=changes)
    sampled = problem.scenario_set()
    problem.with_scenarios(sampled).write(out)
    click.echo(f"wrote {out}: {sampled.count} distinct scenarios", err=True)
