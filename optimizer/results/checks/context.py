"""The quantities every check and every metric reads, computed once per allocation.

``build_context`` validates the allocation against the instance and derives, with numpy
and pandas, everything that more than one check (or a check and a metric) needs: values
per pair, the security X_s behind each service, per-stake and per-holder totals, the
scenario losses and CVaR, the value moved. Nothing here comes from a Pyomo model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.results.checks.base import ZERO_THRESHOLD
from optimizer.results.checks.measures import (
    conditional_value_at_risk,
    largest_per_stake,
    value_moved,
)


@dataclass(frozen=True)
class Context:
    """One allocation of one instance, with its shared quantities.

    Arrays "per row" follow the rows of ``allocation``; "per stake" and "per service"
    follow ``instance.stakes`` and ``instance.services``.

    Attributes
    ----------
    instance : Instance
        The problem.
    allocation : pandas.DataFrame
        The allocation as given (at least stake, service, fraction).
    stake_pos, service_pos : numpy.ndarray
        Per row, the positions of its stake and its service in the instance.
    fraction : numpy.ndarray
        Per row, x_{i,s} (fraction of the stake).
    pair_value : numpy.ndarray
        Per row, V_i x_{i,s} (numeraire).
    holder : numpy.ndarray
        Per row, the id of the stake's holder.
    used : numpy.ndarray
        Per row, whether x_{i,s} > ``ZERO_THRESHOLD`` (an allocation, as reported).
    allocated : numpy.ndarray
        Per stake, sum_s x_{i,s} (fraction of the stake).
    expected_loss_fraction : numpy.ndarray
        Per stake, sum_s p_s f_s x_{i,s} (fraction of the stake per year).
    worst_case_fraction : numpy.ndarray
        Per stake, the sum of the k largest f_s x_{i,s} (fraction of the stake).
    security : numpy.ndarray
        Per service, X_s = sum_i V_i x_{i,s} (numeraire).
    holder_service : pandas.Series
        sum over the holder's stakes of V_i x_{i,s}, indexed by (holder id, service
        position), over every row (numeraire).
    opted : pandas.Series
        The same over used rows only, indexed by (holder position, service position):
        the services each holder is opted into (numeraire).
    scenario_losses, scenario_probability : numpy.ndarray or None
        L_w = sum_s xi_{w,s} X_s (numeraire) and pi_w per scenario, when CVaR is used.
    cvar : float or None
        CVaR_alpha of the scenario losses (numeraire), when CVaR is used.
    moved : float
        sum V_i |x_{i,s} - x0_{i,s}| against the current allocation (numeraire).
    """

    instance: Instance
    allocation: pd.DataFrame
    stake_pos: np.ndarray
    service_pos: np.ndarray
    fraction: np.ndarray
    pair_value: np.ndarray
    holder: np.ndarray
    used: np.ndarray
    allocated: np.ndarray
    expected_loss_fraction: np.ndarray
    worst_case_fraction: np.ndarray
    security: np.ndarray
    holder_service: pd.Series
    opted: pd.Series
    scenario_losses: np.ndarray | None
    scenario_probability: np.ndarray | None
    cvar: float | None
    moved: float


def build_context(instance: Instance, allocation: pd.DataFrame,
                  scenarios: ScenarioSet | None = None) -> Context:
    """Validate ``allocation`` and compute its shared quantities.

    Parameters
    ----------
    instance : Instance
        The problem.
    allocation : pandas.DataFrame
        At least the columns ``stake``, ``service`` and ``fraction`` (of the stake).
    scenarios : ScenarioSet, optional
        The scenarios for CVaR; by default the instance's own (or its seeded sample),
        when the instance uses CVaR.

    Raises
    ------
    ValueError
        When the allocation names an unknown stake or service, repeats a pair, or has a
        fraction that is not finite.
    """
    stake_pos, service_pos, fraction = _positions(instance, allocation)
    stakes, services = instance.stakes, instance.services
    n_stakes, n_services = len(stakes), len(services)
    pair_value = instance.stake_value.to_numpy()[stake_pos] * fraction
    slash_p = services["slash_probability"].to_numpy()
    slash_f = services["slash_fraction"].to_numpy()
    loss_rate = (slash_p * slash_f)[service_pos]
    holder = stakes["holder"].to_numpy()[stake_pos]
    used = fraction > ZERO_THRESHOLD
    security = np.bincount(service_pos, weights=pair_value, minlength=n_services)
    by_holder = pd.DataFrame({"holder": holder, "service": service_pos, "value": pair_value})
    holder_pos = pd.Index(instance.holders.index).get_indexer(holder)
    opted = pd.DataFrame({"holder": holder_pos[used], "service": service_pos[used],
                          "value": pair_value[used]}).groupby(["holder", "service"])["value"]
    losses, probability, cvar = _tail(instance, security, scenarios)
    return Context(
        instance=instance, allocation=allocation, stake_pos=stake_pos,
        service_pos=service_pos, fraction=fraction, pair_value=pair_value, holder=holder,
        used=used,
        allocated=np.bincount(stake_pos, weights=fraction, minlength=n_stakes),
        expected_loss_fraction=np.bincount(stake_pos, weights=loss_rate * fraction,
                                           minlength=n_stakes),
        worst_case_fraction=largest_per_stake(stake_pos, slash_f[service_pos] * fraction,
                                              instance.parameters.worst_case_k, n_stakes),
        security=security,
        holder_service=by_holder.groupby(["holder", "service"], sort=True)["value"].sum(),
        opted=opted.sum(),
        scenario_losses=losses, scenario_probability=probability, cvar=cvar,
        moved=value_moved(instance, stake_pos, service_pos, fraction),
    )


def _positions(instance: Instance,
               allocation: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stake and service positions and the fractions of the rows, once checked."""
    for column in ("stake", "service", "fraction"):
        if column not in allocation.columns:
            raise ValueError(f"the allocation has no column '{column}'")
    stake_pos = pd.Index(instance.stakes.index).get_indexer(allocation["stake"])
    service_pos = pd.Index(instance.services.index).get_indexer(allocation["service"])
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
    return stake_pos, service_pos, fraction


def _tail(instance: Instance, security: np.ndarray, scenarios: ScenarioSet | None,
          ) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
    """Scenario losses (numeraire), their probabilities and CVaR, when CVaR is used."""
    parameters = instance.parameters
    if not (parameters.cvar_limit is not None or parameters.risk_aversion > 0):
        return None, None, None
    chosen = scenarios if scenarios is not None else instance.scenario_set()
    losses = chosen.losses(security)
    return losses, chosen.probability, conditional_value_at_risk(
        losses, chosen.probability, parameters.cvar_alpha)
