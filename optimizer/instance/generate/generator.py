"""The generator's entry points: the order in which the parts are drawn and assembled.

Each part draws from its own child stream of ``numpy.random.default_rng(seed)`` (``STREAMS``),
so turning one option on or off does not change the other tables (the witness-sized values
aside: capacities and external stake of required services follow M_eff).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optimizer.instance.generate.assumptions import ASSUMPTIONS
from optimizer.instance.generate.base import Book, draw_book
from optimizer.instance.generate.features import (
    DEFAULT_ATTACK_THRESHOLD,
    OptIn,
    cvar_parameters,
    draw_corruption,
    draw_opt_in,
    draw_optional_minimum,
    draw_pools,
)
from optimizer.instance.generate.frames import (
    GeneratedTables,
    ServiceValues,
    asset_frame,
    current_frame,
    group_frame,
    holder_frame,
    service_frame,
    stake_frame,
    stake_ids,
)
from optimizer.instance.generate.options import Options, check_options
from optimizer.instance.generate.sampling import kind_ids
from optimizer.instance.generate.turnover import Current, draw_current, turnover_parameters
from optimizer.instance.generate.witness import (
    Witness,
    draw_required,
    secure_required,
    witness_of,
)
from optimizer.instance.instance import Instance

__all__ = ["STREAMS", "draw_tables", "generate_instance", "generate_tables"]

STREAMS = (
    "assets", "holders", "stakes", "services", "acceptance", "groups", "capacities",
    "required", "holder_share", "pools", "min_security", "corruption", "opt_in", "cvar",
    "turnover",
)
"""Child streams of the seed, one per part, in the order they are spawned."""


def generate_tables(
    stakes: int, services: int, *, seed: int = 0, density: float = 0.3,
    assets: int | None = None, groups: bool = True, holder_share: bool = False,
    capacities: bool = True, required: int = 0, worst_case_k: int = 1, pools: float = 0.0,
    min_security: float = 0.0, corruption: bool = False, opt_in: bool = False,
    cvar: str | None = None, scenarios: int = 200, turnover: bool = False,
    name: str | None = None,
) -> GeneratedTables:
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
        cannot go below the smallest asset's share of stakes.
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
        Fraction of services, in [0, 1], paid by a ``reward_pool`` (ETH per year).
    min_security : float, default 0
        Fraction of the optional services, in [0, 1], with a semi-continuous
        ``min_security`` (ETH).
    corruption : bool, default False
        Give 30 % of services a ``profit_from_corruption`` (ETH) and ``attack_threshold``
        (1/3 or 1/2), and set ``security_margin`` 0.1.
    opt_in : bool, default False
        Add ``opt_in_cost`` (ETH per year) and ``min_allocation`` (ETH) to some services and
        ``max_services`` to some holders.
    cvar : {None, "limit", "aversion"}, default None
        CVaR of the slashing loss as a ``cvar_limit`` (ETH), or with ``risk_aversion``.
    scenarios : int, default 200
        ``scenario_count`` for CVaR, >= 1 (used with ``cvar`` only).
    turnover : bool, default False
        Add a ``current`` allocation, ``turnover_cost`` and ``turnover_limit`` (ETH).
    name : str or None, default None
        Instance name; None gives ``synthetic-<stakes>x<services>-seed<seed>``.

    Returns
    -------
    GeneratedTables
        The ``[instance]`` keys, the parameters and the tables, with the format's columns.

    Raises
    ------
    ValueError
        If an argument is out of range.
    """
    options = check_options(
        stakes, services, seed=seed, density=density, assets=assets, groups=groups,
        holder_share=holder_share, capacities=capacities, required=required,
        worst_case_k=worst_case_k, pools=pools, min_security=min_security,
        corruption=corruption, opt_in=opt_in, cvar=cvar, scenarios=scenarios,
        turnover=turnover, name=name,
    )
    return draw_tables(options)


def generate_instance(stakes: int, services: int, **options: Any) -> Instance:
    """Generate a synthetic instance (see ``generate_tables`` for the arguments).

    The tables are validated like any user's, so a generated instance is a valid one.

    Returns
    -------
    Instance
        The generated instance; values in ETH.
    """
    tables = generate_tables(stakes, services, **options)
    return Instance.from_frames(
        assets=tables.assets, holders=tables.holders, stakes=tables.stakes,
        services=tables.services, groups=tables.groups, current=tables.current,
        parameters=tables.parameters, name=tables.name, numeraire=tables.numeraire,
        description=tables.description, source=tables.source,
    )


