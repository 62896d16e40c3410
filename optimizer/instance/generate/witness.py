"""Required services and the witness allocation that keeps every instance feasible.

The witness allocation shows every instance is feasible: each stake puts theta_i x M_eff_s /
W_s on every required service s, nothing elsewhere. theta_i is the largest equal fraction the
stake can put on every required service that accepts its asset within all its limits, and
W_s is the value that unscaled allocation puts behind s, ETH. Minima are drawn below W_s, and
capacities and external stake are raised where needed, so the witness meets every required
minimum M_eff_s (ETH) within every stake, group, capacity and holder-share limit. Without
required services it is the empty allocation.

- Required services: ``min_security`` is 5-20 % of the value that could be put behind the
  service (sum of V_i m_i over eligible stakes), and never more than 80 % of what the
  witness allocation reaches (one within every stake and group limit); their capacities
  and external stake are raised where needed so that the witness also meets them.
- With the feature switches the witness also leaves every optional service at 0, holds no
  ``min_allocation``, fits each ``max_services`` K_h, loses at most sum f_s M_eff_s in any
  scenario (<= ``cvar_limit``) and is within ``turnover_limit`` of x0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.base import Book
from optimizer.instance.generate.options import Options
from optimizer.instance.generate.sampling import round_significant

__all__ = ["Required", "Witness", "draw_required", "secure_required", "witness_of"]


@dataclass(frozen=True)
class Required:
    """The required services, their minimum security and the unscaled witness allocation.

    Attributes
    ----------
    is_required : numpy.ndarray of bool
        Per service, whether it is required.
    accept : numpy.ndarray of bool, shape (services, assets)
        Acceptance, with every required service accepting an asset some stake holds.
    reachable : numpy.ndarray
        Per service, the value that could be put behind it under ``accept``, ETH.
    theta : numpy.ndarray
        Per stake, fraction of stake on each required service accepting its asset.
    security : numpy.ndarray
        Per service, W_s = the value the unscaled witness puts behind it, ETH.
    minimum : numpy.ndarray
        Per service, the required ``min_security``, ETH (0 on the others).
    """

    is_required: np.ndarray
    accept: np.ndarray
    reachable: np.ndarray
    theta: np.ndarray
    security: np.ndarray
    minimum: np.ndarray


@dataclass(frozen=True)
class Witness:
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
        """Per service, effective_s / W_s (0 where the witness puts nothing), unitless."""
        scale = np.zeros_like(self.effective)
        used = self.effective > 0
        scale[used] = self.effective[used] / self.security[used]
        return scale


def draw_required(options: Options, book: Book, rng: np.random.Generator) -> Required:
    """Choose the required services and draw a reachable minimum security for each.

    Parameters
    ----------
    options : Options
        ``required`` (how many) and ``worst_case_k``.
    book : Book
        The base draws.
    rng : numpy.random.Generator
        The required-services stream.

    Returns
    -------
    Required
        Without required services: none, the base acceptance and zeros.
    """
    services = options.services
    is_required = np.zeros(services, dtype=bool)
    if options.required == 0:
        return Required(is_required=is_required, accept=book.accept, reachable=book.reachable,
                        theta=np.zeros(options.stakes), security=np.zeros(services),
                        minimum=np.zeros(services))
    is_required[rng.choice(services, size=options.required, replace=False)] = True
    accept = _ensure_required_accept_stake(book.accept, is_required, book.asset_of_stake,
                                           book.value)
    reachable = accept @ book.value_per_asset
    theta, security = _required_witness(is_required, accept, book, options.worst_case_k)
    minimum = _required_minimum(is_required, reachable, security, rng)
    return Required(is_required=is_required, accept=accept, reachable=reachable, theta=theta,
                    security=security, minimum=minimum)


def witness_of(required: Required, effective: np.ndarray) -> Witness:
    """The witness allocation that puts ``effective`` (M_eff_s, ETH) behind each service."""
    return Witness(
        theta=required.theta,
        security=required.security,
        effective=np.where(required.is_required & (required.security > 0), effective, 0.0),
    )


def _ensure_required_accept_stake(
    accept: np.ndarray, is_required: np.ndarray, asset_of_stake: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Make every required service accept an asset that some stake holds.

    A required service whose accepted assets have no stake (possible in tiny instances)
    also accepts the asset with the most stake value (``value`` per stake, ETH).
    """
    held = np.bincount(asset_of_stake, weights=value, minlength=accept.shape[1]) > 0
    stranded = is_required & ~(accept & held).any(axis=1)
    if stranded.any():
        accept = accept.copy()
        richest = np.argmax(np.bincount(asset_of_stake, weights=value, minlength=accept.shape[1]))
        accept[stranded, richest] = True
    return accept


