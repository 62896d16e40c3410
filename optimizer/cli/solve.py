"""``restake solve``: the optimal allocation of one instance."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import check_writable, load
from optimizer.cli.options import (
    allow_extra_columns,
    current_option,
    instance_argument,
    json_option,
    output_option,
    snapshot_option,
    solver_options,
    verbose_option,
)
from optimizer.cli.output import show_solve, solve_outcome

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.model.build import AllocationModel
    from optimizer.results.result import Result


@click.command()
@instance_argument
@output_option("Folder for the solution files.")
@json_option("Print the summary as JSON.")
@solver_options
@click.option("--write-lp", type=click.Path(), help="Also write the model HiGHS solves as an "
              "LP file (.mps: MPS).")
@click.option("--no-merge", is_flag=True, help="Keep interchangeable stakes apart in the model "
              "(merging them is exact; this is for checking and measuring).")
@click.option("--no-binding", is_flag=True, help="Skip pricing the limits (binding.csv is "
              "then empty): saves its re-solves on a large book.")
@click.option("--compare-baselines", is_flag=True, help="Also evaluate the allocations "
              "curators use today (equal split, pro rata to reward, greedy) and show the "
              "optimizer's uplift.")
@current_option
@snapshot_option
@verbose_option
@allow_extra_columns
@guarded
def solve(instance: str, output: str | None, as_json: bool, time_limit: float | None,
          mip_gap: float | None, threads: int | None, random_seed: int, presolve: str,
          solver: str, write_lp: str | None, no_merge: bool, no_binding: bool,
          compare_baselines: bool, snapshot: str | None, verbose: bool) -> None:
    """Solve INSTANCE (a .toml or .json file, or a folder of CSV files)."""
    started = time.monotonic()  # --time-limit counts from here: loading, building, solving
    from optimizer.pipeline import build, check_model_file, solve_built, write_model

    for target, kind in ((output, "folder"), (write_lp, "file")):
        check_writable(target, kind)
    if write_lp:
        check_model_file(Path(write_lp))
    if snapshot and click.get_current_context().meta.get("current"):
        raise click.UsageError("give --current or --snapshot, not both: each sets the current "
                               "allocation")
    problem = load(instance)
    if snapshot:
        from optimizer.instance.chain_state import apply_snapshot
        from optimizer.instance.snapshot import read_snapshot

        problem, notes = apply_snapshot(problem, read_snapshot(snapshot))
        for note in notes:
            click.echo(f"note: {note}", err=True)
    built = build(problem, merge_stakes=not no_merge)
    if write_lp:
        write_model(built, Path(write_lp))
    result = solve_built(built, started=started, time_limit=time_limit, mip_rel_gap=mip_gap,
                         threads=threads, random_seed=random_seed, presolve=presolve,
                         solver=solver, verbose=verbose, binding=not no_binding)
    if output and result.worth_writing:
        result.to_dir(output)
    comparison = baseline_comparison(built, result) if compare_baselines else None
    show_solve(result, comparison, as_json)
    sys.exit(solve_outcome(result, built.instance))


def baseline_comparison(built: AllocationModel, result: Result) -> pd.DataFrame | None:
    """The allocations curators use today, evaluated beside the optimizer's.

    Parameters
    ----------
    built : AllocationModel
        The model solved (its instance is the one evaluated).
    result : Result
        The solve's result.

    Returns
    -------
    DataFrame or None
        `optimizer.analysis.baselines.compare`'s table; None when the solve found no
        allocation.
    """
    if result.objective is None:
        return None
    from optimizer.analysis.baselines import compare
    from optimizer.results.evaluate import evaluate

    return compare(built.instance, evaluate(built.instance, result.allocation))
