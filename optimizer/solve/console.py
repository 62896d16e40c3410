"""Standard output belongs to the product: HiGHS objects are made without writing to it.

HiGHS 1.16 prints its banner on file descriptor 1 when the first object of a process is
made, before any option can switch logging off. ``quiet_highs`` makes every ``Highs`` of
the package with descriptor 1 pointed elsewhere for the duration.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import highspy

_standard_output_lock = threading.Lock()
"""Held while file descriptor 1 points elsewhere (one redirection at a time)."""


def _flush_c_streams() -> None:
    """Flush C's stdio buffers, so text HiGHS printed leaves by the descriptor it was meant for."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to reach (not on this platform)
        pass


@contextmanager
def _standard_output_to(target_fd: int | None) -> Iterator[None]:
    """Point file descriptor 1 at ``target_fd`` (``None``: the null device) for the duration.

    Python's ``sys.stdout`` is flushed first, so nothing of the product's own output is
    sent astray; C's buffers are flushed before the descriptor is restored, so nothing
    printed meanwhile reaches standard output later.
    """
    with _standard_output_lock:
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError):  # replaced or closed by the embedding program
            pass
        try:
            saved = os.dup(1)
        except OSError:  # no standard output at all: nothing to protect
            yield
            return
        null = os.open(os.devnull, os.O_WRONLY) if target_fd is None else None
        try:
            os.dup2(null if target_fd is None else target_fd, 1)  # type: ignore[arg-type]
            try:
                yield
            finally:
                _flush_c_streams()
                os.dup2(saved, 1)
        finally:
            os.close(saved)
            if null is not None:
                os.close(null)


def quiet_highs(log_to_stderr: bool = False) -> highspy.Highs:
    """A new ``highspy.Highs`` whose construction writes nothing to standard output.

    HiGHS 1.16 prints its banner on standard output when the first object of a process is
    made, before any option can switch logging off. Standard output belongs to the
    product (JSON with ``--json``), so the construction runs with file descriptor 1
    pointed at standard error (``log_to_stderr``, as with ``-v``) or at the null device,
    and logging to the console is switched off before the object is returned. Every
    ``Highs`` of the package is made here.
    """
    with _standard_output_to(2 if log_to_stderr else None):
        highs = highspy.Highs()
    highs.setOptionValue("log_to_console", False)
    highs.setOptionValue("output_flag", False)
    return highs
