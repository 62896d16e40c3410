"""The arguments and options several commands share, each declared once.

A decorator here adds its parameters where it is applied, in the order written, so a
command's ``--help`` lists them as its decorators read from top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from optimizer.solve.options import LP_ALGORITHMS

F = TypeVar("F", bound=Callable[..., Any])

instance_argument = click.argument("instance", type=click.Path())
"""INSTANCE: a .toml or .json file, or a folder of CSV files."""

solution_argument = click.argument("solution", type=click.Path())
"""SOLUTION: a solution folder or its allocation.csv."""

out_argument = click.argument("out", type=click.Path())
"""OUT: the path a command writes."""

quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress line.")
"""``--quiet``/``-q``: no progress line on standard error."""

snapshot_option = click.option(
    "--snapshot", type=click.Path(), help="The chain's state read into a snapshot file (JSON, "
    "docs/protocols.md): today's magnitudes, limits and pending changes.")
"""``--snapshot``: the on-chain state a solve or a plan starts from."""

verbose_option = click.option("--verbose", "-v", is_flag=True,
                              help="Solver log on standard error.")
"""``--verbose``/``-v``: HiGHS's log on standard error."""


def stacked(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Several decorators as one, applied as if written in this order above a function.

    Parameters
    ----------
    *decorators : callable
        Decorators, the first the outermost.

    Returns
    -------
    callable
        A decorator applying them all.
    """

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def output_option(help: str, **attributes: Any) -> Callable[[F], F]:
    """``--output``/``-o``: where a command writes its results.

    Parameters
    ----------
    help : str
        The option's help text.
    **attributes
        Other ``click.option`` attributes; the type is a ``click.Path()`` unless given.

    Returns
    -------
    callable
        The option's decorator.
    """
    attributes.setdefault("type", click.Path())
    return click.option("--output", "-o", help=help, **attributes)


def json_option(help: str) -> Callable[[F], F]:
    """``--json``: print the results as JSON, passed to the command as ``as_json``.

    Parameters
    ----------
    help : str
        The option's help text.

    Returns
    -------
    callable
        The option's decorator.
    """
    return click.option("--json", "as_json", is_flag=True, help=help)


def plot_option(what: str) -> Callable[[F], F]:
    """``--plot``: write ``what`` as a PNG (the ``[plot]`` extra's matplotlib).

    Parameters
    ----------
    what : str
        What the plot shows, e.g. ``"the frontier"``.

    Returns
    -------
    callable
        The option's decorator.
    """
    return click.option("--plot", type=click.Path(),
                        help=f"Write {what} as a PNG (needs the [plot] extra).")


def seed_option(default: int | None = 0, help: str | None = None,
                name: str = "seed") -> Callable[[F], F]:
    """``--seed``: a non-negative seed, its default shown when there is one.

    Parameters
    ----------
    default : int or None
        The default seed; ``None`` for none.
    help : str or None
        The option's help text.
    name : str
        The parameter the command receives.

    Returns
    -------
    callable
        The option's decorator.
    """
    return click.option("--seed", name, type=click.IntRange(min=0), default=default,
                        show_default=default is not None, help=help)


def solver_option(help: str) -> Callable[[F], F]:
    """``--solver``: the LP algorithm, one of ``LP_ALGORITHMS`` (default ``choose``).

    Parameters
    ----------
    help : str
        The option's help text.

    Returns
    -------
    callable
        The option's decorator.
    """
    return click.option("--solver", type=click.Choice(LP_ALGORITHMS), default="choose",
                        show_default=True, help=help)


solver_options = stacked(
    click.option("--time-limit", type=click.FloatRange(min=0, min_open=True),
                 help="Time limit of the whole command (load, build, solve), seconds."),
    click.option("--mip-gap", type=click.FloatRange(0, 1, max_open=True),
                 help="Relative MIP gap to stop at (HiGHS's mip_rel_gap)."),
    click.option("--threads", type=click.IntRange(min=1), help="Solver threads."),
    seed_option(help="HiGHS random seed.", name="random_seed"),
    click.option("--presolve", type=click.Choice(["choose", "on", "off"]), default="choose",
                 show_default=True),
    solver_option("LP algorithm (hipo needs the [bench] extra's highspy-extras)."),
)
"""The solver's options: ``--time-limit``, ``--mip-gap``, ``--threads``, ``--seed``,
``--presolve`` and ``--solver``."""


def _remember_allow_extra_columns(context: click.Context, _parameter: click.Parameter,
                                  value: bool) -> None:
    context.meta["allow_extra_columns"] = value


allow_extra_columns = click.option(
    "--allow-extra-columns", is_flag=True, expose_value=False,
    callback=_remember_allow_extra_columns,
    help="Ignore, with a warning, columns, keys and tables the format does not know "
         "(refused by default: a misspelt column would drop its limit).")
"""``--allow-extra-columns``, kept in the context for `optimizer.cli.inputs.load`."""


def _remember_current(context: click.Context, _parameter: click.Parameter,
                      value: str | None) -> None:
    context.meta["current"] = value


current_option = click.option(
    "--current", type=click.Path(), expose_value=False, callback=_remember_current,
    help="A previous solution folder (restake solve --output): its allocation.csv becomes "
         "the instance's current allocation, replacing the instance's own (turnover counts "
         "from it).")
"""``--current SOLUTION``, kept in the context for `optimizer.cli.inputs.load`."""
