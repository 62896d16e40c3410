"""Per-pair bounds: the ``min_fraction`` and ``max_fraction`` of ``eligibility`` rows.

An eligibility row may bound the fraction of a stake allocated to one service, x_{i,s}
in [min_fraction, max_fraction]. A holder row bounds each of the holder's stakes; a stake
row overrides the holder row for that stake, column by column: a bound the stake row
gives replaces the holder row's, a bound it leaves out is the holder row's. The model
takes the bounds as the bounds of x_{i,s} (with ``max_per_service`` and, with k = 1,
``max_worst_case_loss / slash_fraction``); min = max fixes the pair.

What one row cannot get wrong alone is checked here, once the eligible pairs are known
(``bound_problems``): a minimum above 0 on a pair that is not eligible, a minimum above
the stake's ``max_per_service`` or above the maximum in force for the pair. Minimums that
other limits cannot meet together (two pairs of a stake whose minimums sum above its
``max_restaking``...) are left to the solver, whose infeasibility explanation names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.errors import Problem
from optimizer.instance.eligibility import rule_states

if TYPE_CHECKING:
    from optimizer.instance.instance import Instance

BOUND_COLUMNS = ("min_fraction", "max_fraction")
"""The eligibility columns that bound a pair (fraction of stake)."""

SHOWN_STAKES = 3
"""Stakes named per holder row in one message; the rest are counted."""


@dataclass(frozen=True)
class PairBounds:
    """The per-pair bounds of some (stake, service) pairs, and the rows that set them.

    Attributes
    ----------
    lower : numpy.ndarray
        ``min_fraction`` in force for each pair (fraction of stake); 0 where none.
    upper : numpy.ndarray
        ``max_fraction`` in force for each pair (fraction of stake); NaN where none.
    lower_row, upper_row : numpy.ndarray
        The position in ``eligibility`` of the row that sets each bound; -1 where none.
    """

    lower: np.ndarray
    upper: np.ndarray
    lower_row: np.ndarray
    upper_row: np.ndarray

    @property
    def any(self) -> bool:
        """Whether some pair has a bound."""
        return bool((self.lower_row >= 0).any() or (self.upper_row >= 0).any())


def bounds_of(eligibility: pd.DataFrame, stake: np.ndarray, holder: np.ndarray,
              service: np.ndarray) -> PairBounds:
    """The bounds in force for the pairs (stake[p], service[p]), holder[p] the stake's holder.

    Parameters
    ----------
    eligibility : pandas.DataFrame
        The instance's validated ``eligibility`` table.
    stake, holder, service : numpy.ndarray
        Ids, one per pair.
    """
    count = len(stake)
    lower, upper = np.zeros(count), np.full(count, np.nan)
    lower_row, upper_row = np.full(count, -1), np.full(count, -1)
    found = PairBounds(lower, upper, lower_row, upper_row)
    if not len(eligibility) or not count or eligibility[list(BOUND_COLUMNS)].isna().all(axis=None):
        return found
    pairs = pd.DataFrame({"stake": stake, "holder": holder, "service": service})
    rules = eligibility.assign(row=np.arange(len(eligibility)))
    # Holder rows first, then stake rows over them: a stake row overrides, column by column.
    bounding = rules[rules[list(BOUND_COLUMNS)].notna().any(axis=1)]
    for level in ("holder", "stake"):
        # One row per owner and service (validated instances have no repeats; a copy made
        # with rows added, as the stability ranges add bans, keeps the last).
        mine = bounding[bounding[level].notna()].drop_duplicates([level, "service"],
                                                                 keep="last")
        if not len(mine):
            continue
        joined = pairs.merge(mine[[level, "service", *BOUND_COLUMNS, "row"]],
                             on=[level, "service"], how="left", sort=False)
        row = joined["row"].to_numpy()
        for column, values, rows in (("min_fraction", lower, lower_row),
                                     ("max_fraction", upper, upper_row)):
            given = joined[column].to_numpy(dtype=float)
            here = ~np.isnan(given)
            values[here] = given[here]
            rows[here] = row[here].astype(np.int64)
    return found


def pair_bounds(instance: Instance) -> PairBounds:
    """The bounds of every eligible pair of ``instance`` (in the order of ``instance.pairs``)."""
    pairs = instance.pairs
    return bounds_of(instance.eligibility, pairs["stake"].to_numpy(),
                     pairs["holder"].to_numpy(), pairs["service"].to_numpy())


def _owner(eligibility: pd.DataFrame, row: int) -> tuple[str, str, str]:
    record = eligibility.iloc[row]
    holder = record["holder"]
    owner = "holder" if holder is not None and holder == holder else "stake"
    return owner, str(record[owner]), str(record["service"])


def rule_words(eligibility: pd.DataFrame, row: int) -> str:
    """Eligibility row ``row`` in words: ``stake a for service s``, ``holder h for ...``."""
    owner, name, service = _owner(eligibility, row)
    return f"{owner} {name} for service {service}"


def rule_id(eligibility: pd.DataFrame, row: int) -> str:
    """Eligibility row ``row`` as the id of a limit cell: ``stake=a, service=s``."""
    owner, name, service = _owner(eligibility, row)
    return f"{owner}={name}, service={service}"


def row_problems(eligibility: pd.DataFrame, where: list[str]) -> list[Problem]:
    """What one eligibility row gets wrong alone: it says nothing, or its bounds disagree.

    A row that leaves ``allowed`` out and gives no bound says nothing (refused rather than
    ignored: it is likely a mistake); ``min_fraction`` above the row's ``max_fraction``,
    or above 0 on a row that forbids its pair, cannot be met. ``where`` locates each row.
    """
    found: list[Problem] = []
    if not len(eligibility):
        return found
    allowed = eligibility["allowed"].to_numpy(dtype=object)
    low = eligibility["min_fraction"].to_numpy(dtype=float)
    high = eligibility["max_fraction"].to_numpy(dtype=float)
    for row in range(len(eligibility)):
        if allowed[row] is None and np.isnan(low[row]) and np.isnan(high[row]):
            found.append(Problem(where[row], "allowed", "is left out and the row gives neither "
                                 "min_fraction nor max_fraction: it says nothing (give "
                                 "allowed, a bound, or drop the row)"))
        if low[row] > high[row]:
            found.append(Problem(where[row], "min_fraction", f"is {low[row]:g}, above the "
                                 f"row's max_fraction {high[row]:g}"))
        if allowed[row] is not None and not allowed[row] and low[row] > 0:
            found.append(Problem(where[row], "min_fraction", f"is {low[row]:g} on a row that "
                                 "forbids the pair (allowed = false): nothing can be "
                                 "allocated there"))
    return found


def bound_problems(instance: Instance, where: list[str]) -> list[Problem]:
    """What the per-pair bounds of ``instance`` get wrong, each at the row that sets it.

    ``where`` locates each ``eligibility`` row (``eligibility.csv row 3 (holder=a,
    service=s1)``). Refused: a ``min_fraction`` above 0 that applies to a stake of some
    value on a pair that is not eligible (the pair can hold nothing), and a
    ``min_fraction`` above the stake's ``max_per_service`` or above the ``max_fraction``
    in force for the pair (a stake row's against a holder row's). A ``max_fraction`` on a
    pair that is not eligible is harmless: nothing is allocated there anyway.
    """
    rules = instance.eligibility
    if not len(rules) or rules["min_fraction"].isna().all():
        return []
    stakes = instance.stakes
    covered = _covered_pairs(rules, stakes)
    if not len(covered):
        return []
    bounds = bounds_of(rules, covered["stake"].to_numpy(), covered["holder"].to_numpy(),
                       covered["service"].to_numpy())
    stake_pos = stakes.index.get_indexer(covered["stake"])
    value = instance.stake_value.to_numpy()[stake_pos]
    cap = stakes["max_per_service"].to_numpy()[stake_pos]
    eligible = pd.MultiIndex.from_frame(instance.pairs[["stake", "service"]])
    is_eligible = pd.MultiIndex.from_frame(covered[["stake", "service"]]).isin(eligible)
    problems: list[Problem] = []
    by_row: dict[int, list[str]] = {}
    for p in np.flatnonzero((bounds.lower > 0) & (value > 0) & ~is_eligible):
        by_row.setdefault(int(bounds.lower_row[p]), []).append(
            f"stake {covered['stake'].iloc[p]} ({_why_not(instance, covered.iloc[p])})")
    for row, stakes_named in by_row.items():
        more = len(stakes_named) - SHOWN_STAKES
        named = "; ".join(stakes_named[:SHOWN_STAKES]) + (f"; and {more} more" if more > 0
                                                          else "")
        problems.append(Problem(where[row], "min_fraction",
                                f"is {rules['min_fraction'].iloc[row]:g}, but it applies to "
                                f"{named}, which cannot be allocated to service "
                                f"{rules['service'].iloc[row]}"))
    seen: set[tuple[int, str]] = set()
    for p in np.flatnonzero(bounds.lower > cap):
        row = int(bounds.lower_row[p])
        if (row, "cap") not in seen:
            seen.add((row, "cap"))
            problems.append(Problem(where[row], "min_fraction", f"is {bounds.lower[p]:g}, "
                                    f"above the max_per_service {cap[p]:g} of stake "
                                    f"{covered['stake'].iloc[p]}"))
    for p in np.flatnonzero(bounds.lower > bounds.upper):
        row, other = int(bounds.lower_row[p]), int(bounds.upper_row[p])
        if (row, str(other)) not in seen:
            seen.add((row, str(other)))
            problems.append(Problem(where[row], "min_fraction", f"is {bounds.lower[p]:g}, "
                                    f"above the max_fraction {bounds.upper[p]:g} that "
                                    f"{where[other]} sets for stake "
                                    f"{covered['stake'].iloc[p]}"))
    return problems


def _covered_pairs(rules: pd.DataFrame, stakes: pd.DataFrame) -> pd.DataFrame:
    """Every (stake, holder, service) some bounding eligibility row applies to."""
    bounding = rules[rules[list(BOUND_COLUMNS)].notna().any(axis=1)]
    owners = pd.DataFrame({"stake": stakes.index.to_numpy(),
                           "holder": stakes["holder"].to_numpy()})
    parts = []
    by_stake = bounding[bounding["stake"].notna()][["stake", "service"]]
    parts.append(by_stake.merge(owners, on="stake", how="inner"))
    by_holder = bounding[bounding["holder"].notna()][["holder", "service"]]
    parts.append(by_holder.merge(owners, on="holder", how="inner"))
    covered = pd.concat(parts, ignore_index=True)[["stake", "holder", "service"]]
    return covered.drop_duplicates(ignore_index=True)


def _why_not(instance: Instance, pair: pd.Series) -> str:
    """Why a pair is not eligible, in a few words."""
    stakes, services = instance.stakes, instance.services
    stake = stakes.loc[pair["stake"]]
    accepted = services["accepts"].loc[pair["service"]]
    if accepted != "*" and stake["asset"] not in accepted:
        return f"the service does not accept its asset {stake['asset']}"
    rules = instance.eligibility
    whitelist, forbids = rule_states(rules)
    mine = ((rules["stake"] == pair["stake"]) | (rules["holder"] == pair["holder"])).to_numpy()
    here = mine & (rules["service"] == pair["service"]).to_numpy()
    if (here & forbids).any():
        return "an eligibility row forbids it"
    for level in ("holder", "stake"):
        listed = mine & whitelist & (rules[level] == pair[level]).to_numpy()
        if listed.any() and not (listed & here).any():
            return f"its {level}'s allowed = true rows do not list the service"
    if stake["max_restaking"] <= 0:
        return "its max_restaking is 0"
    return "its max_per_service is 0"
