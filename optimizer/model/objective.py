"""The objective: expected net reward per year (numeraire per year), maximized.

- plus fixed-rate rewards less expected slashing loss, sum (r_s - p_s f_s) V_i x_{i,s};
- plus pool rewards rho_s (under-estimated, see ``rewards``);
- minus opt-in costs, sum c_s y_{h,s};
- minus the turnover cost, tau x value moved;
- minus the risk-aversion term, lambda CVaR_alpha.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables
from optimizer.model.loss_limits import pair_loss_rate


def pair_net_rate(instance: Instance) -> np.ndarray:
    """r_s - p_s f_s of each pair: net reward per unit value per year."""
    rate = instance.services["reward_rate"].to_numpy()[instance.pairs["service_pos"].to_numpy()]
    return rate - pair_loss_rate(instance)


def add_objective(model: pyo.ConcreteModel, instance: Instance, index: PairIndex) -> None:
    """Add ``net_reward`` from the parts the other families declared."""
    coefficient = pair_net_rate(instance) * index.value
    x = pair_variables(model)
    parameters = instance.parameters
    expression = sum(c * x[p] for p, c in enumerate(coefficient.tolist()) if c != 0)
    if hasattr(model, "pool_reward"):
        expression += sum(model.pool_reward[s] for s in model.pool_reward)
    if hasattr(model, "opt_in_cost"):
        expression -= model.opt_in_cost
    if hasattr(model, "turnover") and parameters.turnover_cost > 0:
        expression -= parameters.turnover_cost * model.turnover
    if hasattr(model, "cvar") and parameters.risk_aversion > 0:
        expression -= parameters.risk_aversion * model.cvar
    model.net_reward = pyo.Objective(expr=expression, sense=pyo.maximize,
                                     doc="expected net reward (numeraire per year)")
