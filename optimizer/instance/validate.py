"""Every rule of the instance format, checked before any model exists.

``validate`` turns raw tables (untyped cells) into typed tables with the documented
defaults applied. It never stops at the first problem: it collects them all, each
naming the file, table, row id and column, and raises one ``InstanceError``.
Values that are legal but suspicious come back as warnings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import InstanceError, Problem
from optimizer.instance.columns import (
    INSTANCE_KEYS,
    PARAMETERS,
    REQUIRED_TABLES,
    TABLES,
    Column,
    Table,
)
from optimizer.instance.io import RawInstance, RawTable

LARGEST_INTEGER = 2**31 - 1
"""Largest integer value accepted (worst_case_k, scenario counts, seeds, service caps)."""

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


@dataclass
class Validated:
    """Typed tables (defaults applied, ids as index where the table has ids)."""

    meta: dict[str, Any]
    parameters: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    warnings: list[Problem]


class _Collector:
    """Problems and warnings found so far."""

    def __init__(self, raw: RawInstance):
        self.problems: list[Problem] = list(raw.problems)
        self.warnings: list[Problem] = list(raw.warnings)

    def problem(self, where: str, column: str | None, message: str) -> None:
        self.problems.append(Problem(where, column, message))

    def warn(self, where: str, column: str | None, message: str) -> None:
        self.warnings.append(Problem(where, column, message))


def validate(raw: RawInstance) -> Validated:
    """Check every rule of the format and type every table.

    Raises
    ------
    InstanceError
        With every problem found, when there is at least one.
    """
    found = _Collector(raw)
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
        typed[name], labels[name] = _type_table(table, spec, found)
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
    return Validated(meta, parameters, typed, found.warnings)


# --- meta and parameters ---------------------------------------------------------------------

def _check_meta(raw: RawInstance, found: _Collector) -> dict[str, Any]:
    where = f"{raw.meta_where} [instance]"
    meta = {"name": None, "numeraire": "ETH", "description": None, "source": None}
    for key, value in raw.meta.items():
        if key not in INSTANCE_KEYS:
            found.warn(where, key, "is not a key of [instance]: ignored")
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
            found.warn(where, key, "is not a known parameter: ignored")
            continue
        series = pd.Series([value], dtype=object)
        converted, bad = _convert(series, column)
        if bad.iloc[0]:
            found.problem(where, key, bad.iloc[0])
        else:
            value = converted.iloc[0]
            values[key] = value.item() if isinstance(value, np.generic) else value
    for key in ("worst_case_k", "scenario_count", "scenario_seed"):
        values[key] = int(values[key])
    for key in ("cvar_limit", "turnover_limit"):
        if values[key] is not None and isinstance(values[key], float) and math.isnan(values[key]):
            values[key] = None
    return values


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
        return "bool"
    return "object"


def _type_table(table: RawTable, spec: Table, found: _Collector
                ) -> tuple[pd.DataFrame, pd.Series]:
    frame = table.frame
    where = pd.Series(table.row_where, index=frame.index, dtype=object)
    for column in frame.columns:
        if column not in spec.names:
            found.warn(table.file, str(column), f"is not a column of '{spec.name}': ignored")
    if spec.id_column and spec.id_column in frame.columns:
        ids = frame[spec.id_column].map(lambda v: None if v is None else str(v).strip())
        where = where + ids.map(lambda v: f" ({spec.id_column}={v})" if v else "")
    elif spec.name in ("eligibility", "current", "scenarios"):
        keys = [c for c in ("scenario", "holder", "stake", "service") if c in frame.columns]
        if keys and len(frame):
            columns = [[f"{k}={v}" if v is not None else None for v in frame[k]] for k in keys]
            where = where + [" (" + ", ".join(p for p in parts if p) + ")"
                             for parts in zip(*columns, strict=True)]
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
        values, bad = _convert(frame[column.name], column)
        for row in np.flatnonzero(bad.notna().to_numpy()):
            found.problem(where.iloc[row], column.name, bad.iloc[row])
        typed[column.name] = values
    result = pd.DataFrame(typed, index=frame.index)
    if spec.id_column and spec.id_column in frame.columns:
        ids = result[spec.id_column]
        first = {}
        for row, value in enumerate(ids):
            if value is None:
                continue
            if value in first:
                found.problem(where.iloc[row], spec.id_column,
                              f"'{value}' is already used by {table.row_where[first[value]]}")
            else:
                first[value] = row
    return result, where


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.strip() == "")


def _convert(series: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """Type one column: the typed values, and per row a problem message or None."""
    missing = series.map(_is_missing).astype(bool)
    bad = pd.Series([None] * len(series), index=series.index, dtype=object)
    if column.kind in ("float", "int"):
        text = series.map(lambda v: v.strip() if isinstance(v, str) else v)
        not_number = series.map(
            lambda v: isinstance(v, bool) or not isinstance(v, int | float | str)).astype(bool)
        numbers = pd.to_numeric(text.where(~missing & ~not_number, None), errors="coerce")
        numbers = numbers.astype("float64")
        unparsed = ~missing & (numbers.isna() | not_number)
        bad[unparsed] = series[unparsed].map(lambda v: f"is {v!r}, not a number")
        infinite = ~missing & ~unparsed & ~np.isfinite(numbers)
        bad[infinite] = series[infinite].map(
            lambda v: f"is {v}, must be finite (leave the value out for none)")
        ok = ~missing & ~unparsed & ~infinite
        if column.kind == "int":
            fractional = ok & (numbers % 1 != 0)
            bad[fractional] = numbers[fractional].map(lambda v: f"is {v:g}, must be an integer")
            ok &= ~fractional
            huge = ok & (numbers.abs() > LARGEST_INTEGER)
            bad[huge] = numbers[huge].map(lambda v: f"is {v:g}, must be at most "
                                                    f"{LARGEST_INTEGER:,}")
            ok &= ~huge
        out_of_range = ok & _outside(numbers, column)
        bad[out_of_range] = numbers[out_of_range].map(
            lambda v: f"is {v:g}, must be {column.range_text()}")
        default = np.nan if column.default is None else float(column.default)
        values = numbers.where(~missing, default)
        if column.kind == "int" and column.default is not None:
            values = values.where(bad.isna(), default).astype("int64")
        bad = bad.where(~missing, "is missing (required)" if column.required else None)
        return values, bad
    if column.kind == "bool":
        parsed = pd.Series([_parse_bool(v) for v in series], index=series.index, dtype=object)
        unparsed = ~missing & parsed.isna()
        bad[unparsed] = series[unparsed].map(lambda v: f"is {v!r}, must be true or false")
        if column.required:
            bad[missing] = "is missing (required)"
        keep = (~missing & ~unparsed).to_numpy()
        default = bool(column.default or False)
        values = pd.Series([bool(v) if k else default for v, k in zip(parsed, keep, strict=True)],
                           index=series.index, dtype=bool)
        return values, bad
    if column.kind == "list":
        parsed = pd.Series([_parse_list(v) for v in series], index=series.index, dtype=object)
        unparsed = ~missing & parsed.isna()
        bad[unparsed] = series[unparsed].map(
            lambda v: f"is {v!r}, must be a list of ids (in CSV, ';'-separated)")
        if column.default == "*":
            empty = ~missing & ~unparsed & parsed.map(lambda v: v == ()).astype(bool)
            bad[empty] = "is an empty list: name at least one asset, or \"*\" for all"
            unparsed |= empty
        keep = (~missing & ~unparsed).to_numpy()
        values = pd.Series([v if k else column.default for v, k in zip(parsed, keep, strict=True)],
                           index=series.index, dtype=object)
        return values, bad
    parsed = pd.Series([_parse_id(v) for v in series], index=series.index, dtype=object)
    unparsed = ~missing & parsed.isna()
    bad[unparsed] = series[unparsed].map(lambda v: f"is {v!r}, must be text")
    if column.kind == "id":
        reserved = ~missing & ~unparsed & parsed.map(
            lambda v: isinstance(v, str) and (v == "*" or ";" in v)).astype(bool)
        bad[reserved] = parsed[reserved].map(
            lambda v: f"is {v!r}: an id may not be \"*\" or contain ';' (they mean 'all' "
                      "and separate lists)")
        unparsed |= reserved
    if column.required:
        bad[missing] = "is missing (required)"
    return _object_where(parsed, ~missing & ~unparsed), bad


def _object_where(values: pd.Series, keep: pd.Series) -> pd.Series:
    """``values`` where ``keep``, else None, as an object Series (pandas would make None NaN)."""
    out = np.empty(len(values), dtype=object)
    out[:] = None
    mask = keep.to_numpy(dtype=bool)
    out[mask] = values.to_numpy(dtype=object)[mask]
    return pd.Series(out, index=values.index, dtype=object)


def _outside(numbers: pd.Series, column: Column) -> pd.Series:
    outside = pd.Series(False, index=numbers.index)
    if column.low is not None:
        outside |= (numbers <= column.low) if column.low_open else (numbers < column.low)
    if column.high is not None:
        outside |= (numbers >= column.high) if column.high_open else (numbers > column.high)
    return outside


_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def _parse_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _parse_list(value: Any) -> str | tuple[str, ...] | None:
    if isinstance(value, str):
        text = value.strip()
        if text == "*":
            return "*"
        return tuple(part.strip() for part in text.split(";") if part.strip())
    if isinstance(value, list | tuple | np.ndarray):
        items = [_parse_id(v) for v in value]
        if any(item is None for item in items):
            return None
        if items == ["*"]:
            return "*"
        return tuple(items)  # type: ignore[arg-type]
    return None


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
        extra["max_services"] = np.nan
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

    current, where = typed["current"], labels["current"]
    _check_duplicate_keys(current, where, ["stake", "service"], found)

    scenarios, where = typed["scenarios"], labels["scenarios"]
    _check_duplicate_keys(scenarios.assign(service=scenarios["service"].fillna("")), where,
                          ["scenario", "service"], found)
    if len(scenarios) and not scenarios["probability"].isna().any():
        spread = scenarios.groupby("scenario", sort=False)["probability"].agg(["min", "max"])
        for scenario in spread.index[(spread["max"] - spread["min"]) > 0]:
            row = int(np.flatnonzero((scenarios["scenario"] == scenario).to_numpy())[0])
            found.problem(where.iloc[row], "probability", f"differs between the rows of scenario "
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
