"""Plots (PNG), with matplotlib from the optional extra ``[plot]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optimizer.atomic import atomic_path
from optimizer.errors import OutputError


class PlotUnavailableError(OutputError):
    """matplotlib is not installed (the command line exits 2, nothing written)."""


def pyplot() -> Any:
    """Matplotlib's pyplot on the file-only Agg backend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError(
            "plots need matplotlib: pip install 'restake-optimizer[plot]'") from None
    return plt


def risk_label(risk: str, numeraire: str, cvar_alpha: float, worst_case_k: int) -> str:
    """The frontier's risk measure in words, with its unit (an axis label)."""
    if risk == "cvar":
        return f"CVaR at {cvar_alpha:.0%} of the portfolio's slashing loss ({numeraire})"
    if risk == "expected_loss":
        return f"expected slashing loss ({numeraire} per year)"
    services = "service" if worst_case_k == 1 else f"{worst_case_k} services"
    return f"loss if the {services} costing the portfolio most slash at once ({numeraire})"


def plot_frontier(frontier: Any, instance: Any, path: Path) -> None:
    """Expected net reward against risk, one marker per solved point (PNG, atomic).

    The title names the instance; the x axis names the measure precisely (its confidence
    level, its number of services). The unconstrained optimum (the allocation ``restake
    solve`` returns when the instance sets no limit on this measure) is marked, and so is
    the instance's current allocation when it has one (``Frontier.current``).
    """
    plt = pyplot()
    parameters, numeraire, risk = instance.parameters, instance.numeraire, frontier.risk
    solved = frontier.points[frontier.points["objective"].notna()]
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot(solved[risk], solved["objective"], marker="o", label="efficient frontier")
    if len(solved):
        top = solved.iloc[-1]
        axes.scatter([top[risk]], [top["objective"]], s=120, facecolors="none",
                     edgecolors="black", zorder=3, label="unconstrained optimum")
    current = getattr(frontier, "current", None)
    if current is not None and current.get(risk) is not None:
        broken = current.get("violations", 0)
        label = "current allocation" + (f" (breaks {broken} limit{'s' * (broken != 1)})"
                                        if broken else "")
        axes.scatter([current[risk]], [current["objective"]], marker="X", s=90, color="C3",
                     zorder=3, label=label)
    axes.set_xlabel(risk_label(risk, numeraire, parameters.cvar_alpha,
                               parameters.worst_case_k))
    axes.set_ylabel(f"expected net reward ({numeraire} per year)")
    axes.set_title(f"{instance.name}: reward against risk, {len(solved)} allocations")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    _save(plt, figure, path)


def plot_losses(simulation: Any, instance: Any, path: Path, level: float = 0.95) -> None:
    """Histogram of the simulated yearly portfolio loss, with its mean, VaR and CVaR (PNG).

    Weighted by scenario probability, on a log scale; vertical lines mark the expected
    loss and the VaR and CVaR at ``level`` (one of the simulation's levels).
    """
    plt = pyplot()
    numeraire = instance.numeraire
    measures = dict(zip(simulation.summary["measure"], simulation.summary["value"],
                        strict=True))
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.hist(simulation.losses, bins=50, weights=simulation.probability, color="C0",
              alpha=0.8, label="probability of each loss")
    axes.set_yscale("log")
    marks = [("expected loss", measures.get("expected_loss"), "C2", "-"),
             (f"VaR {level:.0%}", measures.get(f"var_{level:g}"), "C1", "--"),
             (f"CVaR {level:.0%}", measures.get(f"cvar_{level:g}"), "C3", ":")]
    for name, value, color, style in marks:
        if value is not None:
            axes.axvline(value, color=color, linestyle=style, linewidth=2,
                         label=f"{name}: {value:,.4g} {numeraire}")
    axes.set_xlabel(f"portfolio slashing loss in one year ({numeraire})")
    axes.set_ylabel("probability")
    axes.set_title(f"{instance.name}: simulated yearly slashing loss "
                   f"({simulation.runs:,} scenarios, seed {simulation.seed})")
    axes.legend(loc="upper right")
    _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path) -> None:
    figure.tight_layout()
    with atomic_path(Path(path)) as staged:
        figure.savefig(staged, format="png", dpi=120)
    plt.close(figure)


