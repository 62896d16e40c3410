"""Exact reduction: interchangeable stakes merged into one, split back after the solve.

Two stakes are interchangeable when every limit of the model treats them alike per unit
of value: the same asset, the same ``max_restaking``, ``max_per_service``,
``max_expected_loss`` and ``max_worst_case_loss`` (fractions of the stake), the same
eligible services, no current allocation (turnover), no stake-level eligibility rule,
and, when a family couples a holder's stakes (holder concentration, opt-in), the same
holder. Such stakes are merged into one stake holding their total amount.

The reduction is exact:

- Every allocation of the merged stake, copied as the same fraction to each member, is
  feasible for the original model (each member's rows are the merged stake's rows, in
  fractions) and puts the same value behind every service, so it has the same reward,
  losses, scenario losses and objective.
- Conversely, any feasible allocation of the members averages, weighted by value, into
  a feasible allocation of the merged stake (its rows are convex in the fractions; a
  holder's opt-in binaries are shared by its members) with the same service totals and
  objective.

So the optima are equal, and splitting the merged optimum back gives an optimum of the
original instance. The stakes of a generated book fall into a few dozen classes (asset x
policy), so a 10,000 x 200 book can shrink a hundredfold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.instance import Instance
from optimizer.model.families import ROW_BLOCKS

LIMIT_COLUMNS = ("max_restaking", "max_per_service", "max_expected_loss", "max_worst_case_loss")
"""Per-stake limits (fractions of the stake) that must be equal for stakes to merge."""


@dataclass(frozen=True)
class StakeMerge:
    """A reduced instance and the map back to the original's pairs.

    Attributes
    ----------
    instance : Instance
        The instance with each class of interchangeable stakes as one stake (named after
        its first member, holding the members' total amount).
    stake_class : numpy.ndarray
        For each original stake position, the position of its merged stake.
    pair_origin : numpy.ndarray
        For each original pair, the position of the merged stake's pair with the same
        service: the original fraction is the merged pair's fraction.
    """

    instance: Instance
    stake_class: np.ndarray
    pair_origin: np.ndarray
    value_share: np.ndarray

    def split(self, fractions: np.ndarray) -> np.ndarray:
        """Fractions of the original pairs from the merged pairs' (fraction of stake)."""
        return np.asarray(fractions)[self.pair_origin]

    def split_duals(self, duals: dict[str, dict[Any, float]],
                    pair_stake: np.ndarray) -> dict[str, dict[Any, float]]:
        """Row duals of the original model from the merged model's.

        A merged row's dual, times each member's share of the merged value, is a dual
        solution of the original rows: every member's reduced costs are the merged ones
        times that share, and its rows have the merged row's activity. ``pair_stake`` is
        each original pair's stake position. Rows of services and holders are unchanged
        (what a row stands for is its family's record: ``RowBlock.merged_by``).
        """
        return {name: self.split_table(table, ROW_BLOCKS[name].merged_by, pair_stake, True)
                for name, table in duals.items()}

    def split_slacks(self, slacks: dict[str, dict[Any, float]],
                     pair_stake: np.ndarray) -> dict[str, dict[Any, float]]:
        """Row slacks of the original model from the merged model's (in the rows' units).

        Every member's row has the merged row's activity in fractions of the stake (its
        fractions are the merged stake's), so its slack is the merged row's.
        """
        return {name: self.split_table(table, ROW_BLOCKS[name].merged_by, pair_stake, False)
                for name, table in slacks.items()}

    def split_table(self, table: dict[Any, float], merged_by: str | None,
                    pair_stake: np.ndarray, by_share: bool) -> dict[Any, float]:
        """One table keyed by the merged model's stakes or pairs, keyed by the original's.

        ``merged_by`` says what the key's first part is (``stake``, ``pair``, or None for
        keys merging leaves alone); each member gets the value times its share of the
        merged value when ``by_share`` (duals, reduced costs), the value itself otherwise.
        """
        if merged_by == "stake":
            split: dict[Any, float] = {}
            members = _members(self.stake_class)
            for key, value in table.items():
                head, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
                for i in members[int(head)]:
                    if self.value_share[i] == 0:
                        continue  # a stake of no value has no rows of its own
                    new_key = (int(i), *rest) if rest else int(i)
                    split[new_key] = value * (float(self.value_share[i]) if by_share else 1.0)
            return split
        if merged_by == "pair":
            pairs = _members(self.pair_origin)
            return {int(p): value * (float(self.value_share[pair_stake[p]]) if by_share else 1.0)
                    for key, value in table.items() for p in pairs.get(int(key), ())}
        return dict(table)


def holders_coupled(instance: Instance) -> bool:
    """Whether some family links the stakes of one holder (concentration or opt-in)."""
    services, holders = instance.services, instance.holders
    return bool((services["max_holder_share"] < 1.0).any()
                or (services["opt_in_cost"] > 0).any()
                or (services["min_allocation"] > 0).any()
                or holders["max_services"].notna().any())


def merge_interchangeable(instance: Instance) -> StakeMerge | None:
    """Merge the interchangeable stakes of ``instance``; ``None`` when no two are."""
    stakes = instance.stakes
    count = len(stakes)
    if count < 2:
        return None
    key = pd.DataFrame({"asset": stakes["asset"].to_numpy()})
    for column in LIMIT_COLUMNS:
        key[column] = stakes[column].fillna(-1.0).to_numpy()  # limits are >= 0
    if holders_coupled(instance):
        key["holder"] = stakes["holder"].to_numpy()
    single = _must_stay_single(instance)
    key["single"] = np.where(single, np.arange(count), -1)
    stake_class = key.groupby(list(key.columns), sort=False, dropna=False).ngroup().to_numpy()
    classes = int(stake_class.max()) + 1
    if classes == count:
        return None

    first = np.full(classes, count)
    np.minimum.at(first, stake_class, np.arange(count))
    amount = np.bincount(stake_class, weights=stakes["amount"].to_numpy(), minlength=classes)
    merged = stakes.iloc[first].copy()
    merged["amount"] = amount
    reduced = instance.with_changes(keep_scenarios=True, stakes=merged)
    if len(reduced.pairs) == 0:
        return None  # nothing to allocate: no model to reduce

    n_services = len(instance.services)
    reduced_key = (reduced.pairs["stake_pos"].to_numpy().astype(np.int64) * n_services
                   + reduced.pairs["service_pos"].to_numpy())
    original_key = (stake_class[instance.pairs["stake_pos"].to_numpy()].astype(np.int64)
                    * n_services + instance.pairs["service_pos"].to_numpy())
    pair_origin = np.searchsorted(reduced_key, original_key)
    if not np.array_equal(reduced_key[np.minimum(pair_origin, len(reduced_key) - 1)],
                          original_key):
        raise AssertionError("merged stakes do not have their members' eligible pairs")
    value = instance.stake_value.to_numpy()
    merged_value = np.bincount(stake_class, weights=value, minlength=classes)
    share = np.divide(value, merged_value[stake_class], out=np.zeros(count),
                      where=merged_value[stake_class] > 0)
    return StakeMerge(reduced, stake_class, pair_origin, share)


def _members(positions: np.ndarray) -> dict[int, np.ndarray]:
    """For each merged position, the original positions mapped to it."""
    order = np.argsort(positions, kind="stable")
    keys, starts = np.unique(positions[order], return_index=True)
    return {int(k): group for k, group in zip(keys, np.split(order, starts[1:]), strict=True)}


def _must_stay_single(instance: Instance) -> np.ndarray:
    """Stakes never merged: named by an eligibility rule or holding a current allocation."""
    stakes = instance.stakes
    single = np.zeros(len(stakes), dtype=bool)
    rules = instance.eligibility
    if len(rules):
        named = rules["stake"].dropna()
        single |= stakes.index.isin(named)
        single |= stakes["holder"].isin(rules["holder"].dropna()).to_numpy()
    current = instance.current
    if len(current):
        single |= stakes.index.isin(current["stake"])
    return single
