"""Every rule of the instance format, checked before any model exists.

``validate`` turns raw tables (untyped cells) into typed tables with the documented
defaults applied. It never stops at the first problem: it collects them all, each
naming the file, table, row id and column, and raises one ``InstanceError``.
Values that are legal but suspicious come back as warnings. A column, key or table
the format does not know is a problem (a misspelt limit would otherwise be dropped),
or, with ``allow_extra_columns``, a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import InstanceError, Problem
from optimizer.instance.cells import convert_cells, printable
from optimizer.instance.columns import (
    INSTANCE_KEYS,
    PARAMETERS,
    REQUIRED_TABLES,
    TABLES,
    Column,
    Table,
    unknown_name_hint,
)
from optimizer.instance.io import RawInstance, RawTable
from optimizer.instance.pair_bounds import row_problems

PROBABILITY_SUM_TOLERANCE = 1e-6
"""How far a scenario set's probabilities may sum from 1 (absolute)."""

SUSPICIOUS = {
    "price_high": 1e6,
    "price_low": 1e-6,
    "amount_high": 1e12,
    "slash_probability_high": 0.5,
    "reward_rate_high": 1.0,
}
"""Thresholds past which a legal value is warned about (likely a unit mistake)."""

EXTRA_COLUMNS_HINT = ("if it is there on purpose, allow extra columns: --allow-extra-columns, "
                      "or allow_extra_columns=True in Python")
"""Said of an unknown name that misspells nothing the format knows."""

_PARAMETER_NAMES = [c.name for c in PARAMETERS]
_COLUMNS_OF = {f"a column of '{name}'": spec.names for name, spec in TABLES.items()}


@dataclass
class Validated:
    """Typed tables (defaults applied, ids as index where the table has ids)."""

    meta: dict[str, Any]
    parameters: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    warnings: list[Problem]
    where: dict[str, list[str]] = field(default_factory=dict)  # each table's rows located


class _Collector:
    """Problems and warnings found so far."""

    def __init__(self, raw: RawInstance, allow_extra_columns: bool):
        self.problems: list[Problem] = list(raw.problems)
        self.warnings: list[Problem] = list(raw.warnings)
        self.allow_extra_columns = allow_extra_columns

    def problem(self, where: str, column: str | None, message: str) -> None:
        self.problems.append(Problem(where, column, message))

    def warn(self, where: str, column: str | None, message: str) -> None:
        self.warnings.append(Problem(where, column, message))

    def unknown(self, where: str, column: str | None, message: str, hint: str | None) -> None:
        """A name the format does not know: a problem, or a warning when extras are allowed."""
        if self.allow_extra_columns:
            self.warn(where, column, f"{message}: ignored" + (f" ({hint})" if hint else ""))
        else:
            self.problem(where, column, f"{message} ({hint or EXTRA_COLUMNS_HINT})")


def validate(raw: RawInstance, allow_extra_columns: bool = False) -> Validated:
    """Check every rule of the format and type every table.

    Parameters
    ----------
    raw : RawInstance
        The instance as read.
    allow_extra_columns : bool
        Ignore, with a warning, columns, keys and tables the format does not know,
        instead of refusing them.

    Raises
    ------
    InstanceError
        With every problem found, when there is at least one.
    """
    found = _Collector(raw, allow_extra_columns)
    _check_unknown_tables(raw, found)
    meta = _check_meta(raw, found)
    parameters = _check_parameters(raw, found)
    typed: dict[str, pd.DataFrame] = {}
    labels: dict[str, pd.Series] = {}
    for name, spec in TABLES.items():
        table = raw.tables.get(name)
        if table is None:
            if name in REQUIRED_TABLES:
                where = raw.meta_where if raw.spelling != "csv" else f"{name}.csv"
                found.problem(where, None, f"the table '{name}' is missing (it is required)")
            typed[name], labels[name] = _empty(spec), pd.Series(dtype=object)
            continue
        typed[name], labels[name] = _type_table(table, spec, raw.spelling, found)
        if name in REQUIRED_TABLES and len(typed[name]) == 0:
            found.problem(table.file, None, f"the table '{name}' has no rows")
    _implied_holders(typed)
    _check_references(typed, labels, found)
    _check_rules(typed, labels, found)
    _warn_suspicious(typed, labels, found)
    if found.problems:
        raise InstanceError(found.problems)
    for name, spec in TABLES.items():
        frame = typed[name]
        if spec.id_column:
            typed[name] = frame.set_index(spec.id_column)
        else:
            typed[name] = frame.reset_index(drop=True)
    return Validated(meta, parameters, typed, found.warnings,
                     {name: [str(label) for label in labels[name]] for name in TABLES})


