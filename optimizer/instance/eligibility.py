"""The eligible (stake, service) pairs: the sparse index of every variable of the model.

A pair is eligible when the service accepts the stake's asset and the ``eligibility``
rules do not rule it out (docs/format.md, "Eligibility"); a rule's ``allowed`` is true
(whitelist), false (forbid) or left out (the row only bounds the pair). The pairs are worked out a
block of stakes at a time, so that no dense stake x service array exists (a million
stakes and ten thousand services would make one of 10 GB), and they are counted against
the memory available as they are found: an instance whose pairs alone would not fit is
refused with the estimate instead of failing midway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import ResourceError
from optimizer.resources import HEADROOM, shown

BLOCK_CELLS = 2**24
"""Stake x service cells worked out at once (a few boolean arrays of this many bytes)."""

LOADED_BYTES_PER_PAIR = 100.0
"""Peak bytes per eligible pair while the pairs table is made: positions, ids, copies."""


@dataclass(frozen=True)
class _Rules:
    """One level of eligibility rules (by holder or by stake) as sparse owner x service sets."""

    owner_of_stake: np.ndarray
    forbidden: _SetMatrix
    whitelisted: _SetMatrix
    listed: np.ndarray


def eligible_pairs(assets: pd.DataFrame, holders: pd.DataFrame, stakes: pd.DataFrame,
                   services: pd.DataFrame, rules: pd.DataFrame, stake_value: np.ndarray,
                   memory_budget: float | None = None) -> pd.DataFrame:
    """The eligible pairs, sorted by stake then service.

    A stake with zero value or zero allocatable fraction (``max_restaking`` or
    ``max_per_service`` 0) has no pairs: every allocation of it is zero anyway.

    Parameters
    ----------
    assets, holders, stakes, services, rules : pandas.DataFrame
        The instance's validated tables (``rules`` is its ``eligibility``).
    stake_value : numpy.ndarray
        V_i of each stake, numeraire.
    memory_budget : float, optional
        Memory available (bytes); None checks nothing.

    Returns
    -------
    pandas.DataFrame
        Columns ``stake``, ``service``, ``holder`` (ids), ``stake_pos``, ``service_pos``.

    Raises
    ------
    ResourceError
        When the pairs alone would not fit in ``memory_budget`` (with the estimate).
    """
    n_services = len(services)
    asset_pos = pd.Index(assets.index).get_indexer(stakes["asset"])
    accepted, every_asset = _accepts(assets, services)
    levels = _rule_levels(holders, stakes, services, rules)
    usable = ((stake_value > 0) & (stakes["max_restaking"].to_numpy() > 0)
              & (stakes["max_per_service"].to_numpy() > 0))
    step = max(1, BLOCK_CELLS // max(1, n_services))
    stake_parts: list[np.ndarray] = []
    service_parts: list[np.ndarray] = []
    total = 0
    for start in range(0, len(stakes), step):
        rows = slice(start, min(start + step, len(stakes)))
        block = accepted.dense_rows(asset_pos[rows])
        block[:, every_asset] = True
        for level in levels:
            _apply(block, level, level.owner_of_stake[rows])
        block &= usable[rows, None]
        total += int(np.count_nonzero(block))
        if memory_budget is not None and \
                LOADED_BYTES_PER_PAIR * total > HEADROOM * memory_budget:
            stake_parts, service_parts = [], []  # keep counting, for the estimate
            continue
        stake_pos, service_pos = np.nonzero(block)
        stake_parts.append(stake_pos + start)
        service_parts.append(service_pos)
    if memory_budget is not None and LOADED_BYTES_PER_PAIR * total > HEADROOM * memory_budget:
        raise ResourceError(
            f"this instance has {total:,} eligible stake-service pairs, which need an "
            f"estimated {shown(LOADED_BYTES_PER_PAIR * total)} just to load, but only "
            f"{shown(memory_budget)} are available; make fewer pairs eligible (narrow "
            "`accepts` or add eligibility rows), split the book into several instances, or "
            "use a machine with more memory")
    stake_pos = np.concatenate(stake_parts) if stake_parts else np.zeros(0, dtype=np.int64)
    service_pos = np.concatenate(service_parts) if service_parts else np.zeros(0, np.int64)
    return pd.DataFrame({
        "stake": stakes.index.to_numpy()[stake_pos],
        "service": services.index.to_numpy()[service_pos],
        "holder": stakes["holder"].to_numpy()[stake_pos],
        "stake_pos": stake_pos.astype(np.int64),
        "service_pos": service_pos.astype(np.int64),
    })


def _apply(block: np.ndarray, level: _Rules, owners: np.ndarray) -> None:
    """Rule out, in place, the pairs of ``block`` that one level of rules forbids."""
    if level.forbidden.nnz:
        block &= ~level.forbidden.dense_rows(owners)
    listed = level.listed[owners]
    if listed.any():  # an owner with a whitelist may use only the services it lists
        block[listed] &= level.whitelisted.dense_rows(owners[listed])


def _accepts(assets: pd.DataFrame, services: pd.DataFrame
             ) -> tuple[_SetMatrix, np.ndarray]:
    """Asset x service sets of the services' ``accepts`` lists, and the services taking any."""
    asset_index = pd.Index(assets.index)
    every_asset = np.array([accepted == "*" for accepted in services["accepts"]], dtype=bool)
    listed = [(asset_index.get_indexer(list(accepted)), s)
              for s, accepted in enumerate(services["accepts"])
              if accepted != "*" and accepted]
    asset_pos = np.concatenate([a for a, _ in listed]) if listed else np.zeros(0, np.int64)
    service_pos = np.concatenate([np.full(len(a), s) for a, s in listed]) if listed else \
        np.zeros(0, np.int64)
    return _set_matrix(asset_pos, service_pos, (len(assets), len(services))), every_asset


