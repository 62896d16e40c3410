"""The data dictionary: every table, column and parameter of an instance, as data.

Loading, validation, defaults, conversion and the docs all read this one place,
so a column is described once: its type, default, legal range, unit and meaning.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["id", "ref", "float", "int", "bool", "str", "list", "address", "uint"]

NONE: Any = None
"""Marks a default of "none": the value is absent and the limit it sets is inactive."""

WAD = 10**18
"""EigenLayer's unit of magnitude: a strategy's whole max magnitude before any slash."""

MAINNET_ALLOCATION_MANAGER = "0x948a420b8CC1d6BFd0B6087C2E7c344a2CD0bc39"
"""EigenLayer's AllocationManager on Ethereum mainnet (docs/protocol-addresses.md)."""


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Attributes
    ----------
    name : str
        The column name, as written in every spelling of an instance.
    kind : str
        ``id`` (the row's unique id), ``ref`` (an id of table ``ref``), ``float``,
        ``int``, ``bool``, ``str``, ``list`` (ids, ``;``-separated in CSV), ``address``
        (an Ethereum address: ``0x`` and 40 hex digits, EIP-55 checksummed when mixed case;
        kept in checksummed form) or ``uint`` (an exact unsigned integer of any size, such as
        a magnitude in wad: a whole number, or its decimal digits as text where a format's
        numbers are too small to hold it).
    unit : str
        Unit of the value, e.g. ``"numeraire"`` or ``"fraction of stake value per year"``.
    doc : str
        What the value means.
    required : bool
        Whether every row must give it.
    default : Any
        Value used when a row leaves it out; ``None`` means the limit is inactive.
    low, high : float or None
        Legal range; ``low_open`` / ``high_open`` exclude the end point.
    ref : str or None
        For ``ref`` and ``list`` columns, the table whose ids are named.
    """

    name: str
    kind: Kind
    unit: str
    doc: str
    required: bool = False
    default: Any = NONE
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    ref: str | None = None

    def range_text(self) -> str:
        """Describe the legal range, e.g. ``"in (0, 1]"`` or ``">= 0"``."""
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_fmt(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_fmt(self.high)}"
        return ""


@dataclass(frozen=True)
class Table:
    """One table of an instance: its columns, and which of them is the row id."""

    name: str
    columns: tuple[Column, ...]
    id_column: str | None
    doc: str

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """The column names, in their documented order."""
        return [c.name for c in self.columns]


def _fmt(value: float) -> str:
    if value >= 2**31 and float(value).is_integer():  # uint ranges: say 2^64 - 1, not 1.8e19
        exact = int(value)
        power = exact.bit_length()
        return f"2^{power} - 1" if exact + 1 == 2**power else f"{exact:,}"
    return f"{value:g}"


ASSETS = Table(
    "assets",
    (
        Column("asset", "id", "", "asset id (stETH, rETH, EIGEN, ETH, wBTC, ...)", required=True),
        Column("price", "float", "numeraire per unit", "price P_a", required=True,
               low=0.0, low_open=True),
        Column("eigenlayer_strategy", "address", "", "the EigenLayer strategy contract that "
               "holds the asset (protocol identity, for plans)"),
        Column("symbiotic_collateral", "address", "", "the asset's token as Symbiotic "
               "collateral (protocol identity, for plans)"),
        Column("decimals", "int", "digits", "decimals of the token: one unit is 10^decimals "
               "base units (Symbiotic limits are in base units)", default=18, low=0.0,
               high=36.0),
    ),
    "asset",
    "Assets that stakes are held in.",
)

HOLDERS = Table(
    "holders",
    (
        Column("holder", "id", "", "holder id: an operator, vault or LRT", required=True),
        Column("max_services", "int", "services", "K_h, most services the holder may opt into",
               low=0.0),
        Column("eigenlayer_operator", "address", "", "the holder's EigenLayer operator "
               "(protocol identity: plans call modifyAllocations for it)"),
        Column("symbiotic_vault", "address", "", "the holder's Symbiotic vault (protocol "
               "identity)"),
        Column("symbiotic_delegator", "address", "", "the vault's delegator contract, which "
               "takes the curator's limit and share calls"),
        Column("symbiotic_delegator_type", "int", "", "the delegator's type: 0 "
               "NetworkRestakeDelegator, 1 FullRestakeDelegator (the types plans write)",
               low=0.0, high=1.0),
        Column("symbiotic_operator", "address", "", "the operator the vault's stake is "
               "delegated to in each network (Symbiotic plans)"),
        Column("safe", "address", "", "the Safe multisig that signs the holder's transactions "
               "(named in its Safe Transaction Builder batches)"),
    ),
    "holder",
    "Parties that opt into services (optional: holders named by stakes are implied).",
)

STAKES = Table(
    "stakes",
    (
        Column("stake", "id", "", "stake id", required=True),
        Column("holder", "ref", "", "the holder that owns the stake", required=True,
               ref="holders"),
        Column("asset", "ref", "", "the asset the stake is held in", required=True, ref="assets"),
        Column("amount", "float", "asset units", "Q_i, amount held", required=True, low=0.0),
        Column("max_restaking", "float", "fraction of stake", "L_i, restaking degree: most "
               "total fraction allocated across services (1 = unique stake)", default=1.0,
               low=0.0),
        Column("max_per_service", "float", "fraction of stake", "m_i, most fraction allocated "
               "to any one service", default=1.0, low=0.0, high=1.0),
        Column("max_expected_loss", "float", "fraction of stake value per year", "b_i, budget "
               "of expected slashing loss", low=0.0),
        Column("max_worst_case_loss", "float", "fraction of stake value", "c_i, most loss if "
               "the worst_case_k worst services slash at once", low=0.0),
        Column("max_magnitude", "uint", "wad", "EigenLayer max magnitude of the holder's "
               "operator in the asset's strategy: 1e18 until a slash lowers it; a fraction x "
               "of the stake is magnitude x max_magnitude", default=WAD, low=1.0,
               high=WAD),
        Column("shares", "uint", "base units", "the holder's shares in the asset's strategy "
               "or vault (for plans: stake allocated = shares x fraction)"),
    ),
    "stake",
    "Amounts of one asset held by one holder, to allocate across services.",
)

SERVICES = Table(
    "services",
    (
        Column("service", "id", "", "service id: an AVS, operator set or network",
               required=True),
        Column("reward_rate", "float", "per year", "r_s, reward per unit of value allocated",
               default=0.0, low=0.0),
        Column("reward_pool", "float", "numeraire per year", "R_s, reward shared pro rata "
               "with external stake", default=0.0, low=0.0),
        Column("external_stake", "float", "numeraire", "E_s, stake securing the service from "
               "outside this portfolio", default=0.0, low=0.0),
        Column("slash_probability", "float", "per year", "p_s, probability of a slashing event",
               default=0.0, low=0.0, high=1.0),
        Column("slash_fraction", "float", "fraction", "f_s, fraction of the allocation lost "
               "in a slashing event", default=0.0, low=0.0, high=1.0),
        Column("slash_probability_low", "float", "per year", "low end of the interval "
               "believed to hold p_s (uncertainty; at most slash_probability)", low=0.0,
               high=1.0),
        Column("slash_probability_high", "float", "per year", "p_s^high, high end of the "
               "interval believed to hold p_s (at least slash_probability); with "
               "uncertainty_budget, the expected loss holds when that many services take it",
               low=0.0, high=1.0),
        Column("reward_rate_low", "float", "per year", "low end of the interval believed to "
               "hold r_s (at most reward_rate; uncertainty, not in the model)", low=0.0),
        Column("reward_rate_high", "float", "per year", "high end of the interval believed to "
               "hold r_s (at least reward_rate; uncertainty, not in the model)", low=0.0),
        Column("prior_strength", "float", "", "k, weight of a Beta(k p_s, k (1 - p_s)) prior "
               "on the slash probability, centred on p_s (uncertainty, for resampling; not in "
               "the model)", low=0.0, low_open=True),
        Column("accepts", "list", "", "assets accepted as collateral, or \"*\" for all",
               default="*", ref="assets"),
        Column("capacity", "float", "numeraire", "C_s, most value the portfolio may put behind "
               "the service", low=0.0),
        Column("min_security", "float", "numeraire", "M_s, least value behind the service for "
               "it to be secured", default=0.0, low=0.0),
        Column("required", "bool", "", "whether the service must reach its minimum security",
               default=False),
        Column("profit_from_corruption", "float", "numeraire", "pi_s, what an attacker gains "
               "by corrupting the service", default=0.0, low=0.0),
        Column("attack_threshold", "float", "fraction", "alpha_s, share of all stake an attacker "
               "must control", default=1.0 / 3.0, low=0.0, high=1.0, low_open=True),
        Column("max_holder_share", "float", "fraction", "q_s, most share of the service's total "
               "security one holder may provide", low=0.0, high=1.0, low_open=True),
        Column("opt_in_cost", "float", "numeraire per year", "c_s, cost of a holder opting in",
               default=0.0, low=0.0),
        Column("min_allocation", "float", "numeraire", "l_s, least value a holder allocates "
               "once opted in", default=0.0, low=0.0),
        Column("groups", "list", "", "correlation groups the service belongs to", default=(),
               ref="groups"),
        Column("eigenlayer_avs", "address", "", "the AVS whose operator set this service is "
               "(protocol identity, with eigenlayer_operator_set)"),
        Column("eigenlayer_operator_set", "uint", "", "the operator set's id within the AVS",
               low=0.0, high=2**32 - 1),
        Column("redistributing", "bool", "", "whether the operator set is redistributing "
               "(ELIP-006: plans refuse magnitudes below 1e9 there, and EIGEN or native ETH)",
               default=False),
        Column("symbiotic_network", "address", "", "the Symbiotic network (protocol identity, "
               "with symbiotic_identifier)"),
        Column("symbiotic_identifier", "uint", "", "the subnetwork's uint96 identifier within "
               "the network (the subnetwork is the network's address and this)", low=0.0,
               high=2**96 - 1),
    ),
    "service",
    "Services that pay rewards and may slash.",
)

GROUPS = Table(
    "groups",
    (
        Column("group", "id", "", "correlation group id", required=True),
        Column("max_exposure", "float", "fraction of stake", "G_g, most total fraction of any "
               "one stake allocated to the group's services", low=0.0),
        Column("correlation", "float", "fraction", "how strongly the group's services fail "
               "together (scenario sampling only)", default=0.0, low=0.0, high=1.0),
    ),
    "group",
    "Services that can fail together.",
)

ELIGIBILITY = Table(
    "eligibility",
    (
        Column("holder", "ref", "", "holder the row applies to (or give stake)", ref="holders"),
        Column("stake", "ref", "", "stake the row applies to (or give holder)", ref="stakes"),
        Column("service", "ref", "", "the service", required=True, ref="services"),
        Column("allowed", "bool", "", "true: whitelist; false: forbid; left out: the row only "
               "bounds the pair (min_fraction, max_fraction)"),
        Column("min_fraction", "float", "fraction of stake", "least fraction of the stake "
               "allocated to the service (on a stake row; on a holder row, each of its "
               "stakes); with max_fraction equal, the pair is fixed", low=0.0, high=1.0),
        Column("max_fraction", "float", "fraction of stake", "most fraction of the stake "
               "allocated to the service (a per-pair cap, e.g. a Symbiotic max network limit)",
               low=0.0, high=1.0),
    ),
    None,
    "Which services a holder or stake may, or may not, secure.",
)

SCENARIOS = Table(
    "scenarios",
    (
        Column("scenario", "str", "", "scenario id (one row per slashed service)",
               required=True),
        Column("probability", "float", "", "pi_w, probability of the scenario", required=True,
               low=0.0, high=1.0),
        Column("service", "ref", "", "a service slashed in the scenario (empty for none)",
               ref="services"),
        Column("slash_fraction", "float", "fraction", "xi_{w,s}, fraction slashed", default=0.0,
               low=0.0, high=1.0),
    ),
    None,
    "Joint slashing scenarios, long form.",
)

CURRENT = Table(
    "current",
    (
        Column("stake", "ref", "", "the stake", required=True, ref="stakes"),
        Column("service", "ref", "", "the service", required=True, ref="services"),
        Column("fraction", "float", "fraction of stake", "x0, current allocation",
               required=True, low=0.0, high=1.0),
    ),
    None,
    "The allocation in force today, for turnover.",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (ASSETS, HOLDERS, STAKES, SERVICES, GROUPS, ELIGIBILITY, SCENARIOS, CURRENT)
}
"""Every table, in the order the files list them."""

REQUIRED_TABLES = ("assets", "stakes", "services")

INSTANCE_KEYS = {
    "name": "instance name (required)",
    "numeraire": "unit of every value (default ETH)",
    "description": "free text",
    "source": "where the data comes from",
}

PARAMETERS: tuple[Column, ...] = (
    Column("risk_aversion", "float", "", "lambda, weight of CVaR in the objective",
           default=0.0, low=0.0),
    Column("cvar_alpha", "float", "", "CVaR confidence level", default=0.95, low=0.0, high=1.0,
           high_open=True),
    Column("cvar_limit", "float", "numeraire", "B, most CVaR of the portfolio loss", low=0.0),
    Column("worst_case_k", "int", "services", "k simultaneous slashings for "
           "max_worst_case_loss", default=1, low=1.0),
    Column("security_margin", "float", "", "gamma in the cost-of-corruption rule", default=0.0,
           low=0.0),
    Column("turnover_cost", "float", "per unit of value moved", "tau", default=0.0, low=0.0),
    Column("turnover_limit", "float", "numeraire", "T, most value moved", low=0.0),
    Column("scenario_count", "int", "scenarios", "scenarios to sample when none are given",
           default=1000, low=1.0, high=1_000_000.0),
    Column("scenario_seed", "int", "", "seed of the scenario sampling", default=0, low=0.0),
    Column("uncertainty_budget", "float", "services", "Gamma, how many services may take "
           "their slash_probability_high at once (fractional allowed) in the robust expected "
           "loss; none: the nominal model", low=0.0),
    Column("chain_id", "uint", "", "the chain plans are written for (1: Ethereum mainnet)",
           default=1, low=1.0),
    Column("allocation_manager", "address", "", "EigenLayer's AllocationManager, which plans "
           "call (default: its mainnet address)", default=MAINNET_ALLOCATION_MANAGER),
    Column("transition_exposure", "bool", "", "whether every stake limit must also hold for "
           "the in-flight exposure max(x0, x) of each pair while decreases wait out their "
           "delay (family 11): the allocation can then be reached in one stage",
           default=False),
)


def closest_name(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely misspells, or None when none is close.

    Case and surrounding blanks are ignored; "close" is difflib's similarity of at
    least 0.6 (``slash_probabilty`` gives ``slash_probability``).
    """
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(str(name).strip().lower(), list(by_lower), n=1)
    return by_lower[match[0]] if match else None


def unknown_name_hint(name: str, known: Iterable[str],
                      elsewhere: Mapping[str, Iterable[str]] | None = None) -> str | None:
    """Say where an unknown ``name`` belongs, or what it likely misspells.

    Parameters
    ----------
    name : str
        A column, parameter, key or table name the format does not know where given.
    known : iterable of str
        The names legal where ``name`` was given.
    elsewhere : dict, optional
        Names legal in other places, keyed by how to name the place, e.g.
        ``{"a column of 'stakes'": [...]}``; an exact match there is named first.

    Returns
    -------
    str or None
        ``"it is a column of 'stakes'"``, ``"did you mean slash_probability?"``, or None.
    """
    for place, names in (elsewhere or {}).items():
        if str(name).strip() in set(names):
            return f"it is {place}"
    closest = closest_name(name, known)
    return f"did you mean {closest}?" if closest else None
