"""The readable report of a result, and the readable tables of every command.

A value that does not exist (no CVaR without scenarios, no coverage without a profit
from corruption, no worst service for a holder securing nothing) reads ``-`` in every
table printed for a person; JSON says ``null`` and a CSV file leaves the cell empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from optimizer.results.result import Result

MAX_ROWS = 25
"""Rows shown per table; the files hold them all."""

MISSING = "-"
"""A missing value in a readable table (JSON: null; CSV: an empty cell)."""

HOLDERS_NAMED = 3
"""Holders failing the security condition named one by one; the rest are counted."""


def is_missing(value: object) -> bool:
    """Whether ``value`` stands for no value: None, NaN or pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def readable_table(frame: pd.DataFrame,
                   formats: dict[str, Callable[[Any], str]] | None = None) -> str:
    """``frame`` as aligned text, without its index, every missing value as ``MISSING``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; a column mixing numbers and missing values keeps the numeric format.
    formats : dict, optional
        Per column, how to write a value that is present.

    Returns
    -------
    str
        The table's lines, or ``(no rows)`` for a table without rows.
    """
    if frame.empty:
        return "(no rows)"
    formats = formats or {}
    cells = frame.copy()
    for column in cells.columns:
        values = cells[column]
        if column in formats:
            cells[column] = [MISSING if is_missing(v) else formats[column](v) for v in values]
        elif values.dtype == object:
            present = [v for v in values if not is_missing(v)]
            numeric = present and all(isinstance(v, int | float) and not isinstance(v, bool)
                                      for v in present)
            cells[column] = (pd.to_numeric(values)
                             if numeric else
                             [MISSING if is_missing(v) else v for v in values])
    return cells.to_string(index=False, na_rep=MISSING)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts for JSON, every missing value as None (null)."""
    return [{key: None if is_missing(value) else value for key, value in row.items()}
            for row in frame.to_dict(orient="records")]


def insecure_holder_warnings(holders: pd.DataFrame, named: int = HOLDERS_NAMED) -> list[str]:
    """Warnings for the holders failing the restaking-graph security condition.

    The worst ``named`` holders (largest condition first) are named with their condition
    and worst service; the others, if any, are counted in one more line.

    Parameters
    ----------
    holders : pandas.DataFrame
        The holder table of ``analysis.security.security_report`` (holder, condition,
        holds, worst_service); dimensionless conditions, at most 1 holds.
    named : int
        How many holders to name.
    """
    if holders.empty:
        return []
    failing = holders[~holders["holds"].astype(bool)]
    failing = failing.sort_values("condition", ascending=False, kind="stable")
    lines = []
    for row in failing.head(named).itertuples(index=False):
        worst = "" if is_missing(row.worst_service) else f"; worst service {row.worst_service}"
        lines.append(f"the restaking-graph security condition fails for holder {row.holder} "
                     f"({row.condition:.3g} > 1{worst})")
    if len(failing) > named:
        more = len(failing) - named
        lines.append(f"and {more} more holder{'s' if more != 1 else ''} fail"
                     f"{'s' if more == 1 else ''} it too (the holders table lists every one)")
    return lines


def _num(value: float | None, digits: int = 6) -> str:
    return MISSING if is_missing(value) else f"{value:,.{digits}g}"


def format_result(result: Result, max_rows: int = MAX_ROWS) -> str:
    """Render a result as a few aligned tables (status, objective, allocation, services)."""
    info = result.instance
    unit = info.get("numeraire", "")
    lines = [
        f"instance   {info['name']}: {info['stakes']} stakes, {info['services']} services, "
        f"{info['pairs']} eligible pairs",
        f"status     {result.status} (solver: {result.termination}; {result.solver['name']} "
        f"{result.solver['version']}, {result.timings.get('solve', 0.0):.2f} s solve, "
        f"{sum(result.timings.values()):.2f} s in all)",
    ]
    if result.objective is not None:
        loss = f"expected loss {_num(result.expected_loss)}"
        if result.robust_expected_loss is not None:  # the objective subtracts the robust one
            loss = (f"robust expected loss {_num(result.robust_expected_loss)} (nominal "
                    f"{_num(result.expected_loss)})")
        lines.append(f"objective  {_num(result.objective)} {unit}/yr expected net reward = "
                     f"reward {_num(result.reward)} - {loss}")
        if result.gap:
            lines.append(f"bound      {_num(result.bound)} (gap {result.gap:.3%})")
        if result.scenario_count and result.cvar is not None:
            lines.append(_cvar_line(result, unit))
    for sentence in result.explanation:
        lines.append(f"conflict   {sentence}")
    for violation in result.violations:
        lines.append(f"VIOLATION  {violation}")
    if not result.allocation.empty:
        lines += ["", "allocation (fraction of each stake; value in " + unit + ")",
                  _table(result.allocation.sort_values(["stake", "value"],
                                                       ascending=[True, False]),
                         ["stake", "service", "fraction", "value"], max_rows, by="value")]
        stakes = result.stakes[result.stakes["allocated_fraction"] > 0]
        lines += ["", "stakes (reward, loss in " + unit + "/yr)",
                  _table(stakes, ["stake", "holder", "asset", "value", "allocated_fraction",
                                  "net_reward", "net_apr"], max_rows, by="value")]
        services = result.services[result.services["security"] > 0]
        lines += ["", "services (security in " + unit + ")",
                  _table(services, ["service", "security", "total_security", "holders",
                                    "reward", "expected_loss", "coverage"], max_rows,
                         by="security")]
    return "\n".join(lines)


def _cvar_line(result: Result, unit: str) -> str:
    """CVaR on the scenarios solved and, when measured, on fresh ones with its error."""
    line = (f"cvar       {_num(result.cvar)} {unit} on the {result.scenario_count:,} distinct "
            "scenarios solved")
    if result.cvar_out_of_sample is None:
        return line
    return (f"{line}; out of sample {_num(result.cvar_out_of_sample)} +/- "
            f"{_num(result.cvar_out_of_sample_error, 3)} ({result.cvar_out_of_sample_draws:,} "
            f"fresh scenarios, seed {result.cvar_out_of_sample_seed})")


def _table(frame: pd.DataFrame, columns: list[str], max_rows: int, by: str) -> str:
    shown = frame
    note = ""
    if len(frame) > max_rows:
        shown = frame.nlargest(max_rows, by)
        note = f"\n  ... {len(frame) - max_rows} more rows (largest {max_rows} by {by} shown)"
    formatters = {c: (lambda v: f"{v:,.4f}") for c in ("fraction", "allocated_fraction")}
    formatters["net_apr"] = lambda v: f"{v:.3%}"
    for column in ("value", "net_reward", "security", "total_security", "reward",
                   "expected_loss"):
        formatters[column] = lambda v: f"{v:,.2f}"
    formatters["coverage"] = lambda v: f"{v:,.2f}x"
    text = readable_table(shown[columns], formatters)
    return "\n".join("  " + line for line in text.splitlines()) + note
