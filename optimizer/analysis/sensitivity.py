"""Stability ranges of each service's reward rate and slash probability.

The support of an allocation is its (stake, service) pairs with a fraction above
``tolerance``. For each service s and parameter (``reward_rate`` r_s, ``slash_probability``
p_s, per year), the range is the interval around the instance's value over which the
optimum keeps the support of the base solve (a cold ``optimizer.pipeline.solve``).

Each end is searched (fourfold steps outward, then bisection to ``rtol``) with fast
re-solves of one built model whose coefficients are changed in a fresh HiGHS session
(exact: r_s enters only the x columns' costs, p_s those and the expected-loss budget
rows; the high end of p_s uses the model built at p_s = 1 when that one has budget rows
the instance's model leaves out). Each end is then confirmed by cold pipeline solves
just inside and just outside it, and a change past it that is only a tie (an allocation
within the base support is still optimal there) is said to be one. CVaR scenarios are
held fixed while p_s moves. See ``docs/sensitivity.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from optimizer.errors import InstanceError, Problem
from optimizer.instance import Instance
from optimizer.model.build import AllocationModel
from optimizer.model.tail_risk import uses_cvar
from optimizer.pipeline import build, solve
from optimizer.solve.highs import HighsSession
from optimizer.solve.options import SolveOptions

PARAMETERS = ("reward_rate", "slash_probability")
"""The service parameters whose ranges are found."""

SUPPORT_TOLERANCE = 1e-7
"""A pair is in the support when its fraction of the stake is above this."""

SEARCH_RTOL = 1e-4
"""Bisection stops at a bracket narrower than this times max(|value|, ``VALUE_FLOOR``)."""

VALUE_FLOOR = 1e-3
"""Per year: the scale of the search for a value near 0."""

FIRST_STEP = 1e-2
"""The first step of the outward search, as a fraction of max(|value|, ``VALUE_FLOOR``)."""

CONFIRM_WIDENINGS = 2
"""Times a bracket the cold solves do not confirm is widened tenfold and tried again."""

REWARD_RATE_CAP = 1.0
"""Per year: the upper search limit of a reward rate (or twice the rate, if larger)."""

COLUMNS = ["service", "parameter", "value", "low", "high", "low_change", "high_change",
           "relative_width", "confirmed"]

Support = np.ndarray | None
"""One boolean per pair of ``instance.pairs``; ``None`` when no optimum was found."""


def stability_ranges(instance: Instance, *, services: Sequence[str] | None = None,
                     tolerance: float = SUPPORT_TOLERANCE, rtol: float = SEARCH_RTOL,
                     **solve_options: Any) -> pd.DataFrame:
    """The range of each service's reward rate and slash probability keeping the support.

    Parameters
    ----------
    instance : Instance
        The problem. Its CVaR scenarios (sampled or its own) are held fixed throughout.
    services : sequence of str, optional
        Service ids to analyse (all by default).
    tolerance : float
        A pair is in the support when its fraction of the stake is above this.
    rtol : float
        Width of the final bracket of each end, relative to max(|value|, 1e-3 per year).
    **solve_options
        ``SolveOptions`` fields for every solve; here ``mip_rel_gap`` defaults to 0 (a
        MILP's ranges are its optimum's) and ``binding`` (pricing limits) to False.

    Returns
    -------
    pandas.DataFrame
        One row per (service, parameter): ``service``, ``parameter``, ``value``, ``low``,
        ``high`` (per year, the parameter's unit), ``low_change`` / ``high_change`` (pairs
        that leave or enter the support just past the end, in the instance's ids, or why
        the end is a domain limit), ``relative_width`` ((high - low) / |value|, inf for a
        value of 0) and ``confirmed`` (both ends confirmed by cold re-solves). Its
        ``attrs["notes"]`` says what the numbers assume (scenarios, MILP, alternative
        optima).

    Raises
    ------
    InstanceError
        When a service id is not the instance's.
    InfeasibleError, SolverError
        When the instance itself has no optimum.
    """
    chosen = _chosen_services(instance, services)
    solve_options = {"mip_rel_gap": 0.0, "binding": False} | solve_options
    if uses_cvar(instance):
        instance.scenario_set()  # drawn once; every copy below keeps this very set
    study = _Study(instance, tolerance, rtol, solve_options)
    frame = pd.DataFrame([study.range_of(service, parameter) for service in chosen
                          for parameter in PARAMETERS], columns=COLUMNS)
    frame.attrs["notes"] = study.notes()
    return frame


def _chosen_services(instance: Instance, services: Sequence[str] | None) -> list[str]:
    known = list(instance.services.index)
    if services is None:
        return known
    unknown = [s for s in services if s not in known]
    if unknown:
        said, all_ids = ", ".join(map(repr, unknown)), ", ".join(known)
        raise InstanceError([Problem(f"instance {instance.name}", "service", f"{said} is not a "
                                     f"service of the instance; its services are {all_ids}")])
    return list(dict.fromkeys(services))


def with_value(instance: Instance, service: str, parameter: str, value: float) -> Instance:
    """A copy of ``instance`` with ``parameter`` of ``service`` at ``value`` (same scenarios)."""
    table = instance.services.copy()
    table.loc[service, parameter] = float(value)
    return instance.with_changes(keep_scenarios=True, services=table)


class _End(NamedTuple):
    """One end of a range: where it is, what changes past it, whether cold solves agree."""

    end: float
    change: str
    confirmed: bool


class _Study:
    """The base solve, the fast sessions and the cold confirmations of one instance."""

    def __init__(self, instance: Instance, tolerance: float, rtol: float,
                 options: dict[str, Any]) -> None:
        self.instance, self.tolerance, self.rtol, self.options = instance, tolerance, rtol, options
        self.keys = list(zip(instance.pairs["stake"], instance.pairs["service"], strict=True))
        base = solve(instance, **options)
        base.raise_for_status()
        self.is_mip = base.is_mip
        self.base = self._mask(base.allocation)
        self.built = build(instance)
        self.unreproduced: list[str] = []
        self.presolve_infeasible: list[str] = []
        self.ties = 0

    def cold(self, service: str, parameter: str, value: float) -> Support:
        """The support of a cold pipeline solve with the parameter at ``value``."""
        moved = with_value(self.instance, service, parameter, value)
        result = solve(moved, **self.options)
        if result.status == "infeasible" and self.options.get("presolve") != "off":
            # HiGHS's presolve has called feasible LPs of this model infeasible (see
            # docs/sensitivity.md): a change of support is claimed only without it.
            result = solve(moved, **{**self.options, "presolve": "off"})
            if result.status != "infeasible":
                self.presolve_infeasible.append(f"{parameter} {value:.9g} of {service}")
        if result.status != "optimal":
            return None
        return self._mask(result.allocation)

    def _mask(self, allocation: pd.DataFrame) -> np.ndarray:
        chosen = allocation[allocation["fraction"] > self.tolerance]
        inside = set(zip(chosen["stake"], chosen["service"], strict=True))
        return np.array([key in inside for key in self.keys], dtype=bool)

    def models(self, service: str, parameter: str) -> tuple[AllocationModel, AllocationModel]:
        """The models the low and the high end are searched on.

        The instance's own, unless p_s rising would need an expected-loss budget row that
        the instance's model leaves out: the high end then uses the model built at p_s = 1.
        """
        if parameter == "reward_rate" or self.instance.stakes["max_expected_loss"].isna().all():
            return self.built, self.built
        top = build(with_value(self.instance, service, parameter, 1.0))
        rows = [len(getattr(one.model, "expected_loss_budget", ())) for one in (self.built, top)]
        return self.built, self.built if rows[0] == rows[1] else top

    def range_of(self, service: str, parameter: str) -> dict[str, Any]:
        """The row of the result for ``parameter`` of ``service``."""
        value = float(self.instance.services.loc[service, parameter])
        scale = max(abs(value), VALUE_FLOOR)
        top = 1.0 if parameter == "slash_probability" else max(REWARD_RATE_CAP, 2.0 * value)
        ends = []
        for built, limit in zip(self.models(service, parameter), (0.0, top), strict=True):
            move = _FastModel(built, self.options, self.tolerance).mover(service, parameter)
            if not _same(move(value), self.base):
                self.unreproduced.append(f"{parameter} of {service}")
            inside, outside = _search(partial(_keeps, move, self.base), value, limit,
                                      FIRST_STEP * scale, self.rtol * scale)
            fast = None if outside is None else move(outside)
            ends.append(self._confirm(service, parameter, (value, inside, outside, limit),
                                      fast, self.rtol * scale))
        low, high = ends
        return {"service": service, "parameter": parameter, "value": value,
                "low": low.end, "high": high.end, "low_change": low.change,
                "high_change": high.change,
                "relative_width": (high.end - low.end) / abs(value) if value else math.inf,
                "confirmed": low.confirmed and high.confirmed}

    def _confirm(self, service: str, parameter: str,
                 points: tuple[float, float, float | None, float], fast: Support,
                 width: float) -> _End:
        """Cold solves just inside and just outside an end; the end and its change.

        ``points``: value, last inside, first outside (None at the limit), domain limit. A
        bracket the cold solves do not confirm is widened tenfold around its middle, up
        to ``CONFIRM_WIDENINGS`` times (never past the value or the limit).
        """
        value, inside, outside, limit = points
        if outside is None:
            return self._domain_end(service, parameter, limit, width)
        end, half = 0.5 * (inside + outside), 0.5 * abs(outside - inside)
        toward = 1.0 if outside > inside else -1.0
        for _ in range(CONFIRM_WIDENINGS + 1):
            near, past = end - toward * half, end + toward * half
            if toward * (near - value) < 0 or toward * (past - limit) > 0:
                break
            after = self.cold(service, parameter, past)
            if not _same(after, self.base):
                if _same(self.cold(service, parameter, near), self.base):
                    farther = past + toward * FIRST_STEP * max(abs(value), VALUE_FLOOR)
                    farther = min(max(farther, min(value, limit)), max(value, limit))
                    return _End(end, self._describe(after) + self._tie(
                        service, parameter, farther, after), True)
            half *= 10.0
        return _End(end, self._describe(fast) + " (fast re-solve; not confirmed by the "
                    "pipeline's solves)", False)

    def _domain_end(self, service: str, parameter: str, limit: float, width: float) -> _End:
        """An end at the domain limit: a cold solve there (or just inside) keeps the support."""
        what = "probability" if parameter == "slash_probability" else "reward rate"
        cap = " search cap" if limit > 0 and parameter == "reward_rate" else ""
        said = f"{what} {limit:g} ({'domain limit' if not cap else cap.strip()})"
        at_limit = self.cold(service, parameter, limit)
        if _same(at_limit, self.base):
            return _End(limit, said + ": support unchanged", True)
        # A tie at the limit itself (e.g. a net rate of exactly 0): check just inside it.
        near = limit - width if limit > 0 else limit + width
        kept = _same(self.cold(service, parameter, near), self.base)
        return _End(limit, f"{said}; at the limit itself: {self._describe(at_limit)}", kept)

    def _tie(self, service: str, parameter: str, value: float, after: Support) -> str:
        """What to add to a change past an end when its entering pairs only tie at ``value``.

        Forced, the optimum with only the base support's pairs eligible falls behind the
        optimum there; tied, it equals it (the solver merely returns another optimum).
        """
        moved = with_value(self.instance, service, parameter, value)
        kept = None if after is None or not (after & ~self.base).any() else _optimum(
            moved.with_changes(keep_scenarios=True, eligibility=pd.concat(
                [moved.eligibility, moved.pairs[~self.base][["stake", "service"]].assign(
                    allowed=False)], ignore_index=True)), self.options, bound=False)
        optimum = None if kept is None else _optimum(moved, self.options, bound=True)
        if optimum is None or kept is None or kept < optimum - 1e-8 * max(1.0, abs(optimum)):
            return ""  # forced, not tested, or not told apart from a tie
        self.ties += 1
        return f" (a tie: an optimum without the pairs entering exists at {value:.6g})"

    def _describe(self, support: Support) -> str:
        """The pairs leaving and entering the base support, in the instance's ids."""
        if support is None:
            return "no optimal allocation"
        pairs = list(zip(self.keys, self.base, support, strict=True))
        said = [f"{key[0]} leaves {key[1]}" for key, was, now in pairs if was and not now]
        said += [f"{key[0]} enters {key[1]}" for key, was, now in pairs if now and not was]
        return "; ".join(said) if said else "support unchanged"

    def notes(self) -> list[str]:
        """What the ranges assume, in sentences."""
        said = [f"support: pairs with a fraction above {self.tolerance:g} of the stake"]
        if uses_cvar(self.instance):
            said.append("CVaR scenarios held fixed at the instance's set as p moves")
        if self.is_mip:
            said.append("the model is a MILP: ranges are those of its optimum "
                        f"(mip_rel_gap {self.options['mip_rel_gap']:g})")
        if self.unreproduced:
            said.append("alternative optima: a re-solve of the same model at the instance's "
                        "own values found another support than the pipeline for "
                        + ", ".join(self.unreproduced) + " (their ends may not be confirmed)")
        if self.ties:
            said.append(f"{self.ties} end(s) are ties: past them an optimum without the pairs "
                        "entering exists, but the solver returns one with them")
        if self.presolve_infeasible:
            said.append("HiGHS's presolve called a feasible instance infeasible at "
                        + ", ".join(self.presolve_infeasible) + "; solved again without it")
        return said


