"""Family 1, restaking degree: sum_s x_{i,s} <= L_i, and the per-service cap m_i.

L_i = 1 is EigenLayer's unique stake; L_i > 1 is shared restaking (Symbiotic's
network restake). m_i bounds each x_{i,s} directly as a variable bound.
"""

from __future__ import annotations

import numpy as np

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.in_flight import covered_stakes
from optimizer.model.rows import MatrixRows, rows_by_owner


def per_service_bound(instance: Instance) -> np.ndarray:
    """m_i of each pair's stake: the upper bound of x_{i,s} (fraction of stake)."""
    stake_pos = instance.pairs["stake_pos"].to_numpy()
    return instance.stakes["max_per_service"].to_numpy()[stake_pos].astype(float)


def add_restaking_degree(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``restaking_degree[i]`` for the stakes whose L_i could bind.

    A stake whose pair bounds already sum to at most L_i needs no row.
    """
    model, instance, index = context.model, context.instance, context.index
    limit = instance.stakes["max_restaking"].to_numpy()
    count = len(limit)
    reach = np.bincount(index.stake_pos, weights=index.upper, minlength=count)
    has_pairs = np.bincount(index.stake_pos, minlength=count) > 0
    stakes = np.flatnonzero(has_pairs & ((reach > limit) | context.keep_all_rows)
                            & ~covered_stakes(instance))  # family 11 writes those for w
    rows, pairs, ones = rows_by_owner(index.stake_pos, stakes, count,
                                      np.ones(len(index.stake_pos)))
    model.restaking_degree = MatrixRows(
        stakes.tolist(), [model.x_alloc], rows, pairs, ones, lower=np.nan, upper=limit[stakes],
        doc="sum over services of stake i's allocated fraction <= L_i (fraction of stake)")
    return []


FAMILY = Family(
    name="restaking_degree", number="1", title="restaking degree (unique vs shared stake)",
    add=add_restaking_degree,
    rows=(RowBlock("restaking_degree", "stake", "fraction of stake", "stakes.max_restaking",
                   describe=lambda instance, i: "max_restaking of stake "
                                                f"{instance.stakes.index[i]}"),),
    checks=("restaking_degree",))
