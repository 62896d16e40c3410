"""Features switched on by arguments: pools, optional minima, corruption, opt-in, CVaR.

All are off by default (an instance made without them is what it always was). Each draws
from its own stream, so turning one on or off does not change the other tables. Every value
that could make the instance infeasible is sized against the witness allocation (see
``witness``). The current allocation and turnover are in ``turnover``.

- ``pools`` (fraction of services): a ``reward_pool`` R_s (ETH per year) shared pro rata
  with ``external_stake`` E_s. E_s is the holder-share draw when there is one, else drawn
  from the same lognormal (median 20,000 ETH); R_s = a E_s with a log-uniform in
  [1 %, 8 %]/yr, so the pool pays a per year at the margin to a small stake, and a/2 on a
  stake as large as E_s. A pool service's ``reward_rate`` is 0: its rewards are the pool.
- ``min_security`` (fraction of the services that are not required): a semi-continuous
  ``min_security`` M_s (ETH), 10-60 % of the value that could reach the service (capped by
  its capacity), so some are worth securing and some are not.
- ``corruption``: 30 % of services get ``attack_threshold`` alpha_s 1/3 or 1/2 and a
  ``profit_from_corruption`` pi_s (ETH) set so that the deterrent minimum
  (1 + gamma) pi_s / (alpha_s f_s) - E_s is 5-80 % of the value that could reach the
  service (gamma = ``security_margin`` = 0.1; every f_s is >= 1 %). On a required service
  that deterrent is also at most 80 % of the witness security, and the effective minimum
  M_eff = max(M_s, deterrent) is what capacities, external stake and the other features
  are sized against.
- ``opt_in``: half of the services an ``opt_in_cost`` c_s (log-uniform 0.5-20 ETH per
  year); 30 % of the services that are not required a ``min_allocation`` l_s (log-uniform
  10-500 ETH; never on a required service); 30 % of holders ``max_services`` K_h in 2-6,
  raised to the number of required services the holder's witness allocation uses.
- ``cvar``: ``cvar_alpha`` 0.95, ``scenario_count`` (``scenarios``) and ``scenario_seed``
  (the seed): the solver samples the scenarios from the groups' ``correlation``. "limit"
  sets ``cvar_limit`` B (ETH) at 1-4 % of the total stake value (it binds on about half of
  the instances), and never below 1.05 x the sum over required services of f_s M_eff_s (the
  worst loss of the witness allocation); "aversion" sets ``risk_aversion`` lambda (per ETH
  of CVaR) uniform in [0.5, 2].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.instance.columns import SERVICES
from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.sampling import choose, log_uniform, round_significant
from optimizer.instance.generate.witness import Witness

__all__ = [
    "DEFAULT_ATTACK_THRESHOLD",
    "Corruption",
    "OptIn",
    "cvar_parameters",
    "draw_corruption",
    "draw_opt_in",
    "draw_optional_minimum",
    "draw_pools",
]

DEFAULT_ATTACK_THRESHOLD: float = SERVICES.column("attack_threshold").default
"""alpha_s of a service without profit from corruption: the format's default, 1/3."""