def _optimum(instance: Instance, options: dict[str, Any], bound: bool) -> float | None:
    """A cold model solve's optimum (numeraire/yr), plus its chords' error if ``bound``."""
    built = build(instance)
    session = HighsSession(built, SolveOptions(**options))
    session.run()
    if session.status() != "optimal":
        return None
    return session.objective() + (sum(built.pool_errors.values()) if bound else 0.0)


def _same(support: Support, reference: np.ndarray) -> bool:
    return support is not None and bool(np.array_equal(support, reference))


def _keeps(move: Callable[[float], Support], reference: np.ndarray, value: float) -> bool:
    return _same(move(value), reference)


def _search(same: Callable[[float], bool], value: float, limit: float, step: float,
            width: float) -> tuple[float, float | None]:
    """The last value found with the same support and the first without, toward ``limit``.

    Steps grow fourfold from ``step`` until the support changes or ``limit`` is reached
    (then ``(limit, None)``); the bracket is then halved until narrower than ``width``.
    """
    if value == limit:
        return limit, None
    direction = 1.0 if limit > value else -1.0
    inside, offset = value, step
    while True:
        trial = value + direction * offset
        if direction * (trial - limit) >= 0:
            trial = limit
        if not same(trial):
            outside = trial
            break
        inside = trial
        if trial == limit:
            return limit, None
        offset *= 4.0
    while abs(outside - inside) > width:
        middle = 0.5 * (inside + outside)
        inside, outside = (middle, outside) if same(middle) else (inside, middle)
    return inside, outside


