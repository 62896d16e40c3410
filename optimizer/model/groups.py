"""Family 4, group exposure: sum_{s in g} x_{i,s} <= G_g for every stake i and group g.

A correlation group is services that can fail together (same client, bridge,
oracle); G_g caps the fraction of any one stake put behind the group as a whole.
"""

from __future__ import annotations

import numpy as np

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.in_flight import covered_stakes
from optimizer.model.rows import MatrixRows, rows_by_owner


def group_members(instance: Instance) -> dict[str, np.ndarray]:
    """Service positions of each group that has a ``max_exposure``."""
    limited = instance.groups.index[instance.groups["max_exposure"].notna()]
    members: dict[str, list[int]] = {g: [] for g in limited}
    for s, groups in enumerate(instance.services["groups"]):
        for g in groups:
            if g in members:
                members[g].append(s)
    return {g: np.asarray(s, dtype=np.int64) for g, s in members.items() if s}


def add_group_exposure(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``group_exposure[i, g]`` for each stake and limited group where it could bind."""
    model, instance, index = context.model, context.instance, context.index
    limit = instance.groups["max_exposure"]
    count = len(instance.stakes)
    covered = covered_stakes(instance)  # family 11 writes their rows for w
    keys: list[tuple[int, str]] = []
    rows, pairs, bounds = [], [], []
    for group, services in group_members(instance).items():
        inside = np.isin(index.service_pos, services)
        reach = np.bincount(index.stake_pos[inside], weights=index.upper[inside],
                            minlength=count)
        stakes = np.flatnonzero(((reach > limit[group]) | context.keep_all_rows & (reach > 0))
                                & ~covered)
        group_rows, group_pairs, _ = rows_by_owner(index.stake_pos, stakes, count,
                                                   inside.astype(float))
        rows.append(len(keys) + group_rows)
        pairs.append(group_pairs)
        keys.extend((int(i), group) for i in stakes)
        bounds.append(np.full(len(stakes), float(limit[group])))
    model.group_exposure = MatrixRows(
        keys, [model.x_alloc], _joined(rows), _joined(pairs), np.ones(sum(map(len, pairs))),
        lower=np.nan, upper=_joined(bounds, float),
        doc="sum over the group's services of stake i's fraction <= G_g (fraction of stake)")
    return []


def _joined(parts: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


FAMILY = Family(
    name="group_exposure", number="4", title="exposure of a stake to a correlation group",
    add=add_group_exposure,
    rows=(RowBlock("group_exposure", "stake-group", "fraction of stake", "groups.max_exposure",
                   describe=lambda instance, key: f"max_exposure of group {key[1]} for stake "
                                                  f"{instance.stakes.index[key[0]]}"),),
    checks=("group_exposure",))
