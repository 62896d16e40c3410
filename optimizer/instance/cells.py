"""Typing the cells of one column: numbers, integers, true/false, lists of ids, ids.

``convert_cells`` turns untyped cells (text from CSV, values from TOML, JSON or frames)
into typed values with the column's default where a cell is missing, and says per
cell what is wrong. ``validate`` locates the problems in the user's file.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from optimizer.instance.columns import Column

LARGEST_INTEGER = 2**31 - 1
"""Largest integer value accepted (worst_case_k, scenario counts, seeds, service caps)."""


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.strip() == "")


def convert_cells(series: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """Type one column: the typed values, and per row a problem message or None."""
    if column.kind in ("float", "int"):
        typed = _plain_numbers(series, column)
        if typed is not None:
            return typed
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
    if column.kind in ("address", "uint"):
        return _exact_cells(series, column, missing, bad)
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
    flawed = ~missing & ~unparsed & parsed.map(
        lambda v: isinstance(v, str) and id_flaw(v) is not None).astype(bool)
    bad[flawed] = parsed[flawed].map(id_flaw)
    unparsed |= flawed
    if column.required:
        bad[missing] = "is missing (required)"
    return _object_where(parsed, ~missing & ~unparsed), bad


def _exact_cells(series: pd.Series, column: Column, missing: pd.Series, bad: pd.Series
                 ) -> tuple[pd.Series, pd.Series]:
    """Addresses or exact integers, cell by cell (Python objects, never floats)."""
    parse = _parse_address if column.kind == "address" else _parse_uint
    values = np.empty(len(series), dtype=object)
    for row, cell in enumerate(series):
        if missing.iloc[row]:
            values[row] = column.default
            if column.required:
                bad.iloc[row] = "is missing (required)"
            continue
        value, problem = parse(cell, column)
        values[row] = value
        bad.iloc[row] = problem
    return pd.Series(values, index=series.index, dtype=object), bad


def _plain_numbers(series: pd.Series, column: Column) -> tuple[pd.Series, pd.Series] | None:
    """The typed column at once when every cell is a plain, legal number (or NaN).

    Most columns of most instances are: numbers from TOML or JSON, every one finite, in
    range and (for integers) whole. Then no cell needs a message and the column is typed
    with numpy alone; anything else (text, a bad value, a missing required cell) returns
    None and takes the cell-by-cell path, which says what is wrong where.
    """
    cells = series.to_numpy(dtype=object)
    if not all(type(cell) is float or type(cell) is int for cell in cells):
        return None
    numbers = np.asarray(cells, dtype=float)
    missing = np.isnan(numbers)
    present = numbers[~missing]
    if (missing.any() and column.required) or not np.isfinite(present).all():
        return None
    if column.kind == "int" and ((present % 1 != 0).any()
                                 or (np.abs(present) > LARGEST_INTEGER).any()):
        return None
    low, high = column.low, column.high
    if low is not None and ((present <= low) if column.low_open else (present < low)).any():
        return None
    if high is not None and ((present >= high) if column.high_open
                             else (present > high)).any():
        return None
    default = np.nan if column.default is None else float(column.default)
    values = pd.Series(np.where(missing, default, numbers), index=series.index)
    if column.kind == "int" and column.default is not None:
        values = values.astype("int64")
    return values, pd.Series([None] * len(series), index=series.index, dtype=object)


FORMULA_STARTS = ("=", "+", "-", "@")
"""First characters that make a spreadsheet run a CSV cell as a formula: refused in ids,
which every solution file writes, rather than escaped (a quote in front would change the
id for every other program)."""

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def id_flaw(text: str) -> str | None:
    """Why ``text`` cannot be an id (or a reference to one), or None if it can.

    Refused: control characters, line breaks and lone surrogates (they break CSV rows,
    messages and terminals), and a first character in ``FORMULA_STARTS``. Spaces around
    an id are stripped on reading in every spelling; commas, quotes and any other
    Unicode character are kept as given.
    """
    if _UNPRINTABLE.search(text):
        return (f"is {text!r}: an id may not hold control characters or line breaks (they "
                "would break CSV rows and messages)")
    if text.startswith(FORMULA_STARTS):
        return (f"is {text!r}: an id may not start with '{text[0]}' (a spreadsheet opening "
                "the CSV files would run it as a formula)")
    return None


def printable(value: object) -> str:
    """``value`` as text, with unprintable characters escaped, for a message."""
    text = str(value)
    return text if text.isprintable() else repr(text)[1:-1]


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


_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _parse_address(value: Any, column: Column) -> tuple[str | None, str | None]:
    return parse_address(value)


def parse_address(value: Any) -> tuple[str | None, str | None]:
    """An Ethereum address in EIP-55 form, or the reason it is not one.

    All-lowercase and all-uppercase hex carry no checksum and are accepted; mixed case must
    match the EIP-55 checksum exactly (a mistyped character then shows).
    """
    from eth_utils import to_checksum_address

    text = value.strip() if isinstance(value, str) else None
    if text is None or not _HEX_ADDRESS.fullmatch(text):
        return None, f"is {value!r}, not an address (0x and 40 hex digits)"
    checksummed = to_checksum_address(text)
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and text != checksummed:
        return None, (f"is {text}, whose mixed case fails its EIP-55 checksum (a mistyped "
                      f"character?): the checksummed form of these hex digits is {checksummed}")
    return checksummed, None


def _parse_uint(value: Any, column: Column) -> tuple[int | None, str | None]:
    """An exact unsigned integer of any size, or the reason it is not one.

    Whole numbers are taken as they are; text must be decimal digits (``"1000000000000000000"``,
    underscores allowed as in TOML); a float is taken only when it is whole and below 2**53,
    where every whole number is exact (``1e18`` is refused: write its digits).
    """
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating):
        if math.isfinite(value) and float(value).is_integer() and abs(float(value)) <= 2**53:
            number = int(value)
        elif math.isfinite(value) and float(value).is_integer():
            return None, (f"is {value:g} as a floating-point number: above 2^53 a float "
                          "cannot hold every whole number, so it may not be the value meant: "
                          "write its decimal digits as text")
    elif isinstance(value, str) and re.fullmatch(r"\d[\d_]*", value.strip()):
        number = int(value.strip().replace("_", ""))
    if number is None:
        return None, f"is {value!r}, not a whole number"
    if (column.low is not None and number < column.low) or (
            column.high is not None and number > column.high):
        return None, f"is {number}, must be {column.range_text()}"
    return number, None


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
