"""The package's errors as messages on standard error and exit codes.

Exit codes: 0 solved (optimal, or feasible at a limit with a warning); 1 infeasible
or unbounded; 2 bad input or usage; 3 internal or solver error; 130 interrupted.
A user never sees a traceback, except below a bug of ours.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

import click

from optimizer.errors import (
    InstanceError,
    OptimizerError,
    OutputError,
    Problem,
    ResourceError,
)
from optimizer.solve.interrupt import Interrupted, handling_signals

MAX_PROBLEMS_SHOWN = 100
"""Problems listed for an invalid instance; the rest are counted."""


def echo_problems(title: str, problems: list[Problem]) -> None:
    """Write ``title`` and the first ``MAX_PROBLEMS_SHOWN`` problems to standard error.

    Parameters
    ----------
    title : str
        The line above the problems.
    problems : list of Problem
        The problems, one a line, indented.
    """
    click.echo(title, err=True)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  {problem}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)


def fail(message: str, code: int) -> NoReturn:
    """Write ``message`` to standard error and exit with ``code``.

    Parameters
    ----------
    message : str
        The whole line, e.g. ``"error: ... (nothing was written)"``.
    code : int
        The exit code.
    """
    click.echo(message, err=True)
    sys.exit(code)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Map the package's errors to messages and exit codes; never show a user a traceback.

    Parameters
    ----------
    command : callable
        A command's function; it runs with ``SIGINT`` and ``SIGTERM`` handled.

    Returns
    -------
    callable
        The function, wrapped.
    """

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with handling_signals():
                return command(*args, **kwargs)
        except InstanceError as error:
            count = len(error.problems)
            echo_problems(f"error: {count} problem{'s' if count != 1 else ''} in the input "
                          "(nothing was written):", error.problems)
            sys.exit(2)
        except ResourceError as error:
            fail(f"error: {error} (nothing was written)", 2)
        except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
            sys.stderr.close()
            sys.exit(0)
        except OutputError as error:
            fail(f"error: {error} (nothing was written)", 2)
        except OSError as error:
            fail(f"error: {error.filename or ''}: {error.strerror}", 2)
        except Interrupted as stop:
            fail(f"interrupted ({stop}): stopped, nothing was written", stop.exit_code)
        except KeyboardInterrupt:
            fail("interrupted: stopped, nothing was written", 130)
        except OptimizerError as error:
            fail(f"error: {error}", 3)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # a bug of ours: say so, keep the details available
            click.echo(f"internal error: {type(error).__name__}: {error}", err=True)
            click.echo("please report it with the instance; details follow", err=True)
            traceback.print_exc(file=sys.stderr)
            sys.exit(3)

    return run


def input_problem(where: str, error: ValueError) -> InstanceError:
    """An input that does not fit another (an allocation, an instance) as a bad input.

    Parameters
    ----------
    where : str
        The input at fault, e.g. the solution's path.
    error : ValueError
        What the analysis found.

    Returns
    -------
    InstanceError
        One problem, at ``where``, exiting 2 through `guarded`.
    """
    return InstanceError([Problem(where, None, str(error))])