# --- meta and parameters ---------------------------------------------------------------------

def _check_meta(raw: RawInstance, found: _Collector) -> dict[str, Any]:
    where = f"{raw.meta_where} [instance]"
    meta = {"name": None, "numeraire": "ETH", "description": None, "source": None}
    for key, value in raw.meta.items():
        if key not in INSTANCE_KEYS:
            found.unknown(where, key, "is not a key of [instance]", unknown_name_hint(
                key, INSTANCE_KEYS, {"a parameter: put it in [parameters]": _PARAMETER_NAMES}))
            continue
        if value is None:
            continue
        if not isinstance(value, str):
            found.problem(where, key, f"is {value!r}, must be a string")
            continue
        meta[key] = value
    if not meta["name"]:
        found.problem(where, "name", "is missing (every instance has a name)")
    return meta


def _check_parameters(raw: RawInstance, found: _Collector) -> dict[str, Any]:
    where = f"{raw.meta_where} [parameters]"
    known = {c.name: c for c in PARAMETERS}
    values: dict[str, Any] = {c.name: c.default for c in PARAMETERS}
    for key, value in raw.parameters.items():
        column = known.get(key)
        if column is None:
            found.unknown(where, key, "is not a parameter", unknown_name_hint(
                key, known, {"a key of [instance]": INSTANCE_KEYS, **_COLUMNS_OF}))
            continue
        series = pd.Series([value], dtype=object)
        converted, bad = convert_cells(series, column)
        if bad.iloc[0]:
            found.problem(where, key, bad.iloc[0])
        else:
            value = converted.iloc[0]
            values[key] = value.item() if isinstance(value, np.generic) else value
    for key in ("worst_case_k", "scenario_count", "scenario_seed"):
        values[key] = int(values[key])
    for key in ("cvar_limit", "turnover_limit", "uncertainty_budget"):
        if values[key] is not None and isinstance(values[key], float) and math.isnan(values[key]):
            values[key] = None
    return values


def _check_unknown_tables(raw: RawInstance, found: _Collector) -> None:
    sections = {"instance", "parameters"}
    for where, name in raw.unknown_tables:
        if where.lower().endswith(".csv"):  # a CSV file of a folder
            known, note = set(TABLES), ""
        elif raw.spelling == "csv":  # a table in the folder's instance.toml
            known, note = sections, " (tables are CSV files in this spelling)"
        else:
            known, note = set(TABLES) | sections, ""
        found.unknown(where, None, f"'{name}' is not a table of the format{note}",
                      unknown_name_hint(name, known))


def _check_unknown_columns(table: RawTable, spec: Table, where: pd.Series, spelling: str,
                           found: _Collector) -> None:
    """Name each column ``spec`` does not have: at its header, or the first row giving it."""
    elsewhere = {place: names for place, names in _COLUMNS_OF.items()
                 if place != f"a column of '{spec.name}'"}
    elsewhere["a parameter: put it in [parameters]"] = _PARAMETER_NAMES
    for column in table.frame.columns:
        if column in spec.names:
            continue
        if spelling == "csv":
            place = f"{table.file} row 1"
        elif spelling == "frames":
            place = f"{spec.name} frame"
        else:
            given = np.flatnonzero(table.frame[column].notna().to_numpy())
            place = where.iloc[given[0] if len(given) else 0]
        found.unknown(place, str(column), f"is not a column of '{spec.name}'",
                      unknown_name_hint(str(column), spec.names, elsewhere))


# --- typing one table ------------------------------------------------------------------------

def _empty(spec: Table) -> pd.DataFrame:
    frame = pd.DataFrame({c.name: pd.Series(dtype=_dtype(c)) for c in spec.columns})
    return frame


def _dtype(column: Column) -> str:
    if column.kind == "float" or (column.kind == "int" and column.default is None):
        return "float64"
    if column.kind == "int":
        return "int64"
    if column.kind == "bool":
        return "bool" if column.default is not None else "object"  # none: True, False or None
    return "object"


