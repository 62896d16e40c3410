"""The turnover feature: a current allocation x0, ``turnover_cost`` and ``turnover_limit``.

x0 is on 30 % of the stakes: the witness allocation perturbed by x 0.7-1.3, plus up to 3
other eligible services at 10-100 % of min(m_i, L_i / 3) each, plus, on 2 % of those stakes,
a row on a service that does not accept the stake's asset (counted as fully moved).
``turnover_cost`` tau is log-uniform in [0.001, 0.01] per unit of value moved;
``turnover_limit`` T (ETH) is 10-30 % of the total stake value, and never below 1.02 x the
value moved from x0 to the witness allocation, so the witness stays feasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.sampling import log_uniform, round_significant
from optimizer.instance.generate.witness import Witness

__all__ = ["Current", "draw_current", "turnover_parameters"]

_REFUSAL_TRIES = 8
"""Random services tried per stake to find one that does not accept the stake's asset."""


@dataclass(frozen=True)
class Current:
    """Rows of the current allocation x0, by position in the stake and service tables.

    Attributes
    ----------
    stake_pos, service_pos : numpy.ndarray of int
        The rows, sorted by stake then service, no (stake, service) twice.
    fraction : numpy.ndarray
        x0 of each row, fraction of stake.
    moved : float
        Value moved from x0 to the witness allocation, ETH.
    """

    stake_pos: np.ndarray
    service_pos: np.ndarray
    fraction: np.ndarray
    moved: float


@dataclass(frozen=True)
class _Rows:
    """Candidate rows of x0 (stake and service positions, fraction of stake)."""

    stake: np.ndarray
    service: np.ndarray
    fraction: np.ndarray


