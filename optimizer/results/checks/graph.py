"""Security of the whole restaking graph: per service and per holder, from an allocation.

Per service: cost of corruption alpha_s f_s (E_s + X_s) against profit from corruption
pi_s. Per holder h, the Durvasula-Roughgarden sufficient condition for no profitable
(cascading) attack, with slack gamma (``security_margin``):

    sum over the services s that h secures of (1 + gamma) pi_s / (alpha_s f_s sigma_s) <= 1

with sigma_s = E_s + X_s all the stake securing s (the paper slashes everything, f_s = 1;
slashing only f_s makes an attack f_s times cheaper). A service with pi_s > 0 that nobody
secures, or that cannot slash, is insecure outright (an infinite term).

The evaluator computes the holder table once per allocation (``Evaluation.holders``);
``optimizer.analysis.security`` reads it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.results.checks.context import Context

HOLDS_TOLERANCE = 1e-12
"""Slack on the holder condition's right-hand side, 1 (dimensionless)."""


def corruption_cost(instance: Instance, total_security: np.ndarray) -> np.ndarray:
    """alpha_s f_s sigma_s per service: what an attacker of s alone loses (numeraire).

    Parameters
    ----------
    instance : Instance
        The problem.
    total_security : numpy.ndarray
        sigma_s = E_s + X_s per service (numeraire).
    """
    services = instance.services
    return (services["attack_threshold"].to_numpy() * services["slash_fraction"].to_numpy()
            * total_security)


def holder_security(context: Context) -> pd.DataFrame:
    """The per-holder restaking-graph condition of the allocation.

    Parameters
    ----------
    context : Context
        The allocation and its shared quantities.

    Returns
    -------
    pandas.DataFrame
        One row per holder of the instance: holder, services (how many it secures),
        condition (the left-hand side above, dimensionless), holds (condition <= 1),
        worst_service (the largest term, None when no term is positive).
    """
    instance = context.instance
    services = instance.services
    gamma = instance.parameters.security_margin
    profit = services["profit_from_corruption"].to_numpy()
    total = services["external_stake"].to_numpy() + context.security
    cost = corruption_cost(instance, total)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(profit > 0, (1 + gamma) * profit / cost, 0.0)
    pairs = pd.DataFrame({"holder": context.holder[context.used],
                          "service": context.service_pos[context.used]})
    pairs = pairs.drop_duplicates()
    pairs["term"] = term[pairs["service"].to_numpy()]
    grouped = pairs.groupby("holder", sort=False)["term"]
    strongest = pairs.loc[grouped.idxmax()].set_index("holder") if len(pairs) else pairs
    holders = pd.DataFrame({"holder": instance.holders.index.to_numpy()})
    condition = grouped.sum().reindex(holders["holder"]).fillna(0.0).to_numpy()
    holders["services"] = grouped.size().reindex(holders["holder"]).fillna(0).astype(int)\
        .to_numpy()
    holders["condition"] = condition
    holders["holds"] = condition <= 1 + HOLDS_TOLERANCE
    best = strongest.reindex(holders["holder"])
    positive = (best["term"].fillna(0.0) > 0).to_numpy()
    worst = np.full(len(holders), None, dtype=object)
    worst[positive] = services.index.to_numpy()[best["service"].to_numpy()[positive].astype(int)]
    holders["worst_service"] = worst
    return holders


def service_security(instance: Instance, table: pd.DataFrame) -> pd.DataFrame:
    """The per-service security table, from the evaluator's service summary.

    Parameters
    ----------
    instance : Instance
        The problem.
    table : pandas.DataFrame
        ``Evaluation.services`` (service, security and total_security, numeraire).

    Returns
    -------
    pandas.DataFrame
        service, security, total_security, cost_of_corruption, profit_from_corruption
        (numeraire), coverage (cost / profit), secure (coverage >= 1 + gamma, or no
        profit at stake).
    """
    services = instance.services
    table = table.set_index("service")
    gamma = instance.parameters.security_margin
    profit = services["profit_from_corruption"].to_numpy()
    total = table["total_security"].reindex(services.index).to_numpy()
    cost = corruption_cost(instance, total)
    return pd.DataFrame({
        "service": services.index.to_numpy(),
        "security": table["security"].reindex(services.index).to_numpy(),
        "total_security": total,
        "cost_of_corruption": cost,
        "profit_from_corruption": profit,
        "coverage": np.where(profit > 0, np.divide(cost, profit, out=np.full(len(cost), np.inf),
                                                   where=profit > 0), np.nan),
        "secure": (profit <= 0) | (cost >= (1 + gamma) * profit),
    })
