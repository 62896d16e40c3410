"""The reward-versus-risk efficient frontier, from one persistent model.

The model is built and handed to HiGHS once, with a limit on the chosen risk measure:
the portfolio's CVaR, its expected slashing loss, or its worst case
(``portfolio_worst_case``: the loss when the k services that would cost the whole
portfolio most are slashed at once, k = ``worst_case_k``; not the sum of each stake's own
worst case, which ``--compare-baselines`` reports as ``stake_worst_case_sum``). Each point
then only changes that row's bound in the HiGHS object already holding the model and
solves again, so the simplex starts from the previous basis. Rebuilding the model for
every point would redo the Pyomo build and hand-off each time (``compare_rebuild``
measures that).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from optimizer.analysis.progress import progress
from optimizer.errors import InstanceError, Problem
from optimizer.instance import Instance
from optimizer.model.build import AllocationModel
from optimizer.model.index import pair_variables
from optimizer.model.loss_limits import service_loss_rate
from optimizer.pipeline import build
from optimizer.results.evaluate import allocation_frame, evaluate
from optimizer.solve.highs import new_highs, pass_to_highs, run_highs, solve_model
from optimizer.solve.matrices import StandardForm, compile_standard_form
from optimizer.solve.options import SolveOptions
from optimizer.solve.status import status_of, termination_of

RISKS = ("cvar", "expected_loss", "portfolio_worst_case")
ROW_OF_RISK = {"cvar": "cvar_limit", "expected_loss": "frontier_expected_loss",
               "portfolio_worst_case": "frontier_worst_case"}


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
        Build, hand-off and the first solve, seconds.
    """

    risk: str
    points: pd.DataFrame
    allocations: pd.DataFrame
    first_seconds: float


def frontier(instance: Instance, points: int = 10, risk: str = "cvar",
             compare_rebuild: bool = False, show_progress: bool = False,
             **options: object) -> Frontier:
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
    row_name = ROW_OF_RISK[risk]
    form = compile_standard_form(built)
    row = form.first_row(row_name)
    highs = new_highs(settings)
    pass_to_highs(highs, form)
    run_highs(highs)
    first = _read(instance, base, built, form, highs)
    first_seconds = time.perf_counter() - start
    top = first[risk] or 0.0
    floor = _least_feasible_limit(highs, row, top, built.scale)
    limits = np.linspace(floor, top, points)
    rows, allocations = [], []
    for k, limit in progress(enumerate(limits), points, "frontier points", show_progress):
        tick = time.perf_counter()
        highs.changeRowBounds(row, -highspy.kHighsInf, float(limit) / built.scale)
        run_highs(highs)
        point = _read(instance, base, built, form, highs)
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
    return Frontier(risk, table, frame, first_seconds)


BISECTIONS = 30
"""Halvings used to find the least feasible risk limit (to about 1e-9 of the range)."""


def _least_feasible_limit(highs: highspy.Highs, row: int, top: float, scale: float) -> float:
    """The least risk any allocation can have (0 unless required services force some).

    Found by bisection on the risk row's bound in the same HiGHS object: each probe is a
    warm-started re-solve, and ``top`` (the unconstrained optimum's risk) is feasible.
    """
    def feasible(limit: float) -> bool:
        highs.changeRowBounds(row, -highspy.kHighsInf, limit / scale)
        run_highs(highs)
        return termination_of(highs.getModelStatus()) not in ("infeasible",
                                                               "unbounded_or_infeasible")

    if top <= 0 or feasible(0.0):
        return 0.0
    low, high = 0.0, top
    for _ in range(BISECTIONS):
        middle = 0.5 * (low + high)
        low, high = (low, middle) if feasible(middle) else (middle, high)
    return high


def _build_with_limit(instance: Instance, risk: str, limit: float) -> AllocationModel:
    """The model of ``instance`` with a row limiting the risk measure to ``limit``."""
    built = build(instance)
    if risk == "expected_loss":
        # The model's pairs (merged stakes) index the rates, not instance.pairs.
        rate = service_loss_rate(instance)[built.index.service_pos] * built.index.value
        if not (rate > 0).any():
            raise InstanceError([Problem(
                f"instance {instance.name}", "slash_probability",
                "x slash_fraction is 0 for every eligible service: no allocation can lose "
                "anything in expectation, so there is no expected-loss frontier to trace")])
        x = pair_variables(built.model)
        built.model.frontier_expected_loss = pyo.Constraint(
            expr=sum(r * x[p] for p, r in enumerate(rate.tolist()) if r > 0)
            <= limit / built.scale,
            doc="portfolio expected loss <= the frontier point's limit (numeraire)")
    if risk == "portfolio_worst_case":
        _add_worst_case_row(built, instance, limit)
    return built


def _add_worst_case_row(built: AllocationModel, instance: Instance, limit: float) -> None:
    """The k largest service losses f_s X_s sum to at most ``limit`` (numeraire).

    Ogryczak and Tamir's form, as for a stake's worst case: k t + sum_s u_s <= limit with
    u_s >= f_s X_s - t and u, t >= 0, over the services some stake could put value behind.
    """
    k = instance.parameters.worst_case_k
    slash = instance.services["slash_fraction"].to_numpy()[built.index.service_pos]
    weight = (slash * built.index.value).tolist()
    x = pair_variables(built.model)
    services = [s for s, pairs in enumerate(built.index.by_service)
                if len(pairs) and slash[pairs[0]] > 0]
    model = built.model
    model.frontier_threshold = pyo.Var(domain=pyo.NonNegativeReals,
                                       doc="t, the k-th largest service loss (numeraire)")
    model.frontier_excess = pyo.Var(services, domain=pyo.NonNegativeReals,
                                    doc="u_s >= f_s X_s - t (numeraire)")
    model.frontier_excess_definition = pyo.Constraint(
        services, rule=lambda m, s: m.frontier_excess[s] + m.frontier_threshold
        - sum(weight[p] * x[p] for p in built.index.by_service[s]) >= 0,
        doc="u_s >= f_s X_s - t (numeraire)")
    model.frontier_worst_case = pyo.Constraint(
        expr=k * model.frontier_threshold + sum(model.frontier_excess[s] for s in services)
        <= limit / built.scale,
        doc="the k largest service losses f_s X_s sum to <= the point's limit (numeraire)")


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


def _read(instance: Instance, base: Instance, built: AllocationModel, form: StandardForm,
          highs: highspy.Highs) -> dict[str, object]:
    """Evaluate HiGHS's current solution (on ``base``, which carries the CVaR scenarios)."""
    termination = termination_of(highs.getModelStatus())
    info = highs.getInfo()
    status = status_of(termination, info.primal_solution_status == 2)
    if status not in ("optimal", "feasible"):
        return {"status": status, "objective": None, "reward": None, "expected_loss": None,
                "cvar": None, "portfolio_worst_case": None, "allocation": None}
    values = np.asarray(highs.getSolution().col_value)
    x = built.fractions(np.clip(values[form.pair_column], 0.0, built.index.upper))
    allocation = allocation_frame(instance, x)
    evaluation = evaluate(base, allocation)
    return {"status": status, "objective": evaluation.objective, "reward": evaluation.reward,
            "expected_loss": evaluation.expected_loss, "cvar": evaluation.cvar,
            "portfolio_worst_case": portfolio_worst_case(base, evaluation.services),
            "allocation": allocation}