def _rule_levels(holders: pd.DataFrame, stakes: pd.DataFrame, services: pd.DataFrame,
                 rules: pd.DataFrame) -> list[_Rules]:
    """The holder-level and stake-level rules, each level that has any."""
    if not len(rules):
        return []
    holder_index = pd.Index(holders.index)
    service_pos = pd.Index(services.index).get_indexer(rules["service"])
    allowed, forbids = rule_states(rules)
    by_holder = rules["holder"].notna().to_numpy()
    levels = []
    for level, index, owner_of_stake in (
        ("holder", holder_index, holder_index.get_indexer(stakes["holder"])),
        ("stake", pd.Index(stakes.index), np.arange(len(stakes))),
    ):
        mask = by_holder if level == "holder" else ~by_holder
        if not mask.any():
            continue
        who = index.get_indexer(rules[level][mask])
        shape = (len(index), len(services))
        whitelisted = _set_matrix(who[allowed[mask]], service_pos[mask][allowed[mask]], shape)
        levels.append(_Rules(
            owner_of_stake=owner_of_stake,
            forbidden=_set_matrix(who[forbids[mask]], service_pos[mask][forbids[mask]], shape),
            whitelisted=whitelisted,
            listed=np.diff(whitelisted.indptr) > 0,
        ))
    return levels


def rule_states(rules: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which ``eligibility`` rows whitelist (``allowed`` true) and which forbid (false).

    ``allowed`` is true, false or left out (None): a row that leaves it out does neither,
    it only bounds the pair (``min_fraction``, ``max_fraction``).
    """
    given = np.array([v is not None and v == v for v in rules["allowed"]], dtype=bool)
    truth = np.array([bool(v) if g else False for v, g in zip(rules["allowed"], given,
                                                              strict=True)], dtype=bool)
    return given & truth, given & ~truth


@dataclass(frozen=True)
class _SetMatrix:
    """A sparse boolean matrix as row pointers and column positions (CSR without values).

    The pairs need only whole rows of it, as dense boolean rows; numpy does that, and the
    command line does not pay scipy's import (which Pyomo's import hook makes a second).
    """

    indptr: np.ndarray
    indices: np.ndarray
    columns: int

    @property
    def nnz(self) -> int:
        """The number of True cells."""
        return len(self.indices)

    def dense_rows(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (repeats allowed) as a dense boolean array, one row each."""
        rows = np.asarray(rows, dtype=np.int64)
        dense = np.zeros((len(rows), self.columns), dtype=bool)
        counts = self.indptr[rows + 1] - self.indptr[rows]
        if counts.sum():
            owner = np.repeat(np.arange(len(rows)), counts)
            starts = np.repeat(self.indptr[rows], counts)
            offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            dense[owner, self.indices[starts + offset]] = True
        return dense


def _set_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> _SetMatrix:
    """A sparse boolean matrix, True at each (row, column) given (repeats allowed)."""
    key = np.unique(rows.astype(np.int64) * shape[1] + columns.astype(np.int64))
    counts = np.bincount(key // shape[1], minlength=shape[0])
    return _SetMatrix(np.r_[0, np.cumsum(counts)].astype(np.int64), key % shape[1], shape[1])
