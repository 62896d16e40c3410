"""Seeded synthetic instances of any size: the tables behind ``restake generate``.

This module owns the generator: given sizes, a seed and a few switches it returns the
instance's tables as pandas DataFrames, with the column names of the instance format, ready for
the writers in ``optimizer.instance.io``. It does not write files and does not validate beyond
its own arguments; every table it returns is valid by construction.

Every number below is an assumption chosen to look like today's restaking market (see
the landscape notes in docs/model.md), not market data. All values are in ETH (the
numeraire), every rate,
probability and loss budget is per year, fractions are in [0, 1].

Structure, and why:

- Assets: taken in order from ``ASSET_CATALOG`` (native ETH first, then the large LSTs, EIGEN,
  wBTC, a stablecoin, smaller LSTs, ENA). Prices are drawn in a narrow band around
  today's (ETH 1.0 exactly; LSTs 0.995-1.15 ETH; EIGEN 0.0003-0.001; wBTC 20-40; USDC
  0.00025-0.0004). Popularity is skewed: ETH and LSTs hold most stakes.
- Holders: operators (60 %), vaults (25 %) and LRTs (15 %), each owning 1-3 stakes of distinct
  assets (mean 2, so about ``stakes / 2`` holders). Ids: ``op00012``, stakes ``op00012-steth``.
- Stake value (ETH): lognormal, median 150 ETH, log-sd 1.8, times a holder-kind factor (LRTs
  4x, vaults 1.5x) and an asset factor (EIGEN, wBTC and stablecoin stakes are smaller),
  clipped to [1, 500,000] ETH; amount = value / price.
- Stake limits come from five named ``POLICIES`` that real operators use (EigenLayer's unique
  stake, conservative and balanced loss budgets, Symbiotic network restaking), one policy per
  holder; ``max_per_service`` is 1, 0.5 or 0.25 with policy-dependent weights.
- Services: ``reward_rate`` 0.5-10 %/yr (a log-uniform base plus a premium for the service's
  expected loss p f, so some services lose money in expectation); ``slash_probability`` 0 for
  20 % of services, else log-uniform in [0.1 %, 10 %]/yr; ``slash_fraction`` log-uniform in
  [1 %, 100 %]. Each service accepts each asset a with probability q_a = min(1, t w_a), with
  w_a the asset's appeal and t tuned so that the expected fraction of eligible (stake, service)
  pairs is ``density``; a service that draws no asset accepts one fallback asset (drawn by
  appeal, tilted to less-held assets when the target is low: an EIGEN-only or wBTC-only
  service), so the realised density cannot go below the smallest asset's share of stakes.
  ``density = 1`` makes every service accept ``"*"``.
- Groups (optional): about one per 8 services, each 2-5 services sharing a bridge, an oracle
  or a client; ``max_exposure`` 0.5 or 0.75, ``correlation`` in [0.2, 0.8].
- Capacities (optional): 30 % of services, 5-50 % of the value that could be put behind them
  (sum of V_i m_i over eligible stakes). An optimum puts every eligible stake's m_i on the
  most rewarding services, so their capacities bind.
- Required services: ``min_security`` is 5-20 % of that same value, and never more than 80 %
  of what an explicit witness allocation reaches (one within every stake and group limit);
  their capacities and external stake are raised where needed so that the witness also
  meets them, so the instance stays feasible.
- Holder share (optional): every service gets ``external_stake`` (lognormal, median 20,000
  ETH); half of them a ``max_holder_share`` of 0.1, 0.2 or 0.33.

Feature switches, all off by default (an instance made without them is what it always was):

- ``pools`` (fraction of services): a ``reward_pool`` R_s (ETH per year) shared pro rata with
  ``external_stake`` E_s. E_s is the holder-share draw when there is one, else drawn from the
  same lognormal (median 20,000 ETH); R_s = a E_s with a log-uniform in [1 %, 8 %]/yr, so the
  pool pays a per year at the margin to a small stake, and a/2 on a stake as large as E_s. A
  pool service's ``reward_rate`` is 0: its rewards are the pool.
- ``min_security`` (fraction of the services that are not required): a semi-continuous
  ``min_security`` M_s (ETH), 10-60 % of the value that could reach the service (capped by its
  capacity), so some are worth securing and some are not.
- ``corruption``: 30 % of services get ``attack_threshold`` alpha_s 1/3 or 1/2 and a
  ``profit_from_corruption`` pi_s (ETH) set so that the deterrent minimum
  (1 + gamma) pi_s / (alpha_s f_s) - E_s is 5-80 % of the value that could reach the
  service (gamma = ``security_margin`` = 0.1; every f_s is >= 1 %). On a required service that
  deterrent is also at most 80 % of the witness security (below), and the effective minimum
  M_eff = max(M_s, deterrent) is what capacities, external stake and the other features are
  sized against.
- ``opt_in``: half of the services an ``opt_in_cost`` c_s (log-uniform 0.5-20 ETH per year);
  30 % of the services that are not required a ``min_allocation`` l_s (log-uniform
  10-500 ETH; never on a required service); 30 % of holders ``max_services`` K_h in 2-6,
  raised to the number of required services the holder's witness allocation uses.
- ``cvar``: ``cvar_alpha`` 0.95, ``scenario_count`` (``scenarios``) and ``scenario_seed``
  (the seed): the solver samples the scenarios from the groups' ``correlation``. "limit" sets
  ``cvar_limit`` B (ETH) at 1-4 % of the total stake value (it binds on about half of the
  instances), and never below 1.05 x the sum over required services of f_s M_eff_s (the worst
  loss of the witness allocation); "aversion" sets ``risk_aversion`` lambda (per ETH of CVaR)
  uniform in [0.5, 2].
- ``turnover``: a ``current`` allocation x0 on 30 % of the stakes: the witness allocation
  (below) perturbed by x 0.7-1.3, plus up to 3 other eligible services at 10-100 % of
  min(m_i, L_i / 3) each, plus, on 2 % of those stakes, a row on a service that does not accept
  the stake's asset (counted as fully moved). ``turnover_cost`` tau is log-uniform in
  [0.001, 0.01] per unit of value moved; ``turnover_limit`` T (ETH) is 10-30 % of the total
  stake value, and never below 1.02 x the value moved from x0 to the witness allocation.

The witness allocation shows every instance is feasible: each stake puts theta_i x M_eff_s /
W_s on every required service s (theta_i and the witness security W_s as for required
services above), nothing elsewhere. It meets every stake-side limit, puts exactly M_eff_s
behind each required service (capacities and external stake are raised for it), leaves
every optional service at 0, holds no min_allocation, fits each K_h, loses at most
sum f_s M_eff_s in any scenario (<= B) and is within T of x0. Without required services it is
the empty allocation.

Each part draws from its own child stream of ``numpy.random.default_rng(seed)``, so turning
one option on or off does not change the other tables (the witness-sized values aside:
capacities and external stake of required services follow M_eff). Columns of features that
are off are left out and take their defaults; ``current`` is then an empty table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance.instance import Instance

__all__ = [
    "ASSET_CATALOG",
    "POLICIES",
    "generate_tables",
]

MAX_STAKES = 1_000_000
MAX_SERVICES = 10_000


@dataclass(frozen=True)
class AssetProfile:
    """An asset the generator can use.

    Attributes
    ----------
    asset : str
        Asset id.
    price_low, price_high : float
        Range of the drawn price, ETH per unit.
    popularity : float
        Relative weight of the asset among a holder's stakes (unitless).
    appeal : float
        Relative chance that a service accepts the asset as collateral (unitless).
    value_scale : float
        Factor on a stake's drawn ETH value (smaller for EIGEN, wBTC and stablecoin stakes).
    """

    asset: str
    price_low: float
    price_high: float
    popularity: float
    appeal: float
    value_scale: float


ASSET_CATALOG: tuple[AssetProfile, ...] = (
    AssetProfile("eth", 1.0, 1.0, 0.30, 1.0, 1.0),  # native ETH (EigenPods), the numeraire
    AssetProfile("steth", 0.995, 1.0, 0.25, 1.0, 1.0),  # Lido, rebasing: trades near 1
    AssetProfile("reth", 1.08, 1.15, 0.10, 0.8, 1.0),  # Rocket Pool, accruing
    AssetProfile("eigen", 0.0003, 0.001, 0.08, 0.6, 0.1),
    AssetProfile("wbtc", 20.0, 40.0, 0.05, 0.4, 0.5),
    AssetProfile("usdc", 0.00025, 0.0004, 0.04, 0.3, 0.3),
    AssetProfile("cbeth", 1.05, 1.12, 0.06, 0.7, 1.0),
    AssetProfile("meth", 1.02, 1.08, 0.04, 0.5, 1.0),
    AssetProfile("ethx", 1.02, 1.08, 0.03, 0.5, 1.0),
    AssetProfile("oseth", 1.01, 1.06, 0.02, 0.5, 1.0),
    AssetProfile("sfrxeth", 1.05, 1.12, 0.02, 0.4, 1.0),
    AssetProfile("ena", 0.00005, 0.0003, 0.01, 0.2, 0.2),
)
"""Assets in the order they are taken: ``assets=n`` uses the first n."""


@dataclass(frozen=True)
class Policy:
    """A named set of per-stake limits, as an operator or curator would configure them.

    Attributes
    ----------
    name : str
        Policy name (not written to the instance; it only shapes the limits).
    max_restaking : float
        L_i, most total fraction of the stake allocated across services.
    max_expected_loss : float
        b_i, expected slashing loss budget, fraction of stake value per year (NaN: none).
    max_worst_case_loss : float
        c_i, most loss if ``worst_case_k`` services slash at once, fraction of stake value
        (NaN: none).
    per_service_weights : tuple of float
        Weights of ``max_per_service`` = 1.0, 0.5, 0.25 (``PER_SERVICE_CHOICES``).
    """

    name: str
    max_restaking: float
    max_expected_loss: float
    max_worst_case_loss: float
    per_service_weights: tuple[float, float, float]


PER_SERVICE_CHOICES = np.array([1.0, 0.5, 0.25])
"""The values ``max_per_service`` takes: a whole stake, half, a quarter per service."""

POLICIES: tuple[Policy, ...] = (
    # EigenLayer unique stake, no loss budgets: magnitudes sum to at most 1.
    Policy("eigenlayer-unique", 1.0, math.nan, math.nan, (0.7, 0.2, 0.1)),
    Policy("conservative", 1.0, 0.002, 0.10, (0.2, 0.4, 0.4)),
    Policy("balanced", 1.0, 0.005, 0.25, (0.4, 0.4, 0.2)),
    # Symbiotic NetworkRestakeDelegator: the same collateral counts for several networks.
    Policy("symbiotic-restake", 2.0, math.nan, 0.30, (0.5, 0.3, 0.2)),
    Policy("aggressive-restake", 3.0, 0.01, 0.50, (0.6, 0.3, 0.1)),
)
"""The per-stake limit policies; every stake follows its holder's policy."""

