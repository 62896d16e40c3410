"""The allocations curators use today, to measure the optimizer against.

- ``equal``: each stake split evenly over its eligible services, up to its restaking
  degree L_i and each pair's cap (m_i and the pair's ``max_fraction``);
- ``pro_rata``: each stake spread in proportion to the services' reward rates, same caps;
- ``greedy``: each stake, largest first, first puts each pair's ``min_fraction`` in place,
  then fills its services in order of risk-adjusted rate r_s - p_s f_s (positive ones
  only), as far as its own limits (the pair caps, L_i, expected loss, worst case of k,
  group exposure) and the services' remaining capacities allow.

Every baseline keeps each pair within its ``min_fraction`` and cap (a minimum is placed
even where the stake's other limits cannot hold it: the evaluator then says so). None of
them looks at required minimums, holder shares, opt-in economics, CVaR or turnover; the
evaluator says which limits each one breaks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.instance.pair_bounds import PairBounds, pair_bounds
from optimizer.results.evaluate import Evaluation, evaluate

BASELINES = ("equal", "pro_rata", "greedy")


def baseline_allocation(instance: Instance, name: str) -> pd.DataFrame:
    """The allocation (stake, service, fraction) of the baseline ``name``."""
    pairs = instance.pairs
    stakes, services = instance.stakes, instance.services
    i_of = pairs["stake_pos"].to_numpy()
    s_of = pairs["service_pos"].to_numpy()
    bounds = pair_bounds(instance)
    cap = _pair_cap(instance, bounds)
    degree = stakes["max_restaking"].to_numpy()
    if name == "equal":
        count = np.bincount(i_of, minlength=len(stakes))
        fraction = np.minimum(cap, degree[i_of] / np.maximum(count[i_of], 1))
    elif name == "pro_rata":
        rate = services["reward_rate"].to_numpy()[s_of]
        total = np.bincount(i_of, weights=rate, minlength=len(stakes))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total[i_of] > 0, rate / total[i_of], 0.0)
        fraction = np.minimum(cap, degree[i_of] * share)
    elif name == "greedy":
        fraction = _greedy(instance)
    else:
        raise ValueError(f"unknown baseline {name!r}: one of {', '.join(BASELINES)}")
    return pd.DataFrame({"stake": pairs["stake"], "service": pairs["service"],
                         "fraction": np.maximum(fraction, bounds.lower)})


def _pair_cap(instance: Instance, bounds: PairBounds) -> np.ndarray:
    """m_i and the pair's ``max_fraction``, the lesser, per pair (fraction of stake)."""
    cap = instance.stakes["max_per_service"].to_numpy()[instance.pairs["stake_pos"].to_numpy()]
    return np.where(np.isnan(bounds.upper), cap, np.minimum(cap, bounds.upper))


def _greedy(instance: Instance) -> np.ndarray:
    pairs = instance.pairs
    stakes, services = instance.stakes, instance.services
    value = instance.stake_value.to_numpy()
    i_of = pairs["stake_pos"].to_numpy()
    s_of = pairs["service_pos"].to_numpy()
    p = services["slash_probability"].to_numpy()
    f = services["slash_fraction"].to_numpy()
    net = services["reward_rate"].to_numpy() - p * f
    capacity = services["capacity"].to_numpy().copy()
    capacity[np.isnan(capacity)] = np.inf
    k = instance.parameters.worst_case_k
    limits = instance.groups["max_exposure"].dropna()
    groups_of = [[g for g in names if g in limits.index] for names in services["groups"]]
    bounds = pair_bounds(instance)
    cap = _pair_cap(instance, bounds)
    fraction = bounds.lower.copy()  # the minimums first, where the evaluator checks them
    order_of_stakes = np.argsort(-value, kind="stable")
    for i in order_of_stakes:
        mine = np.flatnonzero(i_of == i)
        mine = mine[np.argsort(-net[s_of[mine]], kind="stable")]
        held = fraction[mine]
        left = stakes["max_restaking"].iloc[i] - held.sum()
        budget = stakes["max_expected_loss"].iloc[i] - float(held @ (p * f)[s_of[mine]])
        worst = stakes["max_worst_case_loss"].iloc[i]
        used_group = {g: sum(float(fraction[q]) for q in mine if g in groups_of[s_of[q]])
                      for g in limits.index}
        loads = {int(q): float(f[s_of[q]] * fraction[q]) for q in mine}
        capacity -= np.bincount(s_of[mine], weights=held * value[i], minlength=len(capacity))
        for q in mine:
            s = s_of[q]
            if net[s] <= 0 or left <= 0 or value[i] <= 0:
                continue
            room = min(cap[q] - fraction[q], left, capacity[s] / value[i])
            if not np.isnan(budget) and p[s] * f[s] > 0:
                room = min(room, budget / (p[s] * f[s]))
            for g in groups_of[s]:
                room = min(room, limits[g] - used_group[g])
            if not np.isnan(worst) and f[s] > 0:
                others = sorted((v for r, v in loads.items() if r != q), reverse=True)[:k - 1]
                room = min(room, (worst - sum(others)) / f[s] - fraction[q])
            room = max(room, 0.0)
            if room <= 0:
                continue
            fraction[q] += room
            left -= room
            capacity[s] -= room * value[i]
            if not np.isnan(budget):
                budget -= room * p[s] * f[s]
            for g in groups_of[s]:
                used_group[g] += room
            loads[int(q)] = float(f[s] * fraction[q])
    return fraction


def compare(instance: Instance, optimized: Evaluation) -> pd.DataFrame:
    """The optimizer's allocation beside each baseline, every number from the evaluator.

    Returns
    -------
    pandas.DataFrame
        One row per allocation (``optimizer`` first): objective, reward, expected_loss
        (numeraire per year), stake_worst_case_sum (numeraire: the sum over stakes of each
        stake's own loss if its ``worst_case_k`` worst services slash, the sum of the
        ``worst_case_loss`` column of stakes.csv), cvar (numeraire, None without CVaR),
        violations (a count), breaks (the families broken) and uplift (the optimizer's
        objective minus this one's).
    """
    rows = [_row("optimizer", optimized)]
    for name in BASELINES:
        rows.append(_row(name, evaluate(instance, baseline_allocation(instance, name))))
    table = pd.DataFrame(rows)
    table["uplift"] = table.loc[0, "objective"] - table["objective"]
    return table


def _row(name: str, evaluation: Evaluation) -> dict[str, object]:
    broken = sorted({v.constraint for v in evaluation.violations})
    return {
        "allocation": name,
        "objective": evaluation.objective,
        "reward": evaluation.reward,
        "expected_loss": evaluation.expected_loss,
        "stake_worst_case_sum": float(evaluation.stakes["worst_case_loss"].sum()),
        "cvar": evaluation.cvar,
        "violations": len(evaluation.violations),
        "breaks": ", ".join(broken),
    }
