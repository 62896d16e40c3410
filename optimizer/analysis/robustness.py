"""Resampling under the instance's uncertainty: how much an optimum owes to its guesses.

``robustness`` draws N parameter sets from each service's prior or interval, re-solves
the instance under each, and measures: the distribution of the re-optimised objective;
the nominal allocation (today's optimum) under every draw, with the limits it breaks
there; how often each (stake, service) pair is used across the draws, and the spread of
its fraction; and a resampled allocation (Michaud's average of the draws' optima, moved
to the closest allocation that meets every nominal limit, ``optimizer.analysis.closest``).

How a service's parameters are drawn (``draw_parameters``):

- ``slash_probability``: from Beta(k p, k (1 - p)) when the service has a
  ``prior_strength`` k (a point mass at p = 0 or 1); else uniform on
  [``slash_probability_low``, ``slash_probability_high``] when either end is given (a
  missing end is the point value); else the point value in every draw.
- ``reward_rate``: uniform on [``reward_rate_low``, ``reward_rate_high``] the same way;
  else the point value (a prior is only declared for the slash probability).

A draw is the truth it stands for: its instance has no ``uncertainty_budget`` (the robust
family protects against not knowing p, and a draw knows it). Every random number is drawn
here, up front, from one generator seeded with ``seed``, so the draws and everything
computed from them are the same however the tasks are run (``map_tasks``; the batch
runner's chunks do not depend on its workers either).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.analysis.closest import ClosestAllocation, closest_feasible
from optimizer.errors import InstanceError
from optimizer.instance import Instance
from optimizer.pipeline import solve
from optimizer.results.evaluate import ZERO_THRESHOLD, allocation_frame, evaluate

UNCERTAINTY_COLUMNS = ("prior_strength", "slash_probability_low", "slash_probability_high",
                       "reward_rate_low", "reward_rate_high")
"""The services columns a draw reads; an instance with none of them set has nothing to draw."""

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""The quantiles of the re-optimised objective reported."""

NO_UNCERTAINTY = (
    "nothing to draw: no service has a prior or an interval. Add to some services "
    "prior_strength (k of a Beta prior centred on slash_probability), or "
    "slash_probability_low / slash_probability_high, or reward_rate_low / reward_rate_high "
    "(see docs/format.md)")
"""The message of an instance without uncertainty."""

MapTasks = Callable[[Callable[[Any], Any], Sequence[Any]], Sequence[Any]]
"""Maps a task function over a list of tasks, results in the tasks' order."""


