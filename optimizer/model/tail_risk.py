"""Family 9, tail risk: CVaR of the portfolio's slashing loss (Rockafellar-Uryasev).

Loss in scenario w: L_w = sum_s xi_{w,s} X_s (numeraire), written against the service
totals X_s, so a scenario row has one nonzero per slashed service, never one per pair.

CVaR_alpha = eta + 1/(1 - alpha) sum_w pi_w z_w with z_w >= L_w - eta, z_w >= 0. Losses
are never negative, so the minimizing eta (the VaR) is >= 0; with eta >= 0 a scenario
where nothing is slashed gives z_w >= -eta, implied by z_w >= 0, and needs no row.
Used as a limit (``cvar_limit`` B: CVaR <= B) and/or in the objective
(``risk_aversion`` lambda: - lambda CVaR).
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.rows import MatrixRows, positions


def uses_cvar(instance: Instance) -> bool:
    """Whether the instance asks for CVaR (a limit, or risk aversion > 0)."""
    return instance.parameters.cvar_limit is not None or instance.parameters.risk_aversion > 0


def scenario_services(scenarios: ScenarioSet, count: int) -> np.ndarray:
    """Boolean mask of the services slashed in some scenario (they need X_s)."""
    mask = np.zeros(count, dtype=bool)
    mask[scenarios.services] = True
    return mask


def add_cvar(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``cvar_threshold``, ``cvar_excess``, their rows and the limit ``cvar_limit``."""
    instance, scenarios = context.instance, context.scenarios
    if scenarios is None or not uses_cvar(instance):
        return []
    model = context.model
    alpha = instance.parameters.cvar_alpha
    rows = np.unique(scenarios.rows)
    # z before eta, like v before t in loss_limits (the column order is declaration order).
    model.cvar_excess = pyo.Var(rows.tolist(), domain=pyo.NonNegativeReals,
                                doc="z_w >= L_w - eta: loss beyond eta in scenario w "
                                    "(numeraire)")
    model.cvar_threshold = pyo.Var(domain=pyo.NonNegativeReals,
                                   doc="eta: the value-at-risk at the optimum (numeraire)")
    count = len(rows)
    # Columns: z (one per scenario row), eta, then X_s (one per service in model.security).
    row_of = np.searchsorted(rows, scenarios.rows)
    model.cvar_excess_definition = MatrixRows(
        rows.tolist(), [model.cvar_excess, model.cvar_threshold, model.security],
        rows=np.r_[np.arange(count), np.arange(count), row_of],
        columns=np.r_[np.arange(count), np.full(count, count),
                      count + 1 + positions(model.security, scenarios.services)],
        coefficients=np.r_[np.ones(count), np.ones(count), -scenarios.fractions],
        lower=0.0, upper=np.nan, doc="z_w >= sum_s xi_{w,s} X_s - eta (numeraire)")
    # CVaR_alpha = eta + sum_w pi_w z_w / (1 - alpha), over the columns (z, eta).
    weights = np.r_[scenarios.probability[rows] / (1.0 - alpha), 1.0]
    limit = instance.parameters.cvar_limit
    measure = [model.cvar_excess, model.cvar_threshold]
    if limit is not None and context.elastic:
        model.cvar_limit_excess = pyo.Var(domain=pyo.NonNegativeReals,
                                          doc="how far the CVaR exceeds B (numeraire)")
        model.cvar_limit_elastic = MatrixRows(
            [None], [*measure, model.cvar_limit_excess], np.zeros(count + 2, dtype=np.int64),
            np.arange(count + 2), np.r_[weights, -1.0], lower=np.nan, upper=float(limit),
            doc="CVaR_alpha - excess <= B (numeraire)")
        # Relative, like the shortfalls of the required minimums.
        return [ObjectiveTerm("excess over the CVaR limit (relative)",
                              model.cvar_limit_excess, np.array([-1.0 / max(limit, 1e-9)]))]
    if limit is not None:
        model.cvar_limit = MatrixRows(
            [None], measure, np.zeros(count + 1, dtype=np.int64), np.arange(count + 1),
            weights, lower=np.nan, upper=float(limit), doc="CVaR_alpha <= B (numeraire)")
    aversion = instance.parameters.risk_aversion
    if aversion > 0 and not context.elastic:
        return [ObjectiveTerm("risk aversion x CVaR", model.cvar_excess,
                              -aversion * weights[:-1]),
                ObjectiveTerm("risk aversion x CVaR", model.cvar_threshold,
                              np.array([-aversion]))]
    return []


FAMILY = Family(
    name="cvar", number="9", title="tail risk: CVaR of the portfolio's slashing loss",
    add=add_cvar,
    rows=(RowBlock("cvar_excess_definition", "scenario", "numeraire", in_numeraire=True),
          RowBlock("cvar_limit", "portfolio", "numeraire", "parameters.cvar_limit",
                   in_numeraire=True, describe=lambda instance, key: "cvar_limit", risk="cvar"),
          RowBlock("cvar_limit_elastic", "portfolio", "numeraire", "parameters.cvar_limit",
                   in_numeraire=True, describe=lambda instance, key: "cvar_limit")),
    objective=("- lambda CVaR_alpha, risk aversion (numeraire per year)",),
    checks=("cvar_limit",))