HOLDER_KINDS = ("op", "vault", "lrt")
HOLDER_KIND_SHARE = np.array([0.60, 0.25, 0.15])
HOLDER_KIND_VALUE_SCALE = np.array([1.0, 1.5, 4.0])
# Rows: holder kind; columns: POLICIES. Operators and LRTs run on EigenLayer (unique stake);
# vaults are mostly Symbiotic-style restakers.
HOLDER_KIND_POLICY_WEIGHTS = np.array(
    [
        [0.50, 0.25, 0.25, 0.00, 0.00],
        [0.00, 0.20, 0.20, 0.40, 0.20],
        [0.40, 0.30, 0.30, 0.00, 0.00],
    ]
)
STAKES_PER_HOLDER_WEIGHTS = np.array([0.3, 0.4, 0.3])  # 1, 2 or 3 stakes: mean 2

STAKE_VALUE_MEDIAN = 150.0  # ETH
STAKE_VALUE_LOG_SD = 1.8
STAKE_VALUE_MIN = 1.0  # ETH
STAKE_VALUE_MAX = 500_000.0  # ETH

SERVICE_KINDS = ("da", "oracle", "bridge", "sequencer", "coprocessor", "keeper")
ZERO_SLASH_SHARE = 0.2  # services that never slash
SLASH_PROBABILITY_RANGE = (0.001, 0.10)  # per year, log-uniform
SLASH_FRACTION_RANGE = (0.01, 1.0)  # log-uniform
BASE_REWARD_RANGE = (0.005, 0.05)  # per year, log-uniform
RISK_PREMIUM_RANGE = (0.5, 1.5)  # times the expected loss p f
REWARD_RATE_RANGE = (0.005, 0.10)  # per year
ATTACK_THRESHOLD = 1.0 / 3.0
# Tilts of the fallback asset towards less-held assets, tried in order for low densities.
FALLBACK_BETAS = (0.0, 0.5, 1.0, 2.0, 4.0)
DENSITY_TOLERANCE = 0.005  # expected density within this of the target is good enough

GROUP_KINDS = ("bridge", "oracle", "client")
SERVICES_PER_GROUP = 8
GROUP_SIZE_RANGE = (2, 5)
MAX_EXPOSURE_CHOICES = np.array([0.5, 0.75])
CORRELATION_RANGE = (0.2, 0.8)

CAPACITY_SHARE = 0.3  # of services
CAPACITY_FRACTION_RANGE = (0.05, 0.5)  # of the value that could be put behind the service
MIN_SECURITY_FRACTION_RANGE = (0.05, 0.2)  # same base
MIN_SECURITY_WITNESS_SHARE = 0.8  # most of what the witness allocation reaches
REQUIRED_CAPACITY_HEADROOM = 1.25

EXTERNAL_STAKE_MEDIAN = 20_000.0  # ETH
EXTERNAL_STAKE_LOG_SD = 1.5
HOLDER_SHARE_SERVICE_SHARE = 0.5  # of services
MAX_HOLDER_SHARE_CHOICES = np.array([0.1, 0.2, 0.33])

POOL_APR_RANGE = (0.01, 0.08)  # R_s / E_s, per year, log-uniform
OPTIONAL_MIN_SECURITY_RANGE = (0.1, 0.6)  # of the value that could reach the service

CORRUPTION_SHARE = 0.3  # of services
ATTACK_THRESHOLD_CHOICES = np.array([1.0 / 3.0, 1.0 / 2.0])
DETERRENT_FRACTION_RANGE = (0.05, 0.8)  # of the value that could reach the service
SECURITY_MARGIN = 0.1  # gamma

OPT_IN_COST_SHARE = 0.5  # of services
OPT_IN_COST_RANGE = (0.5, 20.0)  # ETH per year, log-uniform
MIN_ALLOCATION_SHARE = 0.3  # of the services that are not required
MIN_ALLOCATION_RANGE = (10.0, 500.0)  # ETH, log-uniform
MAX_SERVICES_HOLDER_SHARE = 0.3  # of holders
MAX_SERVICES_RANGE = (2, 6)

