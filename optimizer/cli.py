"""The command line, ``restake``: a thin layer over the Python API.

Exit codes: 0 solved (optimal, or feasible at a limit with a warning); 1 infeasible
or unbounded; 2 bad input or usage; 3 internal or solver error; 130 interrupted.
Logs, warnings and problems go to standard error; results to standard output or files.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from optimizer.errors import (
    InstanceError,
    OptimizerError,
    OutputError,
    Problem,
    ResourceError,
)
from optimizer.instance import Instance, load_instance
from optimizer.instance.io import atomic_path
from optimizer.solve.interrupt import Interrupted, handling_signals
from optimizer.solve.options import LP_ALGORITHMS

MAX_PROBLEMS_SHOWN = 100


def _echo_problems(title: str, problems: list[Problem]) -> None:
    click.echo(title, err=True)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  {problem}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Map the package's errors to messages and exit codes; never show a user a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with handling_signals():
                return command(*args, **kwargs)
        except InstanceError as error:
            count = len(error.problems)
            _echo_problems(f"error: {count} problem{'s' if count != 1 else ''} in the input "
                           "(nothing was written):", error.problems)
            sys.exit(2)
        except ResourceError as error:
            click.echo(f"error: {error} (nothing was written)", err=True)
            sys.exit(2)
        except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
            sys.stderr.close()
            sys.exit(0)
        except OutputError as error:
            click.echo(f"error: {error} (nothing was written)", err=True)
            sys.exit(2)
        except OSError as error:
            click.echo(f"error: {error.filename or ''}: {error.strerror}", err=True)
            sys.exit(2)
        except Interrupted as stop:
            click.echo(f"interrupted ({stop}): stopped, nothing was written", err=True)
            sys.exit(stop.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: stopped, nothing was written", err=True)
            sys.exit(130)
        except OptimizerError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(3)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # a bug of ours: say so, keep the details available
            click.echo(f"internal error: {type(error).__name__}: {error}", err=True)
            click.echo("please report it with the instance; details follow", err=True)
            traceback.print_exc(file=sys.stderr)
            sys.exit(3)

    return run


def _check_writable(target: str | None, kind: str) -> None:
    """Refuse, before any work, an output path that cannot be written as a ``kind``."""
    if target is None:
        return
    path = Path(target)
    wrong = path.is_file() if kind == "folder" else path.is_dir()
    if wrong:
        raise click.UsageError(f"{target} exists and is not a {kind}")
    parent = path.parent if str(path.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise click.UsageError(f"cannot write {target}: {parent} is not a writable folder")


def _allow_extra_columns(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command that loads an instance the ``--allow-extra-columns`` switch."""

    def remember(context: click.Context, _parameter: click.Parameter, value: bool) -> None:
        context.meta["allow_extra_columns"] = value

    return click.option(
        "--allow-extra-columns", is_flag=True, expose_value=False, callback=remember,
        help="Ignore, with a warning, columns, keys and tables the format does not know "
             "(refused by default: a misspelt column would drop its limit).")(command)


def _load(path: str) -> Instance:
    allow = click.get_current_context().meta.get("allow_extra_columns", False)
    instance = load_instance(path, allow_extra_columns=allow)
    for warning in instance.warnings:
        click.echo(f"warning: {warning}", err=True)
    return instance


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="restake-optimizer", prog_name="restake")
def main() -> None:
    """Optimal restaking allocation: which services each stake secures, and how much."""


@main.command()
@click.argument("instance", type=click.Path())
@click.option("--output", "-o", type=click.Path(), help="Folder for the solution files.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True),
              help="Time limit of the whole command (load, build, solve), seconds.")
@click.option("--mip-gap", type=click.FloatRange(0, 1, max_open=True),
              help="Relative MIP gap to stop at (HiGHS's mip_rel_gap).")
