"""Every number the generator assumes, in one frozen dataclass.

Each is chosen to look like today's restaking market (see the landscape notes in
docs/model.md), not market data. Values are in ETH (the numeraire), every rate, probability
and loss budget is per year, fractions are in [0, 1]. A "range" is a ``(low, high)`` pair
drawn uniformly unless its docstring says log-uniform.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.instance.generate.catalog import ASSET_CATALOG, POLICIES, AssetProfile, Policy

__all__ = ["ASSUMPTIONS", "Assumptions"]

Range = tuple[float, float]


@dataclass(frozen=True)
class Assumptions:
    """The generator's assumptions: shares, ranges and choices of every drawn value.

    The generator uses the defaults (``ASSUMPTIONS``); each field's docstring gives its
    meaning and unit.
    """

    # Assets, holders and stakes.
    assets: tuple[AssetProfile, ...] = ASSET_CATALOG
    """Assets in the order they are taken (prices in ETH per unit)."""
    policies: tuple[Policy, ...] = POLICIES
    """Per-stake limit policies; every stake follows its holder's policy."""
    per_service_choices: tuple[float, ...] = (1.0, 0.5, 0.25)
    """Values ``max_per_service`` takes: a whole stake, half, a quarter (fraction of stake)."""
    holder_kinds: tuple[str, ...] = ("op", "vault", "lrt")
    """Holder kinds, the prefix of holder ids: operators, vaults, LRTs."""
    holder_kind_share: tuple[float, ...] = (0.60, 0.25, 0.15)
    """Share of holders of each kind (fraction of holders)."""
    holder_kind_value_scale: tuple[float, ...] = (1.0, 1.5, 4.0)
    """Factor on the ETH value of a stake, per holder kind (unitless)."""
    holder_kind_policy_weights: tuple[tuple[float, ...], ...] = (
        (0.50, 0.25, 0.25, 0.00, 0.00),
        (0.00, 0.20, 0.20, 0.40, 0.20),
        (0.40, 0.30, 0.30, 0.00, 0.00),
    )
    """Weights of ``policies`` (columns) per holder kind (rows), unitless. Operators and LRTs
    run on EigenLayer (unique stake); vaults are mostly Symbiotic-style restakers."""
    stakes_per_holder_weights: tuple[float, ...] = (0.3, 0.4, 0.3)
    """Weights of a holder having 1, 2 or 3 stakes (unitless; mean 2 stakes)."""
    stake_value_median: float = 150.0
    """Median of the lognormal stake value, ETH."""
    stake_value_log_sd: float = 1.8
    """Standard deviation of the log of the stake value (log ETH)."""
    stake_value_min: float = 1.0
    """Smallest stake value, ETH."""
    stake_value_max: float = 500_000.0
    """Largest stake value, ETH."""

    # Services and acceptance.
    service_kinds: tuple[str, ...] = ("da", "oracle", "bridge", "sequencer", "coprocessor",
                                      "keeper")
    """Service kinds, the prefix of service ids."""
    zero_slash_share: float = 0.2
    """Share of services that never slash (fraction of services)."""
    slash_probability_range: Range = (0.001, 0.10)
    """``slash_probability`` of the others, per year, log-uniform."""
    slash_fraction_range: Range = (0.01, 1.0)
    """``slash_fraction``, fraction of the allocation, log-uniform."""
    base_reward_range: Range = (0.005, 0.05)
    """Base of ``reward_rate``, per year, log-uniform."""
    risk_premium_range: Range = (0.5, 1.5)
    """Premium on ``reward_rate``, times the expected loss p f (unitless factor)."""
    reward_rate_range: Range = (0.005, 0.10)
    """Clip of ``reward_rate``, per year."""
    fallback_tilts: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    """Tilts beta of the fallback asset towards less-held assets, tried in order for low
    densities (unitless exponent)."""
    density_tolerance: float = 0.005
    """An expected eligible-pair density within this of the target is good enough
    (fraction of pairs)."""

    # Groups.
    group_kinds: tuple[str, ...] = ("bridge", "oracle", "client")
    """Group kinds (what the services share), the prefix of group ids."""
    services_per_group: int = 8
    """About one group per this many services (services)."""
    group_size_range: tuple[int, int] = (2, 5)
    """Services per group, integers, both ends included (services)."""
    max_exposure_choices: tuple[float, ...] = (0.5, 0.75)
    """Values of a group's ``max_exposure`` (fraction of stake)."""
    correlation_range: Range = (0.2, 0.8)
    """A group's ``correlation`` (fraction)."""

    # Capacities and required services.
    capacity_share: float = 0.3
    """Share of services with a ``capacity`` (fraction of services)."""
    capacity_fraction_range: Range = (0.05, 0.5)
    """``capacity``, fraction of the value that could be put behind the service (ETH/ETH)."""
    min_security_fraction_range: Range = (0.05, 0.2)
    """A required service's ``min_security``, fraction of the same value (ETH/ETH)."""
    min_security_witness_share: float = 0.8
    """Most of a required minimum, fraction of what the witness allocation reaches (ETH/ETH)."""
    required_capacity_headroom: float = 1.25
    """A required service's capacity is at least this times its effective minimum
    (unitless factor)."""

    # Holder share and pools.
    external_stake_median: float = 20_000.0
    """Median of the lognormal ``external_stake``, ETH."""
    external_stake_log_sd: float = 1.5
    """Standard deviation of the log of ``external_stake`` (log ETH)."""
    holder_share_service_share: float = 0.5
    """Share of services with a ``max_holder_share`` (fraction of services)."""
    max_holder_share_choices: tuple[float, ...] = (0.1, 0.2, 0.33)
    """Values of ``max_holder_share`` (fraction of the service's total security)."""
    pool_apr_range: Range = (0.01, 0.08)
    """R_s / E_s of a reward pool, per year, log-uniform."""

    # Optional minimum security and corruption.
    optional_min_security_range: Range = (0.1, 0.6)
    """An optional service's ``min_security``, fraction of the value that could reach it
    (ETH/ETH)."""
    corruption_share: float = 0.3
    """Share of services with a ``profit_from_corruption`` (fraction of services)."""
    attack_threshold_choices: tuple[float, ...] = (1.0 / 3.0, 1.0 / 2.0)
    """Values of ``attack_threshold`` where there is a profit from corruption (fraction)."""
    deterrent_fraction_range: Range = (0.05, 0.8)
    """Deterrent minimum, fraction of the value that could reach the service (ETH/ETH)."""
    security_margin: float = 0.1
    """gamma, the ``security_margin`` parameter (unitless)."""

    # Opt-in.
    opt_in_cost_share: float = 0.5
    """Share of services with an ``opt_in_cost`` (fraction of services)."""
    opt_in_cost_range: Range = (0.5, 20.0)
    """``opt_in_cost``, ETH per year, log-uniform."""
    min_allocation_share: float = 0.3
    """Share of the services that are not required with a ``min_allocation`` (fraction)."""
    min_allocation_range: Range = (10.0, 500.0)
    """``min_allocation``, ETH, log-uniform."""
    max_services_holder_share: float = 0.3
    """Share of holders with a ``max_services`` (fraction of holders)."""
    max_services_range: tuple[int, int] = (2, 6)
    """``max_services``, integers, both ends included (services)."""

    # CVaR.
    cvar_alpha: float = 0.95
    """``cvar_alpha``, the CVaR confidence level (probability)."""
    cvar_limit_range: Range = (0.01, 0.04)
    """``cvar_limit``, fraction of the total stake value (ETH/ETH)."""
    cvar_limit_headroom: float = 1.05
    """``cvar_limit`` is at least this times the witness allocation's worst loss
    (unitless factor)."""
    risk_aversion_range: Range = (0.5, 2.0)
    """``risk_aversion`` lambda, per ETH of CVaR."""

    # Turnover.
    current_stake_share: float = 0.3
    """Share of stakes with a current allocation (fraction of stakes)."""
    current_extra_services: int = 3
    """Most other eligible services per stake in the current allocation (services)."""
    current_extra_range: Range = (0.1, 1.0)
    """Current fraction on such a service, fraction of min(m_i, L_i / 3)."""
    current_perturbation_range: Range = (0.7, 1.3)
    """Factor on the witness allocation in the current allocation (unitless)."""
    current_ineligible_share: float = 0.02
    """Share of the stakes with a current allocation that also hold a row on a service that
    does not accept their asset (fraction of stakes)."""
    current_ineligible_range: Range = (0.05, 0.5)
    """Current fraction on such a service, fraction of m_i."""
    turnover_cost_range: Range = (0.001, 0.01)
    """``turnover_cost`` tau, per unit of value moved, log-uniform."""
    turnover_limit_range: Range = (0.1, 0.3)
    """``turnover_limit``, fraction of the total stake value (ETH/ETH)."""
    turnover_limit_headroom: float = 1.02
    """``turnover_limit`` is at least this times the value moved from x0 to the witness
    allocation (unitless factor)."""


ASSUMPTIONS = Assumptions()
"""The assumptions the generator uses."""