class _FastModel:
    """One built model whose r_s or p_s is moved, each trial in a fresh HiGHS session.

    Warm re-solves (one session) are several times faster, but on a degenerate optimum
    they end at other vertices than cold solves do: on the realistic instance they saw
    changes no solve of the instance shows, and missed others.
    """

    def __init__(self, built: AllocationModel, options: dict[str, Any], tolerance: float) -> None:
        self.built, self.tolerance = built, tolerance
        self.settings = SolveOptions(**options)

    def mover(self, service: str, parameter: str) -> Callable[[float], Support]:
        """A function solving the model with ``parameter`` of ``service`` moved: the support.

        The x column of pair (i, s) costs (r_s - p_s f_s) V_i (model units); the row of
        stake i's expected-loss budget has p_s f_s in that column.
        """
        session = HighsSession(self.built, self.settings)
        form, index = session.form, self.built.index
        services = self.built.instance.services
        pairs = np.flatnonzero(index.service_pos == services.index.get_loc(service))
        columns = form.pair_column[pairs]
        base_cost, value = form.cost[columns].copy(), index.value[pairs]
        rate0, probability0, fraction = (float(services.loc[service, column]) for column in
                                         ("reward_rate", "slash_probability", "slash_fraction"))
        rows, cols = _loss_entries(session, pairs, columns)

        def move(moved: float) -> Support:
            fresh = HighsSession(self.built, self.settings)
            if parameter == "reward_rate":
                fresh.change_coefficients(columns, base_cost + (moved - rate0) * value)
            else:
                costs = base_cost - (moved - probability0) * fraction * value
                fresh.change_coefficients(
                    columns, costs, (rows, cols, np.full(len(rows), moved * fraction)))
            if fresh.run() == "infeasible":  # presolve's mistake, as in ``_Study.cold``
                fresh.set_option("presolve", "off")
                fresh.run()
            if fresh.status() != "optimal":
                return None
            return np.asarray(fresh.fractions() > self.tolerance)
        return move


def _loss_entries(session: HighsSession, pairs: np.ndarray,
                  columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The matrix rows and columns of ``pairs`` in the expected-loss budget rows."""
    block = session.form.block("expected_loss_budget")
    row_of = {} if block is None else dict(zip(block.keys, range(block.start, block.stop),
                                               strict=True))
    found = [(row_of[int(stake)], int(column)) for stake, column
             in zip(session.built.index.stake_pos[pairs], columns, strict=True)
             if int(stake) in row_of]
    entries = np.array(found, dtype=np.int64).reshape(-1, 2)
    return entries[:, 0], entries[:, 1]
