"""The assets and the per-stake limit policies the generator draws from.

Prices are in ETH (the numeraire) per unit of the asset; limits are fractions of a stake's
value. These are assumptions shaped like today's restaking market, not market data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ASSET_CATALOG", "POLICIES", "AssetProfile", "Policy"]


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
        Weights of ``max_per_service`` = 1.0, 0.5, 0.25
        (``Assumptions.per_service_choices``).
    """

    name: str
    max_restaking: float
    max_expected_loss: float
    max_worst_case_loss: float
    per_service_weights: tuple[float, float, float]


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