CVAR_CHOICES = ("limit", "aversion")
CVAR_ALPHA = 0.95
CVAR_LIMIT_RANGE = (0.01, 0.04)  # of the total stake value
CVAR_LIMIT_HEADROOM = 1.05  # over the witness allocation's worst loss
RISK_AVERSION_RANGE = (0.5, 2.0)

CURRENT_STAKE_SHARE = 0.3  # of stakes
CURRENT_EXTRA_SERVICES = 3  # most other eligible services per stake
CURRENT_EXTRA_RANGE = (0.1, 1.0)  # of min(m_i, L_i / 3)
CURRENT_PERTURBATION_RANGE = (0.7, 1.3)  # factor on the witness allocation
CURRENT_INELIGIBLE_SHARE = 0.02  # of the stakes with a current allocation
CURRENT_INELIGIBLE_RANGE = (0.05, 0.5)  # of m_i
TURNOVER_COST_RANGE = (0.001, 0.01)  # per unit of value moved, log-uniform
TURNOVER_LIMIT_RANGE = (0.1, 0.3)  # of the total stake value
TURNOVER_LIMIT_HEADROOM = 1.02  # over the value moved from x0 to the witness allocation

ASSET_COLUMNS = ("asset", "price")
HOLDER_COLUMNS = ("holder",)
STAKE_COLUMNS = (
    "stake",
    "holder",
    "asset",
    "amount",
    "max_restaking",
    "max_per_service",
    "max_expected_loss",
    "max_worst_case_loss",
)
SERVICE_COLUMNS = (
    "service",
    "reward_rate",
    "external_stake",
    "slash_probability",
    "slash_fraction",
    "accepts",
    "capacity",
    "min_security",
    "required",
    "profit_from_corruption",
    "attack_threshold",
    "max_holder_share",
    "groups",
)
GROUP_COLUMNS = ("group", "max_exposure", "correlation")
CURRENT_COLUMNS = ("stake", "service", "fraction")

# Child streams of the seed, one per part, so that options do not shift each other's draws.
_STREAMS = (
    "assets",
    "holders",
    "stakes",
    "services",
    "acceptance",
    "groups",
    "capacities",
    "required",
    "holder_share",
    "pools",
    "min_security",
    "corruption",
    "opt_in",
    "cvar",
    "turnover",
)


