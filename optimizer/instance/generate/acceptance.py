"""Which assets each service accepts, tuned to a target density of eligible pairs.

Each service accepts each asset a with probability q_a = min(1, t w_a), with w_a the
asset's appeal and t tuned so that the expected fraction of eligible (stake, service) pairs
is ``density``; a service that draws no asset accepts one fallback asset (drawn by appeal,
tilted to less-held assets when the target is low: an EIGEN-only or wBTC-only service), so
the realised density cannot go below the smallest asset's share of stakes.
"""

from __future__ import annotations

import numpy as np

from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.catalog import AssetProfile

__all__ = ["draw_acceptance"]


def draw_acceptance(
    catalog: tuple[AssetProfile, ...],
    asset_of_stake: np.ndarray,
    services: int,
    density: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw which assets each service accepts, aiming at ``density`` eligible pairs.

    Parameters
    ----------
    catalog : tuple of AssetProfile
        The assets used.
    asset_of_stake : numpy.ndarray of int
        Per stake, the asset's index.
    services : int
        Number of services.
    density : float
        Target fraction of eligible (stake, service) pairs, in (0, 1).
    rng : numpy.random.Generator
        The acceptance stream.

    Returns
    -------
    numpy.ndarray of bool, shape (services, assets)
        True where the service accepts the asset.
    """
    asset_count = len(catalog)
    share = np.bincount(asset_of_stake, minlength=asset_count) / asset_of_stake.size
    appeal = np.array([a.appeal for a in catalog])
    accept_probability, fallback = _tune_acceptance(share, appeal, density)
    accept = rng.random((services, asset_count)) < accept_probability
    fallback_asset = rng.choice(asset_count, size=services, p=fallback)
    none = ~accept.any(axis=1)
    accept[none, fallback_asset[none]] = True
    return accept


def _tune_acceptance(
    share: np.ndarray, appeal: np.ndarray, density: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tune acceptance so that the expected eligible-pair density is nearest ``density``.

    A service accepts asset a with probability q_a = min(1, t w_a) (w_a its appeal); one that
    draws none accepts a fallback asset drawn from pi_a, proportional to
    w_a share_a^(-beta). The expected density is
    sum_a q_a share_a + prod_a (1 - q_a) sum_a pi_a share_a. With beta = 0 (fallback by
    appeal) it cannot go below the appeal-weighted mean share; for low targets beta grows,
    so that the fallback leans to less-held assets (an EIGEN-only or wBTC-only service).
    The density need not be monotone in t, so t is searched on a fine log grid.

    Parameters
    ----------
    share : numpy.ndarray
        Fraction of stakes held in each asset.
    appeal : numpy.ndarray
        Relative chance of each asset being accepted (unitless).
    density : float
        Target fraction of eligible (stake, service) pairs, in (0, 1).

    Returns
    -------
    accept_probability, fallback : numpy.ndarray
        q_a, and the fallback distribution pi_a (probabilities).
    """
    t = np.geomspace(1e-4, 1.0 / appeal.min(), 4000)
    q = np.minimum(1.0, t[:, None] * appeal[None, :])
    none_probability = np.prod(1.0 - q, axis=1)
    held = share > 0
    best_error = np.inf
    for beta in ASSUMPTIONS.fallback_tilts:
        weight = np.zeros_like(appeal)
        weight[held] = appeal[held] * share[held] ** -beta
        fallback = weight / weight.sum()
        error = np.abs(q @ share + none_probability * (fallback @ share) - density)
        nearest = int(np.argmin(error))
        if error[nearest] < best_error:
            best_error = float(error[nearest])
            best = (q[nearest], fallback)
        if best_error <= ASSUMPTIONS.density_tolerance:
            break
    return best
