"""Precomputed index lists of the eligible pairs, shared by every constraint family.

Families build their rows with numpy from these groupings; none of them filters the
whole pair set per row (that would grow as stakes x pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance import Instance


@dataclass(frozen=True)
class PairIndex:
    """Positions of the eligible pairs, grouped the ways the families need them.

    Attributes
    ----------
    stake_pos, service_pos : numpy.ndarray
        For each pair p, the position of its stake and its service.
    value : numpy.ndarray
        V_i of each pair's stake, numeraire.
    by_stake : list of numpy.ndarray
        For each stake position, the pairs of that stake (empty when it has none).
    by_service : list of numpy.ndarray
        For each service position, the pairs of that service.
    holder_pos : numpy.ndarray
        For each pair, the position of its stake's holder.
    upper : numpy.ndarray
        The tightest upper bound on each x_{i,s} known before building (fraction).
    lower : numpy.ndarray
        The lower bound of each x_{i,s}: its ``min_fraction``, else 0 (fraction).
    """

    stake_pos: np.ndarray
    service_pos: np.ndarray
    value: np.ndarray
    by_stake: list[np.ndarray]
    by_service: list[np.ndarray]
    upper: np.ndarray
    holder_pos: np.ndarray
    lower: np.ndarray

    @classmethod
    def of(cls, instance: Instance, upper: np.ndarray,
           lower: np.ndarray | None = None) -> PairIndex:
        """Index ``instance.pairs``; ``upper`` and ``lower`` (default 0) bound each x."""
        pairs = instance.pairs
        stake_pos = pairs["stake_pos"].to_numpy()
        service_pos = pairs["service_pos"].to_numpy()
        return cls(
            stake_pos=stake_pos,
            service_pos=service_pos,
            value=instance.stake_value.to_numpy()[stake_pos],
            by_stake=_group(stake_pos, len(instance.stakes)),
            by_service=_group(service_pos, len(instance.services)),
            upper=upper,
            holder_pos=pd.Index(instance.holders.index).get_indexer(
                instance.stakes["holder"])[stake_pos],
            lower=np.zeros(len(upper)) if lower is None else np.asarray(lower, dtype=float),
        )

    def by_holder_service(self, pairs: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """The given pairs grouped by (holder position, service position)."""
        n_services = int(self.service_pos.max()) + 1 if len(self.service_pos) else 1
        key = self.holder_pos[pairs] * n_services + self.service_pos[pairs]
        keys, groups = split_by(key, pairs)
        return {(int(k // n_services), int(k % n_services)): g
                for k, g in zip(keys, groups, strict=True)}


def split_by(keys: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group ``items`` by ``keys``: the distinct keys (sorted) and the items of each."""
    if len(keys) == 0:
        return keys, []
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.split(items[order], starts[1:])


def _group(positions: np.ndarray, count: int) -> list[np.ndarray]:
    order = np.argsort(positions, kind="stable")
    bounds = np.searchsorted(positions[order], np.arange(count + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(count)]
