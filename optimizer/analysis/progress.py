"""A progress line on standard error for long work, silent unless it is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str, enabled: bool = True) -> Iterator[T]:
    """Yield ``items``, redrawing ``label k/total (elapsed)`` on a terminal's stderr.

    Nothing is drawn when ``enabled`` is false (``--quiet``) or standard error is not a
    terminal (a pipe, a file, CI), so logs stay clean.
    """
    show = enabled and sys.stderr.isatty()
    start = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        if show:
            sys.stderr.write(f"\\r{label} {done}/{total} ({time.perf_counter() - start:.1f} s)")
            sys.stderr.flush()
    if show:
        sys.stderr.write("\\n")
