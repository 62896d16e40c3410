"""The base tables: assets, holders, stakes, services, acceptance, groups, capacities.

Also the holder-share draw (external stake and ``max_holder_share``). Everything here is
drawn before the required services and the feature switches, each part from its own
stream. Values are in ETH, rates per year, limits are fractions of a stake. The numbers
are ``Assumptions`` fields.

- Assets: taken in order from ``ASSET_CATALOG`` (native ETH first, then the large LSTs,
  EIGEN, wBTC, a stablecoin, smaller LSTs, ENA). Prices are drawn in a narrow band around
  today's (ETH 1.0 exactly; LSTs 0.995-1.15 ETH; EIGEN 0.0003-0.001; wBTC 20-40; USDC
  0.00025-0.0004). Popularity is skewed: ETH and LSTs hold most stakes.
- Holders: operators (60 %), vaults (25 %) and LRTs (15 %), each owning 1-3 stakes of
  distinct assets (mean 2, so about ``stakes / 2`` holders). Ids: ``op00012``, stakes
  ``op00012-steth``.
- Stake value (ETH): lognormal, median 150 ETH, log-sd 1.8, times a holder-kind factor (LRTs
  4x, vaults 1.5x) and an asset factor (EIGEN, wBTC and stablecoin stakes are smaller),
  clipped to [1, 500,000] ETH; amount = value / price.
- Stake limits come from five named ``POLICIES`` that real operators use (EigenLayer's
  unique stake, conservative and balanced loss budgets, Symbiotic network restaking), one
  policy per holder; ``max_per_service`` is 1, 0.5 or 0.25 with policy-dependent weights.
- Services: ``reward_rate`` 0.5-10 %/yr (a log-uniform base plus a premium for the
  service's expected loss p f, so some services lose money in expectation);
  ``slash_probability`` 0 for 20 % of services, else log-uniform in [0.1 %, 10 %]/yr;
  ``slash_fraction`` log-uniform in [1 %, 100 %]. Which assets each service accepts is
  tuned to the target ``density`` (see ``acceptance``); ``density = 1`` makes every
  service accept ``"*"``.
- Groups (optional): about one per 8 services, each 2-5 services sharing a bridge, an
  oracle or a client; ``max_exposure`` 0.5 or 0.75, ``correlation`` in [0.2, 0.8].
- Capacities (optional): 30 % of services, 5-50 % of the value that could be put behind
  them (sum of V_i m_i over eligible stakes). An optimum puts every eligible stake's m_i on
  the most rewarding services, so their capacities bind.
- Holder share (optional): every service gets ``external_stake`` (lognormal, median 20,000
  ETH); half of them a ``max_holder_share`` of 0.1, 0.2 or 0.33.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.instance.columns import GROUPS
from optimizer.instance.generate.acceptance import draw_acceptance
from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.catalog import AssetProfile
from optimizer.instance.generate.options import Options
from optimizer.instance.generate.sampling import (
    categorical,
    kind_ids,
    log_uniform,
    round_significant,
)

__all__ = ["Book", "draw_book"]


@dataclass(frozen=True)
class Book:
    """The base draws, as arrays by asset, holder, stake and service.

    Attributes
    ----------
    catalog : tuple of AssetProfile
        The assets used, in order.
    prices : numpy.ndarray
        Per asset, ETH per unit.
    holder_of_stake : numpy.ndarray of int
        Per stake, the holder's index (non-decreasing).
    holder_kind : numpy.ndarray of int
        Per holder, index into ``Assumptions.holder_kinds``.
    asset_of_stake : numpy.ndarray of int
        Per stake, the asset's index.
    value : numpy.ndarray
        Per stake, value V_i, ETH.
    stake_columns : dict of numpy.ndarray
        Numeric stake columns: ``amount`` (asset units), ``max_restaking``,
        ``max_per_service`` (fractions of stake), ``max_expected_loss`` (fraction of stake
        value per year) and ``max_worst_case_loss`` (fraction of stake value).
    service_columns : dict of numpy.ndarray
        ``service`` ids, ``reward_rate`` and ``slash_probability`` (per year) and
        ``slash_fraction``.
    accept : numpy.ndarray of bool, shape (services, assets)
        True where the service accepts the asset.
    membership : numpy.ndarray of bool, shape (groups, services)
        True where the service belongs to the group.
    group_columns : dict of numpy.ndarray
        ``group`` ids, ``max_exposure`` (fraction of stake) and ``correlation``.
    value_per_asset : numpy.ndarray
        Per asset, sum of V_i m_i over its stakes, ETH.
    reachable : numpy.ndarray
        Per service, the value that could be put behind it (``accept @ value_per_asset``),
        ETH.
    capacity : numpy.ndarray
        Per service, ETH (NaN: none).
    external_stake : numpy.ndarray
        Per service, ETH.
    max_holder_share : numpy.ndarray
        Per service, fraction of its total security (NaN: none).
    """

    catalog: tuple[AssetProfile, ...]
    prices: np.ndarray
    holder_of_stake: np.ndarray
    holder_kind: np.ndarray
    asset_of_stake: np.ndarray
    value: np.ndarray
    stake_columns: dict[str, np.ndarray]
    service_columns: dict[str, np.ndarray]
    accept: np.ndarray
    membership: np.ndarray
    group_columns: dict[str, np.ndarray]
    value_per_asset: np.ndarray
    reachable: np.ndarray
    capacity: np.ndarray
    external_stake: np.ndarray
    max_holder_share: np.ndarray


def draw_book(options: Options, streams: dict[str, np.random.Generator]) -> Book:
    """Draw the base tables.

    Parameters
    ----------
    options : Options
        Sizes, density and the ``groups``, ``capacities`` and ``holder_share`` switches.
    streams : dict of numpy.random.Generator
        The seed's child streams by part name.

    Returns
    -------
    Book
        The base draws.
    """
    services = options.services
    catalog = ASSUMPTIONS.assets[: options.asset_count]
    prices = _draw_prices(catalog, streams["assets"])
    holder_of_stake, holder_kind = _draw_holders(options.stakes, len(catalog),
                                                 streams["holders"])
    asset_of_stake, value, stake_columns = _draw_stakes(catalog, prices, holder_of_stake,
                                                        holder_kind, streams["stakes"])
    service_columns = _draw_services(services, streams["services"])
    if options.density >= 1.0:
        accept = np.ones((services, len(catalog)), dtype=bool)
    else:
        accept = draw_acceptance(catalog, asset_of_stake, services, options.density,
                                 streams["acceptance"])
    if options.groups and services >= 2:
        membership, group_columns = _draw_groups(services, streams["groups"])
    else:
        membership = np.zeros((0, services), dtype=bool)
        group_columns = {
            c: np.array([], dtype=object if c == "group" else float) for c in GROUPS.names
        }
    # Value that could be put behind each service (sum of V_i m_i over eligible stakes).
    value_per_asset = np.bincount(
        asset_of_stake, weights=value * stake_columns["max_per_service"], minlength=len(catalog)
    )
    reachable = accept @ value_per_asset
    capacity = np.full(services, np.nan)
    if options.capacities:
        capacity = _draw_capacities(reachable, streams["capacities"])
    external_stake = np.zeros(services)
    max_holder_share = np.full(services, np.nan)
    if options.holder_share:
        external_stake, max_holder_share = _draw_holder_share(services, streams["holder_share"])
    return Book(
        catalog=catalog, prices=prices, holder_of_stake=holder_of_stake, holder_kind=holder_kind,
        asset_of_stake=asset_of_stake, value=value, stake_columns=stake_columns,
        service_columns=service_columns, accept=accept, membership=membership,
        group_columns=group_columns, value_per_asset=value_per_asset, reachable=reachable,
        capacity=capacity, external_stake=external_stake, max_holder_share=max_holder_share,
    )


def _draw_prices(catalog: tuple[AssetProfile, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw each asset's price, ETH per unit, uniform in its range, 6 significant digits."""
    low = np.array([a.price_low for a in catalog])
    high = np.array([a.price_high for a in catalog])
    return round_significant(rng.uniform(low, high), 6)


