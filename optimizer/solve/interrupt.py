"""Stopping cleanly on SIGINT (Ctrl-C) or SIGTERM.

HiGHS runs without Python's attention, so a signal alone would wait for the solve to
end. While the handlers of ``handling_signals`` are installed, the solver's interrupt
callbacks (simplex, interior point, MIP) give Python a moment at every check: a pending
signal is then noted and the callback asks HiGHS to stop. After the run, or at once when
the signal arrives outside the solver, ``Interrupted`` is raised; nothing has been written
by then, and the command line exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_requested: int | None = None
_in_solver = False
_installed = False


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def _handle(signum: int, frame: Any) -> None:
    global _requested
    _requested = signum
    if not _in_solver:
        raise Interrupted(signum)


@contextmanager
def handling_signals() -> Iterator[None]:
    """Install the SIGINT and SIGTERM handlers for the duration (main thread only)."""
    global _installed, _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handle) for s in (signal.SIGINT, signal.SIGTERM)}
    _installed, _requested = True, None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _installed = False


@dataclass
class RunStop:
    """Why a run was asked to stop by the package (not by HiGHS's own limits)."""

    deadline_passed: bool = False


@contextmanager
def solver_running(highs: Any, stop_at: float | None = None) -> Iterator[RunStop]:
    """While HiGHS runs, turn a pending signal, or ``stop_at``, into HiGHS's user interrupt.

    ``stop_at`` is a ``time.monotonic()`` instant: a backstop for an algorithm that does
    not keep HiGHS's own ``time_limit`` (HiPO has overshot it); ``RunStop.deadline_passed``
    then says the run was stopped for time.
    """
    global _in_solver
    stop = RunStop()
    if not _installed and stop_at is None:
        yield stop
        return

    def check(event: Any) -> None:
        if _requested is not None:
            event.data_in.user_interrupt = True
        elif stop_at is not None and time.monotonic() > stop_at:
            stop.deadline_passed = True
            event.data_in.user_interrupt = True

    for callback in (highs.cbSimplexInterrupt, highs.cbIpmInterrupt, highs.cbMipInterrupt):
        callback.subscribe(check)
    _in_solver = _installed
    try:
        yield stop
    finally:
        _in_solver = False
        for callback in (highs.cbSimplexInterrupt, highs.cbIpmInterrupt, highs.cbMipInterrupt):
            callback.unsubscribe(check)
    if _requested is not None:
        raise Interrupted(_requested)
