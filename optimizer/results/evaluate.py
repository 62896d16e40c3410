"""The independent evaluator: every metric and every limit, from the instance alone.

``evaluate`` never looks at a Pyomo model. Given an instance and an allocation
(fractions by stake and service) it recomputes rewards, losses and securities
with numpy and pandas, and runs every check of ``optimizer.results.checks.CHECKS``
against them. The objective a solve reports is this evaluator's, so a modelling
mistake shows up as a violation or a mismatch in the tests rather than as a wrong
number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.results.checks import build_context, run_checks
from optimizer.results.checks.base import (
    FRACTION_TOLERANCE,
    VALUE_TOLERANCE,
    ZERO_THRESHOLD,
    Violation,
)
from optimizer.results.checks.context import Context
from optimizer.results.checks.graph import corruption_cost, holder_security
from optimizer.results.checks.measures import conditional_value_at_risk
from optimizer.results.checks.robust_loss import robust_expected_loss

__all__ = [
    "FRACTION_TOLERANCE",
    "VALUE_TOLERANCE",
    "ZERO_THRESHOLD",
    "Evaluation",
    "Violation",
    "allocation_frame",
    "conditional_value_at_risk",
    "evaluate",
]


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
    holders : pandas.DataFrame
        Per holder, the restaking-graph security condition: holder, services, condition,
        holds, worst_service (see ``optimizer.results.checks.graph``).
    robust_expected_loss : float or None
        With ``uncertainty_budget`` Gamma: the expected loss with the worst Gamma services
        at their ``slash_probability_high`` (MODEL.md family 12), which the objective then
        subtracts instead of ``expected_loss`` (still the nominal one). None without it.
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
    holders: pd.DataFrame = field(default_factory=pd.DataFrame)
    robust_expected_loss: float | None = None

    @property
    def feasible(self) -> bool:
        """Whether no limit is broken."""
        return not self.violations


def allocation_frame(instance: Instance, fractions: np.ndarray) -> pd.DataFrame:
    """The allocation table of per-pair fractions (positions of ``instance.pairs``).

    Pairs whose fraction is within ``ZERO_THRESHOLD`` of zero are left out. A negative
    fraction beyond it is kept, so that ``evaluate`` reports it: the solver's values
    reach the evaluator as they are.

    Parameters
    ----------
    instance : Instance
        The problem.
    fractions : numpy.ndarray
        x_{i,s} per eligible pair, in the order of ``instance.pairs`` (fraction of the
        stake).
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
    context = build_context(instance, allocation, scenarios)
    violations = run_checks(context)
    parameters = instance.parameters
    money = _Money.of(context)
    opted_service = context.opted.index.get_level_values(1).to_numpy()
    opt_in_cost = float(instance.services["opt_in_cost"].to_numpy()[opted_service].sum())
    turnover_cost = parameters.turnover_cost * context.moved
    reward = float(money.service_reward.sum())
    expected_loss = float(money.service_loss.sum())
    robust_loss = robust_expected_loss(instance, context.security)
    # With an uncertainty budget the model maximizes against the worst case: so does the
    # objective reported (and its bound and gap), while expected_loss stays nominal.
    objective = (reward - (expected_loss if robust_loss is None else robust_loss)
                 - opt_in_cost - turnover_cost)
    if context.cvar is not None:
        objective -= parameters.risk_aversion * context.cvar
    return Evaluation(
        objective=objective, reward=reward, expected_loss=expected_loss,
        opt_in_cost=opt_in_cost, turnover_cost=turnover_cost, cvar=context.cvar,
        turnover=context.moved, allocation=_normalized(context),
        stakes=_stake_table(context, money), services=_service_table(context, money),
        violations=violations, holders=holder_security(context),
        robust_expected_loss=robust_loss,
    )