def _draw_holders(
    stakes: int, asset_count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split the stakes among holders of 1-3 stakes each.

    Returns
    -------
    holder_of_stake : numpy.ndarray of int
        Holder index of each stake, non-decreasing.
    holder_kind : numpy.ndarray of int
        Index into ``Assumptions.holder_kinds`` of each holder.
    """
    # A holder's stakes are of distinct assets, so it holds at most asset_count of them.
    counts = rng.choice(3, size=stakes, p=np.array(ASSUMPTIONS.stakes_per_holder_weights)) + 1
    counts = np.minimum(counts, asset_count)
    ends = np.cumsum(counts)
    holder_count = int(np.searchsorted(ends, stakes)) + 1
    counts = counts[:holder_count]
    counts[-1] -= ends[holder_count - 1] - stakes
    holder_of_stake = np.repeat(np.arange(holder_count), counts)
    holder_kind = rng.choice(len(ASSUMPTIONS.holder_kinds), size=holder_count,
                             p=np.array(ASSUMPTIONS.holder_kind_share))
    return holder_of_stake, holder_kind


def _draw_stakes(
    catalog: tuple[AssetProfile, ...],
    prices: np.ndarray,
    holder_of_stake: np.ndarray,
    holder_kind: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Draw each stake's asset, size and limits.

    Returns
    -------
    asset_of_stake : numpy.ndarray of int
        Per stake, the asset's index.
    value : numpy.ndarray
        Per stake, ETH.
    columns : dict of numpy.ndarray
        The numeric stake columns (``amount`` in asset units, limits as fractions).
    """
    stakes = holder_of_stake.size
    holder_count = holder_kind.size

    # Distinct assets per holder, weighted by popularity: Gumbel top-k on each holder's row.
    popularity = np.array([a.popularity for a in catalog])
    keys = np.log(popularity) + rng.gumbel(size=(holder_count, len(catalog)))
    asset_order = np.argsort(-keys, axis=1)
    first_stake = np.searchsorted(holder_of_stake, np.arange(holder_count))
    position = np.arange(stakes) - first_stake[holder_of_stake]
    asset_of_stake = asset_order[holder_of_stake, position]

    kind_of_stake = holder_kind[holder_of_stake]
    value_scale = np.array([a.value_scale for a in catalog])
    value = (
        rng.lognormal(np.log(ASSUMPTIONS.stake_value_median), ASSUMPTIONS.stake_value_log_sd,
                      size=stakes)
        * np.array(ASSUMPTIONS.holder_kind_value_scale)[kind_of_stake]
        * value_scale[asset_of_stake]
    )
    value = np.clip(value, ASSUMPTIONS.stake_value_min, ASSUMPTIONS.stake_value_max)
    amount = np.round(value / prices[asset_of_stake], 6)
    value = amount * prices[asset_of_stake]

    # One policy per holder; max_per_service per stake from the policy's weights.
    policies = ASSUMPTIONS.policies
    policy_of_holder = categorical(np.array(ASSUMPTIONS.holder_kind_policy_weights)[holder_kind],
                                   rng)
    policy = policy_of_holder[holder_of_stake]
    per_service_weights = np.array([p.per_service_weights for p in policies])
    choices = np.array(ASSUMPTIONS.per_service_choices)
    max_per_service = choices[categorical(per_service_weights[policy], rng)]
    return asset_of_stake, value, {
        "amount": amount,
        "max_restaking": np.array([p.max_restaking for p in policies])[policy],
        "max_per_service": max_per_service,
        "max_expected_loss": np.array([p.max_expected_loss for p in policies])[policy],
        "max_worst_case_loss": np.array([p.max_worst_case_loss for p in policies])[policy],
    }


def _draw_services(services: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw each service's id, slashing risk (per year) and reward rate (per year)."""
    a = ASSUMPTIONS
    kind = rng.choice(len(a.service_kinds), size=services)
    ids = kind_ids(a.service_kinds, kind, 3, "-")
    slash_probability = round_significant(log_uniform(a.slash_probability_range, services, rng),
                                          3)
    slash_probability[rng.random(services) < a.zero_slash_share] = 0.0
    slash_fraction = np.clip(
        np.round(log_uniform(a.slash_fraction_range, services, rng), 2), *a.slash_fraction_range
    )
    # Riskier services pay a premium, but not always enough: some have negative net reward.
    premium = rng.uniform(*a.risk_premium_range, size=services) * slash_probability * slash_fraction
    reward_rate = np.clip(
        np.round(log_uniform(a.base_reward_range, services, rng) + premium, 4),
        *a.reward_rate_range,
    )
    return {
        "service": ids.astype(object),
        "reward_rate": reward_rate,
        "slash_probability": slash_probability,
        "slash_fraction": slash_fraction,
    }


def _draw_groups(
    services: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw correlation groups of 2-5 services.

    Returns
    -------
    membership : numpy.ndarray of bool, shape (groups, services)
        True where the service belongs to the group.
    columns : dict of numpy.ndarray
        Columns ``group``, ``max_exposure`` (fraction of stake) and ``correlation``.
    """
    a = ASSUMPTIONS
    group_count = max(1, round(services / a.services_per_group))
    sizes = np.minimum(
        rng.integers(a.group_size_range[0], a.group_size_range[1] + 1, group_count), services
    )
    membership = np.zeros((group_count, services), dtype=bool)
    for group, size in enumerate(sizes):
        membership[group, rng.choice(services, size=size, replace=False)] = True
    kind = rng.choice(len(a.group_kinds), size=group_count)
    columns = {
        "group": kind_ids(a.group_kinds, kind, 3, "-").astype(object),
        "max_exposure": rng.choice(np.array(a.max_exposure_choices), size=group_count),
        "correlation": np.round(rng.uniform(*a.correlation_range, size=group_count), 2),
    }
    return membership, columns


def _draw_capacities(reachable: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a capacity (ETH) for some services, a fraction of the value that could back them."""
    services = reachable.size
    fraction = rng.uniform(*ASSUMPTIONS.capacity_fraction_range, size=services)
    has_capacity = (rng.random(services) < ASSUMPTIONS.capacity_share) & (reachable > 0)
    capacity = np.full(services, np.nan)
    capacity[has_capacity] = round_significant(fraction[has_capacity] * reachable[has_capacity], 3)
    return capacity


def _draw_holder_share(services: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw external stake (ETH) for every service and a holder-share cap for some."""
    a = ASSUMPTIONS
    external_stake = round_significant(
        rng.lognormal(np.log(a.external_stake_median), a.external_stake_log_sd, size=services), 3
    )
    cap = rng.choice(np.array(a.max_holder_share_choices), size=services)
    max_holder_share = np.where(rng.random(services) < a.holder_share_service_share, cap, np.nan)
    return external_stake, max_holder_share