@click.option("--threads", type=click.IntRange(min=1), help="Solver threads.")
@click.option("--seed", "random_seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="HiGHS random seed.")
@click.option("--presolve", type=click.Choice(["choose", "on", "off"]), default="choose",
              show_default=True)
@click.option("--solver", type=click.Choice(LP_ALGORITHMS), default="choose", show_default=True,
              help="LP algorithm (hipo needs the [bench] extra's highspy-extras).")
@click.option("--write-lp", type=click.Path(), help="Also write the model as an LP file.")
@click.option("--no-merge", is_flag=True, help="Keep interchangeable stakes apart in the model "
              "(merging them is exact; this is for checking and measuring).")
@click.option("--compare-baselines", is_flag=True, help="Also evaluate the allocations "
              "curators use today (equal split, pro rata to reward, greedy) and show the "
              "optimizer's uplift.")
@click.option("--verbose", "-v", is_flag=True, help="Solver log on standard error.")
@_allow_extra_columns
@_guarded
def solve(instance: str, output: str | None, as_json: bool, time_limit: float | None,
          mip_gap: float | None, threads: int | None, random_seed: int, presolve: str,
          solver: str, write_lp: str | None, no_merge: bool, compare_baselines: bool,
          verbose: bool) -> None:
    """Solve INSTANCE (a .toml or .json file, or a folder of CSV files)."""
    started = time.monotonic()  # --time-limit counts from here: loading, building, solving
    from pyomo.opt import ProblemFormat

    from optimizer.pipeline import build, solve_built
    from optimizer.results.report import (
        format_result,
        insecure_holder_warnings,
        json_records,
        readable_table,
    )

    for target, kind in ((output, "folder"), (write_lp, "file")):
        _check_writable(target, kind)
    built = build(_load(instance), merge_stakes=not no_merge)
    if write_lp:
        with atomic_path(Path(write_lp)) as staged:
            built.model.write(str(staged), format=ProblemFormat.cpxlp,
                              io_options={"symbolic_solver_labels": True})
    result = solve_built(built, started=started, time_limit=time_limit, mip_rel_gap=mip_gap,
                         threads=threads, random_seed=random_seed, presolve=presolve,
                         solver=solver, verbose=verbose)
    failed = result.status == "error" or bool(result.violations)
    if output and not failed:  # a failed solve leaves any previous output as it was
        result.to_dir(output)
    comparison = None
    if compare_baselines and result.objective is not None:
        from optimizer.analysis.baselines import compare
        from optimizer.results.evaluate import evaluate

        comparison = compare(built.instance, evaluate(built.instance, result.allocation))
    if as_json:
        summary = result.summary()
        if comparison is not None:
            summary["baselines"] = json_records(comparison)
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(format_result(result))
        if comparison is not None:
            click.echo("\nbaselines (every number from the evaluator; uplift = optimizer - "
                       "baseline)")
            click.echo(readable_table(comparison))
    for warning in (result.warnings[len(built.instance.warnings):]
                    + insecure_holder_warnings(result.holders)):
        click.echo(f"warning: {warning}", err=True)
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
        sys.exit(3)
    sys.exit(result.exit_code)


@main.command()
@click.argument("instance", type=click.Path())
@click.option("--points", type=click.IntRange(2, 500), default=10, show_default=True)
@click.option("--risk", type=click.Choice(["cvar", "expected_loss", "portfolio_worst_case"]),
              default="cvar", show_default=True, help="Risk measure on the frontier's x axis: "
              "CVaR, expected loss, or the portfolio's loss when the worst_case_k services "
              "costing it most are slashed at once.")
@click.option("--output", "-o", type=click.Path(), help="Write the points and their "
              "allocations: FILE.csv (points; allocations in FILE-allocations.csv) or "
              "FILE.json (both).")
@click.option("--plot", type=click.Path(), help="Write the frontier as a PNG (needs the "
              "[plot] extra).")
@click.option("--compare-rebuild", is_flag=True, help="Also solve each point by rebuilding "
              "the model, to measure the speed-up and check the answers agree.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@_allow_extra_columns
@_guarded
def frontier(instance: str, points: int, risk: str, output: str | None, plot: str | None,
             compare_rebuild: bool, quiet: bool) -> None:
    """The reward-versus-risk efficient frontier of INSTANCE, from one persistent model."""
    from optimizer.analysis.frontier import frontier as trace
    from optimizer.analysis.plots import plot_frontier, pyplot
    from optimizer.results.report import json_records, readable_table

    if plot:
        pyplot()  # fail before the work when matplotlib is missing
    problem = _load(instance)
    result = trace(problem, points=points, risk=risk, compare_rebuild=compare_rebuild,
                   show_progress=not quiet)
    click.echo(readable_table(result.points))
    click.echo(f"first solve (build, hand-off, solve) {result.first_seconds:.2f} s; "
               f"re-solves median {result.points['seconds'].median():.3f} s", err=True)
    if compare_rebuild and result.points["rebuild_seconds"].notna().any():
        rebuild = result.points["rebuild_seconds"].median()
        click.echo(f"rebuilding each point: median {rebuild:.3f} s "
                   f"({rebuild / result.points['seconds'].median():.1f}x the persistent "
                   "re-solve)", err=True)
    if output:
        target = Path(output)
        if target.suffix == ".json":
            with atomic_path(target) as staged:
                staged.write_text(json.dumps({
                    "risk": risk, "points": json_records(result.points),
                    "allocations": json_records(result.allocations)},
                    indent=1, default=str))
        else:
            with atomic_path(target) as staged:
                result.points.to_csv(staged, index=False)
            with atomic_path(target.with_name(target.stem + "-allocations.csv")) as staged:
                result.allocations.to_csv(staged, index=False)
    if plot:
        plot_frontier(result.points, risk, problem.numeraire, Path(plot))


@main.command()
@click.argument("instance", type=click.Path())
@click.argument("solution", type=click.Path())
@click.option("--runs", type=click.IntRange(1, 1_000_000), default=100_000, show_default=True,
              help="Slashing scenarios to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--plot", type=click.Path(), help="Write a histogram of the losses as a PNG "
              "(needs the [plot] extra).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@_allow_extra_columns
@_guarded
def simulate(instance: str, solution: str, runs: int, seed: int, as_json: bool,
             plot: str | None, quiet: bool) -> None:
    """Monte Carlo slashing of SOLUTION: the distribution of realised losses.

    Expected loss, VaR and CVaR at 90/95/99%, the chance of losing more than 0.1/1/5/10%
    of the value allocated, per-holder losses and each service's share of the tail.
    """
    from optimizer.analysis.plots import plot_losses, pyplot
    from optimizer.analysis.simulate import simulate as run_simulation
    from optimizer.results.report import readable_table
    from optimizer.results.write import read_allocation

    if plot:
        pyplot()  # fail before the work when matplotlib is missing
    problem = _load(instance)
    try:
        result = run_simulation(problem, read_allocation(Path(solution)), runs=runs, seed=seed,
                                show_progress=not quiet)
    except ValueError as error:
        raise InstanceError([Problem(solution, None, str(error))]) from None
    if plot:
        plot_losses(result.losses, result.probability, problem.numeraire, Path(plot))
    if as_json:
        click.echo(json.dumps({
            "runs": runs, "seed": seed,
            "summary": dict(zip(result.summary["measure"], result.summary["value"],
                                strict=True)),
            "holders": result.holders.to_dict(orient="records"),
            "contributions": result.contributions.to_dict(orient="records"),
        }, indent=2))
        return
    click.echo(f"{runs:,} slashing scenarios, seed {seed} ({problem.numeraire})")
    click.echo(readable_table(result.summary))
    click.echo("\nholders")
    click.echo(readable_table(result.holders))
    shares = result.contributions.sort_values("share_of_tail_loss", ascending=False)
    click.echo("\nservices by share of the 95% tail loss")
    click.echo(readable_table(shares[shares["expected_loss"] > 0]))


@main.command()
@click.argument("instance", type=click.Path())
@click.argument("solution", type=click.Path())
@_allow_extra_columns
@_guarded
def security(instance: str, solution: str) -> None:
    """Security of the restaking graph of SOLUTION (a solution folder or allocation.csv).

    Per service, cost of corruption against profit from corruption; per holder, the
    Durvasula-Roughgarden condition (at most 1 means no profitable cascading attack).
    """
    from optimizer.analysis.security import security_report
    from optimizer.results.report import insecure_holder_warnings, readable_table
    from optimizer.results.write import read_allocation

    problem = _load(instance)
    try:
        services, holders = security_report(problem, read_allocation(Path(solution)))
    except ValueError as error:  # an allocation that does not fit the instance
        raise InstanceError([Problem(solution, None, str(error))]) from None
    click.echo("services (cost of corruption against profit from corruption)")
    click.echo(readable_table(services))
    click.echo("\nholders (condition <= 1 holds)")
    click.echo(readable_table(holders))
    for warning in insecure_holder_warnings(holders):
        click.echo(f"warning: {warning}", err=True)


@main.command()
@click.argument("instance", type=click.Path())
@_allow_extra_columns
@_guarded
def validate(instance: str) -> None:
    """Check INSTANCE and list every problem (exit 2 if there is one)."""
    problem = _load(instance)
    size = problem.size()
    click.echo(f"{instance}: valid: {size['stakes']} stakes, {size['services']} services, "
               f"{size['pairs']} eligible pairs")


@main.command()
@click.argument("instance", type=click.Path())
@click.argument("out", type=click.Path())
@_allow_extra_columns
@_guarded
def convert(instance: str, out: str) -> None:
    """Write INSTANCE as OUT: a .toml or .json file, or any other path a CSV folder."""
    _load(instance).write(out)
    click.echo(f"wrote {out}", err=True)


@main.command()
@click.argument("instance", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--count", type=click.IntRange(min=1), help="Scenarios to sample (default: the "
              "instance's scenario_count).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed (default: scenario_seed).")
@_allow_extra_columns
@_guarded
def scenarios(instance: str, out: str, count: int | None, seed: int | None) -> None:
    """Write INSTANCE to OUT with its sampled CVaR scenarios as a scenarios table.

    The scenarios are those a solve would sample (the common-shock model, seeded);
    OUT solves with exactly them, and can be inspected or edited.
    """
    problem = _load(instance)
    if len(problem.scenarios):
        raise click.UsageError(f"{instance} already has a scenarios table")
    changes = {k: v for k, v in (("scenario_count", count), ("scenario_seed", seed))
               if v is not None}
    problem = problem.with_changes(parameters=changes)
    sampled = problem.scenario_set()
    problem.with_scenarios(sampled).write(out)
    click.echo(f"wrote {out}: {sampled.count} distinct scenarios", err=True)


ALL_FEATURES: dict[str, Any] = {
    "pools": 0.3, "min_security": 0.2, "corruption": True, "opt_in": True, "cvar": "limit",
    "turnover": True, "required": 2, "holder_share": True, "worst_case_k": 2,
}
"""What ``restake generate --all`` switches on (options given explicitly still win)."""


@main.command()
@click.argument("out", type=click.Path())
@click.option("--stakes", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--services", type=click.IntRange(1, 10_000), required=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--density", type=click.FloatRange(0, 1, min_open=True), default=0.3,
              show_default=True, help="Target fraction of (stake, service) pairs eligible.")
@click.option("--assets", type=click.IntRange(1, 8), help="Number of assets (default by size).")
@click.option("--groups/--no-groups", default=True, show_default=True,
              help="Correlation groups with exposure limits.")
@click.option("--capacities/--no-capacities", default=True, show_default=True)
@click.option("--holder-share", is_flag=True, help="Holder-share caps with external stake.")
@click.option("--required", type=click.IntRange(min=0), default=0, show_default=True,
              help="Services that must reach a (feasible) minimum security.")
@click.option("--worst-case-k", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pools", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              metavar="FRACTION", help="Fraction of services paid by a reward pool shared "
              "with external stake.")
@click.option("--min-security", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              metavar="FRACTION", help="Fraction of optional services with a minimum "
              "security (secured or not at all).")
@click.option("--corruption", is_flag=True,
              help="Profit from corruption and attack thresholds on some services.")
@click.option("--opt-in", is_flag=True,
              help="Opt-in costs, minimum allocations and holders' max services.")
@click.option("--cvar", type=click.Choice(["limit", "aversion"]), is_flag=False,
              flag_value="limit", help="CVaR of the slashing loss as a limit or in the "
              "objective (risk aversion); --cvar alone means limit.")
@click.option("--scenarios", type=click.IntRange(min=1), default=200, show_default=True,
              metavar="N", help="Scenarios the solver samples for CVaR.")
@click.option("--turnover", is_flag=True,
              help="A current allocation with turnover cost and limit.")
@click.option("--all", "all_features", is_flag=True,
              help="Every feature on: --pools 0.3 --min-security 0.2 --corruption --opt-in "
              "--cvar limit --turnover --required 2 --holder-share --worst-case-k 2 "
              "(options given explicitly win).")
@click.option("--name", help="Instance name (default from the arguments).")
@click.pass_context
@_guarded
def generate(context: click.Context, out: str, stakes: int, services: int, seed: int,
             density: float, assets: int | None, groups: bool, capacities: bool,
             holder_share: bool, required: int, worst_case_k: int, pools: float,
             min_security: float, corruption: bool, opt_in: bool, cvar: str | None,
             scenarios: int, turnover: bool, all_features: bool, name: str | None) -> None:
    """Write a seeded synthetic instance to OUT (.toml, .json, or a CSV folder)."""
    from optimizer.instance.generate import generate_instance

    features: dict[str, Any] = {
        "pools": pools, "min_security": min_security, "corruption": corruption,
        "opt_in": opt_in, "cvar": cvar, "turnover": turnover, "required": required,
        "holder_share": holder_share, "worst_case_k": worst_case_k,
    }
    if all_features:
        for key, value in ALL_FEATURES.items():
            source = context.get_parameter_source(key)
            if source is None or source is click.core.ParameterSource.DEFAULT:
                features[key] = value
    try:
        instance = generate_instance(stakes, services, seed=seed, density=density,
                                     assets=assets, groups=groups, capacities=capacities,
                                     scenarios=scenarios, name=name, **features)
    except ValueError as error:  # arguments that do not fit together, e.g. --required > M
        raise click.UsageError(str(error)) from None
    instance.write(out)
    size = instance.size()
    click.echo(f"wrote {out}: {size['stakes']} stakes, {size['services']} services, "
               f"{size['pairs']} eligible pairs", err=True)


@main.command()
@click.argument("suite", default="default")
@click.option("--repeats", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Runs of each case (medians are reported).")
@click.option("--output", "-o", type=click.Path(file_okay=False), default="benchmarks/results",
              show_default=True, help="Folder for runs.csv (appended), report.md, scaling.png.")
@click.option("--cache", type=click.Path(file_okay=False), default="benchmarks/instances",
              show_default=True, help="Folder of the generated instances (made on first use).")
@click.option("--no-direct", is_flag=True, help="Skip the direct highspy formulation.")
@click.option("--solver", type=click.Choice(LP_ALGORITHMS), default="choose", show_default=True,
              help="LP algorithm of restake's own runs.")
@click.option("--list", "list_suites", is_flag=True, help="List the suites and their cases.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@_guarded
def bench(suite: str, repeats: int, output: str, cache: str, no_direct: bool, solver: str,
          list_suites: bool, quiet: bool) -> None:
    """Run the benchmark SUITE (tiny, small, medium, large, huge, default).

    Every case runs in its own process through restake and, for LPs, through the direct
    highspy formulation with each HiGHS algorithm; one row per run is appended to
    runs.csv and report.md compares them.
    """
    import pandas as pd

    from optimizer.analysis.progress import note
    from optimizer.bench.report import markdown, scaling_plot
    from optimizer.bench.runner import run_suite
    from optimizer.bench.suites import SUITES

    if list_suites:
        for name, cases in SUITES.items():
            click.echo(f"{name}: " + ", ".join(case.name for case in cases))
        return
    if suite not in SUITES:
        raise click.UsageError(f"unknown suite {suite!r}; one of {', '.join(SUITES)}")
    folder = Path(output)
    command = " ".join(["restake bench", suite, *(["--repeats", str(repeats)] if repeats > 1
                                                    else []),
                        *(["--no-direct"] if no_direct else []),
                        *(["--solver", solver] if solver != "choose" else []),
                        *(["--output", output] if output != "benchmarks/results" else [])])

    def echo(row: dict[str, Any]) -> None:
        if not quiet:  # above the progress bar, not into it
            note(f"  {row['instance']} {row['method']} {row['algorithm']}: "
                 f"{row['status']} in {row['total_s']:.2f} s")

    rows = run_suite(suite, SUITES[suite], folder, Path(cache), repeats=repeats,
                     direct=not no_direct, restake_algorithm=solver,
                     show_progress=not quiet, on_row=echo)
    runs = pd.DataFrame(rows)
    with atomic_path(folder / "report.md") as staged:
        staged.write_text(markdown(runs, f"Benchmark suite {suite}", command))
    try:
        scaling_plot(runs, folder / "scaling.png")
    except OutputError as error:
        click.echo(f"note: no scaling plot ({error})", err=True)
    click.echo((folder / "report.md").read_text())


if __name__ == "__main__":  # pragma: no cover
    main()

__all__ = ["main"]