def draw_pools(
    share: float, external_stake: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a reward pool (ETH per year) and its external stake (ETH) on ``share`` of services.

    Pool services without external stake (no holder-share draw) get one from the same
    lognormal; the pool pays R_s = a E_s, a log-uniform in ``Assumptions.pool_apr_range``.

    Returns
    -------
    reward_pool : numpy.ndarray
        Per service, R_s, ETH per year (0 where no pool).
    external_stake : numpy.ndarray
        Per service, E_s, ETH.
    """
    a = ASSUMPTIONS
    services = external_stake.size
    pooled = choose(share, np.ones(services, dtype=bool), rng)
    drawn = round_significant(
        rng.lognormal(np.log(a.external_stake_median), a.external_stake_log_sd, size=services), 3
    )
    apr = log_uniform(a.pool_apr_range, services, rng)
    external_stake = np.where(pooled & (external_stake <= 0), drawn, external_stake)
    reward_pool = np.where(pooled, round_significant(apr * external_stake, 3), 0.0)
    return reward_pool, external_stake


def draw_optional_minimum(
    share: float,
    is_required: np.ndarray,
    base: np.ndarray,
    minimum: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add a semi-continuous ``min_security`` (ETH) to ``share`` of the optional services.

    ``base`` is what could reach each service within its capacity (ETH); the minimum is a
    fraction of it. Returns ``minimum`` (ETH) with the drawn ones in place.
    """
    chosen = choose(share, ~is_required, rng)
    fraction = rng.uniform(*ASSUMPTIONS.optional_min_security_range, size=base.size)
    return np.where(chosen, round_significant(fraction * base, 3), minimum)


@dataclass(frozen=True)
class Corruption:
    """Services with a profit from corruption, and the deterrent minimum to size against.

    Attributes
    ----------
    chosen : numpy.ndarray of bool
        The services with a profit from corruption.
    attack_threshold : numpy.ndarray
        alpha_s of every service (1/3 or 1/2 where chosen, else the default 1/3), fraction.
    deterrent : numpy.ndarray
        Target of (1 + gamma) pi_s / (alpha_s f_s) - E_s, ETH: 5-80 % of the value that could
        reach the service, and on required services at most 80 % of the witness security
        (0 where not chosen).
    """

    chosen: np.ndarray
    attack_threshold: np.ndarray
    deterrent: np.ndarray

    def profit(self, external_stake: np.ndarray, slash_fraction: np.ndarray) -> np.ndarray:
        """``profit_from_corruption`` pi_s, ETH, from the final external stake E_s (ETH).

        Set so that (1 + gamma) pi_s / (alpha_s f_s) - E_s = deterrent, floored: the
        deterrent never exceeds its target (required services stay reachable).
        """
        return np.where(
            self.chosen & (self.deterrent > 0),
            round_significant(
                (self.deterrent + external_stake) * self.attack_threshold * slash_fraction
                / (1.0 + ASSUMPTIONS.security_margin), 6, np.floor,
            ),
            0.0,
        )


def draw_corruption(
    is_required: np.ndarray,
    base: np.ndarray,
    witness_security: np.ndarray,
    rng: np.random.Generator,
) -> Corruption:
    """Choose the services with a profit from corruption and their deterrent minimum.

    Parameters
    ----------
    is_required : numpy.ndarray of bool
        Per service, whether it is required.
    base : numpy.ndarray
        Per service, the value that could reach it within its capacity, ETH.
    witness_security : numpy.ndarray
        Per service, W_s, ETH.
    rng : numpy.random.Generator
        The corruption stream.

    Returns
    -------
    Corruption
        At least one service is chosen.
    """
    a = ASSUMPTIONS
    services = base.size
    chosen = choose(a.corruption_share, np.ones(services, dtype=bool), rng)
    if services and not chosen.any():
        chosen[rng.integers(services)] = True
    threshold = rng.choice(np.array(a.attack_threshold_choices), size=services)
    fraction = rng.uniform(*a.deterrent_fraction_range, size=services)
    deterrent = fraction * base
    deterrent = np.where(
        is_required,
        np.minimum(deterrent, a.min_security_witness_share * witness_security),
        deterrent,
    )
    attack_threshold = np.where(chosen, threshold, DEFAULT_ATTACK_THRESHOLD)
    return Corruption(chosen=chosen, attack_threshold=attack_threshold,
                      deterrent=np.where(chosen, deterrent, 0.0))


@dataclass(frozen=True)
class OptIn:
    """The opt-in columns.

    Attributes
    ----------
    opt_in_cost : numpy.ndarray
        Per service, c_s, ETH per year.
    min_allocation : numpy.ndarray
        Per service, l_s, ETH.
    max_services : numpy.ndarray
        Per holder, K_h, services (NaN for none).
    """

    opt_in_cost: np.ndarray
    min_allocation: np.ndarray
    max_services: np.ndarray


def draw_opt_in(
    is_required: np.ndarray,
    witness: Witness,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    holder_of_stake: np.ndarray,
    rng: np.random.Generator,
) -> OptIn:
    """Draw opt-in costs (ETH per year), minimum allocations (ETH) and holders' K_h.

    Minimum allocations are never on required services, and K_h is at least the number of
    required services the holder's witness allocation uses, so the witness stays feasible.
    """
    a = ASSUMPTIONS
    services = is_required.size
    cost = np.where(
        rng.random(services) < a.opt_in_cost_share,
        round_significant(log_uniform(a.opt_in_cost_range, services, rng), 2),
        0.0,
    )
    floor = np.where(
        (rng.random(services) < a.min_allocation_share) & ~is_required,
        round_significant(log_uniform(a.min_allocation_range, services, rng), 2),
        0.0,
    )
    holder_count = int(holder_of_stake[-1]) + 1
    capped = rng.random(holder_count) < a.max_services_holder_share
    low, high = a.max_services_range
    drawn = rng.integers(low, high + 1, size=holder_count)
    used = np.flatnonzero(witness.effective > 0)
    if used.size:
        # Holders x assets the witness allocates, times assets x required services.
        allocates = np.zeros((holder_count, accept.shape[1]), dtype=bool)
        allocates[holder_of_stake[witness.theta > 0], asset_of_stake[witness.theta > 0]] = True
        touched = (allocates.astype(np.int64) @ accept[used].T.astype(np.int64) > 0).sum(axis=1)
        drawn = np.maximum(drawn, touched)
    max_services = np.where(capped, drawn.astype(float), np.nan)
    return OptIn(opt_in_cost=cost, min_allocation=floor, max_services=max_services)


def cvar_parameters(
    cvar: str,
    scenarios: int,
    seed: int,
    total_value: float,
    witness: Witness,
    slash_fraction: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, float | int]:
    """The CVaR parameters: a limit (ETH) or a risk aversion, and the scenario sampling.

    Parameters
    ----------
    cvar : {"limit", "aversion"}
        Which of ``cvar_limit`` and ``risk_aversion`` to set.
    scenarios, seed : int
        ``scenario_count`` and ``scenario_seed``.
    total_value : float
        Total stake value, ETH.
    witness : Witness
        The witness allocation (its worst loss bounds the limit from below).
    slash_fraction : numpy.ndarray
        Per service, f_s.
    rng : numpy.random.Generator
        The CVaR stream.

    Returns
    -------
    dict
        ``cvar_alpha``, then ``cvar_limit`` (ETH) or ``risk_aversion`` (per ETH of CVaR),
        then ``scenario_count`` and ``scenario_seed``.
    """
    a = ASSUMPTIONS
    parameters: dict[str, float | int] = {"cvar_alpha": a.cvar_alpha}
    if cvar == "limit":
        # The witness allocation loses at most sum_s f_s M_eff_s in any scenario.
        forced = a.cvar_limit_headroom * float(slash_fraction @ witness.effective)
        limit = max(rng.uniform(*a.cvar_limit_range) * total_value, forced)
        parameters["cvar_limit"] = float(round_significant(np.array([limit]), 3, np.ceil)[0])
    else:
        parameters["risk_aversion"] = round(float(rng.uniform(*a.risk_aversion_range)), 2)
    parameters["scenario_count"] = scenarios
    parameters["scenario_seed"] = seed
    return parameters