def generate_tables(
    stakes: int,
    services: int,
    *,
    seed: int = 0,
    density: float = 0.3,
    assets: int | None = None,
    groups: bool = True,
    holder_share: bool = False,
    capacities: bool = True,
    required: int = 0,
    worst_case_k: int = 1,
    pools: float = 0.0,
    min_security: float = 0.0,
    corruption: bool = False,
    opt_in: bool = False,
    cvar: str | None = None,
    scenarios: int = 200,
    turnover: bool = False,
    name: str | None = None,
) -> dict[str, object]:
    """Generate a seeded synthetic instance with a realistic restaking structure.

    Parameters
    ----------
    stakes : int
        Number of stakes, 1 to 1,000,000.
    services : int
        Number of services, 1 to 10,000.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same arguments give identical tables.
    density : float, default 0.3
        Target fraction of (stake, service) pairs that are eligible (the service accepts the
        stake's asset), in (0, 1]. 1 makes every service accept ``"*"``. Realised density
        cannot go below the smallest asset's share of stakes, as every service accepts at
        least one asset.
    assets : int or None, default None
        Number of assets, 1 to ``len(ASSET_CATALOG)``; None picks 5 to 8 by size.
    groups : bool, default True
        Add correlation groups with ``max_exposure`` limits.
    holder_share : bool, default False
        Add ``external_stake`` (ETH) to every service and ``max_holder_share`` to half of them.
    capacities : bool, default True
        Give 30 % of services a ``capacity`` (ETH).
    required : int, default 0
        Number of required services, each with a reachable ``min_security`` (ETH).
    worst_case_k : int, default 1
        Parameter k of ``max_worst_case_loss`` (simultaneous slashings), >= 1.
    pools : float, default 0
        Fraction of services, in [0, 1], paid by a ``reward_pool`` (ETH per year) shared
        with their ``external_stake`` (ETH).
    min_security : float, default 0
        Fraction of the services that are not required, in [0, 1], with a semi-continuous
        ``min_security`` (ETH).
    corruption : bool, default False
        Give 30 % of services a ``profit_from_corruption`` (ETH) and ``attack_threshold``
        (1/3 or 1/2), and set ``security_margin`` 0.1.
    opt_in : bool, default False
        Add ``opt_in_cost`` (ETH per year) and ``min_allocation`` (ETH) to some services and
        ``max_services`` to some holders.
    cvar : {None, "limit", "aversion"}, default None
        Use CVaR of the slashing loss: as a ``cvar_limit`` (ETH), or in the objective with
        ``risk_aversion``.
    scenarios : int, default 200
        ``scenario_count``, the scenarios the solver samples for CVaR, >= 1 (used with
        ``cvar`` only).
    turnover : bool, default False
        Add a ``current`` allocation, ``turnover_cost`` and ``turnover_limit`` (ETH).
    name : str or None, default None
        Instance name; None gives ``synthetic-<stakes>x<services>-seed<seed>``.

    Returns
    -------
    dict
        ``"instance"`` (name, numeraire, description, source) and ``"parameters"`` dicts,
        and DataFrames ``"assets"``, ``"holders"``, ``"stakes"``, ``"services"``,
        ``"groups"`` and ``"current"`` (empty unless ``turnover``) with the format's
        columns. ``accepts`` holds a list of asset ids or ``"*"``; ``groups`` a list of group
        ids. NaN means "none".

    Raises
    ------
    ValueError
        If an argument is out of range.
    """
    asset_count = _check_arguments(stakes, services, seed, density, assets, required, worst_case_k)
    _check_features(pools, min_security, corruption, opt_in, cvar, scenarios, turnover)
    root = np.random.default_rng(seed)
    streams = dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))
    catalog = ASSET_CATALOG[:asset_count]

    prices = _draw_prices(catalog, streams["assets"])
    holder_of_stake, holder_kind = _draw_holders(stakes, asset_count, streams["holders"])
    stake_table = _draw_stakes(catalog, prices, holder_of_stake, holder_kind, streams)
    value = stake_table.pop("value")
    asset_of_stake = stake_table.pop("asset_index")

    service_table = _draw_services(services, streams["services"])
    if density >= 1.0:
        accept = np.ones((services, asset_count), dtype=bool)
    else:
        accept = _draw_acceptance(catalog, asset_of_stake, services, density, streams["acceptance"])

    if groups and services >= 2:
        membership, group_table = _draw_groups(services, streams["groups"])
    else:
        membership = np.zeros((0, services), dtype=bool)
        group_table = {
            c: np.array([], dtype=object if c == "group" else float) for c in GROUP_COLUMNS
        }

    # Value that could be put behind each service (sum of V_i m_i over eligible stakes).
    value_per_asset = np.bincount(
        asset_of_stake, weights=value * stake_table["max_per_service"], minlength=asset_count
    )
    reachable = accept @ value_per_asset

    capacity = np.full(services, np.nan)
    if capacities:
        capacity = _draw_capacities(reachable, streams["capacities"])

    external_stake = np.zeros(services)
    max_holder_share = np.full(services, np.nan)
    if holder_share:
        external_stake, max_holder_share = _draw_holder_share(services, streams["holder_share"])

    reward_pool = np.zeros(services)
    if pools > 0:
        reward_pool, external_stake = _draw_pools(pools, external_stake, streams["pools"])
        service_table["reward_rate"] = np.where(reward_pool > 0, 0.0, service_table["reward_rate"])

    minimum = np.zeros(services)
    is_required = np.zeros(services, dtype=bool)
    theta = np.zeros(stakes)
    witness_security = np.zeros(services)
    if required > 0:
        is_required[streams["required"].choice(services, size=required, replace=False)] = True
        accept = _ensure_required_accept_stake(accept, is_required, asset_of_stake, value)
        reachable = accept @ value_per_asset
        theta, witness_security = _required_witness(
            is_required=is_required,
            accept=accept,
            stake_table=stake_table,
            asset_of_stake=asset_of_stake,
            value=value,
            service_table=service_table,
            membership=membership,
            max_exposure=group_table["max_exposure"],
            worst_case_k=worst_case_k,
        )
        minimum = _required_minimum(
            is_required, reachable, witness_security, streams["required"]
        )
    # What could reach each service, within its capacity: the base of the optional minima.
    base = np.where(np.isnan(capacity), reachable, np.fmin(reachable, capacity))

    if min_security > 0:
        minimum = _draw_optional_minimum(min_security, is_required, base, minimum,
                                         streams["min_security"])

    profit = np.zeros(services)
    attack_threshold = np.full(services, ATTACK_THRESHOLD)
    effective = minimum.copy()  # M_eff on the required services (used for sizing)
    if corruption:
        chosen, attack_threshold, deterrent = _draw_corruption(
            is_required, base, witness_security, streams["corruption"]
        )
        effective = np.where(is_required, np.maximum(minimum, deterrent), minimum)

    if required > 0:
        capacity, external_stake = _secure_required(
            is_required=is_required,
            effective=effective,
            accept=accept,
            theta=theta,
            witness_security=witness_security,
            value=value,
            asset_of_stake=asset_of_stake,
            holder_of_stake=holder_of_stake,
            capacity=capacity,
            external_stake=external_stake,
            max_holder_share=max_holder_share,
        )
    if corruption:
        # pi_s from the final E_s, so that (1 + gamma) pi_s / (alpha_s f_s) - E_s = deterrent.
        # Floored: the deterrent never exceeds its target (required services stay reachable).
        profit = np.where(
            chosen & (deterrent > 0),
            _round_significant(
                (deterrent + external_stake) * attack_threshold * service_table["slash_fraction"]
                / (1.0 + SECURITY_MARGIN), 6, np.floor,
            ),
            0.0,
        )
    witness = _Witness(
        theta=theta,
        security=witness_security,
        effective=np.where(is_required & (witness_security > 0), effective, 0.0),
    )

    asset_ids = np.array([a.asset for a in catalog], dtype=object)
    if density >= 1.0:
        accepts_column: list[object] = ["*"] * services
    else:
        accepts_column = [list(asset_ids[row]) for row in accept]
    group_ids = group_table["group"]
    groups_column = [list(group_ids[column]) for column in membership.T]

    service_columns = {
        "service": service_table["service"],
        "reward_rate": service_table["reward_rate"],
        "reward_pool": reward_pool,
        "external_stake": external_stake,
        "slash_probability": service_table["slash_probability"],
        "slash_fraction": service_table["slash_fraction"],
        "accepts": pd.Series(accepts_column, dtype=object),
        "capacity": capacity,
        "min_security": minimum,
        "required": is_required.tolist(),
        "profit_from_corruption": profit,
        "attack_threshold": attack_threshold,
        "max_holder_share": max_holder_share,
        "groups": pd.Series(groups_column, dtype=object),
    }
    column_order = list(SERVICE_COLUMNS)
    if pools > 0:
        column_order.insert(column_order.index("external_stake"), "reward_pool")
    holder_ids = _holder_ids(holder_kind)
    holder_columns: dict[str, object] = {"holder": holder_ids.astype(object)}
    if opt_in:
        cost, floor, max_services = _draw_opt_in(
            is_required, witness, accept, asset_of_stake, holder_of_stake, streams["opt_in"]
        )
        service_columns.update(opt_in_cost=cost, min_allocation=floor)
        at = column_order.index("groups")
        column_order[at:at] = ["opt_in_cost", "min_allocation"]
        holder_columns["max_services"] = max_services

    service_frame = pd.DataFrame(service_columns, columns=column_order)
    stake_ids = np.strings.add(
        np.strings.add(holder_ids[holder_of_stake], "-"), _as_str(asset_ids)[asset_of_stake]
    ).astype(object)
    stake_frame = pd.DataFrame(
        {
            "stake": stake_ids,
            "holder": holder_ids[holder_of_stake].astype(object),
            "asset": asset_ids[asset_of_stake],
            **stake_table,
        },
        columns=list(STAKE_COLUMNS),
    )
    parameters: dict[str, object] = {"worst_case_k": worst_case_k}
    if corruption:
        parameters["security_margin"] = SECURITY_MARGIN
    total_value = float(value.sum())
    if cvar is not None:
        parameters.update(_cvar_parameters(
            cvar, scenarios, seed, total_value, witness, service_table["slash_fraction"],
            streams["cvar"],
        ))
    current_frame = pd.DataFrame({c: pd.Series(dtype=object if c != "fraction" else float)
                                  for c in CURRENT_COLUMNS})
    if turnover:
        stake_pos, service_pos, fraction, moved = _draw_current(
            witness=witness,
            accept=accept,
            asset_of_stake=asset_of_stake,
            value=value,
            stake_table=stake_table,
            rng=streams["turnover"],
        )
        current_frame = pd.DataFrame(
            {
                "stake": stake_ids[stake_pos],
                "service": service_table["service"][service_pos],
                "fraction": fraction,
            },
            columns=list(CURRENT_COLUMNS),
        )
        parameters.update(_turnover_parameters(total_value, moved, streams["turnover"]))

    arguments = (
        f"stakes={stakes}, services={services}, seed={seed}, density={density:g}, "
        f"assets={asset_count}, groups={groups}, holder_share={holder_share}, "
        f"capacities={capacities}, required={required}, worst_case_k={worst_case_k}"
    )
    features = {"pools": f"{pools:g}" if pools > 0 else None,
                "min_security": f"{min_security:g}" if min_security > 0 else None,
                "corruption": "True" if corruption else None,
                "opt_in": "True" if opt_in else None,
                "cvar": f"{cvar}, scenarios={scenarios}" if cvar is not None else None,
                "turnover": "True" if turnover else None}
    arguments += "".join(f", {key}={text}" for key, text in features.items() if text)
    return {
        "instance": {
            "name": name if name is not None else f"synthetic-{stakes}x{services}-seed{seed}",
            "numeraire": "ETH",
            "description": (
                f"Synthetic instance ({arguments}). Prices, stake sizes, rewards and slashing "
                "risks are assumptions shaped like the restaking market, not market data."
            ),
            "source": "restake generate",
        },
        "parameters": parameters,
        "assets": pd.DataFrame({"asset": asset_ids, "price": prices}, columns=list(ASSET_COLUMNS)),
        "holders": pd.DataFrame(holder_columns, columns=list(holder_columns)),
        "stakes": stake_frame,
        "services": service_frame,
        "groups": pd.DataFrame(group_table, columns=list(GROUP_COLUMNS)),
        "current": current_frame,
    }


