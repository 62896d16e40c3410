"""What the commands show and write, and when.

Results go to standard output or files, warnings and problems to standard error. The
commands decide nothing of it: each passes what it computed, and these functions choose
the format (JSON or tables), the warnings worth a line and the exit code; whether a
solution is written is the result's to say (``Result.worth_writing``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.analysis.frontier import Frontier
    from optimizer.analysis.simulate import Simulation
    from optimizer.instance import Instance
    from optimizer.results.result import Result


def echo_warnings(warnings: Iterable[object]) -> None:
    """Write each warning to standard error as ``warning: ...``.

    Parameters
    ----------
    warnings : iterable
        The warnings (sentences, or problems of the input), one a line.
    """
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def show_solve(result: Result, comparison: pd.DataFrame | None, as_json: bool) -> None:
    """Print a solve's summary, and its comparison with the baselines when made.

    Parameters
    ----------
    result : Result
        The solve's result.
    comparison : DataFrame or None
        The baselines' evaluations (`optimizer.analysis.baselines.compare`), if any.
    as_json : bool
        JSON (the summary, its ``baselines`` key the comparison) instead of tables.
    """
    from optimizer.results.report import format_result, json_records, readable_table

    if as_json:
        summary = result.summary()
        if comparison is not None:
            summary["baselines"] = json_records(comparison)
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(format_result(result))
    if comparison is not None:
        click.echo("\nbaselines (every number from the evaluator; uplift = optimizer - "
                   "baseline)")
        click.echo(readable_table(comparison))


def solve_outcome(result: Result, instance: Instance) -> int:
    """Say on standard error what a solve's result needs said; return its exit code.

    The warnings not already shown when the instance was loaded, holders whose security
    condition fails, the explanation of an infeasible or unbounded status, and why
    nothing was written when the solve failed.

    Parameters
    ----------
    result : Result
        The solve's result.
    instance : Instance
        The instance solved, its warnings already shown.

    Returns
    -------
    int
        The exit code: the result's own, or 3 for an allocation breaking limits.
    """
    from optimizer.results.report import insecure_holder_warnings

    echo_warnings(result.warnings[len(instance.warnings):]
                  + insecure_holder_warnings(result.holders))
    for sentence in result.explanation:
        click.echo(f"{result.status}: {sentence}", err=True)
    if result.status == "error":
        hint = "; raise --time-limit" if result.termination == "time_limit" else ""
        click.echo(f"error: the solver stopped ({result.termination}) before finding any "
                   f"feasible allocation{hint}; nothing was written", err=True)
    if result.violations:
        click.echo("internal error: the allocation breaks limits: "
                   + "; ".join(str(v) for v in result.violations[:5])
                   + "; nothing was written", err=True)
        return 3
    return result.exit_code


def show_frontier(result: Frontier, compare_rebuild: bool) -> None:
    """Print the frontier's points, and its solve times on standard error.

    Parameters
    ----------
    result : Frontier
        The traced frontier.
    compare_rebuild : bool
        Whether each point was also solved by rebuilding the model (its times shown).
    """
    from optimizer.results.report import readable_table

    points = result.points
    click.echo(readable_table(points))
    click.echo(f"first solve (build, hand-off, solve) {result.first_seconds:.2f} s; "
               f"re-solves median {points['seconds'].median():.3f} s", err=True)
    if compare_rebuild and points["rebuild_seconds"].notna().any():
        rebuild = points["rebuild_seconds"].median()
        click.echo(f"rebuilding each point: median {rebuild:.3f} s "
                   f"({rebuild / points['seconds'].median():.1f}x the persistent "
                   "re-solve)", err=True)


def write_frontier(result: Frontier, risk: str, output: str) -> None:
    """Write the frontier's points and allocations, each file atomically.

    Parameters
    ----------
    result : Frontier
        The traced frontier.
    risk : str
        The risk measure on its x axis (recorded in JSON).
    output : str
        ``FILE.json`` (points and allocations in one document), else ``FILE.csv`` with
        the points and ``FILE-allocations.csv`` beside it.
    """
    from optimizer.atomic import atomic_path
    from optimizer.results.report import json_records

    target = Path(output)
    if target.suffix == ".json":
        with atomic_path(target) as staged:
            staged.write_text(json.dumps({
                "risk": risk, "points": json_records(result.points),
                "allocations": json_records(result.allocations)},
                indent=1, default=str))
        return
    with atomic_path(target) as staged:
        result.points.to_csv(staged, index=False)
    with atomic_path(target.with_name(target.stem + "-allocations.csv")) as staged:
        result.allocations.to_csv(staged, index=False)


def show_simulation(result: Simulation, runs: int, seed: int, numeraire: str,
                    as_json: bool) -> None:
    """Print a Monte Carlo simulation's loss measures, holders and services.

    Parameters
    ----------
    result : Simulation
        The simulation's results.
    runs : int
        Scenarios drawn.
    seed : int
        Their seed.
    numeraire : str
        The unit of value, for the heading.
    as_json : bool
        One JSON document instead of tables.
    """
    from optimizer.results.report import readable_table

    if as_json:
        click.echo(json.dumps({
            "runs": runs, "seed": seed,
            "summary": dict(zip(result.summary["measure"], result.summary["value"],
                                strict=True)),
            "holders": result.holders.to_dict(orient="records"),
            "contributions": result.contributions.to_dict(orient="records"),
        }, indent=2))
        return
    click.echo(f"{runs:,} slashing scenarios, seed {seed} ({numeraire})")
    click.echo(readable_table(result.summary))
    click.echo("\nholders")
    click.echo(readable_table(result.holders))
    shares = result.contributions.sort_values("share_of_tail_loss", ascending=False)
    click.echo("\nservices by share of the 95% tail loss")
    click.echo(readable_table(shares[shares["expected_loss"] > 0]))


def show_security(services: pd.DataFrame, holders: pd.DataFrame) -> None:
    """Print the security report's tables, and warn of holders failing the condition.

    Parameters
    ----------
    services : DataFrame
        Per service, cost of corruption against profit from corruption.
    holders : DataFrame
        Per holder, the cascading-attack condition.
    """
    from optimizer.results.report import insecure_holder_warnings, readable_table

    click.echo("services (cost of corruption against profit from corruption)")
    click.echo(readable_table(services))
    click.echo("\nholders (condition <= 1 holds)")
    click.echo(readable_table(holders))
    echo_warnings(insecure_holder_warnings(holders))