@dataclass(frozen=True)
class _Money:
    """Rewards and expected losses per service and per row (numeraire per year)."""

    service_reward: np.ndarray
    service_loss: np.ndarray
    pair_reward: np.ndarray
    pair_loss: np.ndarray

    @classmethod
    def of(cls, context: Context) -> _Money:
        """Fixed-rate and pool rewards, and p_s f_s V_i x_{i,s}, of the allocation.

        A pool R_s is shared pro rata: the service earns R_s X_s / (E_s + X_s), and each
        pair its share V_i x_{i,s} / X_s of that.
        """
        services = context.instance.services
        security, service_pos = context.security, context.service_pos
        pair_value = context.pair_value
        reward_rate = services["reward_rate"].to_numpy()
        pool = services["reward_pool"].to_numpy()
        external = services["external_stake"].to_numpy()
        loss_rate = services["slash_probability"].to_numpy() \
            * services["slash_fraction"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.where(security > 0, pool * security / (external + security), 0.0)
            pool_share = np.where(
                security[service_pos] > 0,
                pair_value / np.where(security > 0, security, 1.0)[service_pos], 0.0)
        return cls(
            service_reward=reward_rate * security + pooled,
            service_loss=loss_rate * security,
            pair_reward=reward_rate[service_pos] * pair_value + pooled[service_pos] * pool_share,
            pair_loss=loss_rate[service_pos] * pair_value,
        )


def _stake_table(context: Context, money: _Money) -> pd.DataFrame:
    """The per-stake summary (``stakes.csv``)."""
    stakes = context.instance.stakes
    value_i = context.instance.stake_value.to_numpy()
    n_stakes = len(stakes)
    stake_reward = np.bincount(context.stake_pos, weights=money.pair_reward, minlength=n_stakes)
    stake_loss = np.bincount(context.stake_pos, weights=money.pair_loss, minlength=n_stakes)
    with np.errstate(invalid="ignore", divide="ignore"):
        net_apr = np.where(value_i > 0, (stake_reward - stake_loss) / value_i, 0.0)
    return pd.DataFrame({
        "stake": stakes.index.to_numpy(),
        "holder": stakes["holder"].to_numpy(),
        "asset": stakes["asset"].to_numpy(),
        "amount": stakes["amount"].to_numpy(),
        "value": value_i,
        "allocated_fraction": context.allocated,
        "reward": stake_reward,
        "expected_loss": stake_loss,
        "worst_case_loss": context.worst_case_fraction * value_i,
        "net_reward": stake_reward - stake_loss,
        "net_apr": net_apr,
    })


def _service_table(context: Context, money: _Money) -> pd.DataFrame:
    """The per-service summary (``services.csv``)."""
    instance = context.instance
    services = instance.services
    security = context.security
    holder_count = np.zeros(len(services), dtype=np.int64)
    if len(context.holder_service):
        h_service = context.holder_service.index.get_level_values(1).to_numpy()
        counted = context.holder_service.to_numpy() > ZERO_THRESHOLD
        holder_count = np.bincount(h_service[counted], minlength=len(services))
    profit = services["profit_from_corruption"].to_numpy()
    total = services["external_stake"].to_numpy() + security
    cost_of_corruption = corruption_cost(instance, total)
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.where(profit > 0, cost_of_corruption / np.where(profit > 0, profit, 1.0),
                            np.nan)
    minimum = instance.effective_min_security.to_numpy()
    return pd.DataFrame({
        "service": services.index.to_numpy(),
        "security": security,
        "total_security": total,
        "reward": money.service_reward,
        "expected_loss": money.service_loss,
        "holders": holder_count,
        "secured": (security > ZERO_THRESHOLD) & (security >= minimum * (1 - VALUE_TOLERANCE)),
        "cost_of_corruption": cost_of_corruption,
        "profit_from_corruption": profit,
        "coverage": coverage,
    })


def _normalized(context: Context) -> pd.DataFrame:
    """The allocation as reported: rows above ``ZERO_THRESHOLD``, every column recomputed."""
    keep = context.used
    stakes = context.instance.stakes
    stake_pos = context.stake_pos[keep]
    fraction = context.fraction[keep]
    return pd.DataFrame({
        "stake": context.allocation["stake"].to_numpy()[keep],
        "holder": context.holder[keep],
        "service": context.allocation["service"].to_numpy()[keep],
        "asset": stakes["asset"].to_numpy()[stake_pos],
        "fraction": fraction,
        "amount": stakes["amount"].to_numpy()[stake_pos] * fraction,
        "value": context.pair_value[keep],
    })
