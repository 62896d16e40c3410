"""The independent evaluator: every metric and every limit, from the instance alone.

``evaluate`` never looks at a Pyomo model. Given an instance and an allocation
(fractions by stake and service) it recomputes rewards, losses and securities
with numpy and pandas, and checks each limit of the model against them. The
objective a solve reports is this evaluator's, so a modelling mistake shows up
as a violation or a mismatch in the tests rather than as a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet

ZERO_THRESHOLD = 1e-9
"""Fractions at or below this are reported as no allocation."""

FRACTION_TOLERANCE = 1e-6
"""Absolute slack allowed on limits expressed as fractions of a stake."""

VALUE_TOLERANCE = 1e-6
"""Relative slack allowed on limits in numeraire (relative to max(1, limit))."""


@dataclass(frozen=True)
class Violation:
    """One limit the allocation breaks.

    Attributes
    ----------
    constraint : str
        The family, named as in the model (``restaking_degree``, ``service_capacity``...).
    where : str
        The row, in the instance's names (``stake op1-steth``, ``service eigenda``).
    value, limit : float
        The left-hand side and the limit it breaks (unit of the family).
    """

    constraint: str
    where: str
    value: float
    limit: float
    sense: str = "<="

    def __str__(self) -> str:
        """E.g. ``restaking_degree at stake a: 1.2 > 1 (limit <= 1)``."""
        return (f"{self.constraint} at {self.where}: {self.value:.9g} breaks "
                f"{self.sense} {self.limit:.9g}")


@dataclass
class Evaluation:
    """Metrics and checks of one allocation (numeraire, per year where a rate).

    Attributes
    ----------
    allocation : pandas.DataFrame
        stake, holder, service, asset, fraction, amount, value; one row per pair with
        fraction above ``ZERO_THRESHOLD``.
    stakes, services : pandas.DataFrame
        Per-stake and per-service summaries (the columns of the solution files).
    violations : list of Violation
        Every limit broken beyond the tolerances; empty for a feasible allocation.
    """

    objective: float
    reward: float
    expected_loss: float
    opt_in_cost: float
    turnover_cost: float
    cvar: float | None
    turnover: float
    allocation: pd.DataFrame
    stakes: pd.DataFrame
    services: pd.DataFrame
    violations: list[Violation] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """Whether no limit is broken."""
        return not self.violations


def allocation_frame(instance: Instance, fractions: np.ndarray) -> pd.DataFrame:
    """The allocation table of per-pair fractions (positions of ``instance.pairs``).

    Pairs whose fraction is within ``ZERO_THRESHOLD`` of zero are left out. A negative
    fraction beyond it is kept, so that ``evaluate`` reports it: the solver's values
    reach the evaluator as they are.
    """
    pairs = instance.pairs
    keep = np.abs(fractions) > ZERO_THRESHOLD
    chosen = pairs[keep]
    fraction = fractions[keep]
    stakes = instance.stakes
    amount = stakes["amount"].to_numpy()[chosen["stake_pos"].to_numpy()] * fraction
    value = instance.stake_value.to_numpy()[chosen["stake_pos"].to_numpy()] * fraction
    return pd.DataFrame({
        "stake": chosen["stake"].to_numpy(),
        "holder": chosen["holder"].to_numpy(),
        "service": chosen["service"].to_numpy(),
        "asset": stakes["asset"].to_numpy()[chosen["stake_pos"].to_numpy()],
        "fraction": fraction,
        "amount": amount,
        "value": value,
    })


def evaluate(instance: Instance, allocation: pd.DataFrame,
             scenarios: ScenarioSet | None = None) -> Evaluation:
    """Recompute every metric of ``allocation`` and check every limit of ``instance``.

    Parameters
    ----------
    instance : Instance
        The problem.
    allocation : pandas.DataFrame
        At least the columns ``stake``, ``service`` and ``fraction`` (of the stake,
        in [0, 1]); other columns are ignored and recomputed.
    scenarios : ScenarioSet, optional
        The scenarios for CVaR; by default the instance's own (or its seeded sample),
        when the instance uses CVaR.

    Raises
    ------
    ValueError
        When the allocation names an unknown stake or service, repeats a pair, or has a
        fraction that is not finite.
    """
    for column in ("stake", "service", "fraction"):
        if column not in allocation.columns:
            raise ValueError(f"the allocation has no column '{column}'")
    stakes, services = instance.stakes, instance.services
    stake_pos = pd.Index(stakes.index).get_indexer(allocation["stake"])
    service_pos = pd.Index(services.index).get_indexer(allocation["service"])
    if (stake_pos < 0).any():
        unknown = allocation["stake"][stake_pos < 0].iloc[0]
        raise ValueError(f"the allocation names stake {unknown!r}, which is not in the instance")
    if (service_pos < 0).any():
        unknown = allocation["service"][service_pos < 0].iloc[0]
        raise ValueError(f"the allocation names service {unknown!r}, which is not in the "
                         "instance")
    if allocation.duplicated(subset=["stake", "service"]).any():
        raise ValueError("the allocation repeats a (stake, service) pair")

    fraction = allocation["fraction"].to_numpy(dtype=float)
    if not np.isfinite(fraction).all():
        raise ValueError("the allocation has a fraction that is not a finite number")
    violations: list[Violation] = []
    n_stakes, n_services = len(stakes), len(services)
    value_i = instance.stake_value.to_numpy()
    pair_value = value_i[stake_pos] * fraction

    # Eligibility and the per-pair bounds 0 <= x <= m_i.
    eligible = pd.MultiIndex.from_arrays([instance.pairs["stake"], instance.pairs["service"]])
    given = pd.MultiIndex.from_arrays([allocation["stake"], allocation["service"]])
    outside = ~given.isin(eligible) & (fraction > ZERO_THRESHOLD)
    for row in np.flatnonzero(outside):
        violations.append(Violation("eligibility", f"stake {allocation['stake'].iloc[row]}, "
                                    f"service {allocation['service'].iloc[row]}",
                                    fraction[row], 0.0))
    per_service_cap = stakes["max_per_service"].to_numpy()[stake_pos]
    _check(violations, "allocation_bounds", _pair_names(allocation), fraction, per_service_cap,
           FRACTION_TOLERANCE)
    _check(violations, "allocation_bounds", _pair_names(allocation), -fraction,
           np.zeros_like(fraction), FRACTION_TOLERANCE)

    # Family 1, restaking degree.
    allocated = np.bincount(stake_pos, weights=fraction, minlength=n_stakes)
    _check(violations, "restaking_degree", _names("stake", stakes.index), allocated,
           stakes["max_restaking"].to_numpy(), FRACTION_TOLERANCE)

    # Family 2, expected-loss budget.
    slash_p = services["slash_probability"].to_numpy()
    slash_f = services["slash_fraction"].to_numpy()
    loss_rate = (slash_p * slash_f)[service_pos]
    loss_fraction = np.bincount(stake_pos, weights=loss_rate * fraction, minlength=n_stakes)
    _check(violations, "expected_loss_budget", _names("stake", stakes.index), loss_fraction,
           stakes["max_expected_loss"].to_numpy(), FRACTION_TOLERANCE)

    # Family 3, the worst case of k simultaneous slashings.
    k = instance.parameters.worst_case_k
    loads = pd.DataFrame({"stake": stake_pos, "load": slash_f[service_pos] * fraction})
    loads = loads.sort_values(["stake", "load"], ascending=[True, False], kind="stable")
    top_k = loads.groupby("stake", sort=False).head(k).groupby("stake")["load"].sum()
    worst_fraction = np.zeros(n_stakes)
    worst_fraction[top_k.index.to_numpy()] = top_k.to_numpy()
    _check(violations, "worst_case_budget", _names("stake", stakes.index), worst_fraction,
           stakes["max_worst_case_loss"].to_numpy(), FRACTION_TOLERANCE)

    # Family 4, group exposure.
    for group, limit_g in instance.groups["max_exposure"].dropna().items():
        members = [s for s, names in enumerate(services["groups"]) if group in names]
        inside = np.isin(service_pos, members)
        exposure = np.bincount(stake_pos[inside], weights=fraction[inside], minlength=n_stakes)
        limit = np.full(n_stakes, float(limit_g))
        _check(violations, "group_exposure", _names("stake", stakes.index, f", group {group}"),
               exposure, limit, FRACTION_TOLERANCE)

    # Families 5 and 6, service capacity and minimum security.
    security = np.bincount(service_pos, weights=pair_value, minlength=n_services)
    service_names = _names("service", services.index)
    _check_value(violations, "service_capacity", service_names, security,
                 services["capacity"].to_numpy())
    minimum = instance.effective_min_security.to_numpy()
    required = services["required"].to_numpy()
    needs = required | (security > ZERO_THRESHOLD)
    short = np.where(needs & (minimum > 0), minimum, np.nan)
    _check_value(violations, "min_security", service_names, -security, -short, sense=">=")

    # Family 7, holder concentration.
    holder_ids = stakes["holder"].to_numpy()[stake_pos]
    external = services["external_stake"].to_numpy()
    share = services["max_holder_share"].to_numpy()
    by_holder = pd.DataFrame({"holder": holder_ids, "service": service_pos, "value": pair_value})
    holder_service = by_holder.groupby(["holder", "service"], sort=True)["value"].sum()
    holder_count = np.zeros(n_services, dtype=np.int64)
    if len(holder_service):
        h_names = holder_service.index.get_level_values(0).to_numpy()
        h_service = holder_service.index.get_level_values(1).to_numpy()
        h_value = holder_service.to_numpy()
        cap = share[h_service] * (external[h_service] + security[h_service])
        names = [f"holder {h}, service {services.index[s]}" for h, s in
                 zip(h_names, h_service, strict=True)]
        _check_value(violations, "holder_concentration", names, h_value, cap)
        counted = h_value > ZERO_THRESHOLD
        holder_count = np.bincount(h_service[counted], minlength=n_services)

    # Family 8, opt-in: a holder is opted into every service it allocates to.
    holder_pos_all = pd.Index(instance.holders.index).get_indexer(holder_ids)
    used = fraction > ZERO_THRESHOLD
    opted = pd.DataFrame({"holder": holder_pos_all[used], "service": service_pos[used],
                          "value": pair_value[used]}).groupby(["holder", "service"])["value"]
    opted = opted.sum()
    opted_holder = opted.index.get_level_values(0).to_numpy()
    opted_service = opted.index.get_level_values(1).to_numpy()
    opt_in_cost = float(services["opt_in_cost"].to_numpy()[opted_service].sum())
    floor = services["min_allocation"].to_numpy()[opted_service]
    _check_value(violations, "min_allocation",
                 [f"holder {instance.holders.index[h]}, service {services.index[s]}"
                  for h, s in zip(opted_holder, opted_service, strict=True)],
                 -opted.to_numpy(), -np.where(floor > 0, floor, np.nan), sense=">=")
    count = np.bincount(opted_holder, minlength=len(instance.holders)).astype(float)
    _check(violations, "max_services", _names("holder", instance.holders.index), count,
           instance.holders["max_services"].to_numpy(), 0.5)

    # Family 9, tail risk: exact CVaR over the scenarios.
    parameters = instance.parameters
    cvar = None
    if parameters.cvar_limit is not None or parameters.risk_aversion > 0:
        chosen = scenarios if scenarios is not None else instance.scenario_set()
        cvar = conditional_value_at_risk(chosen.losses(security), chosen.probability,
                                         parameters.cvar_alpha)
        limit = np.nan if parameters.cvar_limit is None else parameters.cvar_limit
        _check_value(violations, "cvar_limit", ["portfolio"], np.array([cvar]),
                     np.array([limit]))

    # Family 10, turnover against the current allocation.
    turnover_cost = 0.0
    moved = _value_moved(instance, stake_pos, service_pos, fraction)
    if parameters.turnover_limit is not None:
        _check_value(violations, "turnover_limit", ["portfolio"], np.array([moved]),
                     np.array([parameters.turnover_limit]))
    turnover_cost = parameters.turnover_cost * moved

    # Objective: fixed-rate and pool rewards, expected loss, costs, risk aversion.
    reward_rate = services["reward_rate"].to_numpy()
    pool = services["reward_pool"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(security > 0, pool * security / (external + security), 0.0)
    service_reward = reward_rate * security + pooled
    service_loss = slash_p * slash_f * security
    with np.errstate(invalid="ignore", divide="ignore"):
        pool_share = np.where(security[service_pos] > 0,
                              pair_value / np.where(security > 0, security, 1.0)[service_pos], 0.0)
    pair_reward = reward_rate[service_pos] * pair_value + pooled[service_pos] * pool_share
    pair_loss = loss_rate * pair_value
    reward = float(service_reward.sum())
    expected_loss = float(service_loss.sum())
    objective = reward - expected_loss - opt_in_cost - turnover_cost
    if cvar is not None:
        objective -= parameters.risk_aversion * cvar

    stake_reward = np.bincount(stake_pos, weights=pair_reward, minlength=n_stakes)
    stake_loss = np.bincount(stake_pos, weights=pair_loss, minlength=n_stakes)
    with np.errstate(invalid="ignore", divide="ignore"):
        net_apr = np.where(value_i > 0, (stake_reward - stake_loss) / value_i, 0.0)
    stake_table = pd.DataFrame({
        "stake": stakes.index.to_numpy(),
        "holder": stakes["holder"].to_numpy(),
        "asset": stakes["asset"].to_numpy(),
        "amount": stakes["amount"].to_numpy(),
        "value": value_i,
        "allocated_fraction": allocated,
        "reward": stake_reward,
        "expected_loss": stake_loss,
        "worst_case_loss": worst_fraction * value_i,
        "net_reward": stake_reward - stake_loss,
        "net_apr": net_apr,
    })
    profit = services["profit_from_corruption"].to_numpy()
    total = external + security
    cost_of_corruption = services["attack_threshold"].to_numpy() * slash_f * total
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.where(profit > 0, cost_of_corruption / np.where(profit > 0, profit, 1.0),
                            np.nan)
    service_table = pd.DataFrame({
        "service": services.index.to_numpy(),
        "security": security,
        "total_security": total,
        "reward": service_reward,
        "expected_loss": service_loss,
        "holders": holder_count,
        "secured": (security > ZERO_THRESHOLD) & (security >= minimum * (1 - VALUE_TOLERANCE)),
        "cost_of_corruption": cost_of_corruption,
        "profit_from_corruption": profit,
        "coverage": coverage,
    })
    keep = fraction > ZERO_THRESHOLD
    normalized = pd.DataFrame({
        "stake": allocation["stake"].to_numpy()[keep],
        "holder": holder_ids[keep],
        "service": allocation["service"].to_numpy()[keep],
        "asset": stakes["asset"].to_numpy()[stake_pos[keep]],
        "fraction": fraction[keep],
        "amount": stakes["amount"].to_numpy()[stake_pos[keep]] * fraction[keep],
        "value": pair_value[keep],
    })
    return Evaluation(
        objective=objective, reward=reward, expected_loss=expected_loss,
        opt_in_cost=opt_in_cost, turnover_cost=turnover_cost, cvar=cvar,
        turnover=moved, allocation=normalized,
        stakes=stake_table, services=service_table, violations=violations,
    )


def conditional_value_at_risk(losses: np.ndarray, probability: np.ndarray,
                              alpha: float) -> float:
    """CVaR_alpha: the mean of the worst (1 - alpha) probability mass of the losses.

    Computed by sorting, not by optimization: the scenarios are taken from the largest
    loss down until their probabilities reach 1 - alpha, the last one in part. Equal to
    Rockafellar and Uryasev's min over eta of eta + E[(L - eta)+] / (1 - alpha).
    """
    order = np.argsort(-losses, kind="stable")
    loss, mass = losses[order], probability[order]
    tail = 1.0 - alpha
    before = np.concatenate(([0.0], np.cumsum(mass)[:-1]))
    taken = np.clip(tail - before, 0.0, mass)
    return float((taken * loss).sum() / tail)


def _value_moved(instance: Instance, stake_pos: np.ndarray, service_pos: np.ndarray,
                 fraction: np.ndarray) -> float:
    """The sum of V_i |x - x0| over every pair with a new or a current allocation (numeraire)."""
    current = instance.current
    stakes, services = instance.stakes, instance.services
    new = pd.Series(fraction, index=pd.MultiIndex.from_arrays(
        [stakes.index.to_numpy()[stake_pos], services.index.to_numpy()[service_pos]]))
    old = pd.Series(current["fraction"].to_numpy(dtype=float),
                    index=pd.MultiIndex.from_arrays([current["stake"], current["service"]]))
    both = new.index.union(old.index)
    change = (new.reindex(both, fill_value=0.0) - old.reindex(both, fill_value=0.0)).abs()
    value = instance.stake_value.reindex(both.get_level_values(0)).to_numpy()
    return float((value * change.to_numpy()).sum())


def _names(kind: str, ids: pd.Index, suffix: str = "") -> list[str]:
    return [f"{kind} {i}{suffix}" for i in ids]


def _pair_names(allocation: pd.DataFrame) -> list[str]:
    return [f"stake {i}, service {s}" for i, s in
            zip(allocation["stake"], allocation["service"], strict=True)]


def _check(violations: list[Violation], constraint: str, names: list[str], value: np.ndarray,
           limit: np.ndarray, tolerance: float | np.ndarray, sense: str = "<=") -> None:
    """Record each row where ``value > limit + tolerance`` (NaN limits are inactive).

    A ``>=`` row is passed negated (``-value > -limit``) and reported the right way round.
    """
    with np.errstate(invalid="ignore"):
        broken = ~np.isnan(limit) & (value > limit + tolerance)
    sign = 1.0 if sense == "<=" else -1.0
    for row in np.flatnonzero(broken):
        violations.append(Violation(constraint, names[row], float(sign * value[row]),
                                    float(sign * limit[row]), sense))


def _check_value(violations: list[Violation], constraint: str, names: list[str],
                 value: np.ndarray, limit: np.ndarray, sense: str = "<=") -> None:
    """``_check`` with a tolerance relative to the limit's size (rows in numeraire)."""
    tolerance = VALUE_TOLERANCE * np.maximum(1.0, np.abs(np.nan_to_num(limit)))
    _check(violations, constraint, names, value, limit, tolerance, sense)
