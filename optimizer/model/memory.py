"""Fail fast on size: estimate the memory a build needs before building.

The estimate is linear in what the model holds, with coefficients measured on this
project's generated instances: peak resident memory of a whole solve, the solver's
included, of 2.1 GB for the 589,000 pairs of the coupled 10,000 x 200 benchmark LP (the
worst case of 2 adds a variable and a row per pair, the largest model per pair there is
without binaries). An instance whose estimate exceeds the memory available is refused
before any model exists, instead of being killed by the operating system midway. What
is available respects a container's cgroup limit and ``ulimit -v`` (see
``optimizer.resources``); where the system reports nothing, nothing is checked.
"""

from __future__ import annotations

from optimizer import resources
from optimizer.errors import ResourceError
from optimizer.instance import Instance

BASE_BYTES = 300e6
"""Python, numpy, pandas, Pyomo and HiGHS loaded, before any model (bytes)."""

BYTES_PER_PAIR = 3300.0
"""Peak bytes per eligible pair (model, matrices and HiGHS's copy): 3,070 measured, plus room."""

BYTES_PER_SCENARIO_TERM = 1000.0
"""Peak bytes per (scenario, slashed service) term of the CVaR rows."""

HEADROOM = resources.HEADROOM
"""Share of the available memory a build may plan to use."""


def estimate_bytes(instance: Instance, scenario_terms: int = 0) -> float:
    """Estimated peak memory (bytes) to build and solve ``instance``."""
    return BASE_BYTES + BYTES_PER_PAIR * len(instance.pairs) + (
        BYTES_PER_SCENARIO_TERM * scenario_terms)


def available_bytes() -> float | None:
    """Memory this process may still use (bytes), None when unknown; see ``optimizer.resources``.

    The least of MemAvailable (else physical memory), the cgroup limit less usage and
    the address space left under ``RLIMIT_AS``.
    """
    return resources.available_bytes()


def check_fits(instance: Instance, scenario_terms: int = 0) -> None:
    """Refuse an instance whose estimated build does not fit in the available memory.

    Raises
    ------
    ResourceError
        With the estimate, what is available, and what to do about it.
    """
    needed = estimate_bytes(instance, scenario_terms)
    free = available_bytes()
    if free is not None and needed > HEADROOM * free:
        pairs = len(instance.pairs)
        raise ResourceError(
            f"this instance needs an estimated {needed / 1e9:.1f} GB to build and solve "
            f"({pairs:,} eligible stake-service pairs, {scenario_terms:,} scenario terms), "
            f"but only {free / 1e9:.1f} GB are available; make fewer pairs eligible "
            "(narrow `accepts` or add eligibility rows), split the book into several "
            "instances, sample fewer scenarios, or use a machine with more memory")