def _type_table(table: RawTable, spec: Table, spelling: str, found: _Collector
                ) -> tuple[pd.DataFrame, pd.Series]:
    frame = table.frame
    where = pd.Series(table.row_where, index=frame.index, dtype=object)
    if spec.id_column and spec.id_column in frame.columns:
        ids = frame[spec.id_column].map(lambda v: None if v is None else str(v).strip())
        where = where + ids.map(lambda v: f" ({spec.id_column}={printable(v)})" if v else "")
    elif spec.name in ("eligibility", "current", "scenarios"):
        keys = [c for c in ("scenario", "holder", "stake", "service") if c in frame.columns]
        if keys and len(frame):
            columns = [[f"{k}={printable(v)}" if v is not None else None for v in frame[k]]
                       for k in keys]
            where = where + [" (" + ", ".join(p for p in parts if p) + ")"
                             for parts in zip(*columns, strict=True)]
    _check_unknown_columns(table, spec, where, spelling, found)
    typed = {}
    for column in spec.columns:
        if column.name not in frame.columns:
            if column.required and len(frame):
                found.problem(table.file, column.name, f"is missing from '{spec.name}' "
                              "(a required column)")
            typed[column.name] = pd.Series([column.default] * len(frame), index=frame.index,
                                           dtype=_dtype(column)) if column.kind != "list" else \
                pd.Series([column.default] * len(frame), index=frame.index, dtype=object)
            continue
        values, bad = convert_cells(frame[column.name], column)
        if column.kind == "bool" and column.default is None:  # left out: None, not False
            values = values.astype(object).where(~frame[column.name].map(lambda c: c is None or (
                c != c) or (isinstance(c, str) and not c.strip())).astype(bool), None)
        for row in np.flatnonzero(bad.notna().to_numpy()):
            found.problem(where.iloc[row], column.name, bad.iloc[row])
        typed[column.name] = values
    result = pd.DataFrame(typed, index=frame.index)
    if spec.id_column and spec.id_column in frame.columns:
        ids = result[spec.id_column]
        first: dict[object, int] = {}
        for position, value in enumerate(ids):
            if value is None:
                continue
            if value in first:
                found.problem(where.iloc[position], spec.id_column,
                              f"'{value}' is already used by {table.row_where[first[value]]}")
            else:
                first[value] = position
    return result, where


# --- references and cross-row rules ----------------------------------------------------------

def _implied_holders(typed: dict[str, pd.DataFrame]) -> None:
    """Add the holders that stakes name but the holders table does not list."""
    holders = typed["holders"]
    named = pd.unique(typed["stakes"]["holder"].dropna()) if len(typed["stakes"]) else []
    known = set(holders["holder"].dropna())
    implied = [h for h in named if h not in known]
    if implied:
        extra = _empty(TABLES["holders"]).reindex(range(len(implied)))
        extra["holder"] = implied
        for column in TABLES["holders"].columns[1:]:  # the holder's limits and identities
            extra[column.name] = pd.Series([column.default] * len(implied), dtype=_dtype(column))
        typed["holders"] = pd.concat([holders, extra], ignore_index=True) if len(holders) \
            else extra


def _check_references(typed: dict[str, pd.DataFrame], labels: dict[str, pd.Series],
                      found: _Collector) -> None:
    ids = {name: set(frame[spec.id_column].dropna())
           for name, spec in TABLES.items() if spec.id_column
           for frame in [typed[name]]}
    for name, spec in TABLES.items():
        frame = typed[name]
        for column in spec.columns:
            if column.kind not in ("ref", "list") or column.ref is None:
                continue
            targets = ids[column.ref]
            for row, value in enumerate(frame[column.name]):
                if value is None or value == "*":
                    continue
                named = value if isinstance(value, tuple) else (value,)
                unknown = [v for v in named if v not in targets]
                if unknown:
                    found.problem(labels[name].iloc[row], column.name,
                                  f"names {', '.join(repr(u) for u in unknown)}, which is not "
                                  f"in '{column.ref}'")


