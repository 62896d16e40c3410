"""The out-of-sample CVaR of an allocation: its CVaR on fresh scenarios of the same model.

The model meets a CVaR limit on the scenarios it was given, a sample of the common-shock
model (``optimizer.instance.scenarios``). Optimizing over a sample favours the services
whose sampled tail happens to be light, so on fresh scenarios the same allocation's CVaR
is usually higher. This module draws fresh scenarios with the package's own sampler (the
instance with another ``scenario_seed`` and ``scenario_count``), computes the allocation's
losses with ``ScenarioSet.losses`` and its CVaR with the evaluator's exact measure, and
gives the estimate's standard error from the asymptotic variance of the CVaR estimator
(docs/model.md, "In-sample and out-of-sample CVaR").

It reads the instance and an allocation only, never the model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import ResourceError
from optimizer.instance import Instance
from optimizer.model.tail_risk import uses_cvar
from optimizer.results.checks.measures import conditional_value_at_risk

MIN_DRAWS = 20_000
"""Fresh scenarios drawn at least (1,000 in the tail at alpha = 0.95)."""

DRAWS_PER_SCENARIO = 10
"""Fresh scenarios drawn per scenario the model used, when that is more than MIN_DRAWS."""

MAX_CELLS = 20_000_000
"""Cap on fresh scenarios x services (about 0.6 s of sampling on one core)."""

FLOOR_DRAWS = 2_000
"""Fresh scenarios drawn however many services there are (the cap never goes below)."""

SEED_OFFSET = 1
"""The fresh scenarios' seed is ``scenario_seed + SEED_OFFSET`` (an unrelated stream)."""

WARN_ERRORS = 2.0
"""A limit exceeded out of sample by more than this many standard errors is warned of."""


@dataclass(frozen=True)
class OutOfSample:
    """The CVaR of an allocation on fresh scenarios.

    Attributes
    ----------
    cvar : float
        CVaR_alpha of the portfolio's loss on the fresh scenarios (numeraire).
    error : float
        Its standard error (numeraire): sqrt(Var[(L - VaR)+] / n) / (1 - alpha).
    draws : int
        Fresh scenarios drawn (n); ``distinct`` of them after merging identical ones.
    distinct : int
        Distinct fresh scenarios.
    seed : int
        Their seed.
    alpha : float
        The confidence level, the instance's ``cvar_alpha``.
    seconds : float
        Time spent sampling and measuring.
    """

    cvar: float
    error: float
    draws: int
    distinct: int
    seed: int
    alpha: float
    seconds: float

    def result_fields(self) -> dict[str, Any]:
        """The ``Result`` fields that report it."""
        return {"cvar_out_of_sample": self.cvar, "cvar_out_of_sample_error": self.error,
                "cvar_out_of_sample_draws": self.draws, "cvar_out_of_sample_seed": self.seed}

    def exceeds(self, limit: float | None, errors: float = WARN_ERRORS) -> bool:
        """Whether ``limit`` is exceeded by more than ``errors`` standard errors."""
        return limit is not None and self.cvar - limit > errors * self.error


