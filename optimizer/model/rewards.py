"""Pool rewards: rho_s = R_s X_s / (E_s + X_s), a concave piecewise-linear under-estimate.

The pool R_s (numeraire per year) is shared pro rata between the portfolio's X_s and the
external stake E_s. g(X) = R X / (E + X) is concave, so the chords between breakpoints
lie below it and the piecewise-linear interpolant is the minimum of the chord lines:
``pool_reward[s] <= a_k + b_k X_s`` for every segment k. The model therefore never
over-states a pool reward.

Error bound: on a segment [a, b] the chord of g is below g by at most
(b - a)^2 / 8 x max |g''| = (b - a)^2 / 8 x 2 R E / (E + a)^3 (|g''| falls with X).
Breakpoints are placed from 0 to U_s (the tightest bound on X_s) so that every segment's
bound is at most a given fraction of R_s. The solve then knows, for the returned
allocation x*, exact(x*) >= model(x*) >= model(x_opt) >= exact(x_opt) - sum_s error_s,
which is how ``optimizer.pipeline`` certifies the documented relative tolerance.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.instance import Instance

MAX_SEGMENTS = 200_000
"""Safety cap on segments per pool; the error bound reported accounts for it."""


def pool_breakpoints(pool: float, external: float, upper: float, error: float) -> np.ndarray:
    """Breakpoints 0 = X_0 < ... < X_n = upper with chord error at most ``error`` each."""
    if upper <= 0:
        return np.array([0.0])
    points = [0.0]
    while points[-1] < upper and len(points) <= MAX_SEGMENTS:
        a = points[-1]
        step = np.sqrt(4.0 * error * (external + a) ** 3 / (pool * external))
        points.append(min(upper, a + step))
    if points[-1] < upper:
        points[-1] = upper
    return np.asarray(points)


def chord_error(pool: float, external: float, points: np.ndarray) -> float:
    """The largest bound (b - a)^2 / 8 x 2 R E / (E + a)^3 over the segments."""
    if len(points) < 2:
        return 0.0
    a, b = points[:-1], points[1:]
    return float(np.max((b - a) ** 2 / 8.0 * 2.0 * pool * external / (external + a) ** 3))


def pool_value(pool: np.ndarray, external: np.ndarray, security: np.ndarray) -> np.ndarray:
    """Exact R X / (E + X), numeraire per year (0 where X = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(security > 0, pool * security / (external + security), 0.0)


def add_pool_rewards(model: pyo.ConcreteModel, instance: Instance, upper: np.ndarray,
                     relative_error: float) -> dict[int, float]:
    """Add ``pool_reward[s]`` and its chord rows; return each pool's error bound.

    Each segment's chord error is at most ``relative_error`` x R_s (numeraire per year).
    """
    services = instance.services
    pool = services["reward_pool"].to_numpy()
    external = services["external_stake"].to_numpy()
    pools = np.flatnonzero((pool > 0) & (upper > 0)).tolist()
    segments: list[tuple[int, int]] = []
    lines: dict[tuple[int, int], tuple[float, float]] = {}
    bounds: dict[int, float] = {}
    for s in pools:
        points = pool_breakpoints(pool[s], external[s], upper[s], relative_error * pool[s])
        values = pool_value(np.full(len(points), pool[s]), np.full(len(points), external[s]),
                            points)
        slopes = np.diff(values) / np.diff(points)
        for k, slope in enumerate(slopes):
            lines[(s, k)] = (float(values[k] - slope * points[k]), float(slope))
            segments.append((s, k))
        bounds[s] = chord_error(pool[s], external[s], points)
    model.pool_reward = pyo.Var(pools, domain=pyo.NonNegativeReals,
                                doc="rho_s, under-estimate of R_s X_s / (E_s + X_s) "
                                    "(numeraire per year)")
    model.pool_reward_chord = pyo.Constraint(
        segments,
        rule=lambda m, s, k: m.pool_reward[s] - lines[(s, k)][1] * m.security[s]
        <= lines[(s, k)][0],
        doc="rho_s <= a_k + b_k X_s: chord k of the pool curve (numeraire per year)",
    )
    return bounds
