"""``restake robustness``: re-solve an instance under draws of its uncertain parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import load
from optimizer.cli.options import (
    allow_extra_columns,
    current_option,
    instance_argument,
    json_option,
    plot_option,
    quiet_option,
    seed_option,
)

if TYPE_CHECKING:
    from optimizer.analysis.robustness import Robustness
    from optimizer.instance import Instance

OUTPUT_FILES = ("summary.json", "draws.csv", "parameters.csv", "pairs.csv", "resampled.csv")
"""The files ``--output DIR`` holds."""


@click.command()
@instance_argument
@click.option("--draws", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Parameter sets to draw and re-solve.")
@seed_option(help="Seed of the draws (the same seed gives the same answer).")
@click.option("--output", "-o", type=click.Path(), help="Write DIR/summary.json, draws.csv, "
              "parameters.csv, pairs.csv and resampled.csv (the folder replaced atomically).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Local Dask worker processes (default: one per core, or the cluster at "
              "DASK_SCHEDULER_ADDRESS); 0 solves the draws in this process. The answer is "
              "the same.")
@click.option("--scheduler", help="Address of a running Dask scheduler to solve the draws on "
              "(tcp://host:8786).")
@json_option("Print the summary as JSON.")
@plot_option("the distribution of objectives")
@quiet_option
@current_option
@allow_extra_columns
@guarded
def robustness(instance: str, draws: int, seed: int, output: str | None, workers: int | None,
               scheduler: str | None, as_json: bool, plot: str | None, quiet: bool) -> None:
    """Re-solve INSTANCE under DRAWS draws of its priors and intervals.

    Each service's slash_probability is drawn from its Beta prior (prior_strength) or
    uniformly on [slash_probability_low, slash_probability_high], its reward_rate on
    [reward_rate_low, reward_rate_high]; a service with neither keeps its value. Reports
    the re-optimised objectives, the nominal allocation under every draw (objective and
    limits broken), how often each pair is used, and the resampled allocation. The draws
    run as a batch (``optimizer.analysis.batch``): the same seed gives the same answer with
    any number of workers.
    """
    from optimizer.analysis.plots import plot_robustness, pyplot
    from optimizer.analysis.robustness import batch_map
    from optimizer.analysis.robustness import robustness as run

    if plot:
        pyplot()  # fail before the work when matplotlib is missing
    problem = load(instance)
    # Without a prior or an interval, run() raises InstanceError before solving (exit 2).
    result = run(problem, draws=draws, seed=seed, map_tasks=batch_map(
        None if scheduler else workers, scheduler, progress=not quiet))
    if output:
        write_robustness(result, problem, Path(output))
    if plot:
        plot_robustness(result, Path(plot))
    if as_json:
        click.echo(json.dumps(result.summary(), indent=1))
    else:
        click.echo(summary_text(result))


def summary_text(result: Robustness) -> str:
    """The readable summary printed on standard output."""
    unit = f"{result.numeraire}/yr"
    solved = int(result.table["objective"].notna().sum())
    lines = [f"instance   {result.instance}: {result.draws} draws (seed {result.seed}), "
             f"{solved} solved",
             f"nominal    optimum {result.nominal_objective:,.2f} {unit}",
             "", f"objective ({unit})    " + "  ".join(
                 f"{name:>9}" for name in ("min", "5%", "25%", "median", "75%", "95%", "max"))]
    for label, column in (("re-optimised per draw", "objective"),
                          ("nominal allocation   ", "nominal_objective")):
        q = result.quantiles(column)
        if q:
            lines.append(f"{label}  " + "  ".join(
                f"{q[key]:>9,.2f}" for key in ("min", "q05", "q25", "q50", "q75", "q95",
                                                "max")))
    breaking = int((result.table["broken"] > 0).sum())
    lines += ["", f"the nominal allocation breaks a limit in {breaking} of {result.draws} "
              "draws" + (":" if breaking else "")]
    lines += [f"  {count:>5}  {name}" for name, count in result.broken_counts().items()]
    pairs = result.pairs[result.pairs["used"] > 0].sort_values(
        ["frequency", "mean_fraction"], ascending=False)
    lines += ["", "pairs used (share of solved draws; fraction of stake: mean, std, nominal, "
              "resampled)"]
    lines += [f"  {row.stake:>21} {row.service:>12}  {row.frequency:6.1%}  "
              f"{row.mean_fraction:.4f} {row.std_fraction:.4f} {row.nominal_fraction:.4f} "
              f"{row.resampled_fraction:.4f}" for row in pairs.itertuples()]
    resampled = result.resampled
    state = ("no limit broken" if not resampled.violations
             else f"BREAKS {len(resampled.violations)} limits")
    moved = ("the draws' average meets every nominal limit as it is"
             if resampled.binaries == "not needed" else
             f"{resampled.distance:,.2f} {result.numeraire} of value moved from the draws' "
             f"average to meet every nominal limit; binaries: {resampled.binaries}")
    lines += ["", f"resampled  nominal objective {resampled.objective:,.2f} {unit}, {state}; "
              + moved]
    return "\n".join(lines)


def write_robustness(result: Robustness, instance: Instance, folder: Path) -> None:
    """Write ``OUTPUT_FILES`` into ``folder``, the folder replaced in one step."""
    from optimizer.analysis.robustness import resampled_frame
    from optimizer.atomic import atomic_path

    with atomic_path(folder, frozenset(OUTPUT_FILES)) as staged:
        staged.mkdir()
        (staged / "summary.json").write_text(json.dumps(result.summary(), indent=1) + "\n")
        result.table.to_csv(staged / "draws.csv", index=False)
        result.parameters.to_csv(staged / "parameters.csv", index=False)
        result.pairs.to_csv(staged / "pairs.csv", index=False)
        resampled_frame(instance, result).to_csv(staged / "resampled.csv", index=False)