def draw_current(
    witness: Witness,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    value: np.ndarray,
    stake_columns: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> Current:
    """Draw a current allocation x0 on a share of stakes.

    Rows: the witness allocation perturbed, up to ``Assumptions.current_extra_services``
    other eligible services, and on a few stakes a service that does not accept the stake's
    asset.

    Parameters
    ----------
    witness : Witness
        The witness allocation.
    accept : numpy.ndarray of bool, shape (services, assets)
        True where the service accepts the asset.
    asset_of_stake : numpy.ndarray of int
        Per stake, the asset's index.
    value : numpy.ndarray
        Per stake, ETH.
    stake_columns : dict of numpy.ndarray
        The stakes' ``max_per_service`` and ``max_restaking`` (fractions of stake).
    rng : numpy.random.Generator
        The turnover stream.

    Returns
    -------
    Current
        The rows and the value they move to reach the witness allocation.
    """
    per_service = stake_columns["max_per_service"]
    held = np.flatnonzero(rng.random(asset_of_stake.size) < ASSUMPTIONS.current_stake_share)
    on_witness, witness_fraction = _witness_rows(held, witness, accept, asset_of_stake,
                                                 per_service, rng)
    limit = np.minimum(per_service,
                       stake_columns["max_restaking"] / ASSUMPTIONS.current_extra_services)
    extra = _extra_rows(held, accept, asset_of_stake, limit, rng)
    odd = _ineligible_rows(held, accept, asset_of_stake, per_service, rng)

    stake_pos = np.concatenate([on_witness.stake, extra.stake, odd.stake])
    service_pos = np.concatenate([on_witness.service, extra.service, odd.service])
    fraction = np.floor(
        np.concatenate([on_witness.fraction, extra.fraction, odd.fraction]) * 1e4) / 1e4
    # Keep the first row of each pair (the witness's), drop zeros, sort by stake and service.
    key = stake_pos.astype(np.int64) * accept.shape[0] + service_pos
    _, first = np.unique(key, return_index=True)
    keep = first[fraction[first] > 0]
    stake_pos, service_pos, fraction = stake_pos[keep], service_pos[keep], fraction[keep]

    # Value moved from x0 to the witness: all of the witness's value, corrected on its rows.
    is_witness_row = keep < on_witness.stake.size
    target = witness_fraction[keep[is_witness_row]]
    moved = (
        float(witness.effective.sum())
        + float((value[stake_pos[is_witness_row]]
                 * (np.abs(fraction[is_witness_row] - target) - target)).sum())
        + float((value[stake_pos[~is_witness_row]] * fraction[~is_witness_row]).sum())
    )
    return Current(stake_pos=stake_pos, service_pos=service_pos, fraction=fraction, moved=moved)


def _witness_rows(
    held: np.ndarray,
    witness: Witness,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    per_service: np.ndarray,
    rng: np.random.Generator,
) -> tuple[_Rows, np.ndarray]:
    """The witness allocation on the held stakes, perturbed (and capped at m_i).

    Returns the perturbed rows and the witness's own fraction of stake on each.
    """
    used = np.flatnonzero(witness.effective > 0)
    rows, columns = np.nonzero(
        accept[used][:, asset_of_stake[held]].T & (witness.theta[held] > 0)[:, None]
    )
    stake, service = held[rows], used[columns]
    witness_fraction = witness.theta[stake] * witness.scale[service]
    perturbed = np.minimum(
        witness_fraction * rng.uniform(*ASSUMPTIONS.current_perturbation_range, size=rows.size),
        per_service[stake],
    )
    return _Rows(stake=stake, service=service, fraction=perturbed), witness_fraction


def _extra_rows(
    held: np.ndarray,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    limit: np.ndarray,
    rng: np.random.Generator,
) -> _Rows:
    """Other eligible services: per asset, draw positions in its list of accepting services.

    Each row's fraction is a share (``Assumptions.current_extra_range``) of ``limit``,
    min(m_i, L_i / 3) per stake (fraction of stake).
    """
    extra_services = ASSUMPTIONS.current_extra_services
    held_asset = asset_of_stake[held]
    asset_count = accept.shape[1]
    accepting = [np.flatnonzero(accept[:, a]) for a in range(asset_count)]
    count = np.array([len(a) for a in accepting])
    table = np.zeros((asset_count, max(1, count.max(initial=0))), dtype=np.int64)
    for a, listed in enumerate(accepting):
        table[a, : listed.size] = listed
    draws = rng.random((held.size, extra_services))
    position = np.floor(draws * count[held_asset][:, None]).astype(np.int64)
    stake = np.repeat(held, extra_services)
    service = table[held_asset[:, None], position].ravel()
    fraction = rng.uniform(*ASSUMPTIONS.current_extra_range, size=stake.size) * limit[stake]
    has_service = count[asset_of_stake[stake]] > 0
    return _Rows(stake=stake[has_service], service=service[has_service],
                 fraction=fraction[has_service])


def _ineligible_rows(
    held: np.ndarray,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    per_service: np.ndarray,
    rng: np.random.Generator,
) -> _Rows:
    """A few rows on services that do not accept the stake's asset (fully moved).

    Each row's fraction is a share (``Assumptions.current_ineligible_range``) of m_i.
    """
    few = max(1, round(ASSUMPTIONS.current_ineligible_share * held.size)) if held.size else 0
    stake = rng.choice(held, size=few, replace=False) if few else held
    candidates = rng.integers(accept.shape[0], size=(stake.size, _REFUSAL_TRIES))
    refused = ~accept[candidates, asset_of_stake[stake][:, None]]
    found = refused.any(axis=1)
    service = candidates[np.arange(stake.size), np.argmax(refused, axis=1)][found]
    stake = stake[found]
    fraction = (rng.uniform(*ASSUMPTIONS.current_ineligible_range, size=found.size)[found]
                * per_service[stake])
    return _Rows(stake=stake, service=service, fraction=fraction)


def turnover_parameters(
    total_value: float, moved: float, rng: np.random.Generator
) -> dict[str, float]:
    """``turnover_cost`` (per unit of value moved) and ``turnover_limit`` (ETH).

    Parameters
    ----------
    total_value : float
        Total stake value, ETH.
    moved : float
        Value moved from x0 to the witness allocation, ETH.
    rng : numpy.random.Generator
        The turnover stream, after ``draw_current``.

    Returns
    -------
    dict of float
        ``turnover_cost`` and ``turnover_limit``.
    """
    a = ASSUMPTIONS
    cost = float(round_significant(np.array([log_uniform(a.turnover_cost_range, 1, rng)[0]]),
                                   2)[0])
    limit = max(rng.uniform(*a.turnover_limit_range) * total_value,
                a.turnover_limit_headroom * moved)
    return {
        "turnover_cost": cost,
        "turnover_limit": float(round_significant(np.array([limit]), 3, np.ceil)[0]),
    }
