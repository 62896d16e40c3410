"""The objective: expected net reward per year (numeraire per year), maximized.

This release: fixed-rate rewards minus expected slashing loss,
sum_{i,s} (r_s - p_s f_s) V_i x_{i,s}.
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
    """Add ``net_reward``: maximize fixed-rate rewards minus expected slashing loss."""
    coefficient = pair_net_rate(instance) * index.value
    x = pair_variables(model)
    model.net_reward = pyo.Objective(
        expr=sum(c * x[p] for p, c in enumerate(coefficient.tolist()) if c != 0),
        sense=pyo.maximize,
        doc="expected net reward (numeraire per year)",
    )
