"""The HTML report of a solution: one self-contained file a governance forum can read.

Its sections are described in docs/report.md. Plots are embedded PNG and the style is
inline: nothing is loaded from the network. Every string of the instance is escaped.
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.analysis import plots
from optimizer.analysis.security import security_report
from optimizer.atomic import atomic_path
from optimizer.errors import InstanceError, OptimizerError, Problem
from optimizer.instance import Instance
from optimizer.instance.outputs import BINDING_OUT
from optimizer.model.tail_risk import uses_cvar
from optimizer.results.write import read_allocation

BINDING_COLUMNS = tuple(column.name for column in BINDING_OUT.columns)
"""The columns of a solution's ``binding.csv`` (``optimizer.instance.outputs``)."""

TIGHT = 1e-7  # a limit binds when its slack is within this fraction of max(|value|, 1)
STABILITY_SHOWN = 10  # the narrowest stability ranges are shown
ALLOCATION_ROWS = 300  # rows of the allocation table at most (a note says when it is cut)

_SENSITIVITY = "optimizer.analysis.sensitivity"
_STYLE = """body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
margin:0 auto;color:#1d1d1f;max-width:1120px;padding:24px 32px;line-height:1.5;font-size:16px}
h2{font-size:22px;margin:36px 0 8px;border-bottom:2px solid #d0d7de;padding-bottom:4px}h1{margin:0}
p.sub{color:#57606a}nav a{margin-right:14px;color:#0969da}.bad{color:#cf222e;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}.card .k{font-size:13px;color:#57606a}
.card{border:1px solid #d0d7de;border-radius:8px;padding:8px 12px;min-width:8em;background:#f6f8fa}
.card .v{font-size:19px;font-weight:600}table{border-collapse:collapse;margin:8px 0;font-size:14px}
th,td{border:1px solid #ccd;padding:4px 10px;text-align:left;vertical-align:top}th{background:#eef}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}img{max-width:100%}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px}"""


@dataclass
class SolutionFolder:
    """A solution folder as the report reads it, checked against its instance."""

    summary: dict[str, Any]
    allocation: pd.DataFrame
    holders: pd.DataFrame
    binding: pd.DataFrame | None


def write_report(instance: Instance, solution_dir: str | Path, path: str | Path, *,
                 simulate_runs: int | None = None, frontier_points: int | None = None,
                 sensitivity: bool = True, seed: int = 0) -> None:
    """Write the HTML report of the solution in ``solution_dir`` to ``path``, atomically.

    Raises `InstanceError` (`read_solution`) or `PlotUnavailableError`, writing nothing.

    Parameters
    ----------
    instance : Instance
        The instance the solution was solved from.
    solution_dir : str or Path
        A folder written by ``restake solve --output`` (``binding.csv`` is optional).
    path : str or Path
        The HTML file to write.
    simulate_runs : int, optional
        Simulate this many years of slashing and show the loss distribution.
    frontier_points : int, optional
        Trace the efficient frontier with this many points.
    sensitivity : bool
        Compute the stability ranges (re-solves); otherwise the section says it was not.
    seed : int
        Seed of the simulation.
    """
    plots.pyplot()  # fail before the work when matplotlib is missing
    solution = read_solution(instance, Path(solution_dir))
    sections = [_headline(instance, solution, bool(simulate_runs), bool(frontier_points)),
                _allocation_section(instance, solution), _binding_section(instance, solution),
                _stability_section(instance, sensitivity), _security_section(solution)]
    if simulate_runs:
        sections.append(_simulation_section(instance, solution, simulate_runs, seed))
    sections += [_frontier_section(instance, frontier_points)] if frontier_points else []
    sections.append(_assumptions_section(instance))
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>Restaking allocation: '
            f"{html.escape(instance.name)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
    with atomic_path(Path(path)) as staged:
        staged.write_text(page, encoding="utf-8")


