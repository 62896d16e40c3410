"""The in-memory instance: typed tables, parameters, and what is derived from them.

An ``Instance`` is immutable by convention once made: every table is validated,
defaults are applied, stake values are computed and the sparse set of eligible
(stake, service) pairs is known. Later stages read it and never change it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import InstanceError, Problem
from optimizer.instance import scenarios as scenario_sampling
from optimizer.instance.columns import MAINNET_ALLOCATION_MANAGER, PARAMETERS, TABLES
from optimizer.instance.current import with_current
from optimizer.instance.eligibility import eligible_pairs
from optimizer.instance.identities import identity_problems
from optimizer.instance.io import RawInstance, raw_from_frames, read_raw, write_document
from optimizer.instance.magnitudes import tiny_probability_warnings, value_spread_problems
from optimizer.instance.pair_bounds import bound_problems
from optimizer.instance.scenarios import ScenarioSet
from optimizer.instance.validate import validate
from optimizer.resources import available_bytes


@dataclass(frozen=True)
class Parameters:
    """The instance's ``[parameters]``; ``None`` means the limit is not set."""

    risk_aversion: float = 0.0
    cvar_alpha: float = 0.95
    cvar_limit: float | None = None
    worst_case_k: int = 1
    security_margin: float = 0.0
    turnover_cost: float = 0.0
    turnover_limit: float | None = None
    scenario_count: int = 1000
    scenario_seed: int = 0
    uncertainty_budget: float | None = None
    chain_id: int = 1
    allocation_manager: str = MAINNET_ALLOCATION_MANAGER
    transition_exposure: bool = False