def _required_witness(
    is_required: np.ndarray, accept: np.ndarray, book: Book, worst_case_k: int
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
    stake_columns = book.stake_columns
    slash_fraction = book.service_columns["slash_fraction"]
    expected_loss_rate = book.service_columns["slash_probability"] * slash_fraction
    required_accept = accept & is_required[:, None]  # (services, assets)

    # Per asset: how many required services accept it, their sum of p f, the sum of their
    # k largest f, and the tightest group ratio (required members accepting it / max_exposure).
    required_count = required_accept.sum(axis=0).astype(float)
    loss_rate_sum = expected_loss_rate @ required_accept
    top_slash_sum = np.zeros(asset_count)
    for column in range(asset_count):
        fractions = np.sort(slash_fraction[required_accept[:, column]])[::-1]
        top_slash_sum[column] = fractions[:worst_case_k].sum()
    group_ratio = np.zeros(asset_count)
    if book.membership.shape[0] > 0:
        in_group = book.membership.astype(float) @ required_accept  # (groups, assets)
        group_ratio = (in_group / book.group_columns["max_exposure"][:, None]).max(axis=0)

    asset = book.asset_of_stake
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.stack(
            [
                stake_columns["max_per_service"],
                stake_columns["max_restaking"] / required_count[asset],
                stake_columns["max_expected_loss"] / loss_rate_sum[asset],
                stake_columns["max_worst_case_loss"] / top_slash_sum[asset],
                1.0 / group_ratio[asset],
            ]
        )
    # NaN budgets (none) and divisions by zero mean "no limit".
    limits = np.where(np.isnan(limits), np.inf, limits)
    theta = np.where(required_count[asset] > 0, limits.min(axis=0), 0.0)
    witness_per_asset = np.bincount(asset, weights=book.value * theta, minlength=asset_count)
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
    fraction = rng.uniform(*ASSUMPTIONS.min_security_fraction_range, size=is_required.size)
    target = np.minimum(fraction * reachable,
                        ASSUMPTIONS.min_security_witness_share * witness_security)
    return np.where(is_required, round_significant(target, 3, np.floor), 0.0)


def secure_required(
    book: Book, required: Required, effective: np.ndarray, external_stake: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Raise capacities and external stake so the witness meets each required M_eff.

    Capacities of required services are raised to 1.25 times the effective minimum
    M_eff_s and, where a holder-share cap applies, external stake is raised so that no
    holder's witness share exceeds the cap at X_s = M_eff_s.

    Parameters
    ----------
    book : Book
        The base draws (capacities, holder-share caps, stakes).
    required : Required
        The required services and the unscaled witness.
    effective : numpy.ndarray
        Per service, the effective minimum M_eff_s, ETH.
    external_stake : numpy.ndarray
        Per service, the external stake drawn so far, ETH.

    Returns
    -------
    capacity, external_stake : numpy.ndarray
        Updated service columns, ETH.
    """
    is_required = required.is_required
    capacity = book.capacity.copy()
    capped = is_required & ~np.isnan(capacity)
    capacity[capped] = np.maximum(
        capacity[capped],
        round_significant(ASSUMPTIONS.required_capacity_headroom * effective[capped], 3,
                          np.ceil),
    )

    external_stake = external_stake.copy()
    max_holder_share = book.max_holder_share
    shared = np.flatnonzero(is_required & ~np.isnan(max_holder_share))
    if shared.size:
        holder_of_stake = book.holder_of_stake
        holder_count = int(holder_of_stake[-1]) + 1
        witness_by_holder_asset = np.zeros((holder_count, required.accept.shape[1]))
        np.add.at(witness_by_holder_asset, (holder_of_stake, book.asset_of_stake),
                  book.value * required.theta)
        for service in shared:
            # At X_s = M_eff each witness allocation is scaled by M_eff / W_s.
            scale = effective[service] / required.security[service]
            largest_holder = (witness_by_holder_asset @ required.accept[service]).max() * scale
            # A hair of headroom so that rounding never leaves the cap exactly tight.
            needed = round_significant(
                np.array([1.001 * largest_holder / max_holder_share[service]]), 3, np.ceil
            )
            external_stake[service] = max(external_stake[service], float(needed[0]))
    return capacity, external_stake
