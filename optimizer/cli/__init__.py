"""The command line, ``restake``: a thin layer over the Python API.

Exit codes: 0 solved (optimal, or feasible at a limit with a warning); 1 infeasible
or unbounded; 2 bad input or usage; 3 internal or solver error; 130 interrupted.
Logs, warnings and problems go to standard error; results to standard output or files.

One module per command or group of related commands; the options several share are in
`optimizer.cli.options`, the errors' exit codes in `optimizer.cli.errors`, and what is
shown or written, and when, in `optimizer.cli.output`. Importing this package imports
click and light modules only: each command imports the modeling stack (pandas, Pyomo,
HiGHS) when it runs, so ``restake --help`` answers at once.
"""

from __future__ import annotations

import click

from optimizer.cli import (
    bench,
    frontier,
    generate,
    instance,
    plan,
    report,
    sensitivity,
    solution,
    solve,
)
from optimizer.cli import robustness as robustness_cli
from optimizer.cli import sweep as sweep_cli
from optimizer.cli.generate import ALL_FEATURES


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="restake-optimizer", prog_name="restake")
def main() -> None:
    """Optimal restaking allocation: which services each stake secures, and how much."""


for _command in (solve.solve, frontier.frontier, solution.simulate, solution.security,
                 instance.validate, instance.convert, instance.scenarios, generate.generate,
                 bench.bench, sensitivity.sensitivity, report.report, robustness_cli.robustness,
                 sweep_cli.sweep, plan.plan):
    main.add_command(_command)
del _command

__all__ = ["ALL_FEATURES", "main"]