def _check_arguments(
    stakes: int,
    services: int,
    seed: int,
    density: float,
    assets: int | None,
    required: int,
    worst_case_k: int,
) -> int:
    """Check the arguments of `generate_tables` and return the number of assets."""
    _check_int("stakes", stakes, 1, MAX_STAKES)
    _check_int("services", services, 1, MAX_SERVICES)
    _check_int("seed", seed, 0, None)
    if isinstance(density, bool) or not isinstance(density, int | float):
        raise ValueError(f"density must be a number in (0, 1], got {density!r}")
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    if assets is None:
        asset_count = 5 + (stakes >= 100) + (stakes >= 10_000) + (stakes >= 100_000)
    else:
        _check_int("assets", assets, 1, len(ASSET_CATALOG))
        asset_count = assets
    _check_int("required", required, 0, services)
    _check_int("worst_case_k", worst_case_k, 1, None)
    return asset_count


def _check_features(
    pools: float,
    min_security: float,
    corruption: bool,
    opt_in: bool,
    cvar: str | None,
    scenarios: int,
    turnover: bool,
) -> None:
    """Check the feature switches of `generate_tables`."""
    for label, share in (("pools", pools), ("min_security", min_security)):
        if isinstance(share, bool) or not isinstance(share, int | float):
            raise ValueError(f"{label} must be a number in [0, 1], got {share!r}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {share!r}")
    for label, switch in (("corruption", corruption), ("opt_in", opt_in),
                          ("turnover", turnover)):
        if not isinstance(switch, bool | np.bool_):
            raise ValueError(f"{label} must be True or False, got {switch!r}")
    if cvar is not None and cvar not in CVAR_CHOICES:
        raise ValueError(f"cvar must be None, 'limit' or 'aversion', got {cvar!r}")
    _check_int("scenarios", scenarios, 1, None)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    """Raise ValueError unless ``value`` is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f"{high:,}" if high is not None else "inf"
        raise ValueError(f"{name} must be in {low:,}..{upper}, got {value:,}")


def _draw_prices(catalog: tuple[AssetProfile, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw each asset's price, ETH per unit, uniform in its range, 6 significant digits."""
    low = np.array([a.price_low for a in catalog])
    high = np.array([a.price_high for a in catalog])
    return _round_significant(rng.uniform(low, high), 6)


