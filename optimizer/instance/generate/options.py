"""The generator's arguments: checked once, then carried as one frozen ``Options``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.instance.generate.assumptions import ASSUMPTIONS

__all__ = ["CVAR_CHOICES", "MAX_SERVICES", "MAX_STAKES", "Options", "check_options"]

MAX_STAKES = 1_000_000
"""Most stakes the generator makes."""
MAX_SERVICES = 10_000
"""Most services the generator makes."""
CVAR_CHOICES = ("limit", "aversion")
"""Values of the ``cvar`` argument besides None."""


@dataclass(frozen=True)
class Options:
    """Checked arguments of ``generate_tables`` (see there for their meaning and units).

    Attributes
    ----------
    stakes, services : int
        Numbers of stakes and services.
    seed : int
        Seed of ``numpy.random.default_rng``.
    density : float
        Target fraction of eligible (stake, service) pairs, in (0, 1].
    asset_count : int
        Number of assets (the ``assets`` argument, or the default by size).
    groups, holder_share, capacities : bool
        Structure switches.
    required, worst_case_k : int
        Number of required services; k of ``max_worst_case_loss``.
    pools, min_security : float
        Fractions of services with a reward pool, of optional services with a minimum.
    corruption, opt_in, turnover : bool
        Feature switches.
    cvar : str or None
        None, ``"limit"`` or ``"aversion"``.
    scenarios : int
        ``scenario_count`` (used with ``cvar`` only).
    name : str or None
        Instance name, None for the default.
    """

    stakes: int
    services: int
    seed: int
    density: float
    asset_count: int
    groups: bool
    holder_share: bool
    capacities: bool
    required: int
    worst_case_k: int
    pools: float
    min_security: float
    corruption: bool
    opt_in: bool
    cvar: str | None
    scenarios: int
    turnover: bool
    name: str | None

    def summary(self) -> str:
        """The arguments as text for the instance's description (features only when on)."""
        arguments = (
            f"stakes={self.stakes}, services={self.services}, seed={self.seed}, "
            f"density={self.density:g}, assets={self.asset_count}, groups={self.groups}, "
            f"holder_share={self.holder_share}, capacities={self.capacities}, "
            f"required={self.required}, worst_case_k={self.worst_case_k}"
        )
        features = {
            "pools": f"{self.pools:g}" if self.pools > 0 else None,
            "min_security": f"{self.min_security:g}" if self.min_security > 0 else None,
            "corruption": "True" if self.corruption else None,
            "opt_in": "True" if self.opt_in else None,
            "cvar": f"{self.cvar}, scenarios={self.scenarios}" if self.cvar is not None else None,
            "turnover": "True" if self.turnover else None,
        }
        return arguments + "".join(f", {key}={text}" for key, text in features.items() if text)


def check_options(
    stakes: int, services: int, *, seed: int, density: float, assets: int | None,
    groups: bool, holder_share: bool, capacities: bool, required: int, worst_case_k: int,
    pools: float, min_security: float, corruption: bool, opt_in: bool, cvar: str | None,
    scenarios: int, turnover: bool, name: str | None,
) -> Options:
    """Check the arguments of ``generate_tables`` and carry them as ``Options``.

    Parameters
    ----------
    stakes, services, seed, density, assets, groups, holder_share, capacities
        As for ``generate_tables`` (same types and units).
    required, worst_case_k, pools, min_security, corruption, opt_in, cvar
        As for ``generate_tables``.
    scenarios, turnover, name
        As for ``generate_tables``.

    Returns
    -------
    Options
        The arguments, with ``assets`` resolved to ``asset_count``.

    Raises
    ------
    ValueError
        If an argument is out of range, naming the first such argument.
    """
    asset_count = _check_arguments(stakes, services, seed, density, assets, required,
                                   worst_case_k)
    _check_features(pools, min_security, corruption, opt_in, cvar, scenarios, turnover)
    return Options(
        stakes=stakes, services=services, seed=seed, density=density, asset_count=asset_count,
        groups=groups, holder_share=holder_share, capacities=capacities, required=required,
        worst_case_k=worst_case_k, pools=pools, min_security=min_security,
        corruption=corruption, opt_in=opt_in, cvar=cvar, scenarios=scenarios,
        turnover=turnover, name=name,
    )


def _check_arguments(
    stakes: int,
    services: int,
    seed: int,
    density: float,
    assets: int | None,
    required: int,
    worst_case_k: int,
) -> int:
    """Check the size arguments and return the number of assets."""
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
        _check_int("assets", assets, 1, len(ASSUMPTIONS.assets))
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
    """Check the feature switches."""
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