@dataclass
class Instance:
    """A validated restaking allocation problem.

    Tables are pandas DataFrames indexed by their id (``assets`` by asset, ``stakes``
    by stake, ...) with every documented column present and defaults applied; a
    limit left out is NaN. ``eligibility``, ``scenarios`` and ``current`` have a
    plain integer index. Values are in the numeraire, rates per year.

    Attributes
    ----------
    stake_value : pandas.Series
        V_i = price of the stake's asset x amount, numeraire, indexed by stake.
    pairs : pandas.DataFrame
        The eligible (stake, service) pairs, the model's sparse index: columns
        ``stake``, ``service``, ``holder`` (ids) and ``stake_pos``, ``service_pos``
        (positions in ``stakes`` and ``services``), sorted by stake then service.
    warnings : list of Problem
        Legal but suspicious values found while validating.
    """

    name: str
    numeraire: str
    parameters: Parameters
    assets: pd.DataFrame
    holders: pd.DataFrame
    stakes: pd.DataFrame
    services: pd.DataFrame
    groups: pd.DataFrame
    eligibility: pd.DataFrame
    scenarios: pd.DataFrame
    current: pd.DataFrame
    description: str | None = None
    source: str | None = None
    origin: str = "frames"
    warnings: list[Problem] = field(default_factory=list)
    stake_value: pd.Series = field(init=False, repr=False)
    pairs: pd.DataFrame = field(init=False, repr=False)
    _scenarios: ScenarioSet | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        prices = self.assets["price"].reindex(self.stakes["asset"]).to_numpy()
        with np.errstate(over="ignore"):  # an overflow is reported as a problem, not a warning
            value = prices * self.stakes["amount"].to_numpy()
        self.stake_value = pd.Series(value, index=self.stakes.index, name="value")
        self.pairs = eligible_pairs(self.assets, self.holders, self.stakes, self.services,
                                    self.eligibility, self.stake_value.to_numpy(),
                                    memory_budget=available_bytes())

    # --- making one ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], allow_extra_columns: bool = False) -> Instance:
        """Load and validate an instance file (``.toml``, ``.json``) or CSV folder.

        A column, ``[instance]`` key, parameter or table the format does not know is
        refused (with the closest known name), unless ``allow_extra_columns``: then it
        is ignored with a warning.

        Raises
        ------
        InstanceError
            Listing every problem of the input.
        ResourceError
            When its eligible pairs alone would not fit in the memory available.
        """
        return cls._from_raw(read_raw(path), allow_extra_columns)

    @classmethod
    def from_frames(
        cls,
        *,
        assets: pd.DataFrame,
        stakes: pd.DataFrame,
        services: pd.DataFrame,
        holders: pd.DataFrame | None = None,
        groups: pd.DataFrame | None = None,
        eligibility: pd.DataFrame | None = None,
        scenarios: pd.DataFrame | None = None,
        current: pd.DataFrame | None = None,
        parameters: dict[str, Any] | None = None,
        name: str = "instance",
        numeraire: str = "ETH",
        description: str | None = None,
        source: str | None = None,
        allow_extra_columns: bool = False,
    ) -> Instance:
        """Make an instance from DataFrames whose columns are the format's.

        Ids may be a column or the index. Missing optional columns take their
        defaults; ``accepts`` and ``groups`` take lists (or ``"*"``). The frames are
        validated exactly as files are; problems name the table and row number. A
        column or parameter the format does not know is refused, unless
        ``allow_extra_columns`` (then it is ignored with a warning).

        Raises
        ------
        InstanceError
            Listing every problem of the input.
        """
        meta = {"name": name, "numeraire": numeraire, "description": description,
                "source": source}
        frames = {"assets": assets, "holders": holders, "stakes": stakes, "services": services,
                  "groups": groups, "eligibility": eligibility, "scenarios": scenarios,
                  "current": current}
        raw = raw_from_frames({k: v for k, v in meta.items() if v is not None},
                              parameters or {}, frames)
        return cls._from_raw(raw, allow_extra_columns)

    @classmethod
    def _from_raw(cls, raw: RawInstance, allow_extra_columns: bool = False) -> Instance:
        checked = validate(raw, allow_extra_columns)
        tables = checked.tables
        parameters = Parameters(**checked.parameters)
        instance = cls(
            name=checked.meta["name"], numeraire=checked.meta["numeraire"],
            parameters=parameters, description=checked.meta["description"],
            source=checked.meta["source"], origin=raw.origin, warnings=checked.warnings,
            **{name: tables[name] for name in TABLES},
        )
        overflow = _overflowing_values(instance) + value_spread_problems(instance)
        overflow += bound_problems(instance, checked.where.get("eligibility", []))
        overflow += identity_problems(instance)
        if overflow:
            raise InstanceError(overflow)
        instance.warnings.extend(tiny_probability_warnings(instance))
        instance.warnings.extend(_unreachable_services(instance))
        return instance

    # --- writing ---------------------------------------------------------------------------

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the instance atomically; the spelling follows ``path``.

        ``*.toml`` and ``*.json`` give one file, any other path a folder of CSV files
        with ``instance.toml``. Reading the result gives back an equal instance.
        """
        meta = {k: v for k, v in (("name", self.name), ("numeraire", self.numeraire),
                                  ("description", self.description), ("source", self.source))
                if v is not None}
        parameters = {}
        for column in PARAMETERS:
            value = getattr(self.parameters, column.name)
            if value is not None and value != column.default:
                parameters[column.name] = value
        tables = {name: self.records(name) for name in TABLES}
        write_document(Path(path), meta, parameters, tables)

    def records(self, table: str) -> list[dict[str, Any]]:
        """Rows of ``table`` as plain dicts, leaving out "none" values and defaults."""
        spec = TABLES[table]
        frame = getattr(self, table)
        if spec.id_column:
            frame = frame.reset_index()
        columns = [c for c in spec.columns if c.name in frame.columns]
        rows: list[dict[str, Any]] = []
        for values in frame[[c.name for c in columns]].itertuples(index=False, name=None):
            record: dict[str, Any] = {}
            for column, value in zip(columns, values, strict=True):
                plain = _plain(value)
                if plain is None:
                    continue
                if not column.required and column.default is not None and \
                        _same(plain, column.default):
                    continue
                record[column.name] = plain
            rows.append(record)
        return rows

    # --- derived quantities ----------------------------------------------------------------

    @property
    def effective_min_security(self) -> pd.Series:
        """M_s^eff = max(M_s, (1 + gamma) pi_s / (alpha_s f_s) - E_s), numeraire, by service.

        The second term is the security at which the cost of corrupting the service
        (an attacker controls alpha_s of all its stake and loses f_s of it) reaches
        (1 + gamma) times the profit from corrupting it.
        """
        services = self.services
        profit = services["profit_from_corruption"].to_numpy()
        slash = services["slash_fraction"].to_numpy()
        deterrent = np.zeros(len(services))
        has_profit = profit > 0
        with np.errstate(over="ignore"):
            deterrent[has_profit] = (
                (1.0 + self.parameters.security_margin) * profit[has_profit]
                / (services["attack_threshold"].to_numpy()[has_profit] * slash[has_profit])
                - services["external_stake"].to_numpy()[has_profit]
            )
        return pd.Series(np.maximum(services["min_security"].to_numpy(), deterrent),
                         index=services.index, name="effective_min_security")

    def scenario_set(self) -> ScenarioSet:
        """The scenarios of the CVaR families: the instance's own, or sampled.

        When the instance has no ``scenarios`` table, ``scenario_count`` scenarios are
        sampled from the common-shock model with ``scenario_seed`` (see
        ``optimizer.instance.scenarios``); the same instance always gives the same set.

        Raises
        ------
        ResourceError
            When sampling would not fit in the memory available (with the estimate).
        """
        if self._scenarios is None:
            services = self.services
            if len(self.scenarios):
                self._scenarios = scenario_sampling.from_table(self.scenarios, services.index)
            else:
                correlation = self.groups["correlation"]
                group_of = np.full(len(services), -1)
                best = np.full(len(services), -1.0)
                positions = pd.Index(self.groups.index)
                for s, names in enumerate(services["groups"]):
                    for name in names:
                        if correlation[name] > best[s]:
                            best[s] = correlation[name]
                            group_of[s] = positions.get_loc(name)
                self._scenarios = scenario_sampling.sample(
                    services["slash_probability"].to_numpy(),
                    services["slash_fraction"].to_numpy(), group_of,
                    correlation.to_numpy(dtype=float), self.parameters.scenario_count,
                    self.parameters.scenario_seed, memory_budget=available_bytes())
        return self._scenarios

    def with_scenarios(self, chosen: ScenarioSet) -> Instance:
        """A copy of this instance whose ``scenarios`` table holds ``chosen``."""
        return self.with_changes(scenarios=chosen.table(self.services.index))

    def with_current(self, current: pd.DataFrame) -> Instance:
        """A copy whose ``current`` table is ``current`` (stake, service, fraction), checked.

        It replaces the instance's own; ``optimizer.current_from_solution`` reads one from
        a previous solution folder. See ``optimizer.instance.current.with_current``.

        Raises
        ------
        InstanceError
            When a row names a stake or service the instance does not know, repeats a pair
            or gives a fraction that is not in [0, 1].
        """
        return with_current(self, current)

    def with_changes(self, keep_scenarios: bool = False, **changes: Any) -> Instance:
        """A copy with some tables or parameters replaced (pairs and values recomputed).

        ``parameters`` may be a dict of the parameters to change. ``keep_scenarios``
        carries the sampled scenario set over, for changes that do not affect it (values
        scaled, a limit moved); otherwise it is drawn again when needed.
        """
        if isinstance(changes.get("parameters"), dict):
            changes["parameters"] = replace(self.parameters, **changes["parameters"])
        copy = replace(self, warnings=list(self.warnings), **changes)
        if keep_scenarios:
            copy._scenarios = self._scenarios
        return copy

    def size(self) -> dict[str, int]:
        """Counts: stakes, services, eligible pairs."""
        return {"stakes": len(self.stakes), "services": len(self.services),
                "pairs": len(self.pairs)}


def load_instance(path: str | os.PathLike[str], allow_extra_columns: bool = False) -> Instance:
    """Load and validate an instance (TOML, JSON or CSV folder); see ``Instance.load``."""
    return Instance.load(path, allow_extra_columns)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValueError(f"the value {value} cannot be written: every number of an instance "
                             "is finite (leave a limit out for none)")
        return float(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, tuple):
        return list(default) == value
    return value == default


def _overflowing_values(instance: Instance) -> list[Problem]:
    """Derived values that are not finite although every input is (price x amount, M_eff)."""
    origin = Path(instance.origin)

    def where(table: str) -> str:
        return f"{table}.csv" if origin.is_dir() else f"{origin.name} {table}"

    found = [Problem(f"{where('stakes')} (stake={stake})", "amount",
                     f"times its asset's price is {value:g}: too large to compute with")
             for stake, value in instance.stake_value.items() if not np.isfinite(value)]
    found += [Problem(f"{where('services')} (service={service})", "profit_from_corruption",
                      "gives a minimum security (1 + security_margin) x profit / "
                      "(attack_threshold x slash_fraction) too large to compute with")
              for service, value in instance.effective_min_security.items()
              if not np.isfinite(value)]
    return found


def _unreachable_services(instance: Instance) -> list[Problem]:
    reached = np.zeros(len(instance.services), dtype=bool)
    reached[instance.pairs["service_pos"].to_numpy()] = True
    return [Problem(f"services (service={s})", None, "no stake is eligible for it: it gets "
                    "no allocation") for s in instance.services.index[~reached]]
