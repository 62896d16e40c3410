"""The reward-versus-risk efficient frontier, from one persistent model.

The model is built and handed to HiGHS once, with a limit on the chosen risk measure:
the portfolio's CVaR, its expected slashing loss, or its worst case
(``portfolio_worst_case``: the loss when the k services that would cost the whole
portfolio most are slashed at once, k = ``worst_case_k``; not the sum of each stake's own
worst case, which ``--compare-baselines`` reports as ``stake_worst_case_sum``). Each point
then only changes that row's bound in the HiGHS object already holding the model and
solves again, so the simplex starts from the previous basis. Rebuilding the model for
every point would redo the Pyomo build and hand-off each time (``compare_rebuild``
measures that). The frontier runs from the least risk any allocation can have (found by
one solve of the same session that minimizes the risk row's activity) to the risk of the
unconstrained optimum. The row is the one whose family record marks it as limiting the
measure (``RowBlock.risk``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.analysis.progress import progress
from optimizer.errors import InstanceError, Problem
from optimizer.instance import Instance
from optimizer.model.build import AllocationModel
from optimizer.model.families import risk_row
from optimizer.model.loss_limits import service_loss_rate
from optimizer.model.risk_rows import MEASURES
from optimizer.pipeline import build
from optimizer.results.evaluate import allocation_frame, evaluate
from optimizer.solve.highs import HighsSession
from optimizer.solve.options import SolveOptions
from optimizer.solve.outcome import solve_model

RISKS = MEASURES


@dataclass
class Frontier:
    """The frontier's points and allocations.

    Attributes
    ----------
    points : pandas.DataFrame
        point, risk_limit, status, objective, reward, expected_loss, cvar,
        portfolio_worst_case (numeraire), seconds (of the re-solve), and rebuild_seconds /
        rebuild_objective where measured. A value that does not exist (cvar of an
        instance without CVaR, every measure of a point without an allocation) is None.
    allocations : pandas.DataFrame
        point, stake, service, fraction, value: each point's allocation.
    first_seconds : float
        Build, hand-off, the first solve and the least-risk solve, seconds.
    current : dict or None
        The instance's current allocation (its ``current`` table) measured like a point:
        objective, reward, expected_loss, cvar, portfolio_worst_case (numeraire) and
        ``violations`` (how many limits it breaks); None without a current allocation.
    """

    risk: str
    points: pd.DataFrame
    allocations: pd.DataFrame
    first_seconds: float
    current: dict[str, Any] | None = None


def frontier(instance: Instance, points: int = 10, risk: str = "cvar",
             compare_rebuild: bool = False, show_progress: bool = False,
             **options: Any) -> Frontier:
    """Trace ``points`` allocations from the least feasible risk to the unconstrained optimum."""
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {', '.join(RISKS)}, got {risk!r}")
    if points < 2:
        raise ValueError("a frontier needs at least 2 points")
    settings = SolveOptions(**options)
    start = time.perf_counter()
    total = float(instance.stake_value.sum())
    loose = 10.0 * total + 1.0  # a limit that does not bind
    base = _with_limit(instance, risk, loose)
    built = _build_with_limit(base, risk, loose)
    row = risk_row(risk).name
    session = HighsSession(built, settings)
    session.run()
    first = _read(instance, base, session)
    top = float(first[risk] or 0.0)
    floor = _least_risk(session, row) if top > 0 else 0.0
    session.restore_objective()
    first_seconds = time.perf_counter() - start
    limits = np.linspace(min(floor, top), top, points)
    rows, allocations = [], []
    for k, limit in progress(enumerate(limits), points, "frontier points", show_progress):
        tick = time.perf_counter()
        session.set_row_upper(row, float(limit))
        session.run()
        point = _read(instance, base, session)
        point.update(point=k, risk_limit=float(limit), seconds=time.perf_counter() - tick)
        if compare_rebuild:
            tick = time.perf_counter()
            fresh = _build_with_limit(_with_limit(instance, risk, float(limit)), risk,
                                      float(limit))
            outcome = solve_model(fresh, settings)
            point["rebuild_seconds"] = time.perf_counter() - tick
            point["rebuild_objective"] = None if outcome.x is None else evaluate(
                base, allocation_frame(instance, outcome.x)).objective
        allocation = point.pop("allocation")
        if allocation is not None:
            allocations.append(allocation.assign(point=k))
        rows.append(point)
    table = pd.DataFrame(rows)
    lead = ["point", "risk_limit", "status", "objective", "reward", "expected_loss", "cvar",
            "portfolio_worst_case", "seconds"]
    table = table[lead + [c for c in table.columns if c not in lead]]
    frame = pd.concat(allocations, ignore_index=True) if allocations else pd.DataFrame()
    if len(frame):
        frame = frame[["point", "stake", "service", "fraction", "value"]]
    return Frontier(risk, table, frame, first_seconds, _current(instance, base))


def _current(instance: Instance, base: Instance) -> dict[str, Any] | None:
    """The current allocation measured like a frontier point (None without one)."""
    if not len(instance.current):
        return None
    evaluation = evaluate(base, instance.current[["stake", "service", "fraction"]])
    return {"objective": evaluation.objective, "reward": evaluation.reward,
            "expected_loss": evaluation.expected_loss, "cvar": evaluation.cvar,
            "portfolio_worst_case": portfolio_worst_case(base, evaluation.services),
            "violations": len(evaluation.violations)}


def _least_risk(session: HighsSession, row: str) -> float:
    """The least risk any allocation can have (0 unless required services force some).

    One solve of the same session with the risk row's activity as the objective,
    minimized; 0 if that solve finds nothing (the frontier's points then say why).
    """
    session.minimize_row(row)
    session.run()
    if session.status() != "optimal":
        return 0.0
    return max(0.0, session.objective())


def _build_with_limit(instance: Instance, risk: str, limit: float) -> AllocationModel:
    """The model of ``instance`` with a row limiting the risk measure to ``limit``."""
    if risk == "expected_loss":
        pairs = instance.pairs
        rate = (service_loss_rate(instance)[pairs["service_pos"].to_numpy()]
                * instance.stake_value.to_numpy()[pairs["stake_pos"].to_numpy()])
        if not (rate > 0).any():
            raise InstanceError([Problem(
                f"instance {instance.name}", "slash_probability",
                "x slash_fraction is 0 for every eligible service: no allocation can lose "
                "anything in expectation, so there is no expected-loss frontier to trace")])
    return build(instance, risk_limit=(risk, limit))


def portfolio_worst_case(instance: Instance, services: pd.DataFrame) -> float:
    """The portfolio's loss if the k services costing it most are slashed at once (numeraire).

    The sum of the k = ``worst_case_k`` largest f_s X_s. At most the sum over stakes of
    each stake's own worst case (each stake may take its k worst services from a different
    set), and less when stakes' worst services differ. ``services`` is an evaluation's
    per-service table (``security`` in numeraire).
    """
    fraction = instance.services["slash_fraction"]
    loss = services.set_index("service")["security"].reindex(fraction.index).fillna(0.0)
    ranked = np.sort((loss * fraction).to_numpy())[::-1]
    return float(ranked[:instance.parameters.worst_case_k].sum())


def _with_limit(instance: Instance, risk: str, limit: float) -> Instance:
    if risk != "cvar":
        return instance
    return instance.with_changes(keep_scenarios=True, parameters={"cvar_limit": limit})


def _read(instance: Instance, base: Instance, session: HighsSession) -> dict[str, Any]:
    """Evaluate the session's current solution (on ``base``, which carries the scenarios)."""
    status = session.status()
    if status not in ("optimal", "feasible"):
        return {"status": status, "objective": None, "reward": None, "expected_loss": None,
                "cvar": None, "portfolio_worst_case": None, "allocation": None}
    built = session.built
    x = np.clip(session.fractions(), built.fractions(built.index.lower),
                built.fractions(built.index.upper))
    allocation = allocation_frame(instance, x)
    evaluation = evaluate(base, allocation)
    return {"status": status, "objective": evaluation.objective, "reward": evaluation.reward,
            "expected_loss": evaluation.expected_loss, "cvar": evaluation.cvar,
            "portfolio_worst_case": portfolio_worst_case(base, evaluation.services),
            "allocation": allocation}