def serial_map(task: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """The default ``map_tasks``: one task after the other, in this process."""
    return [task(item) for item in items]


def has_uncertainty(instance: Instance) -> bool:
    """Whether some service sets a prior or an interval end (``UNCERTAINTY_COLUMNS``)."""
    services = instance.services
    return any(column in services and services[column].notna().any()
               for column in UNCERTAINTY_COLUMNS)


def draw_parameters(instance: Instance, draws: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Slash probabilities and reward rates of ``draws`` draws (arrays draws x services).

    See the module's docstring for the rule. The generator always makes the same
    numbers in the same order (a full Beta matrix, then the slash and reward uniforms),
    whichever services use them, so a draw depends on the seed and the instance only.

    Raises
    ------
    InstanceError
        When no service sets a prior or an interval (nothing would vary).
    """
    if not has_uncertainty(instance):
        raise InstanceError(NO_UNCERTAINTY)
    services = instance.services
    size = (draws, len(services))
    rng = np.random.default_rng(seed)
    p = services["slash_probability"].to_numpy(dtype=float)
    strength = _column(services, "prior_strength")
    has_prior = ~np.isnan(strength) & (p > 0) & (p < 1)
    k = np.where(has_prior, strength, 1.0)
    beta = rng.beta(np.where(has_prior, k * p, 1.0), np.where(has_prior, k * (1 - p), 1.0),
                    size=size)
    slash = _uniform(rng, services, "slash_probability", size)
    slash = np.where(has_prior, beta, slash)
    reward = _uniform(rng, services, "reward_rate", size)
    return slash, reward


def _column(services: pd.DataFrame, name: str) -> np.ndarray:
    if name not in services:
        return np.full(len(services), np.nan)
    return services[name].to_numpy(dtype=float)


def _uniform(rng: np.random.Generator, services: pd.DataFrame, name: str,
             size: tuple[int, int]) -> np.ndarray:
    """Uniform on [low, high] per service; a missing end is the point value."""
    point = services[name].to_numpy(dtype=float)
    low = _column(services, f"{name}_low")
    high = _column(services, f"{name}_high")
    low = np.where(np.isnan(low), point, low)
    high = np.where(np.isnan(high), point, high)
    return low + (high - low) * rng.random(size)


def drawn_instance(instance: Instance, slash: np.ndarray, reward: np.ndarray) -> Instance:
    """``instance`` with one draw's slash probabilities and reward rates, and no Gamma."""
    services = instance.services.copy()
    services["slash_probability"] = slash
    services["reward_rate"] = reward
    return instance.with_changes(services=services, parameters={"uncertainty_budget": None})


@dataclass(frozen=True)
class DrawOutcome:
    """What one draw gives (objectives in the numeraire per year).

    Attributes
    ----------
    status : str
        The re-solve's status.
    objective : float
        The re-optimised objective (NaN when the draw was not solved).
    fractions : numpy.ndarray
        The re-optimised x_{i,s} per pair of the nominal instance (zeros when not solved).
    nominal_objective : float
        The nominal allocation's objective under this draw's parameters (the evaluator's).
    broken : tuple of str
        The limits the nominal allocation breaks under this draw (``Violation`` texts).
    """

    status: str
    objective: float
    fractions: np.ndarray
    nominal_objective: float
    broken: tuple[str, ...]


@dataclass(frozen=True)
class DrawTask:
    """One draw's work, a plain picklable callable (for a batch runner's workers).

    Called with ``(slash, reward)`` arrays of one draw, it returns a ``DrawOutcome``.
    """

    instance: Instance
    nominal: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, draw: tuple[np.ndarray, np.ndarray]) -> DrawOutcome:
        """Re-solve the draw and re-evaluate the nominal allocation under it."""
        problem = drawn_instance(self.instance, *draw)
        result = solve(problem, **{**self.options, "binding": False})
        return self.outcome(problem, str(result.status), result.objective, result.allocation)

    def outcome(self, problem: Instance, status: str, objective: float | None,
                allocation: pd.DataFrame | None) -> DrawOutcome:
        """A draw's outcome from its re-solve; the nominal allocation evaluated under it."""
        fractions = np.zeros(len(self.instance.pairs))
        value = float("nan")
        if objective is not None and allocation is not None \
                and status in ("optimal", "feasible"):
            value = float(objective)
            fractions = _pair_fractions(self.instance, allocation)
        checked = evaluate(problem, self.nominal)
        return DrawOutcome(status, value, fractions, checked.objective,
                           tuple(str(v) for v in checked.violations))


def batch_map(workers: int | None = 0, scheduler: str | None = None,
              progress: bool = True) -> MapTasks:
    """A ``map_tasks`` running the draws with ``optimizer.analysis.batch.run_batch``.

    Each draw is one batch task setting every service's ``slash_probability`` and
    ``reward_rate``; the batch runs them in fixed chunks (serially with ``workers=0``, on a
    local Dask cluster of ``workers`` processes, or on the cluster at ``scheduler``), so
    the answer is the same however many workers run it. The nominal allocation is
    evaluated under each draw here, after the batch.
    """

    def map_tasks(task: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        from optimizer.analysis.batch import Change, run_batch

        if not isinstance(task, DrawTask):
            raise TypeError("batch_map runs the draws of robustness() only")
        points = [(Change("services", "slash_probability", tuple(map(float, slash))),
                   Change("services", "reward_rate", tuple(map(float, reward))))
                  for slash, reward in items]
        base = task.instance.with_changes(parameters={"uncertainty_budget": None})
        done = run_batch(base, points, workers=workers, scheduler=scheduler,
                         progress=progress, **{**task.options, "binding": False})
        return [task.outcome(drawn_instance(task.instance, *draw), one.status, one.objective,
                             one.allocation) for draw, one in zip(items, done, strict=True)]

    return map_tasks


def _pair_fractions(instance: Instance, allocation: pd.DataFrame) -> np.ndarray:
    """x_{i,s} per pair of ``instance.pairs`` from an allocation table (0 where absent)."""
    pairs = pd.MultiIndex.from_frame(instance.pairs[["stake", "service"]])
    given = pd.Series(allocation["fraction"].to_numpy(dtype=float),
                      index=pd.MultiIndex.from_frame(allocation[["stake", "service"]]))
    return given.reindex(pairs).fillna(0.0).to_numpy()


@dataclass
class Robustness:
    """The result of ``robustness`` (objectives in the numeraire per year).

    Attributes
    ----------
    instance : str
        The instance's name.
    numeraire : str
        Its numeraire.
    draws, seed : int
        How many draws, from which seed.
    nominal_objective : float
        The nominal optimum.
    table : pandas.DataFrame
        One row per draw: draw, status, objective (re-optimised), nominal_objective (the
        nominal allocation under the draw), broken (count of limits it breaks there),
        broken_limits (their texts, ``; ``-separated).
    parameters : pandas.DataFrame
        One row per draw and service: draw, service, slash_probability, reward_rate.
    pairs : pandas.DataFrame
        One row per eligible pair: stake, service, used (draws whose optimum uses it),
        frequency (used / solved draws), mean_fraction, std_fraction (over the solved
        draws, 0 where unused), nominal_fraction, resampled_fraction.
    resampled : ClosestAllocation
        The resampled allocation: the average made feasible, its objective and check.
    """

    instance: str
    numeraire: str
    draws: int
    seed: int
    nominal_objective: float
    table: pd.DataFrame
    parameters: pd.DataFrame
    pairs: pd.DataFrame
    resampled: ClosestAllocation

    def quantiles(self, column: str = "objective") -> dict[str, float]:
        """Quantiles (``QUANTILES``), mean and min/max of a column of ``table``."""
        values = self.table[column].dropna().to_numpy()
        if not len(values):
            return {}
        found = {f"q{round(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES}
        return {"min": float(values.min()), **found, "max": float(values.max()),
                "mean": float(values.mean())}

    def broken_counts(self) -> dict[str, int]:
        """For each limit the nominal allocation breaks in some draw, in how many draws."""
        counts: dict[str, int] = {}
        for texts in self.table["broken_limits"]:
            for text in filter(None, texts.split("; ")):
                name = text.split(":")[0]
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def summary(self) -> dict[str, Any]:
        """Everything but the tables, as plain JSON-ready values."""
        solved = int(self.table["objective"].notna().sum())
        return {
            "instance": self.instance, "numeraire": self.numeraire, "draws": self.draws,
            "seed": self.seed, "solved_draws": solved,
            "nominal_objective": self.nominal_objective,
            "reoptimised_objective": self.quantiles("objective"),
            "nominal_allocation_objective": self.quantiles("nominal_objective"),
            "nominal_allocation_breaks_limits_in_draws": int((self.table["broken"] > 0).sum()),
            "nominal_allocation_broken_limits": self.broken_counts(),
            "resampled": self.resampled.summary(),
        }


def robustness(instance: Instance, draws: int = 200, seed: int = 0, *,
               map_tasks: MapTasks | None = None, **solve_options: Any) -> Robustness:
    """Re-solve ``instance`` under ``draws`` draws of its uncertain parameters.

    Parameters
    ----------
    instance : Instance
        The nominal problem; some service must set a prior or an interval.
    draws : int
        How many parameter sets to draw.
    seed : int
        The generator's seed: the same seed gives the same result.
    map_tasks : callable, optional
        ``map_tasks(task, items)`` runs ``task`` on every item and returns the results in
        order. By default ``batch_map(workers=0)``: the batch runner, in this process;
        ``batch_map(workers=N)`` gives the same answer on N Dask workers. ``serial_map``
        solves each draw with ``solve``: the same objectives, but where a draw's optimum
        is not unique it may return another of its optimal allocations.
    **solve_options
        Passed to ``solve`` for every solve (``binding`` is always off).

    Raises
    ------
    InstanceError
        When nothing in the instance is uncertain.
    InfeasibleError, SolverError
        When the nominal instance itself cannot be solved.
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1, not {draws}")
    slash, reward = draw_parameters(instance, draws, seed)
    nominal = solve(instance, **{**solve_options, "binding": False})
    nominal.raise_for_status()
    nominal_allocation = nominal.allocation[["stake", "service", "fraction"]]
    task = DrawTask(instance, nominal_allocation, dict(solve_options))
    run = map_tasks or batch_map(workers=0, progress=False)
    outcomes = list(run(task, list(zip(slash, reward, strict=True))))
    solved = [o for o in outcomes if not np.isnan(o.objective)]
    fractions = (np.vstack([o.fractions for o in solved]) if solved
                 else np.zeros((0, len(instance.pairs))))
    average = fractions.mean(axis=0) if solved else np.zeros(len(instance.pairs))
    resampled = closest_feasible(instance, average, **solve_options)
    return Robustness(
        instance=instance.name, numeraire=instance.numeraire, draws=draws, seed=seed,
        nominal_objective=float(nominal.objective or 0.0),
        table=_draw_table(outcomes), parameters=_parameter_table(instance, slash, reward),
        pairs=_pair_table(instance, fractions, nominal_allocation, resampled),
        resampled=resampled)


def _draw_table(outcomes: list[DrawOutcome]) -> pd.DataFrame:
    return pd.DataFrame({
        "draw": np.arange(len(outcomes)),
        "status": [o.status for o in outcomes],
        "objective": [o.objective for o in outcomes],
        "nominal_objective": [o.nominal_objective for o in outcomes],
        "broken": [len(o.broken) for o in outcomes],
        "broken_limits": ["; ".join(o.broken) for o in outcomes],
    })


def _parameter_table(instance: Instance, slash: np.ndarray, reward: np.ndarray) -> pd.DataFrame:
    draws, count = slash.shape
    return pd.DataFrame({
        "draw": np.repeat(np.arange(draws), count),
        "service": np.tile(instance.services.index.to_numpy(), draws),
        "slash_probability": slash.ravel(), "reward_rate": reward.ravel()})


def _pair_table(instance: Instance, fractions: np.ndarray, nominal: pd.DataFrame,
                resampled: ClosestAllocation) -> pd.DataFrame:
    used = (fractions > ZERO_THRESHOLD).sum(axis=0)
    solved = fractions.shape[0]
    return pd.DataFrame({
        "stake": instance.pairs["stake"].to_numpy(),
        "service": instance.pairs["service"].to_numpy(),
        "used": used,
        "frequency": used / solved if solved else np.zeros(len(used)),
        "mean_fraction": fractions.mean(axis=0) if solved else np.zeros(len(used)),
        "std_fraction": fractions.std(axis=0) if solved else np.zeros(len(used)),
        "nominal_fraction": _pair_fractions(instance, nominal),
        "resampled_fraction": resampled.fractions,
    })


def resampled_frame(instance: Instance, result: Robustness) -> pd.DataFrame:
    """The resampled allocation as an allocation table (stake, holder, service, ...)."""
    return allocation_frame(instance, result.resampled.fractions)
