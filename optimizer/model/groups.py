"""Family 4, group exposure: sum_{s in g} x_{i,s} <= G_g for every stake i and group g.

A correlation group is services that can fail together (same client, bridge,
oracle); G_g caps the fraction of any one stake put behind the group as a whole.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance
from optimizer.model.index import PairIndex, pair_variables, split_by


def group_members(instance: Instance) -> dict[str, np.ndarray]:
    """Service positions of each group that has a ``max_exposure``."""
    limited = instance.groups.index[instance.groups["max_exposure"].notna()]
    members: dict[str, list[int]] = {g: [] for g in limited}
    for s, groups in enumerate(instance.services["groups"]):
        for g in groups:
            if g in members:
                members[g].append(s)
    return {g: np.asarray(s, dtype=np.int64) for g, s in members.items() if s}


def add_group_exposure(model: pyo.ConcreteModel, instance: Instance, index: PairIndex) -> None:
    """Add ``group_exposure[i, g]`` for each stake and limited group where it could bind."""
    limit = instance.groups["max_exposure"]
    rows: list[tuple[int, str]] = []
    pairs_of: dict[tuple[int, str], np.ndarray] = {}
    for group, services in group_members(instance).items():
        inside = np.flatnonzero(np.isin(index.service_pos, services))
        stakes, members = split_by(index.stake_pos[inside], inside)
        for i, pairs in zip(stakes, members, strict=True):
            if index.upper[pairs].sum() > limit[group]:
                rows.append((int(i), group))
                pairs_of[(int(i), group)] = pairs
    x = pair_variables(model)
    model.group_exposure = pyo.Constraint(
        rows,
        rule=lambda m, i, g: sum(x[p] for p in pairs_of[(i, g)]) <= float(limit[g]),
        doc="sum over the group's services of stake i's fraction <= G_g (fraction of stake)",
    )
