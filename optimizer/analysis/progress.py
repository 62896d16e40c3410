"""Progress bars on standard error for long work, drawn by tqdm only on a terminal.

Standard output belongs to the commands' results, so the bar goes to standard error, and
only when that is a terminal: a pipe, a file or a CI log gets no bar at all (no carriage
returns to strip). ``--quiet`` turns it off on a terminal too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str, enabled: bool = True) -> Iterable[T]:
    """Iterate over ``items`` with a progress bar on a terminal's standard error.

    Parameters
    ----------
    items
        The work, one item per step.
    total
        Number of items (the bar's 100%).
    label
        What the items are, shown before the bar, e.g. ``"frontier points"``.
    enabled
        False draws nothing (``--quiet``).

    Returns
    -------
    Iterable
        ``items`` itself when no bar is drawn (disabled, or standard error is not a
        terminal); otherwise a tqdm bar over them that redraws in place after each step and
        leaves its final line (count complete, elapsed time, rate in items per second).
    """
    if not (enabled and sys.stderr.isatty()):
        return items
    from tqdm import tqdm  # only a terminal needs it; keeps imports of the analyses light

    return tqdm(items, total=total, desc=label, file=sys.stderr, dynamic_ncols=True)


def note(message: str) -> None:
    """Write ``message`` as a line on standard error, above any progress bar being drawn.

    On a terminal the line goes through tqdm, which clears the bar, writes the line and
    redraws the bar below it; elsewhere there is no bar and the line is written as it is.
    """
    if sys.stderr.isatty():
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