def plot_allocation(allocation: Any, instance: Any, path: Path, most: int = 30) -> None:
    """Heat map of the value each holder puts behind each service, labelled (PNG, atomic).

    One row per holder, one column per service, each cell's value written in it; at most
    ``most`` holders and services (the largest by value), the rest counted in the title.
    """
    plt = pyplot()
    numeraire = instance.numeraire
    table = allocation.pivot_table(index="holder", columns="service", values="value",
                                   aggfunc="sum", fill_value=0.0)
    holders = table.sum(axis=1).sort_values(ascending=False).index
    services = table.sum(axis=0).sort_values(ascending=False).index
    table = table.loc[holders[:most], services[:most]]
    left_out = (len(holders) - len(table.index), len(services) - len(table.columns))
    width = min(9.5, max(7.0, 0.55 * len(table.columns) + 2.5))  # shown at 1:1 in a report
    figure, axes = plt.subplots(figsize=(width, max(3.5, 0.45 * len(table.index) + 2.2)))
    values = table.to_numpy()
    shown = values.copy()
    shown[shown <= 0] = float("nan")  # empty cells stay white
    image = axes.imshow(shown, cmap="Blues", aspect="auto", vmin=0)
    top = float(values.max()) if values.size else 0.0
    for (row, column), value in _cells(values):
        axes.text(column, row, _short(value), ha="center", va="center", fontsize=9,
                  color="white" if value > 0.6 * top else "black")
    axes.set_xticks(range(len(table.columns)), [str(s) for s in table.columns],
                    rotation=40, ha="right")
    axes.set_yticks(range(len(table.index)), [str(h) for h in table.index])
    axes.set_xlabel("service")
    axes.set_ylabel("holder")
    figure.colorbar(image, ax=axes, label=f"value allocated ({numeraire})", format="{x:,.0f}")
    more = " and ".join(f"{n} more {what}" for n, what in zip(left_out, ("holders", "services"),
                                                                  strict=True) if n)
    axes.set_title(f"{instance.name}: value allocated by holder and service ({numeraire})"
                   + (f"\n(largest shown; {more} left out)" if more else ""))
    _save(plt, figure, path)


def _cells(values: Any) -> list[tuple[tuple[int, int], float]]:
    return [((r, c), float(values[r, c])) for r in range(values.shape[0])
            for c in range(values.shape[1]) if values[r, c] > 0]


def _short(value: float) -> str:
    """A cell's value in at most four characters and a suffix: 950, 12.3k, 1.2M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= 0.9995 * size:  # 999.7 is 1k, not 1e+03
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def plot_robustness(result: Any, path: Path) -> None:
    """Distribution of the objectives over a robustness analysis's draws (PNG, atomic).

    Two histograms on the same bins: the objective re-optimised for each draw, and the
    nominal allocation's objective under each draw (out of sample); vertical lines mark
    the nominal optimum and the resampled allocation's nominal objective. The title names
    the instance, the draw count and the seed.
    """
    import numpy as np

    plt = pyplot()
    unit = f"{result.numeraire} per year"
    table = result.table
    reoptimised = table["objective"].dropna().to_numpy()
    nominal = table["nominal_objective"].dropna().to_numpy()
    both = np.concatenate([reoptimised, nominal, [result.nominal_objective]])
    bins = np.linspace(both.min(), both.max(), 31) if np.ptp(both) > 0 else 10
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.hist(reoptimised, bins=bins, alpha=0.6, color="C0",
              label="re-optimised for each draw")
    axes.hist(nominal, bins=bins, alpha=0.6, color="C1",
              label="nominal allocation under each draw")
    axes.axvline(result.nominal_objective, color="black", linewidth=2,
                 label=f"nominal optimum: {result.nominal_objective:,.2f}")
    axes.axvline(result.resampled.objective, color="C2", linestyle="--", linewidth=2,
                 label=f"resampled allocation, nominal parameters: "
                 f"{result.resampled.objective:,.2f}")
    axes.set_xlabel(f"expected net reward ({unit})")
    axes.set_ylabel("draws")
    axes.set_title(f"{result.instance}: objective over {result.draws} parameter draws "
                   f"(seed {result.seed})")
    axes.legend(loc="upper left", fontsize=9)
    _save(plt, figure, path)