def read_solution(instance: Instance, folder: Path) -> SolutionFolder:
    """Read a solution folder; `InstanceError` when it is not a solution of ``instance``.

    That is: the folder, summary.json or allocation.csv is missing or unreadable, the summary
    names another instance, the allocation does not fit it, binding.csv lacks a column.
    """
    if not folder.is_dir():
        raise _bad(folder, "is not a folder (give the solution folder restake solve wrote)")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(folder, "has no summary.json: it is not a solution folder") from None
    except (OSError, ValueError) as error:
        raise _bad(folder / "summary.json", f"cannot be read: {error}") from None
    named = (summary.get("instance") or {}).get("name") if isinstance(summary, dict) else None
    if named != instance.name:
        raise _bad(folder, f"is a solution of the instance {named!r}, not {instance.name!r}")
    allocation = read_allocation(folder)
    try:
        _, holders = security_report(instance, allocation)
    except ValueError as error:  # an allocation that does not fit the instance
        raise _bad(folder, str(error)) from None
    file, binding = folder / "binding.csv", None
    if file.is_file():  # older solution folders have none
        try:
            binding = pd.read_csv(file, dtype=str, keep_default_na=False)
        except (ValueError, OSError) as error:
            raise _bad(file, f"cannot be read as CSV: {error}") from None
        if missing := [c for c in BINDING_COLUMNS if c not in binding.columns]:
            raise _bad(file, f"lacks the columns {', '.join(missing)}")
        for column in (c.name for c in BINDING_OUT.columns if c.kind == "float"):
            binding[column] = pd.to_numeric(binding[column], errors="coerce").astype(float)
    return SolutionFolder(summary, allocation, holders, binding)


def _bad(where: Path, message: str) -> InstanceError:
    return InstanceError([Problem(str(where), None, message)])