def draw_tables(options: Options) -> GeneratedTables:
    """Draw every table of the instance that checked ``options`` describe."""
    root = np.random.default_rng(options.seed)
    streams = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))
    book = draw_book(options, streams)
    values, witness = _draw_service_values(options, book, streams)
    opt_in: OptIn | None = None
    if options.opt_in:
        opt_in = draw_opt_in(values.is_required, witness, values.accept, book.asset_of_stake,
                             book.holder_of_stake, streams["opt_in"])
    parameters: dict[str, float | int] = {"worst_case_k": options.worst_case_k}
    if options.corruption:
        parameters["security_margin"] = ASSUMPTIONS.security_margin
    total_value = float(book.value.sum())
    if options.cvar is not None:
        parameters.update(cvar_parameters(
            options.cvar, options.scenarios, options.seed, total_value, witness,
            book.service_columns["slash_fraction"], streams["cvar"],
        ))
    current: Current | None = None
    if options.turnover:
        current = draw_current(witness, values.accept, book.asset_of_stake, book.value,
                               book.stake_columns, streams["turnover"])
        parameters.update(turnover_parameters(total_value, current.moved, streams["turnover"]))
    holder_ids = kind_ids(ASSUMPTIONS.holder_kinds, book.holder_kind, 5, None)
    stake_id = stake_ids(book, holder_ids)
    default_name = f"synthetic-{options.stakes}x{options.services}-seed{options.seed}"
    return GeneratedTables(
        name=options.name if options.name is not None else default_name,
        numeraire="ETH",
        description=(
            f"Synthetic instance ({options.summary()}). Prices, stake sizes, rewards and "
            "slashing risks are assumptions shaped like the restaking market, not market data."
        ),
        source="restake generate",
        parameters=parameters,
        assets=asset_frame(book),
        holders=holder_frame(holder_ids, opt_in.max_services if opt_in is not None else None),
        stakes=stake_frame(book, holder_ids, stake_id),
        services=service_frame(book, values, options.density >= 1.0, opt_in),
        groups=group_frame(book),
        current=current_frame(stake_id, book.service_columns["service"], current),
    )


def _draw_service_values(
    options: Options, book: Book, streams: dict[str, np.random.Generator]
) -> tuple[ServiceValues, Witness]:
    """Draw pools, required services, optional minima and corruption, and size them.

    Capacities and external stake of required services are raised so that the witness
    allocation meets every effective minimum M_eff_s = max(M_s, deterrent) (ETH).

    Returns
    -------
    values : ServiceValues
        The service columns drawn after the base tables.
    witness : Witness
        The witness allocation.
    """
    reward_rate = book.service_columns["reward_rate"]
    external_stake = book.external_stake
    reward_pool = None
    if options.pools > 0:
        reward_pool, external_stake = draw_pools(options.pools, external_stake, streams["pools"])
        reward_rate = np.where(reward_pool > 0, 0.0, reward_rate)
    required = draw_required(options, book, streams["required"])
    # What could reach each service, within its capacity: the base of the optional minima.
    base = np.where(np.isnan(book.capacity), required.reachable,
                    np.fmin(required.reachable, book.capacity))
    minimum = required.minimum
    if options.min_security > 0:
        minimum = draw_optional_minimum(options.min_security, required.is_required, base,
                                        minimum, streams["min_security"])
    attack_threshold = np.full(options.services, DEFAULT_ATTACK_THRESHOLD)
    effective = minimum  # M_eff on the required services (used for sizing)
    corruption = None
    if options.corruption:
        corruption = draw_corruption(required.is_required, base, required.security,
                                     streams["corruption"])
        attack_threshold = corruption.attack_threshold
        effective = np.where(required.is_required,
                             np.maximum(minimum, corruption.deterrent), minimum)
    capacity = book.capacity
    if options.required > 0:
        capacity, external_stake = secure_required(book, required, effective, external_stake)
    profit = np.zeros(options.services)
    if corruption is not None:
        profit = corruption.profit(external_stake, book.service_columns["slash_fraction"])
    values = ServiceValues(
        accept=required.accept, reward_rate=reward_rate, reward_pool=reward_pool,
        external_stake=external_stake, capacity=capacity, min_security=minimum,
        is_required=required.is_required, profit_from_corruption=profit,
        attack_threshold=attack_threshold,
    )
    return values, witness_of(required, effective)
