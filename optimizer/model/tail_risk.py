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
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet


def uses_cvar(instance: Instance) -> bool:
    """Whether the instance asks for CVaR (a limit, or risk aversion > 0)."""
    return instance.parameters.cvar_limit is not None or instance.parameters.risk_aversion > 0


def scenario_services(scenarios: ScenarioSet, count: int) -> np.ndarray:
    """Boolean mask of the services slashed in some scenario (they need X_s)."""
    mask = np.zeros(count, dtype=bool)
    mask[scenarios.services] = True
    return mask


def add_cvar(model: pyo.ConcreteModel, instance: Instance, scenarios: ScenarioSet) -> None:
    """Add ``cvar_threshold``, ``cvar_excess``, their rows, the ``cvar`` expression, the limit."""
    alpha = instance.parameters.cvar_alpha
    probability = scenarios.probability
    rows = np.unique(scenarios.rows).tolist()
    by_row = {w: [] for w in rows}
    for w, s, xi in zip(scenarios.rows.tolist(), scenarios.services.tolist(),
                        scenarios.fractions.tolist(), strict=True):
        by_row[w].append((s, xi))
    # z before eta, like v before t in loss_limits (the column order is declaration order).
    model.cvar_excess = pyo.Var(rows, domain=pyo.NonNegativeReals,
                                doc="z_w >= L_w - eta: loss beyond eta in scenario w "
                                    "(numeraire)")
    model.cvar_threshold = pyo.Var(domain=pyo.NonNegativeReals,
                                   doc="eta: the value-at-risk at the optimum (numeraire)")
    model.cvar_excess_definition = pyo.Constraint(
        rows,
        rule=lambda m, w: m.cvar_excess[w] + m.cvar_threshold
        - sum(xi * m.security[s] for s, xi in by_row[w]) >= 0,
        doc="z_w >= sum_s xi_{w,s} X_s - eta (numeraire)",
    )
    model.cvar = pyo.Expression(
        expr=model.cvar_threshold + sum(float(probability[w]) * model.cvar_excess[w]
                                        for w in rows) / (1.0 - alpha),
        doc="CVaR_alpha of the portfolio's slashing loss (numeraire)")
    limit = instance.parameters.cvar_limit
    if limit is not None:
        model.cvar_limit = pyo.Constraint(expr=model.cvar <= float(limit),
                                          doc="CVaR_alpha <= B (numeraire)")