def _img(draw: Callable[..., None], *arguments: Any, alt: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        draw(*arguments, Path(scratch) / "plot.png")
        data = base64.b64encode((Path(scratch) / "plot.png").read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _number(value: Any, unit: str = "") -> str:
    """A number with thousands separators and a precision fit to its size, then its unit."""
    if value is None or math.isnan(value := float(value)):
        return "-"
    text = ("unbounded" if math.isinf(value) else f"{value:,.0f}" if abs(value) >= 100
            else f"{value:.3g}")  # 3 significant digits below 100: 86.6, 1, 0.0015
    return f"{'-' if math.isinf(value) and value < 0 else ''}{text} {unit}".strip()


def _percent(value: Any) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return "unbounded" if math.isinf(value) else f"{100 * value:.3g}%"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
           numeric: Sequence[int] = ()) -> str:
    """An HTML table; every cell is escaped, the columns ``numeric`` right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>'
                                    f"{html.escape(str(c))}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{"".join(parts)}</section>'


def _p(text: str, kind: str = "") -> str:
    return f'<p{f" class={kind}" if kind else ""}>{html.escape(text)}</p>'


def _headline(instance: Instance, solution: SolutionFolder, simulated: bool,
              traced: bool) -> str:
    summary, numeraire, total = solution.summary, instance.numeraire, instance.stake_value.sum()
    objective, gap, yearly = summary.get("objective"), summary.get("gap"), f"{numeraire}/yr"
    solver, size = summary.get("solver") or {}, summary.get("instance") or {}
    cards = [("status", str(summary.get("status", "-"))),
             ("expected net reward", _number(objective, yearly)),
             ("reward", _number(summary.get("reward"), yearly)),
             ("expected slashing loss", _number(summary.get("expected_loss"), yearly))]
    cards += [(label, _number(summary[key], unit)) for key, label, unit in (
        ("cvar", f"CVaR {instance.parameters.cvar_alpha:.0%} of the loss", numeraire),
        ("opt_in_cost", "opt-in cost", yearly), ("turnover_cost", "turnover cost", yearly))
        if summary.get(key)]  # shown when the instance has them
    cards += [("net return on stake", _percent(objective / total if objective is not None
                                              and total else None) + " a year"),
             ("stake value", _number(total, numeraire)),
             ("optimality gap", "-" if gap is None else "< 0.01%" if abs(gap) < 1e-4
              else _percent(gap))]
    about = (f"Numeraire {numeraire}; {size.get('stakes')} stakes, {size.get('services')} "
             f"services, {size.get('pairs')} eligible stake-service pairs; solved by "
             f"{solver.get('name', 'the solver')} {solver.get('version', '')}"
             f"{' (mixed-integer)' if summary.get('is_mip') else ''}.")
    problems = list(summary.get("violations") or []) + list(summary.get("warnings") or [])
    links = ["allocation", "binding", "stability", "security", "losses" * simulated,
             "frontier" * traced, "assumptions"]
    return (f"<header><h1>Restaking allocation: {html.escape(instance.name)}</h1>"
            + (_p(instance.description, "sub") if instance.description else "") + _p(about)
            + '<div class="cards">' + "".join(
                f'<div class="card"><div class="k">{html.escape(k)}</div>'
                f'<div class="v">{html.escape(v)}</div></div>' for k, v in cards) + "</div>"
            + (_p("Warnings of the solve: " + "; ".join(map(str, problems)), "note")
               if problems else "")
            + "<nav>" + "".join(f'<a href="#{a}">{a.title()}</a>' for a in links if a)
            + "</nav></header>")


def _allocation_section(instance: Instance, solution: SolutionFolder) -> str:
    allocation, numeraire = solution.allocation, instance.numeraire
    if allocation.empty:
        return _section("allocation", "Allocation", _p("No stake secures any service."))
    ordered = allocation.sort_values(["holder", "stake", "value"], ascending=[True, True, False])
    rows = [(r.holder, r.stake, r.service, _percent(r.fraction), _number(r.value, numeraire))
            for r in ordered.head(ALLOCATION_ROWS).itertuples()]
    return _section(
        "allocation", "Allocation",
        _p(f"The value (in {numeraire}) each holder puts behind each service. A stake may "
           "secure several services with the same value (restaking), so a holder's row can "
           "add up to more than its stake."),
        _img(plots.plot_allocation, allocation, instance,
             alt=f"value allocated by holder and service ({numeraire})"),
        _table(["holder", "stake", "service", "fraction of stake", "value"], rows, (3, 4)),
        _p(f"The table shows the first {ALLOCATION_ROWS:,} of {len(allocation):,} rows; the "
           "solution's allocation.csv has them all.") if len(rows) < len(allocation) else "")


def _binding_section(instance: Instance, solution: SolutionFolder) -> str:
    numeraire, binding, title = instance.numeraire, solution.binding, "What binds, and its worth"
    if binding is None:
        return _section("binding", title, _p(
            "Not available: this solution folder has no binding.csv (an older version wrote "
            "it). Solve the instance again to see which limits bind and their prices.", "note"))
    tight = binding["slack"].abs() <= TIGHT * binding["value"].abs().clip(lower=1.0)
    shown = binding[(binding["shadow_price"].fillna(0.0) != 0) | tight].sort_values(
        "gain_of_1pct", ascending=False, na_position="last").assign(
        unit=lambda frame: frame["unit"].str.replace("numeraire", numeraire),  # its name
        how=lambda frame: frame["measured"].str.lower().map({"true": "re-solved"}).fillna(
            "first order"))
    rows = [(r.limit, r.column, _number(r.value), _number(r.slack), r.unit or "-",
             _number(r.shadow_price), _number(r.gain_of_1pct), r.how)
            for r in shown.itertuples()]
    return _section("binding", title, _p(
        f"The limits that hold the allocation where it is, the most valuable first. A limit's "
        f"shadow price is how much the expected net reward would rise, in {numeraire} per year, "
        "per unit of the instance column that sets it (negative: lowering the value relaxes "
        "the limit); 'gain of 1%' is what relaxing it by 1% of its value would add, re-solved "
        "or to first order (the price times 1% of the value: a larger change may gain less, "
        "once another limit binds). A tight limit with a zero price costs nothing.") if rows
        else _p("No limit binds: every limit has slack and a zero price."),
        _p("The model has binary decisions (opt-ins, minimum allocations): these prices are of "
           "the linear program with the binaries fixed at this solution's values (the opt-ins "
           "kept), but a cap on a holder's count of services is priced by one more.", "note")
        if rows and binding["basis"].str.contains("binaries fixed").any() else "",
        _table(["limit", "set by", "value", "slack", "unit", f"shadow price ({numeraire}/yr "
                "per unit)", f"gain of 1% ({numeraire}/yr)", "gain found by"], rows,
               (2, 3, 5, 6)) if rows else "")


def _stability_section(instance: Instance, sensitivity: bool) -> str:
    title, why = "How far the estimates can move", "the report was asked for without it"
    try:  # imported here: the analysis is optional, and heavy
        ranges = (importlib.import_module(_SENSITIVITY).stability_ranges(instance)
                  if sensitivity else None)
    except ModuleNotFoundError as error:  # the analysis itself, not a module it imports
        if error.name != _SENSITIVITY:
            raise
        ranges, why = None, "this version of the optimizer has no stability analysis"
    except (ValueError, OptimizerError) as error:
        ranges, why = None, str(error).rstrip(".")
    if ranges is None:
        return _section("stability", title, _p(f"Not computed: {why}.", "note"))
    narrow = ranges.sort_values("relative_width", na_position="last").head(STABILITY_SHOWN)
    rows = [(r.service, str(r.parameter).replace("_", " "), _percent(r.value),
             f"{_percent(r.low)} to {_percent(r.high)}", _percent(r.relative_width),
             r.low_change, r.high_change, "yes" if r.confirmed else "no")
            for r in narrow.itertuples()]
    notes = "; ".join(map(str, ranges.attrs.get("notes", [])))
    return _section("stability", title, _p(
        f"The {len(narrow)} narrowest of {len(ranges)} ranges. Each is how far one service's "
        "reward rate or slash probability (per year) can move, the others unchanged, while "
        "the optimal allocation keeps the same stake-service pairs (past an end, the pairs "
        "named change). They come from re-solves of the model with the estimate moved, "
        "'confirmed' by independent re-solves at both ends. A narrow range marks an estimate "
        "to get right."),
        _table(["service", "estimate", "value", "range", "width / value", "below the range",
                "above the range", "confirmed"], rows, (2, 3, 4)),
        _p(f"Notes of the analysis: {notes}.", "sub") if notes else "")


def _security_section(solution: SolutionFolder) -> str:
    holders = solution.holders
    rows = [(r.holder, r.services, _number(r.condition), "holds" if r.holds else "FAILS",
             r.worst_service if isinstance(r.worst_service, str) else "-")
            for r in holders.itertuples()]
    failing = int((~holders["holds"].astype(bool)).sum()) if len(holders) else 0
    return _section("security", "Security of the restaking graph", _p(
        "Per holder, Durvasula and Roughgarden's sufficient condition against profitable "
        "(cascading) attacks: the sum over its services of (1 + margin) x profit from "
        "corruption / cost of corruption (attack threshold x slash fraction x all the stake "
        "behind the service). At most 1 holds; 0 means its services declare no profit."),
        _p(f"{failing} holder(s) fail the condition: an attack through them could pay.", "bad")
        if failing else _p("Every holder meets the condition."),
        _table(["holder", "services", "condition", "verdict", "largest term"], rows, (1, 2)))


def _simulation_section(instance: Instance, solution: SolutionFolder, runs: int,
                        seed: int) -> str:
    from optimizer.analysis.simulate import simulate

    result = simulate(instance, solution.allocation, runs=runs, seed=seed)
    rows = [(_measure(m, instance.numeraire), _percent(v) if m.startswith("p_") else _number(v))
            for m, v in zip(result.summary["measure"], result.summary["value"], strict=True)]
    return _section("losses", "Simulated losses", _p(
        f"{runs:,} years of slashing drawn from the instance's slash probabilities, fractions "
        f"and correlation groups (seed {seed}), applied to this allocation. The histogram's "
        "vertical axis is logarithmic: in most years nothing is slashed."),
        _img(plots.plot_losses, result, instance,
             alt=f"histogram of simulated yearly losses ({instance.numeraire})"),
        _table(["measure", "value"], rows, (1,)))


def _measure(name: str, numeraire: str) -> str:
    if name == "expected_loss":
        return f"expected loss ({numeraire} per year)"
    kind, share = name.rsplit("_", 1)[0], float(name.rsplit("_", 1)[1])
    return {"var": f"VaR {share:.0%}: loss not exceeded in {share:.0%} of years ({numeraire})",
            "cvar": f"CVaR {share:.0%}: average loss in the worst {1 - share:.0%} of years "
                    f"({numeraire})"}.get(kind) or (
        f"chance of losing more than {100 * share:g}% of the value allocated in a year")


def _frontier_section(instance: Instance, points: int) -> str:
    from optimizer.analysis.frontier import frontier

    parameters, numeraire = instance.parameters, instance.numeraire
    risk = "cvar" if uses_cvar(instance) else "expected_loss"
    try:
        traced = frontier(instance, points=points, risk=risk)
    except ValueError as error:  # the instance has no such frontier (e.g. it risks nothing)
        why = "; ".join(map(str, getattr(error, "problems", []))) or str(error)
        return _section("frontier", "Reward against risk", _p(f"Not traced: {why}.", "note"))
    solved = traced.points[traced.points["objective"].notna()]
    label = plots.risk_label(risk, numeraire, parameters.cvar_alpha, parameters.worst_case_k)
    columns = [risk] + [c for c in ("objective", "reward", "expected_loss") if c != risk]
    rows = [[int(r["point"])] + [_number(r[c]) for c in columns] for _, r in solved.iterrows()]
    return _section("frontier", "Reward against risk", _p(
        f"The best expected net reward for each level of risk, measured as the {label}: "
        f"{len(solved)} allocations, each a re-solve of the model with a limit on that "
        "measure. Moving left buys safety with reward."),
        _img(plots.plot_frontier, traced, instance, alt="efficient frontier"),
        _table(["point", label] + [f"{c.replace('objective', 'net reward').replace('_', ' ')} "
                                   f"({numeraire}/yr)" for c in columns[1:]], rows, (0, 1, 2, 3)))


def _assumptions_section(instance: Instance) -> str:
    services, parameters, numeraire = instance.services, instance.parameters, instance.numeraire
    floor = instance.effective_min_security
    rows = [(r.Index, _percent(r.reward_rate), _percent(r.slash_probability),
             _percent(r.slash_fraction), _percent(r.slash_probability * r.slash_fraction),
             _number(r.capacity, numeraire),
             _number(floor[r.Index], numeraire) if floor[r.Index] else "-",
             "yes" if r.required else "no", ", ".join(map(str, r.groups)) or "-")
            for r in services.itertuples()]
    model = (f"the instance's own {instance.scenarios['scenario'].nunique():,} joint slashing "
             "scenarios" if len(instance.scenarios) else
             f"{parameters.scenario_count:,} scenarios drawn (seed {parameters.scenario_seed}) "
             "from the common-shock model: each service is slashed with its probability and, "
             "with its group's correlation, all of a group's services are slashed together")
    cvar = (f"the CVaR at {parameters.cvar_alpha:.0%} (the average loss in the worst "
            f"{1 - parameters.cvar_alpha:.0%} of scenarios) on {model}")
    tail = (f"Tail risk is {cvar}." if uses_cvar(instance) else
            f"This instance neither limits nor prices tail risk; its measure would be {cvar}.")
    keys = [("services slashing at once in a worst case (k)", f"{parameters.worst_case_k}"),
            ("security margin (gamma)", _percent(parameters.security_margin)),
            ("CVaR level (alpha)", _percent(parameters.cvar_alpha)),
            ("CVaR limit", _number(parameters.cvar_limit, numeraire)),
            ("risk aversion (lambda)", f"{parameters.risk_aversion:g}"),
            ("turnover cost (of the value moved)", _percent(parameters.turnover_cost)),
            ("turnover limit", _number(parameters.turnover_limit, numeraire))] + [
            (f"group {r.Index}: correlation; most of a stake in it",
             f"{_percent(r.correlation)}; {_percent(r.max_exposure)}")
            for r in instance.groups.itertuples()]
    return _section("assumptions", "Assumptions", _p(
        "Slash probabilities, slash fractions and reward rates are the instance's estimates "
        "(guesses), not measured facts: no public record gives them precisely. The allocation "
        "is optimal for these numbers; the stability section shows which matter most."),
        _table(["service", "reward rate / yr", "slash probability / yr", "slash fraction",
                "expected loss rate / yr", "capacity", "minimum security (effective)",
                "required", "groups"], rows, (1, 2, 3, 4, 5, 6)),
        _p(tail), _table(["parameter", "value"], keys, (1,)),
        _p(f"Source: {instance.source}", "sub") if instance.source else "")
