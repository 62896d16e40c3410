"""Security of the whole restaking graph, after a solve.

Per service: cost of corruption alpha_s f_s (E_s + X_s) against profit from corruption
pi_s. Per holder h, the Durvasula-Roughgarden sufficient condition for no profitable
(cascading) attack, with slack gamma (``security_margin``):

    sum over the services s that h secures of (1 + gamma) pi_s / (alpha_s f_s sigma_s) <= 1

with sigma_s = E_s + X_s all the stake securing s (the paper slashes everything, f_s = 1;
slashing only f_s makes an attack f_s times cheaper). A service with pi_s > 0 that nobody
secures, or that cannot slash, is insecure outright (an infinite term).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.results.evaluate import ZERO_THRESHOLD, Evaluation, evaluate


def security_report(instance: Instance, allocation: pd.DataFrame,
                    evaluation: Evaluation | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-service and per-holder security tables of an allocation.

    Returns
    -------
    services : pandas.DataFrame
        service, security, total_security, cost_of_corruption, profit_from_corruption,
        coverage (cost / profit), secure (coverage >= 1 + gamma, or no profit at stake).
    holders : pandas.DataFrame
        holder, services (how many it secures), condition (the left-hand side above),
        holds (condition <= 1), worst_service (the largest term).
    """
    if evaluation is None:
        evaluation = evaluate(instance, allocation)
    table = evaluation.services.set_index("service")
    services = instance.services
    gamma = instance.parameters.security_margin
    profit = services["profit_from_corruption"].to_numpy()
    slash = services["slash_fraction"].to_numpy()
    alpha = services["attack_threshold"].to_numpy()
    total = table["total_security"].reindex(services.index).to_numpy()
    cost = alpha * slash * total
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(profit > 0, (1 + gamma) * profit / cost, 0.0)
    service_table = pd.DataFrame({
        "service": services.index.to_numpy(),
        "security": table["security"].reindex(services.index).to_numpy(),
        "total_security": total,
        "cost_of_corruption": cost,
        "profit_from_corruption": profit,
        "coverage": np.where(profit > 0, np.divide(cost, profit, out=np.full(len(cost), np.inf),
                                                   where=profit > 0), np.nan),
        "secure": (profit <= 0) | (cost >= (1 + gamma) * profit),
    })
    used = evaluation.allocation[evaluation.allocation["fraction"] > ZERO_THRESHOLD]
    position = pd.Index(services.index).get_indexer(used["service"])
    pairs = pd.DataFrame({"holder": used["holder"].to_numpy(), "service": position})
    pairs = pairs.drop_duplicates()
    pairs["term"] = term[pairs["service"].to_numpy()]
    grouped = pairs.groupby("holder", sort=False)["term"]
    strongest = pairs.loc[grouped.idxmax()].set_index("holder") if len(pairs) else pairs
    holders = pd.DataFrame({"holder": instance.holders.index.to_numpy()})
    condition = grouped.sum().reindex(holders["holder"]).fillna(0.0).to_numpy()
    holders["services"] = grouped.size().reindex(holders["holder"]).fillna(0).astype(int)\
        .to_numpy()
    holders["condition"] = condition
    holders["holds"] = condition <= 1 + 1e-12
    best = strongest.reindex(holders["holder"])
    positive = (best["term"].fillna(0.0) > 0).to_numpy()
    worst = np.full(len(holders), None, dtype=object)
    worst[positive] = services.index.to_numpy()[best["service"].to_numpy()[positive].astype(int)]
    holders["worst_service"] = worst
    return service_table, holders
