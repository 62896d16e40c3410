"""The readable report of a result, for a terminal."""

from __future__ import annotations

import pandas as pd

from optimizer.results.result import Result

MAX_ROWS = 25
"""Rows shown per table; the files hold them all."""


def _num(value: float | None, digits: int = 6) -> str:
    return "-" if value is None else f"{value:,.{digits}g}"


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
        lines.append(f"objective  {_num(result.objective)} {unit}/yr expected net reward = "
                     f"reward {_num(result.reward)} - expected loss {_num(result.expected_loss)}")
        if result.gap:
            lines.append(f"bound      {_num(result.bound)} (gap {result.gap:.3%})")
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
    formatters["coverage"] = lambda v: "-" if pd.isna(v) else f"{v:,.2f}x"
    # Format by hand: pandas skips formatters on missing values.
    cells = shown[columns].copy()
    for column in columns:
        if column in formatters:
            cells[column] = [formatters[column](v) for v in cells[column]]
    text = cells.to_string(index=False)
    return "\n".join("  " + line for line in text.splitlines()) + note