def _check_rules(typed: dict[str, pd.DataFrame], labels: dict[str, pd.Series],
                 found: _Collector) -> None:
    services, where = typed["services"], labels["services"]
    for point in ("slash_probability", "reward_rate"):  # an uncertainty interval holds p_s
        for end, sign, side in (("_low", 1.0, "above"), ("_high", -1.0, "below")):
            bound, value = services[point + end], services[point]
            for row in np.flatnonzero((sign * (bound - value) > 0).to_numpy()):
                found.problem(where.iloc[row], point + end, f"is {bound.iloc[row]:g}, {side} "
                              f"{point} {value.iloc[row]:g}: the interval must hold it")
    for row in np.flatnonzero(((services["reward_pool"] > 0)
                               & (services["external_stake"] <= 0)).to_numpy()):
        found.problem(where.iloc[row], "external_stake", "must be > 0 where reward_pool > 0 "
                      "(the pool is shared pro rata with it)")
    for row in np.flatnonzero(((services["profit_from_corruption"] > 0)
                               & (services["slash_fraction"] <= 0)).to_numpy()):
        found.problem(where.iloc[row], "slash_fraction", "must be > 0 where "
                      "profit_from_corruption > 0 (otherwise no stake can deter an attack)")

    eligibility, where = typed["eligibility"], labels["eligibility"]
    both = eligibility["holder"].notna() & eligibility["stake"].notna()
    neither = eligibility["holder"].isna() & eligibility["stake"].isna()
    for row in np.flatnonzero(both.to_numpy()):
        found.problem(where.iloc[row], None, "gives both holder and stake: give one")
    for row in np.flatnonzero(neither.to_numpy()):
        found.problem(where.iloc[row], None, "gives neither holder nor stake: give one")
    _check_duplicate_keys(eligibility, where, ["holder", "stake", "service"], found)
    found.problems += row_problems(eligibility, where.tolist())

    current, where = typed["current"], labels["current"]
    _check_duplicate_keys(current, where, ["stake", "service"], found)

    scenarios, where = typed["scenarios"], labels["scenarios"]
    _check_duplicate_keys(scenarios.assign(service=scenarios["service"].fillna("")), where,
                          ["scenario", "service"], found)
    if len(scenarios) and not scenarios["probability"].isna().any():
        spread = scenarios.groupby("scenario", sort=False)["probability"].agg(["min", "max"])
        for scenario in spread.index[(spread["max"] - spread["min"]) > 0]:
            at = int(np.flatnonzero((scenarios["scenario"] == scenario).to_numpy())[0])
            found.problem(where.iloc[at], "probability", f"differs between the rows of scenario "
                          f"'{scenario}': give one probability per scenario")
        total = float(spread["max"].sum())
        if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
            file = where.iloc[0].split(" ")[0]
            found.problem(f"{file} scenarios", "probability", f"sums to {total:.9g} over the "
                          "scenarios, must sum to 1")


def _check_duplicate_keys(frame: pd.DataFrame, where: pd.Series, keys: list[str],
                          found: _Collector) -> None:
    if not len(frame):
        return
    duplicated = frame.duplicated(subset=keys, keep="first").to_numpy()
    for row in np.flatnonzero(duplicated):
        found.problem(where.iloc[row], None, "repeats an earlier row with the same "
                      + ", ".join(keys))


def _warn_suspicious(typed: dict[str, pd.DataFrame], labels: dict[str, pd.Series],
                     found: _Collector) -> None:
    checks = [
        ("assets", "price", lambda v: v > SUSPICIOUS["price_high"],
         "is {v:g}: suspiciously high (is the numeraire right?)"),
        ("assets", "price", lambda v: v < SUSPICIOUS["price_low"],
         "is {v:g}: suspiciously low (is the numeraire right?)"),
        ("stakes", "amount", lambda v: v > SUSPICIOUS["amount_high"],
         "is {v:g}: is it given in wei or another base unit?"),
        ("services", "slash_probability", lambda v: v > SUSPICIOUS["slash_probability_high"],
         "is {v:g}: a slashing more likely than not each year"),
        ("services", "reward_rate", lambda v: v > SUSPICIOUS["reward_rate_high"],
         "is {v:g}: over 100% a year (rates are fractions: 0.05 is 5%)"),
    ]
    for table, column, test, message in checks:
        values = typed[table][column]
        flagged = test(values).fillna(False).to_numpy(dtype=bool)
        shown = 0
        for row in np.flatnonzero(flagged):
            if shown == 20:
                found.warn(table, column, f"... and {int(flagged.sum()) - shown} more rows like "
                           "these")
                break
            found.warn(labels[table].iloc[row], column, message.format(v=values.iloc[row]))
            shown += 1
