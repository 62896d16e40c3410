"""Rows limiting a portfolio risk measure, for the frontier (not a family of the contract).

The frontier (``optimizer.analysis.frontier``) re-solves one model with the bound of one
row moved. For CVaR that row is the CVaR family's ``cvar_limit``; for the two other
measures it is added here when the model is built with ``risk_limit=(measure, limit)``:

- ``expected_loss``: sum_{i,s} p_s f_s V_i x_{i,s} <= limit (numeraire per year);
- ``portfolio_worst_case``: the k largest service losses f_s X_s sum to at most the
  limit (numeraire), in Ogryczak and Tamir's form as for a stake's worst case:
  k t + sum_s u_s <= limit with u_s >= f_s X_s - t and u, t >= 0, over the services some
  stake could put value behind.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.loss_limits import service_loss_rate
from optimizer.model.rows import MatrixRows

MEASURES = ("cvar", "expected_loss", "portfolio_worst_case")
"""The risk measures a frontier can trace (each limited by one row marked ``risk``)."""


def add_risk_limit(context: BuildContext) -> list[ObjectiveTerm]:
    """Add the row limiting ``context.risk_limit``'s measure (none for CVaR, or without)."""
    if context.risk_limit is None:
        return []
    measure, limit = context.risk_limit
    if measure == "expected_loss":
        _add_expected_loss(context, limit)
    elif measure == "portfolio_worst_case":
        _add_worst_case(context, limit)
    elif measure != "cvar":
        raise ValueError(f"risk must be one of {', '.join(MEASURES)}, got {measure!r}")
    return []


def _add_expected_loss(context: BuildContext, limit: float) -> None:
    index = context.index
    rate = service_loss_rate(context.instance)[index.service_pos] * index.value
    pairs = np.flatnonzero(rate > 0)
    context.model.frontier_expected_loss = MatrixRows(
        [None], [context.model.x_alloc], np.zeros(len(pairs), dtype=np.int64), pairs,
        rate[pairs], lower=np.nan, upper=float(limit),
        doc="portfolio expected loss <= the frontier point's limit (numeraire per year)")


def _add_worst_case(context: BuildContext, limit: float) -> None:
    model, index = context.model, context.index
    k = context.instance.parameters.worst_case_k
    slash = context.instance.services["slash_fraction"].to_numpy()
    weight = slash[index.service_pos] * index.value
    services = np.asarray([s for s, pairs in enumerate(index.by_service)
                           if len(pairs) and slash[s] > 0], dtype=np.int64)
    model.frontier_threshold = pyo.Var(domain=pyo.NonNegativeReals,
                                       doc="t, the k-th largest service loss (numeraire)")
    model.frontier_excess = pyo.Var(services.tolist(), domain=pyo.NonNegativeReals,
                                    doc="u_s >= f_s X_s - t (numeraire)")
    count, n_pairs = len(services), len(index.upper)
    members = [index.by_service[s] for s in services]
    pairs = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(count), [len(m) for m in members])
    # Columns: x (one per pair), t, then u (one per service).
    model.frontier_excess_definition = MatrixRows(
        services.tolist(), [model.x_alloc, model.frontier_threshold, model.frontier_excess],
        rows=np.r_[np.arange(count), np.arange(count), owner],
        columns=np.r_[n_pairs + 1 + np.arange(count), np.full(count, n_pairs), pairs],
        coefficients=np.r_[np.ones(count), np.ones(count), -weight[pairs]],
        lower=0.0, upper=np.nan, doc="u_s >= f_s X_s - t (numeraire)")
    model.frontier_worst_case = MatrixRows(
        [None], [model.frontier_threshold, model.frontier_excess],
        np.zeros(count + 1, dtype=np.int64), np.arange(count + 1),
        np.r_[float(k), np.ones(count)], lower=np.nan, upper=float(limit),
        doc="the k largest service losses f_s X_s sum to <= the point's limit (numeraire)")


FAMILY = Family(
    name="portfolio_risk", number="-", title="a portfolio risk limit traced by the frontier",
    add=add_risk_limit,
    rows=(RowBlock("frontier_expected_loss", "portfolio", "numeraire per year",
                   "frontier risk limit", in_numeraire=True, risk="expected_loss",
                   describe=lambda instance, key: "the frontier's expected-loss limit"),
          RowBlock("frontier_excess_definition", "service", "numeraire", in_numeraire=True),
          RowBlock("frontier_worst_case", "portfolio", "numeraire", "frontier risk limit",
                   in_numeraire=True, risk="portfolio_worst_case",
                   describe=lambda instance, key: "the frontier's worst-case limit")))
