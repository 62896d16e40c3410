"""From fractions to protocol units: each pair's move, its stage, and the pre-flight checks.

An allocation says which fraction x of each stake secures each service. On chain that is:

- EigenLayer: a magnitude per (operator, operator set, strategy), an absolute integer target
  in wad of the operator's max magnitude M for the strategy: x M rounded to the nearest unit,
  x read as the decimal allocation.csv shows (so 30% of 10,000 is 3,000). Where a stake's
  targets then sum past M (a solver's fractions may sum to 1 + 1e-16, or up to
  ``ROUNDING_SLACK`` past it within its tolerance), the excess is spread over the largest
  targets, so that no sum ever exceeds M; more than that is refused.
- Symbiotic: a network limit per (vault, subnetwork) in the collateral's base units, x A
  rounded to the nearest unit, A the vault's active stake.

A target within ``NO_CHANGE`` of the current value (relative to M or A) is no change: the
pair is left out (setting an equal value reverts on both protocols).

Stages. A decrease keeps its magnitude encumbered, and slashable, for ``DEALLOCATION_DELAY``
blocks; an increase needs free magnitude now. Stage 1 (now) holds every decrease and each
increase that fits in the magnitude free now, in the instance's service order; stage 2 holds
the rest, once stage 1's decreases complete. Symbiotic has no such budget (a vault's stake
is restaked across networks): one stage, its decreases slashable for up to one vault epoch.

Every check that would make a call revert, or leave stake where nobody meant it, is made
here before anything is written; each refusal names the holder, stake and service in the
instance's words and the instance column or snapshot value at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.errors import Problem
from optimizer.instance.identities import given

if TYPE_CHECKING:
    pass

DEALLOCATION_DELAY = 100_800
"""Blocks a deallocation waits on mainnet (AllocationManager's DEALLOCATION_DELAY, about 14
days); it completes at block + DEALLOCATION_DELAY + 1."""

NO_CHANGE = 1e-9
"""A target this close to the current value, relative to the max magnitude (or the active
stake), is no change: the solver's zero threshold, far below any economic meaning."""

ROUNDING_SLACK = 1e-6
"""Largest excess of a stake's targets over its max magnitude, relative to it, treated as the
solver's round-off and taken from the largest targets; more is refused."""

REDISTRIBUTION_FLOOR = 10**9
"""Smallest nonzero magnitude (wad) on a redistributing operator set (ELIP-006's advice)."""

BEACON_CHAIN_ETH_STRATEGY = "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"
"""EigenLayer's native ETH strategy, which redistributing operator sets may not use."""

EIGEN_STRATEGY = "0xaCB55C530Acdb2849e6d4f36992Cd8c9D50ED8F7"
"""EigenLayer's EIGEN strategy on mainnet, which redistributing sets may not use either."""


@dataclass(frozen=True)
class Move:
    """One pair's change on chain.

    Attributes
    ----------
    holder, stake, service : str
        Ids in the instance.
    protocol : str
        ``"eigenlayer"`` or ``"symbiotic"``.
    stage : int
        1: now; 2: once stage 1's decreases complete.
    before, after : int
        The value on chain now and the target: a magnitude (wad) or a network limit (base
        units of the collateral).
    scale : int
        What ``before`` and ``after`` are parts of: the max magnitude (wad) or the vault's
        active stake (base units); the fraction of the stake is value / scale.
    waits_for : str
        For a stage-2 move, what must complete before it is sent, in words.
    """

    holder: str
    stake: str
    service: str
    protocol: str
    stage: int
    before: int
    after: int
    scale: int
    waits_for: str = ""

    @property
    def unit(self) -> str:
        """The unit of ``before`` and ``after``."""
        return "magnitude (wad)" if self.protocol == "eigenlayer" else "base units"

    @property
    def increase(self) -> bool:
        """Whether the move raises the allocation."""
        return self.after > self.before


@dataclass
class Moves:
    """Every move of a plan, what each pair is exposed at through the stages, and notes.

    ``exposure`` maps (stake, service) to its fractions (now, stage 1, final): what is
    slashable now (a pending decrease still counts), the value once stage 1 is submitted
    and the target.
    """

    moves: list[Move] = field(default_factory=list)
    exposure: dict[tuple[str, str], tuple[Fraction, Fraction, Fraction]] = field(
        default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    delays: dict[str, int | None] = field(default_factory=dict)
    epochs: dict[str, int | None] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)


def decimal(fraction: object) -> Fraction:
    """A fraction as the decimal allocation.csv shows: the shortest that gives the same float.

    So 0.3 is 3/10 and 30% of 10,000 is exactly 3,000, not the float's 0.29999999999999998...
    """
    return Fraction(repr(float(fraction)))  # type: ignore[arg-type]


def identity(services: pd.DataFrame, service: str, columns: tuple[str, str], what: str,
             where: str, result: Moves) -> tuple[str, int] | None:
    """A service's (address, id) in ``columns``, or None with a refusal naming the column.

    Reading the instance refuses half an identity, so here both are given or neither.
    """
    address, number = (services.loc[service, c] for c in columns)
    if given(address) and given(number):
        return str(address), int(number)
    result.problems.append(Problem(f"services (service={service})", columns[0],
                                   f"is missing: {where} allocates to it and cannot name its "
                                   f"{what}"))
    return None

