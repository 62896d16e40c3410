"""The generator's result: ``GeneratedTables``, and the DataFrames built from the draws.

Columns follow the data dictionary (``optimizer.instance.columns``): each table has the
dictionary's columns in its order, less those of features that are off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance.columns import ASSETS, CURRENT, GROUPS, HOLDERS, SERVICES, STAKES
from optimizer.instance.generate.base import Book
from optimizer.instance.generate.features import OptIn
from optimizer.instance.generate.sampling import as_str
from optimizer.instance.generate.turnover import Current

__all__ = [
    "GeneratedTables",
    "ServiceValues",
    "asset_frame",
    "asset_ids",
    "current_frame",
    "group_frame",
    "holder_frame",
    "service_frame",
    "stake_frame",
    "stake_ids",
]


@dataclass(frozen=True)
class GeneratedTables:
    """A generated instance as the format's tables, ready for ``Instance.from_frames``.

    Attributes
    ----------
    name, numeraire, description, source : str
        The ``[instance]`` keys (the numeraire is ``"ETH"``).
    parameters : dict
        The ``[parameters]`` the instance sets, by name (``worst_case_k`` always).
    assets, holders, stakes, services, groups, current : pandas.DataFrame
        The tables with the format's columns; ``current`` is empty unless ``turnover``.
        ``accepts`` holds a list of asset ids or ``"*"``; ``groups`` a list of group ids.
        NaN means "none".
    """

    name: str
    numeraire: str
    description: str
    source: str
    parameters: dict[str, float | int]
    assets: pd.DataFrame
    holders: pd.DataFrame
    stakes: pd.DataFrame
    services: pd.DataFrame
    groups: pd.DataFrame
    current: pd.DataFrame


@dataclass(frozen=True)
class ServiceValues:
    """The service columns as drawn after the base tables, each an array per service.

    Attributes
    ----------
    accept : numpy.ndarray of bool, shape (services, assets)
        True where the service accepts the asset (final, after required services).
    reward_rate : numpy.ndarray
        r_s, per year (0 on pool services).
    reward_pool : numpy.ndarray or None
        R_s, ETH per year; None without pools (the column is left out).
    external_stake, capacity, min_security, profit_from_corruption : numpy.ndarray
        E_s, C_s (NaN: none), M_s and pi_s, ETH.
    is_required : numpy.ndarray of bool
        Whether the service is required.
    attack_threshold : numpy.ndarray
        alpha_s, fraction.
    """

    accept: np.ndarray
    reward_rate: np.ndarray
    reward_pool: np.ndarray | None
    external_stake: np.ndarray
    capacity: np.ndarray
    min_security: np.ndarray
    is_required: np.ndarray
    profit_from_corruption: np.ndarray
    attack_threshold: np.ndarray


def asset_ids(book: Book) -> np.ndarray:
    """The asset ids, in catalog order, as an object array."""
    return np.array([a.asset for a in book.catalog], dtype=object)


def asset_frame(book: Book) -> pd.DataFrame:
    """The ``assets`` table: ids and prices (ETH per unit)."""
    return pd.DataFrame({"asset": asset_ids(book), "price": book.prices}, columns=ASSETS.names)


def group_frame(book: Book) -> pd.DataFrame:
    """The ``groups`` table (no rows without groups)."""
    return pd.DataFrame(book.group_columns, columns=GROUPS.names)


def holder_frame(holder_ids: np.ndarray, max_services: np.ndarray | None) -> pd.DataFrame:
    """The ``holders`` table: ids, and ``max_services`` (NaN: none) with opt-in."""
    columns: dict[str, np.ndarray] = {"holder": holder_ids.astype(object)}
    if max_services is not None:
        columns["max_services"] = max_services
    return pd.DataFrame(columns, columns=[c for c in HOLDERS.names if c in columns])


def stake_frame(book: Book, holder_ids: np.ndarray, stake_ids: np.ndarray) -> pd.DataFrame:
    """The ``stakes`` table: ids, holder, asset, ``amount`` (asset units) and limits."""
    return pd.DataFrame(
        {
            "stake": stake_ids,
            "holder": holder_ids[book.holder_of_stake].astype(object),
            "asset": asset_ids(book)[book.asset_of_stake],
            **book.stake_columns,
        },
        columns=STAKES.names,
    )


def stake_ids(book: Book, holder_ids: np.ndarray) -> np.ndarray:
    """Stake ids such as ``op00012-steth``: the holder's id and the asset's."""
    return np.strings.add(
        np.strings.add(holder_ids[book.holder_of_stake], "-"),
        as_str(asset_ids(book))[book.asset_of_stake],
    ).astype(object)


def service_frame(
    book: Book, values: ServiceValues, accepts_all: bool, opt_in: OptIn | None
) -> pd.DataFrame:
    """The ``services`` table.

    Parameters
    ----------
    book : Book
        The base draws (ids, slashing risk, groups).
    values : ServiceValues
        The service columns drawn after the base tables.
    accepts_all : bool
        Write ``"*"`` as every service's ``accepts`` (density 1).
    opt_in : OptIn or None
        ``opt_in_cost`` (ETH per year) and ``min_allocation`` (ETH), or None without opt-in.

    Returns
    -------
    pandas.DataFrame
        The dictionary's service columns, less ``reward_pool`` without pools and the opt-in
        columns without opt-in.
    """
    services = values.accept.shape[0]
    ids = asset_ids(book)
    if accepts_all:
        accepts_column: list[object] = ["*"] * services
    else:
        accepts_column = [list(ids[row]) for row in values.accept]
    group_ids = book.group_columns["group"]
    groups_column = [list(group_ids[column]) for column in book.membership.T]
    columns: dict[str, object] = {
        "service": book.service_columns["service"],
        "reward_rate": values.reward_rate,
        "reward_pool": values.reward_pool,
        "external_stake": values.external_stake,
        "slash_probability": book.service_columns["slash_probability"],
        "slash_fraction": book.service_columns["slash_fraction"],
        "accepts": pd.Series(accepts_column, dtype=object),
        "capacity": values.capacity,
        "min_security": values.min_security,
        "required": values.is_required.tolist(),
        "profit_from_corruption": values.profit_from_corruption,
        "attack_threshold": values.attack_threshold,
        "max_holder_share": book.max_holder_share,
        "opt_in_cost": opt_in.opt_in_cost if opt_in is not None else None,
        "min_allocation": opt_in.min_allocation if opt_in is not None else None,
        "groups": pd.Series(groups_column, dtype=object),
    }
    present = {name: column for name, column in columns.items() if column is not None}
    return pd.DataFrame(present, columns=[c for c in SERVICES.names if c in present])


def current_frame(
    stake_ids: np.ndarray, service_ids: np.ndarray, current: Current | None
) -> pd.DataFrame:
    """The ``current`` table: stake, service and x0 (fraction of stake); empty for None."""
    if current is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c != "fraction" else float)
                             for c in CURRENT.names})
    return pd.DataFrame(
        {
            "stake": stake_ids[current.stake_pos],
            "service": service_ids[current.service_pos],
            "fraction": current.fraction,
        },
        columns=CURRENT.names,
    )