def _draw_holders(
    stakes: int, asset_count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split the stakes among holders of 1-3 stakes each.

    Returns
    -------
    holder_of_stake : numpy.ndarray of int
        Holder index of each stake, non-decreasing.
    holder_kind : numpy.ndarray of int
        Index into ``HOLDER_KINDS`` of each holder.
    """
    # A holder's stakes are of distinct assets, so it holds at most asset_count of them.
    counts = rng.choice(3, size=stakes, p=STAKES_PER_HOLDER_WEIGHTS) + 1
    counts = np.minimum(counts, asset_count)
    ends = np.cumsum(counts)
    holder_count = int(np.searchsorted(ends, stakes)) + 1
    counts = counts[:holder_count]
    counts[-1] -= ends[holder_count - 1] - stakes
    holder_of_stake = np.repeat(np.arange(holder_count), counts)
    holder_kind = rng.choice(len(HOLDER_KINDS), size=holder_count, p=HOLDER_KIND_SHARE)
    return holder_of_stake, holder_kind


def _draw_stakes(
    catalog: tuple[AssetProfile, ...],
    prices: np.ndarray,
    holder_of_stake: np.ndarray,
    holder_kind: np.ndarray,
    streams: dict[str, np.random.Generator],
) -> dict[str, np.ndarray]:
    """Draw each stake's asset, size and limits.

    Returns
    -------
    dict of numpy.ndarray
        The numeric stake columns (``amount`` in asset units, limits as fractions), plus
        ``value`` (ETH) and ``asset_index`` for the caller's use.
    """
    rng = streams["stakes"]
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
        rng.lognormal(np.log(STAKE_VALUE_MEDIAN), STAKE_VALUE_LOG_SD, size=stakes)
        * HOLDER_KIND_VALUE_SCALE[kind_of_stake]
        * value_scale[asset_of_stake]
    )
    value = np.clip(value, STAKE_VALUE_MIN, STAKE_VALUE_MAX)
    amount = np.round(value / prices[asset_of_stake], 6)
    value = amount * prices[asset_of_stake]

    # One policy per holder; max_per_service per stake from the policy's weights.
    policy_of_holder = _categorical(HOLDER_KIND_POLICY_WEIGHTS[holder_kind], rng)
    policy = policy_of_holder[holder_of_stake]
    per_service_weights = np.array([p.per_service_weights for p in POLICIES])
    max_per_service = PER_SERVICE_CHOICES[_categorical(per_service_weights[policy], rng)]
    return {
        "amount": amount,
        "max_restaking": np.array([p.max_restaking for p in POLICIES])[policy],
        "max_per_service": max_per_service,
        "max_expected_loss": np.array([p.max_expected_loss for p in POLICIES])[policy],
        "max_worst_case_loss": np.array([p.max_worst_case_loss for p in POLICIES])[policy],
        "value": value,
        "asset_index": asset_of_stake,
    }


def _draw_services(services: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw each service's id, slashing risk (per year) and reward rate (per year)."""
    kind = rng.choice(len(SERVICE_KINDS), size=services)
    ids = np.strings.add(
        np.strings.add(_as_str(np.array(SERVICE_KINDS))[kind], "-"),
        _zero_padded(np.arange(1, services + 1), max(3, len(str(services)))),
    )
    slash_probability = _round_significant(_log_uniform(SLASH_PROBABILITY_RANGE, services, rng), 3)
    slash_probability[rng.random(services) < ZERO_SLASH_SHARE] = 0.0
    slash_fraction = np.clip(
        np.round(_log_uniform(SLASH_FRACTION_RANGE, services, rng), 2), *SLASH_FRACTION_RANGE
    )
    # Riskier services pay a premium, but not always enough: some have negative net reward.
    premium = rng.uniform(*RISK_PREMIUM_RANGE, size=services) * slash_probability * slash_fraction
    reward_rate = np.clip(
        np.round(_log_uniform(BASE_REWARD_RANGE, services, rng) + premium, 4), *REWARD_RATE_RANGE
    )
    return {
        "service": ids.astype(object),
        "reward_rate": reward_rate,
        "slash_probability": slash_probability,
        "slash_fraction": slash_fraction,
    }


def _draw_acceptance(
    catalog: tuple[AssetProfile, ...],
    asset_of_stake: np.ndarray,
    services: int,
    density: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw which assets each service accepts, aiming at ``density`` eligible pairs.

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
        q_a, and the fallback distribution pi_a.
    """
    t = np.geomspace(1e-4, 1.0 / appeal.min(), 4000)
    q = np.minimum(1.0, t[:, None] * appeal[None, :])
    none_probability = np.prod(1.0 - q, axis=1)
    held = share > 0
    best_error = np.inf
    for beta in FALLBACK_BETAS:
        weight = np.zeros_like(appeal)
        weight[held] = appeal[held] * share[held] ** -beta
        fallback = weight / weight.sum()
        error = np.abs(q @ share + none_probability * (fallback @ share) - density)
        nearest = int(np.argmin(error))
        if error[nearest] < best_error:
            best_error = float(error[nearest])
            best = (q[nearest], fallback)
        if best_error <= DENSITY_TOLERANCE:
            break
    return best


def _draw_groups(services: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Draw correlation groups of 2-5 services.

    Returns
    -------
    membership : numpy.ndarray of bool, shape (groups, services)
        True where the service belongs to the group.
    table : dict of numpy.ndarray
        Columns ``group``, ``max_exposure`` (fraction of stake) and ``correlation``.
    """
    group_count = max(1, round(services / SERVICES_PER_GROUP))
    sizes = np.minimum(
        rng.integers(GROUP_SIZE_RANGE[0], GROUP_SIZE_RANGE[1] + 1, group_count), services
    )
    membership = np.zeros((group_count, services), dtype=bool)
    for group, size in enumerate(sizes):
        membership[group, rng.choice(services, size=size, replace=False)] = True
    kind = rng.choice(len(GROUP_KINDS), size=group_count)
    ids = np.strings.add(
        np.strings.add(_as_str(np.array(GROUP_KINDS))[kind], "-"),
        _zero_padded(np.arange(1, group_count + 1), max(3, len(str(group_count)))),
    )
    table = {
        "group": ids.astype(object),
        "max_exposure": rng.choice(MAX_EXPOSURE_CHOICES, size=group_count),
        "correlation": np.round(rng.uniform(*CORRELATION_RANGE, size=group_count), 2),
    }
    return membership, table


def _draw_capacities(reachable: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a capacity (ETH) for some services, a fraction of the value that could back them."""
    services = reachable.size
    fraction = rng.uniform(*CAPACITY_FRACTION_RANGE, size=services)
    has_capacity = (rng.random(services) < CAPACITY_SHARE) & (reachable > 0)
    capacity = np.full(services, np.nan)
    capacity[has_capacity] = _round_significant(fraction[has_capacity] * reachable[has_capacity], 3)
    return capacity


def _draw_holder_share(services: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw external stake (ETH) for every service and a holder-share cap for some."""
    external_stake = _round_significant(
        rng.lognormal(np.log(EXTERNAL_STAKE_MEDIAN), EXTERNAL_STAKE_LOG_SD, size=services), 3
    )
    cap = rng.choice(MAX_HOLDER_SHARE_CHOICES, size=services)
    max_holder_share = np.where(rng.random(services) < HOLDER_SHARE_SERVICE_SHARE, cap, np.nan)
    return external_stake, max_holder_share


def _ensure_required_accept_stake(
    accept: np.ndarray, is_required: np.ndarray, asset_of_stake: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Make every required service accept an asset that some stake holds.

    A required service whose accepted assets have no stake (possible in tiny instances)
    also accepts the asset with the most stake value.
    """
    held = np.bincount(asset_of_stake, weights=value, minlength=accept.shape[1]) > 0
    stranded = is_required & ~(accept & held).any(axis=1)
    if stranded.any():
        accept = accept.copy()
        richest = np.argmax(np.bincount(asset_of_stake, weights=value, minlength=accept.shape[1]))
        accept[stranded, richest] = True
    return accept


@dataclass(frozen=True)
class _Witness:
    """The witness allocation: theta_i x effective_s / security_s on each required service.

    Attributes
    ----------
    theta : numpy.ndarray
        Per stake, the fraction the unscaled witness puts on every required service that
        accepts its asset (0 without required services).
    security : numpy.ndarray
        Per service, W_s: the value the unscaled witness puts behind it, ETH.
    effective : numpy.ndarray
        Per service, the value the witness puts behind it: M_eff_s on required services with
        W_s > 0, else 0, ETH.
    """

    theta: np.ndarray
    security: np.ndarray
    effective: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        """Per service, effective_s / W_s (0 where the witness puts nothing)."""
        scale = np.zeros_like(self.effective)
        used = self.effective > 0
        scale[used] = self.effective[used] / self.security[used]
        return scale


def _required_witness(
    *,
    is_required: np.ndarray,
    accept: np.ndarray,
    stake_table: dict[str, np.ndarray],
    asset_of_stake: np.ndarray,
    value: np.ndarray,
    service_table: dict[str, np.ndarray],
    membership: np.ndarray,
    max_exposure: np.ndarray,
    worst_case_k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The witness allocation that shows the required services' minima are reachable.

    Each stake i puts the same fraction theta_i on every required service that accepts its
    asset, the largest that satisfies its restaking degree, per-service cap, expected-loss
    budget, worst-case loss (the k largest f_s theta_i) and every group's max_exposure.
    Scaling the witness down per service keeps every stake-side limit, so any minimum up to
    the witness's W_s is reachable.

    Returns
    -------
    theta : numpy.ndarray
        Per stake, fraction of stake on each required service accepting its asset.
    witness_security : numpy.ndarray
        Per service, W_s = the value the witness puts behind it, ETH.
    """
    asset_count = accept.shape[1]
    slash_fraction = service_table["slash_fraction"]
    expected_loss_rate = service_table["slash_probability"] * slash_fraction
    required_accept = accept & is_required[:, None]  # (services, assets)

    # Per asset: how many required services accept it, their sum of p f, the sum of their
    # k largest f, and the tightest group ratio (required members accepting it / max_exposure).
    required_count = required_accept.sum(axis=0).astype(float)
    loss_rate_sum = expected_loss_rate @ required_accept
    top_slash_sum = np.zeros(asset_count)
    for asset in range(asset_count):
        fractions = np.sort(slash_fraction[required_accept[:, asset]])[::-1]
        top_slash_sum[asset] = fractions[:worst_case_k].sum()
    group_ratio = np.zeros(asset_count)
    if membership.shape[0] > 0:
        in_group = membership.astype(float) @ required_accept  # (groups, assets)
        group_ratio = (in_group / max_exposure[:, None]).max(axis=0)

    asset = asset_of_stake
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.stack(
            [
                stake_table["max_per_service"],
                stake_table["max_restaking"] / required_count[asset],
                stake_table["max_expected_loss"] / loss_rate_sum[asset],
                stake_table["max_worst_case_loss"] / top_slash_sum[asset],
                1.0 / group_ratio[asset],
            ]
        )
    # NaN budgets (none) and divisions by zero mean "no limit".
    limits = np.where(np.isnan(limits), np.inf, limits)
    theta = np.where(required_count[asset] > 0, limits.min(axis=0), 0.0)
    witness_per_asset = np.bincount(asset, weights=value * theta, minlength=asset_count)
    return theta, accept @ witness_per_asset


def _required_minimum(
    is_required: np.ndarray,
    reachable: np.ndarray,
    witness_security: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A reachable ``min_security`` (ETH) on the required services.

    5-20 % of the value that could reach the service, and at most 80 % of what the witness
    allocation reaches, rounded down to 3 significant digits.
    """
    fraction = rng.uniform(*MIN_SECURITY_FRACTION_RANGE, size=is_required.size)
    target = np.minimum(fraction * reachable, MIN_SECURITY_WITNESS_SHARE * witness_security)
    return np.where(is_required, _round_significant(target, 3, np.floor), 0.0)


def _secure_required(
    *,
    is_required: np.ndarray,
    effective: np.ndarray,
    accept: np.ndarray,
    theta: np.ndarray,
    witness_security: np.ndarray,
    value: np.ndarray,
    asset_of_stake: np.ndarray,
    holder_of_stake: np.ndarray,
    capacity: np.ndarray,
    external_stake: np.ndarray,
    max_holder_share: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Raise capacities and external stake so the witness meets each required M_eff.

    Capacities of required services are raised to 1.25 times the effective minimum
    M_eff_s and, where a holder-share cap applies, external stake is raised so that no
    holder's witness share exceeds the cap at X_s = M_eff_s.

    Returns
    -------
    capacity, external_stake : numpy.ndarray
        Updated service columns, ETH.
    """
    capacity = capacity.copy()
    capped = is_required & ~np.isnan(capacity)
    capacity[capped] = np.maximum(
        capacity[capped],
        _round_significant(REQUIRED_CAPACITY_HEADROOM * effective[capped], 3, np.ceil),
    )

    external_stake = external_stake.copy()
    shared = np.flatnonzero(is_required & ~np.isnan(max_holder_share))
    if shared.size:
        asset_count = accept.shape[1]
        holder_count = int(holder_of_stake[-1]) + 1
        witness_by_holder_asset = np.zeros((holder_count, asset_count))
        np.add.at(witness_by_holder_asset, (holder_of_stake, asset_of_stake), value * theta)
        for service in shared:
            # At X_s = M_eff each witness allocation is scaled by M_eff / W_s.
            scale = effective[service] / witness_security[service]
            largest_holder = (witness_by_holder_asset @ accept[service]).max() * scale
            # A hair of headroom so that rounding never leaves the cap exactly tight.
            needed = _round_significant(
                np.array([1.001 * largest_holder / max_holder_share[service]]), 3, np.ceil
            )
            external_stake[service] = max(external_stake[service], float(needed[0]))
    return capacity, external_stake


def _choose(share: float, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask of round(share x len(candidates)) of the True entries of ``candidates``."""
    positions = np.flatnonzero(candidates)
    count = min(positions.size, round(share * candidates.size))
    mask = np.zeros(candidates.size, dtype=bool)
    mask[rng.choice(positions, size=count, replace=False)] = True
    return mask


def _draw_pools(
    share: float, external_stake: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a reward pool (ETH per year) and its external stake (ETH) on ``share`` of services.

    Pool services without external stake (no holder-share draw) get one from the same
    lognormal; the pool pays R_s = a E_s, a log-uniform in ``POOL_APR_RANGE``.
    """
    services = external_stake.size
    pooled = _choose(share, np.ones(services, dtype=bool), rng)
    drawn = _round_significant(
        rng.lognormal(np.log(EXTERNAL_STAKE_MEDIAN), EXTERNAL_STAKE_LOG_SD, size=services), 3
    )
    apr = _log_uniform(POOL_APR_RANGE, services, rng)
    external_stake = np.where(pooled & (external_stake <= 0), drawn, external_stake)
    reward_pool = np.where(pooled, _round_significant(apr * external_stake, 3), 0.0)
    return reward_pool, external_stake


def _draw_optional_minimum(
    share: float,
    is_required: np.ndarray,
    base: np.ndarray,
    minimum: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add a semi-continuous ``min_security`` (ETH) to ``share`` of the optional services."""
    chosen = _choose(share, ~is_required, rng)
    fraction = rng.uniform(*OPTIONAL_MIN_SECURITY_RANGE, size=base.size)
    return np.where(chosen, _round_significant(fraction * base, 3), minimum)


def _draw_corruption(
    is_required: np.ndarray,
    base: np.ndarray,
    witness_security: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose the services with a profit from corruption and their deterrent minimum.

    Returns
    -------
    chosen : numpy.ndarray of bool
        The services with a profit from corruption.
    attack_threshold : numpy.ndarray
        alpha_s of every service (1/3 or 1/2 where chosen, else the default 1/3).
    deterrent : numpy.ndarray
        Target of (1 + gamma) pi_s / (alpha_s f_s) - E_s, ETH: 5-80 % of ``base``, and on
        required services at most 80 % of the witness security (0 where not chosen).
    """
    services = base.size
    chosen = _choose(CORRUPTION_SHARE, np.ones(services, dtype=bool), rng)
    if services and not chosen.any():
        chosen[rng.integers(services)] = True
    threshold = rng.choice(ATTACK_THRESHOLD_CHOICES, size=services)
    fraction = rng.uniform(*DETERRENT_FRACTION_RANGE, size=services)
    deterrent = fraction * base
    deterrent = np.where(
        is_required,
        np.minimum(deterrent, MIN_SECURITY_WITNESS_SHARE * witness_security),
        deterrent,
    )
    attack_threshold = np.where(chosen, threshold, ATTACK_THRESHOLD)
    return chosen, attack_threshold, np.where(chosen, deterrent, 0.0)


def _draw_opt_in(
    is_required: np.ndarray,
    witness: _Witness,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    holder_of_stake: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw opt-in costs (ETH per year), minimum allocations (ETH) and holders' K_h.

    Minimum allocations are never on required services, and K_h is at least the number of
    required services the holder's witness allocation uses, so the witness stays feasible.

    Returns
    -------
    opt_in_cost, min_allocation : numpy.ndarray
        Per service.
    max_services : numpy.ndarray
        Per holder, NaN for none.
    """
    services = is_required.size
    cost = np.where(
        rng.random(services) < OPT_IN_COST_SHARE,
        _round_significant(_log_uniform(OPT_IN_COST_RANGE, services, rng), 2),
        0.0,
    )
    floor = np.where(
        (rng.random(services) < MIN_ALLOCATION_SHARE) & ~is_required,
        _round_significant(_log_uniform(MIN_ALLOCATION_RANGE, services, rng), 2),
        0.0,
    )
    holder_count = int(holder_of_stake[-1]) + 1
    capped = rng.random(holder_count) < MAX_SERVICES_HOLDER_SHARE
    drawn = rng.integers(MAX_SERVICES_RANGE[0], MAX_SERVICES_RANGE[1] + 1, size=holder_count)
    used = np.flatnonzero(witness.effective > 0)
    if used.size:
        # Holders x assets the witness allocates, times assets x required services.
        allocates = np.zeros((holder_count, accept.shape[1]), dtype=bool)
        allocates[holder_of_stake[witness.theta > 0], asset_of_stake[witness.theta > 0]] = True
        touched = (allocates.astype(np.int64) @ accept[used].T.astype(np.int64) > 0).sum(axis=1)
        drawn = np.maximum(drawn, touched)
    max_services = np.where(capped, drawn.astype(float), np.nan)
    return cost, floor, max_services


def _cvar_parameters(
    cvar: str,
    scenarios: int,
    seed: int,
    total_value: float,
    witness: _Witness,
    slash_fraction: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, object]:
    """The CVaR parameters: a limit (ETH) or a risk aversion, and the scenario sampling."""
    parameters: dict[str, object] = {"cvar_alpha": CVAR_ALPHA}
    if cvar == "limit":
        # The witness allocation loses at most sum_s f_s M_eff_s in any scenario.
        forced = CVAR_LIMIT_HEADROOM * float(slash_fraction @ witness.effective)
        limit = max(rng.uniform(*CVAR_LIMIT_RANGE) * total_value, forced)
        parameters["cvar_limit"] = float(_round_significant(np.array([limit]), 3, np.ceil)[0])
    else:
        parameters["risk_aversion"] = round(float(rng.uniform(*RISK_AVERSION_RANGE)), 2)
    parameters["scenario_count"] = scenarios
    parameters["scenario_seed"] = seed
    return parameters


def _draw_current(
    *,
    witness: _Witness,
    accept: np.ndarray,
    asset_of_stake: np.ndarray,
    value: np.ndarray,
    stake_table: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Draw a current allocation x0 on a share of stakes.

    Rows: the witness allocation perturbed, up to ``CURRENT_EXTRA_SERVICES`` other eligible
    services, and on a few stakes a service that does not accept the stake's asset.

    Returns
    -------
    stake_pos, service_pos, fraction : numpy.ndarray
        The rows, sorted by stake then service, no (stake, service) twice.
    moved : float
        Value moved from x0 to the witness allocation, ETH.
    """
    stakes = asset_of_stake.size
    services, asset_count = accept.shape
    per_service = stake_table["max_per_service"]
    held = np.flatnonzero(rng.random(stakes) < CURRENT_STAKE_SHARE)
    held_asset = asset_of_stake[held]

    # The witness allocation on the held stakes, perturbed.
    used = np.flatnonzero(witness.effective > 0)
    rows, columns = np.nonzero(accept[used][:, held_asset].T & (witness.theta[held] > 0)[:, None])
    witness_stake, witness_service = held[rows], used[columns]
    witness_fraction = witness.theta[witness_stake] * witness.scale[witness_service]
    perturbed = np.minimum(
        witness_fraction * rng.uniform(*CURRENT_PERTURBATION_RANGE, size=rows.size),
        per_service[witness_stake],
    )

    # Other eligible services: per asset, draw positions in its list of accepting services.
    accepting = [np.flatnonzero(accept[:, a]) for a in range(asset_count)]
    count = np.array([len(a) for a in accepting])
    table = np.zeros((asset_count, max(1, count.max(initial=0))), dtype=np.int64)
    for a, listed in enumerate(accepting):
        table[a, : listed.size] = listed
    draws = rng.random((held.size, CURRENT_EXTRA_SERVICES))
    position = np.floor(draws * count[held_asset][:, None]).astype(np.int64)
    extra_stake = np.repeat(held, CURRENT_EXTRA_SERVICES)
    extra_service = table[held_asset[:, None], position].ravel()
    limit = np.minimum(per_service, stake_table["max_restaking"] / CURRENT_EXTRA_SERVICES)
    extra_fraction = rng.uniform(*CURRENT_EXTRA_RANGE, size=extra_stake.size) * limit[extra_stake]
    has_service = count[asset_of_stake[extra_stake]] > 0
    extra_stake, extra_service = extra_stake[has_service], extra_service[has_service]
    extra_fraction = extra_fraction[has_service]

    # A few rows on services that do not accept the stake's asset (fully moved).
    few = max(1, round(CURRENT_INELIGIBLE_SHARE * held.size)) if held.size else 0
    odd_stake = rng.choice(held, size=few, replace=False) if few else held
    candidates = rng.integers(services, size=(odd_stake.size, 8))
    refused = ~accept[candidates, asset_of_stake[odd_stake][:, None]]
    found = refused.any(axis=1)
    odd_service = candidates[np.arange(odd_stake.size), np.argmax(refused, axis=1)][found]
    odd_stake = odd_stake[found]
    odd_fraction = (rng.uniform(*CURRENT_INELIGIBLE_RANGE, size=found.size)[found]
                    * per_service[odd_stake])

    stake_pos = np.concatenate([witness_stake, extra_stake, odd_stake])
    service_pos = np.concatenate([witness_service, extra_service, odd_service])
    fraction = np.floor(np.concatenate([perturbed, extra_fraction, odd_fraction]) * 1e4) / 1e4
    # Keep the first row of each pair (the witness's), drop zeros, sort by stake and service.
    key = stake_pos.astype(np.int64) * services + service_pos
    _, first = np.unique(key, return_index=True)
    keep = first[fraction[first] > 0]
    stake_pos, service_pos, fraction = stake_pos[keep], service_pos[keep], fraction[keep]

    # Value moved from x0 to the witness: all of the witness's value, corrected on its rows.
    on_witness = keep < witness_stake.size
    target = witness_fraction[keep[on_witness]]
    moved = (
        float(witness.effective.sum())
        + float((value[stake_pos[on_witness]]
                 * (np.abs(fraction[on_witness] - target) - target)).sum())
        + float((value[stake_pos[~on_witness]] * fraction[~on_witness]).sum())
    )
    return stake_pos, service_pos, fraction, moved


def _turnover_parameters(
    total_value: float, moved: float, rng: np.random.Generator
) -> dict[str, object]:
    """``turnover_cost`` (per unit of value moved) and ``turnover_limit`` (ETH)."""
    cost = float(_round_significant(np.array([_log_uniform(TURNOVER_COST_RANGE, 1, rng)[0]]),
                                    2)[0])
    limit = max(rng.uniform(*TURNOVER_LIMIT_RANGE) * total_value,
                TURNOVER_LIMIT_HEADROOM * moved)
    return {
        "turnover_cost": cost,
        "turnover_limit": float(_round_significant(np.array([limit]), 3, np.ceil)[0]),
    }


def _holder_ids(holder_kind: np.ndarray) -> np.ndarray:
    """Holder ids such as ``op00012``, ``vault00013``, ``lrt00014`` (unique by number)."""
    width = max(5, len(str(holder_kind.size)))
    return np.strings.add(
        _as_str(np.array(HOLDER_KINDS))[holder_kind],
        _zero_padded(np.arange(1, holder_kind.size + 1), width),
    )


def _zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Numbers as zero-padded strings of at least ``width`` digits."""
    return np.strings.zfill(numbers.astype(np.str_), width)


def _as_str(values: np.ndarray) -> np.ndarray:
    """Convert to fixed-width strings, the dtype the ``numpy.strings`` ufuncs take."""
    return values.astype(np.str_)


def _categorical(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one category per row of ``weights`` (rows need not be normalised)."""
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.minimum((draw[:, None] >= cumulative).sum(axis=1), weights.shape[1] - 1)


def _log_uniform(bounds: tuple[float, float], size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw log-uniformly between ``bounds``."""
    low, high = bounds
    return np.exp(rng.uniform(np.log(low), np.log(high), size=size))


def _round_significant(
    values: np.ndarray, digits: int, rounding: Callable[[np.ndarray], np.ndarray] = np.round
) -> np.ndarray:
    """Round positive values to ``digits`` significant digits (``np.floor``/``np.ceil`` too)."""
    values = np.asarray(values, dtype=float)
    positive = values > 0
    exponent = np.zeros_like(values)
    exponent[positive] = np.floor(np.log10(values[positive])) - (digits - 1)
    # Dividing by an exact power of ten (not multiplying by 10**-n) gives 19.7, not 19.700...03.
    up = 10.0 ** np.maximum(exponent, 0.0)
    down = 10.0 ** np.maximum(-exponent, 0.0)
    return np.where(positive, rounding(values * down / up) * up / down, values)


def generate_instance(stakes: int, services: int, **options: object) -> Instance:
    """Generate a synthetic instance (see ``generate_tables`` for the arguments).

    The tables are validated like any user's, so a generated instance is a valid one.
    """
    tables = generate_tables(stakes, services, **options)  # type: ignore[arg-type]
    meta: dict = tables["instance"]  # type: ignore[assignment]
    return Instance.from_frames(
        assets=tables["assets"], holders=tables["holders"], stakes=tables["stakes"],
        services=tables["services"], groups=tables["groups"], current=tables["current"],
        parameters=tables["parameters"], name=meta["name"], numeraire=meta["numeraire"],
        description=meta["description"], source=meta["source"],
    )
