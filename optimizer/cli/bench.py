"""``restake bench``: a benchmark suite, run and reported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optimizer.cli.errors import guarded
from optimizer.cli.options import output_option, quiet_option, solver_option

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_OUTPUT = "benchmarks/results"
"""Where ``restake bench`` writes unless told."""


@click.command()
@click.argument("suite", default="default")
@click.option("--repeats", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Runs of each case (medians are reported).")
@output_option("Folder for runs.csv (appended), report.md, scaling.png.",
               type=click.Path(file_okay=False), default=DEFAULT_OUTPUT, show_default=True)
@click.option("--cache", type=click.Path(file_okay=False), default="benchmarks/instances",
              show_default=True, help="Folder of the generated instances (made on first use).")
@click.option("--no-direct", is_flag=True, help="Skip the direct highspy formulation.")
@solver_option("LP algorithm of restake's own runs.")
@click.option("--list", "list_suites", is_flag=True, help="List the suites and their cases.")
@quiet_option
@guarded
def bench(suite: str, repeats: int, output: str, cache: str, no_direct: bool, solver: str,
          list_suites: bool, quiet: bool) -> None:
    """Run the benchmark SUITE (tiny, small, medium, large, huge, default).

    Every case runs in its own process through restake and, for LPs, through the direct
    highspy formulation with each HiGHS algorithm; one row per run is appended to
    runs.csv and report.md compares them.
    """
    from optimizer.analysis.progress import note
    from optimizer.bench.runner import run_suite
    from optimizer.bench.suites import SUITES

    if list_suites:
        for name, cases in SUITES.items():
            click.echo(f"{name}: " + ", ".join(case.name for case in cases))
        return
    if suite not in SUITES:
        raise click.UsageError(f"unknown suite {suite!r}; one of {', '.join(SUITES)}")

    def echo(row: dict[str, Any]) -> None:
        if not quiet:  # above the progress bar, not into it
            note(f"  {row['instance']} {row['method']} {row['algorithm']}: "
                 f"{row['status']} in {row['total_s']:.2f} s")

    rows = run_suite(suite, SUITES[suite], Path(output), Path(cache), repeats=repeats,
                     direct=not no_direct, restake_algorithm=solver,
                     show_progress=not quiet, on_row=echo)
    command = bench_command(suite, repeats, no_direct, solver, output)
    write_bench_report(rows, Path(output), f"Benchmark suite {suite}", command)


def bench_command(suite: str, repeats: int, no_direct: bool, solver: str, output: str) -> str:
    """The shortest ``restake bench`` command line that repeats a run, for its report.

    Parameters
    ----------
    suite : str
        The suite run.
    repeats : int
        Runs of each case.
    no_direct : bool
        Whether the direct highspy formulation was skipped.
    solver : str
        The LP algorithm of restake's own runs.
    output : str
        The output folder.

    Returns
    -------
    str
        The command, options at their defaults left out.
    """
    return " ".join(["restake bench", suite,
                     *(["--repeats", str(repeats)] if repeats > 1 else []),
                     *(["--no-direct"] if no_direct else []),
                     *(["--solver", solver] if solver != "choose" else []),
                     *(["--output", output] if output != DEFAULT_OUTPUT else [])])


def write_bench_report(rows: list[dict[str, Any]], folder: Path, title: str,
                       command: str) -> None:
    """Write report.md and scaling.png of a suite's runs, and print the report.

    Parameters
    ----------
    rows : list of dict
        One row per run, as `optimizer.bench.runner.run_suite` returns them.
    folder : Path
        The output folder.
    title : str
        The report's heading.
    command : str
        The command line that made the runs, quoted in the report.
    """
    import pandas as pd

    from optimizer.atomic import atomic_path
    from optimizer.bench.report import markdown, release_moves, scaling_plot
    from optimizer.errors import OutputError

    runs = pd.DataFrame(rows)
    history = _earlier_runs(folder / "runs.csv", len(rows))
    with atomic_path(folder / "report.md") as staged:
        staged.write_text(markdown(runs, title, command, history))
    moves = release_moves(runs, history)
    for _, moved in moves[moves["moved"]].iterrows():
        click.echo(f"warning: {moved['instance']} took {moved['ratio']:.2f}x its time on "
                   f"HiGHS {moved['other']} (now {moved['highs']})", err=True)
    try:
        scaling_plot(runs, folder / "scaling.png")
    except OutputError as error:
        click.echo(f"note: no scaling plot ({error})", err=True)
    click.echo((folder / "report.md").read_text())


def _earlier_runs(path: Path, latest: int) -> pd.DataFrame:
    """The rows of ``runs.csv`` before the ``latest`` ones this run appended."""
    import pandas as pd

    if not path.is_file():
        return pd.DataFrame(columns=["instance", "method", "status", "highs", "total_s"])
    recorded = pd.read_csv(path, dtype={"highs": str})
    return recorded.iloc[:max(0, len(recorded) - latest)]
