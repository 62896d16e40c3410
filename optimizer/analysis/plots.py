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


def plot_frontier(points: Any, risk: str, numeraire: str, path: Path) -> None:
    """Expected net reward against risk, one marker per solved point (PNG, atomic)."""
    plt = pyplot()
    solved = points[points["objective"].notna()]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(solved[risk], solved["objective"], marker="o")
    axes.set_xlabel(f"{risk.replace('_', ' ')} ({numeraire})")
    axes.set_ylabel(f"expected net reward ({numeraire} per year)")
    axes.set_title("Efficient frontier")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    with atomic_path(Path(path)) as staged:
        figure.savefig(staged, format="png", dpi=120)
    plt.close(figure)


def plot_losses(losses: Any, probability: Any, numeraire: str, path: Path) -> None:
    """Histogram of the simulated portfolio loss, weighted by scenario probability (PNG)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.hist(losses, bins=50, weights=probability)
    axes.set_yscale("log")
    axes.set_xlabel(f"portfolio slashing loss ({numeraire})")
    axes.set_ylabel("probability")
    axes.set_title("Simulated slashing losses")
    figure.tight_layout()
    with atomic_path(Path(path)) as staged:
        figure.savefig(staged, format="png", dpi=120)
    plt.close(figure)
