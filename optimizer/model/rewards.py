"""Pool rewards: rho_s = R_s X_s / (E_s + X_s), a concave piecewise-linear under-estimate.

The pool R_s (numeraire per year) is shared pro rata between the portfolio's X_s and the
external stake E_s. g(X) = R X / (E + X) is concave, so the chords between breakpoints
lie below it and the piecewise-linear interpolant is the minimum of the chord lines:
``pool_reward[s] <= a_k + b_k X_s`` for every segment k. The model therefore never
over-states a pool reward.

Error bound: on a segment [a, b] the chord of g is below g by at most
(b - a)^2 / 8 x max |g''| = (b - a)^2 / 8 x 2 R E / (E + a)^3 (|g''| falls with X).
Breakpoints are placed from 0 to a little past U_s (the tightest bound on X_s; see
``CHORD_HEADROOM``) so that every segment's
bound is at most a given fraction of R_s. The solve then knows, for the returned
allocation x*, exact(x*) >= model(x*) >= model(x_opt) >= exact(x_opt) - sum_s error_s,
which is how ``optimizer.pipeline`` certifies the documented relative tolerance.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from optimizer.model.family import BuildContext, Family, ObjectiveTerm, RowBlock
from optimizer.model.rows import MatrixRows, positions
from optimizer.model.services import security_upper_bound

CHORD_HEADROOM = 0.05
"""The chords reach this fraction past U_s, so that a limit relaxed by a few percent in a
re-solve (the binding table's prices, ``optimizer.solve.binding``) finds chords, not the
last chord's line extended above the pool's curve."""

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


def add_pool_rewards(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``pool_reward[s]`` and its chord rows; record each pool's error bound.

    Each segment's chord error is at most ``context.pool_error`` x R_s (numeraire per
    year); ``context.pool_errors`` receives each pool's bound.
    """
    model, instance = context.model, context.instance
    services = instance.services
    pool = services["reward_pool"].to_numpy()
    external = services["external_stake"].to_numpy()
    upper = security_upper_bound(instance, context.index)
    pools = np.flatnonzero((pool > 0) & (upper > 0))
    keys: list[tuple[int, int]] = []
    intercepts, slopes, owners = [], [], []
    for position, s in enumerate(pools.tolist()):
        points = pool_breakpoints(pool[s], external[s], upper[s] * (1 + CHORD_HEADROOM),
                                  context.pool_error * pool[s])
        values = pool_value(np.full(len(points), pool[s]), np.full(len(points), external[s]),
                            points)
        slope = np.diff(values) / np.diff(points)
        intercepts.append(values[:-1] - slope * points[:-1])
        slopes.append(slope)
        owners.append(np.full(len(slope), position))
        keys.extend((s, k) for k in range(len(slope)))
        context.pool_errors[s] = chord_error(pool[s], external[s], points)
    model.pool_reward = pyo.Var(pools.tolist(), domain=pyo.NonNegativeReals,
                                doc="rho_s, under-estimate of R_s X_s / (E_s + X_s) "
                                    "(numeraire per year)")
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    slope = np.concatenate(slopes) if slopes else np.zeros(0)
    count = len(keys)
    # Columns: rho (one per pool), then X_s (one per service in model.security).
    model.pool_reward_chord = MatrixRows(
        keys, [model.pool_reward, model.security],
        rows=np.r_[np.arange(count), np.arange(count)],
        columns=np.r_[owner, len(pools) + positions(model.security, pools[owner])],
        coefficients=np.r_[np.ones(count), -slope], lower=np.nan,
        upper=np.concatenate(intercepts) if intercepts else np.zeros(0),
        doc="rho_s <= a_k + b_k X_s: chord k of the pool curve (numeraire per year)")
    if context.elastic:
        return []
    return [ObjectiveTerm("pool rewards", model.pool_reward, np.ones(len(pools)))]


FAMILY = Family(
    name="pool_rewards", number="-", title="pool rewards shared pro rata (concave, by chords)",
    add=add_pool_rewards,
    rows=(RowBlock("pool_reward_chord", "pool-segment", "numeraire per year",
                   in_numeraire=True),),
    objective=("+ sum_s rho_s, pool rewards (numeraire per year)",))