def default_draws(instance: Instance) -> int:
    """Fresh scenarios drawn by default for ``instance``.

    ``max(MIN_DRAWS, DRAWS_PER_SCENARIO x scenario_count)``, capped so that draws x
    services stays within ``MAX_CELLS``, never below ``FLOOR_DRAWS``.
    """
    wanted = max(MIN_DRAWS, DRAWS_PER_SCENARIO * instance.parameters.scenario_count)
    cap = max(FLOOR_DRAWS, MAX_CELLS // max(1, len(instance.services)))
    return int(min(wanted, cap))


def applies(instance: Instance) -> bool:
    """Whether ``instance`` has an out-of-sample CVaR: it uses CVaR on sampled scenarios.

    An instance that gives its scenarios as a table states its loss distribution: the CVaR
    on them is exact, and there is no model to draw fresh scenarios from.
    """
    return uses_cvar(instance) and len(instance.scenarios) == 0


def cvar_standard_error(losses: np.ndarray, probability: np.ndarray, alpha: float,
                        draws: int) -> float:
    """Standard error of the sample CVaR of ``draws`` equally likely scenarios.

    The asymptotic variance of the sample CVaR is Var[(L - VaR_alpha)+] / (1 - alpha)^2
    per draw (Hong, Hu and Liu 2014; Trindade et al. 2007), estimated here by plugging in
    the sample's VaR and distribution. ``losses`` and ``probability`` may be the merged
    scenarios (each probability a multiple of 1 / draws).
    """
    order = np.argsort(losses, kind="stable")
    cumulative = np.cumsum(probability[order])
    at = min(int(np.searchsorted(cumulative, alpha - 1e-12)), len(order) - 1)
    value_at_risk = losses[order][at]
    excess = np.maximum(losses - value_at_risk, 0.0)
    mean = float(probability @ excess)
    variance = max(0.0, float(probability @ excess**2) - mean**2)
    return math.sqrt(variance / draws) / (1.0 - alpha)


def out_of_sample_cvar(instance: Instance, allocation: pd.DataFrame,
                       draws: int | None = None, seed: int | None = None) -> OutOfSample | None:
    """The CVaR of ``allocation`` on fresh scenarios of ``instance``'s common-shock model.

    Parameters
    ----------
    instance : Instance
        The instance solved.
    allocation : pandas.DataFrame
        Its allocation, with ``service`` and ``value`` (numeraire) per pair, as in
        ``Result.allocation``.
    draws : int, optional
        Fresh scenarios to draw; by default ``default_draws(instance)``.
    seed : int, optional
        Their seed; by default ``scenario_seed + SEED_OFFSET``.

    Returns
    -------
    OutOfSample or None
        None when ``applies(instance)`` is false.

    Raises
    ------
    ResourceError
        When the fresh scenarios would not fit in the memory available.
    """
    if not applies(instance):
        return None
    start = time.perf_counter()
    draws = default_draws(instance) if draws is None else int(draws)
    seed = instance.parameters.scenario_seed + SEED_OFFSET if seed is None else int(seed)
    services = instance.services.index
    security = (allocation.groupby("service")["value"].sum().reindex(services, fill_value=0.0)
                .to_numpy(dtype=float))
    fresh = instance.with_changes(parameters={"scenario_count": draws, "scenario_seed": seed}
                                  ).scenario_set()
    losses = fresh.losses(security)
    alpha = instance.parameters.cvar_alpha
    return OutOfSample(
        cvar=conditional_value_at_risk(losses, fresh.probability, alpha),
        error=cvar_standard_error(losses, fresh.probability, alpha, draws),
        draws=draws, distinct=fresh.count, seed=seed, alpha=alpha,
        seconds=time.perf_counter() - start)


def exceeded_warning(instance: Instance, measured: OutOfSample, in_sample: int) -> str | None:
    """The warning when the instance's ``cvar_limit`` is exceeded out of sample, else None.

    ``in_sample`` is the number of distinct scenarios the model used.
    """
    limit = instance.parameters.cvar_limit
    if limit is None or not measured.exceeds(limit):
        return None
    above = f" ({measured.cvar / limit - 1:+.1%})" if limit > 0 else ""
    return (f"the CVaR limit {limit:,.6g} is met on the {in_sample:,} distinct scenarios the "
            f"model used (of scenario_count {instance.parameters.scenario_count:,}) but not "
            f"out of sample: {measured.cvar:,.6g} +/- {measured.error:,.3g}{above} on "
            f"{measured.draws:,} fresh scenarios (seed {measured.seed}), more than "
            f"{WARN_ERRORS:g} standard errors above it; raise scenario_count (docs/model.md, "
            "\"In-sample and out-of-sample CVaR\")")


def measure_solved(instance: Instance, allocation: pd.DataFrame, in_sample: int,
                   warnings: list[str], timings: dict[str, float]) -> OutOfSample | None:
    """What a solve reports: the out-of-sample CVaR, its warnings and its time.

    ``in_sample`` is the number of distinct scenarios the model used. The warnings go to
    ``warnings``, the seconds to ``timings["out_of_sample"]``. A lack of memory for the
    fresh scenarios is a warning, not an error: the allocation stands without it.
    """
    try:
        measured = out_of_sample_cvar(instance, allocation)
    except ResourceError as error:
        warnings.append(f"the out-of-sample CVaR was not measured: {error}")
        return None
    if measured is not None:
        timings["out_of_sample"] = timings.get("out_of_sample", 0.0) + measured.seconds
        said = exceeded_warning(instance, measured, in_sample)
        warnings += [said] if said else []
    return measured
