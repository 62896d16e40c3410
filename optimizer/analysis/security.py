"""Security of the whole restaking graph, after a solve: the report's two tables.

Per service: cost of corruption alpha_s f_s (E_s + X_s) against profit from corruption
pi_s. Per holder h, the Durvasula-Roughgarden sufficient condition for no profitable
(cascading) attack, with slack gamma (``security_margin``):

    sum over the services s that h secures of (1 + gamma) pi_s / (alpha_s f_s sigma_s) <= 1

with sigma_s = E_s + X_s all the stake securing s. The evaluator computes both (see
``optimizer.results.checks.graph``); this module reads them off an evaluation.
"""

from __future__ import annotations

import pandas as pd

from optimizer.instance import Instance
from optimizer.results.checks.graph import service_security
from optimizer.results.evaluate import Evaluation, evaluate


def security_report(instance: Instance, allocation: pd.DataFrame,
                    evaluation: Evaluation | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-service and per-holder security tables of an allocation.

    Parameters
    ----------
    instance : Instance
        The problem.
    allocation : pandas.DataFrame
        At least stake, service and fraction; evaluated when ``evaluation`` is not given.
    evaluation : Evaluation, optional
        The evaluation of ``allocation``, when already at hand.

    Returns
    -------
    services : pandas.DataFrame
        service, security, total_security, cost_of_corruption, profit_from_corruption
        (numeraire), coverage (cost / profit), secure (coverage >= 1 + gamma, or no
        profit at stake).
    holders : pandas.DataFrame
        holder, services (how many it secures), condition (the left-hand side above),
        holds (condition <= 1), worst_service (the largest term).
    """
    if evaluation is None:
        evaluation = evaluate(instance, allocation)
    return service_security(instance, evaluation.services), evaluation.holders
