"""The benchmark report: per-instance medians, ratios to the direct formulation, a plot.

Runtimes are summarised by the shifted geometric mean, exp(mean(log(t + 10))) - 10
(seconds), which neither lets one slow instance dominate nor lets tiny ones vanish.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import OutputError

SHIFT = 10.0
"""Shift of the geometric mean, seconds."""

SOLVED = ("optimal", "feasible")

RELEASE_MOVE = 1.5
"""A case whose median total time moved by more than this factor (either way) against the
last run recorded on another HiGHS release is flagged."""


def shifted_geomean(seconds: pd.Series | np.ndarray, shift: float = SHIFT) -> float:
    """exp(mean(log(t + shift))) - shift, seconds (NaN for no values)."""
    values = np.asarray(seconds, dtype=float)
    if len(values) == 0:
        return float("nan")
    return float(np.exp(np.mean(np.log(values + shift))) - shift)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per instance: medians of restake and of the fastest direct algorithm."""
    rows = []
    for name, mine in runs.groupby("instance", sort=False):
        restake = mine[mine["method"] == "restake"]
        first = restake.iloc[0] if len(restake) else mine.iloc[0]
        ok = restake[restake["status"].isin(SOLVED)
                     & (pd.to_numeric(restake["violations"], errors="coerce").fillna(0) == 0)]
        row = {"instance": name, "class": first["class"], "stakes": first["stakes"],
               "services": first["services"], "pairs": first["pairs"],
               "model_stakes": first["model_stakes"],
               "status": first["status"] if not len(ok) else ok["status"].iloc[0],
               "objective": ok["objective"].median() if len(ok) else np.nan,
               "gap": ok["gap"].median() if len(ok) else np.nan, "runs": len(restake)}
        for phase in ("load_s", "build_s", "handoff_s", "solve_s", "extract_s", "total_s",
                      "peak_mb"):
            row[phase] = ok[phase].median() if len(ok) else np.nan
        row["overhead_per_solve"] = ((row["build_s"] + row["handoff_s"] + row["extract_s"])
                                     / row["solve_s"] if row["solve_s"] else np.nan)
        direct = mine[(mine["method"] == "direct") & (mine["status"] == "optimal")]
        row["direct_algorithm"] = ""
        row["direct_total_s"] = row["direct_peak_mb"] = row["direct_objective"] = np.nan
        if len(direct):
            fastest = direct.groupby("algorithm")["total_s"].median().idxmin()
            best = direct[direct["algorithm"] == fastest]
            row["direct_algorithm"] = fastest
            row["direct_total_s"] = best["total_s"].median()
            row["direct_peak_mb"] = best["peak_mb"].median()
            row["direct_objective"] = best["objective"].median()
        row["time_ratio"] = row["total_s"] / row["direct_total_s"]
        row["memory_ratio"] = row["peak_mb"] / row["direct_peak_mb"]
        row["objectives_agree"] = (
            "" if np.isnan(row["direct_objective"]) or np.isnan(row["objective"])
            else bool(abs(row["objective"] - row["direct_objective"])
                      <= 1e-6 * max(1.0, abs(row["direct_objective"]))))
        rows.append(row)
    return pd.DataFrame(rows)


def release_moves(runs: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Each case's time against the last run recorded on another HiGHS release.

    For every instance of ``runs`` (the ``restake`` method, solved), the median total
    time is compared with that of the rows of ``history`` (the runs recorded before, in
    the order they were appended) on the last other release that ran the instance.

    Returns
    -------
    pandas.DataFrame
        instance, highs (this run's), other (the other release), seconds, other_seconds
        (medians), ratio (seconds / other_seconds) and moved (ratio beyond
        ``RELEASE_MOVE`` either way); empty when no case ran on another release.
    """
    columns = ["instance", "highs", "other", "seconds", "other_seconds", "ratio", "moved"]
    solved = runs[(runs["method"] == "restake") & runs["status"].isin(SOLVED)]
    before = history[(history["method"] == "restake") & history["status"].isin(SOLVED)] \
        if len(history) else history
    rows = []
    for name, mine in solved.groupby("instance", sort=False):
        release = str(mine["highs"].iloc[-1])
        other = before[(before["instance"] == name) & (before["highs"].astype(str) != release)] \
            if len(before) else before
        if not len(other):
            continue
        last = str(other["highs"].iloc[-1])
        seconds = float(pd.to_numeric(mine["total_s"]).median())
        other_seconds = float(pd.to_numeric(
            other.loc[other["highs"].astype(str) == last, "total_s"]).median())
        ratio = seconds / other_seconds if other_seconds > 0 else np.nan
        rows.append((name, release, last, seconds, other_seconds, ratio,
                     bool(ratio > RELEASE_MOVE or ratio < 1 / RELEASE_MOVE)))
    return pd.DataFrame(rows, columns=columns)


def release_section(moves: pd.DataFrame) -> list[str]:
    """The report's lines comparing each case with its last run on another release."""
    if moves.empty:
        return []
    lines = ["", "Against the last run recorded on another HiGHS release (median total "
             f"time; a move beyond {RELEASE_MOVE}x either way is flagged):", "",
             "| instance | release | seconds | other release | seconds | ratio | flag |",
             "|---|---|---|---|---|---|---|"]
    for _, row in moves.iterrows():
        flag = f"**moved {row['ratio']:.2f}x**" if row["moved"] else ""
        lines.append(f"| {row['instance']} | {row['highs']} | {_num(row['seconds'])} | "
                     f"{row['other']} | {_num(row['other_seconds'])} | "
                     f"{_num(row['ratio'], '.2f')} | {flag} |")
    return lines


def markdown(runs: pd.DataFrame, title: str, command: str,
             history: pd.DataFrame | None = None) -> str:
    """The report as Markdown; with ``history`` (earlier runs), the release comparison."""
    table = summarize(runs)
    info = runs.iloc[-1]
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             f"HiGHS {info['highs']}, restake-optimizer {info['package']} (git {info['git']}), "
             f"Pyomo {info['pyomo']}, numpy {info['numpy']}, Python {info['python']}. "
             "Medians over the repeats; each run its own process; total = load + build + "
             "hand-off + solve + extract (evaluation included in extract).", ""]
    lines += ["| instance | class | pairs | model stakes | status | objective | gap | load | "
              "build | hand-off | solve | extract | total (s) | peak MB | direct (fastest) | "
              "direct total (s) | direct MB | time ratio | memory ratio | overhead / solve | "
              "same optimum |",
              "|" + "---|" * 21]
    for _, row in table.iterrows():
        lines.append(
            f"| {row['instance']} | {row['class']} | {_int(row['pairs'])} | "
            f"{_int(row['model_stakes'])} | {row['status']} | {_num(row['objective'], '.6g')} |"
            f" {_num(row['gap'], '.2e')} | {_num(row['load_s'])} | {_num(row['build_s'])} | "
            f"{_num(row['handoff_s'])} | {_num(row['solve_s'])} | {_num(row['extract_s'])} | "
            f"{_num(row['total_s'])} | {_num(row['peak_mb'], '.0f')} | "
            f"{row['direct_algorithm'] or '-'} | {_num(row['direct_total_s'])} | "
            f"{_num(row['direct_peak_mb'], '.0f')} | {_num(row['time_ratio'], '.3f')} | "
            f"{_num(row['memory_ratio'], '.2f')} | {_num(row['overhead_per_solve'], '.2f')} | "
            f"{'-' if row['objectives_agree'] == '' else row['objectives_agree']} |")
    lines += ["", "Shifted geometric means (shift 10 s) of the total time; the last two "
              "columns over the instances both solved.", "",
              "| class | instances | solved | shifted geomean (s) | solved by both | "
              "restake on those (s) | direct on those (s) |", "|---|---|---|---|---|---|---|"]
    for kind, mine in table.groupby("class"):
        solved = mine.dropna(subset=["total_s"])
        both = solved.dropna(subset=["direct_total_s"])
        lines.append(f"| {kind} | {len(mine)} | {len(solved)} | "
                     f"{_num(shifted_geomean(solved['total_s']))} | {len(both)} | "
                     f"{_num(shifted_geomean(both['total_s']))} | "
                     f"{_num(shifted_geomean(both['direct_total_s']))} |")
    if history is not None:
        lines += release_section(release_moves(runs, history))
    return "\n".join(lines) + "\n"


def scaling_plot(runs: pd.DataFrame, path: Path) -> None:
    """Total time against pairs, log-log, restake and the direct formulation (PNG).

    When every case has the same number of pairs (the tiny suite) a size axis would put
    them all at one x: the cases are then side by side, named, instead.
    """
    from optimizer.analysis.plots import pyplot
    from optimizer.atomic import atomic_path

    plt = pyplot()
    table = summarize(runs)
    timed = [column for column in ("total_s", "direct_total_s") if column in table
             and (pd.to_numeric(table[column], errors="coerce") > 0).any()]
    if not timed:  # a log axis of nothing: say so rather than fail
        raise OutputError("no run has a time to plot (every run failed or was skipped)")
    one_size = table["pairs"].nunique() < 2
    x = np.arange(len(table)) if one_size else table["pairs"].to_numpy()
    figure, axes = plt.subplots(figsize=(8, 5))
    labels = {"total_s": "restake end to end",
              "direct_total_s": "direct highspy (fastest algorithm)"}
    for column in timed:
        label = labels[column]
        shown = table[column].notna().to_numpy()
        axes.scatter(x[shown], table[column][shown], label=label)
    names = list(dict.fromkeys(runs["suite"].astype(str))) if "suite" in runs else []
    suites = (f"suite {names[0]}" if len(names) == 1 else f"suites {', '.join(names)}"
              if names else "benchmark")
    if one_size:
        axes.set_xticks(x, [str(name) for name in table["instance"]], rotation=30,
                        ha="right")
        axes.set_xlabel(f"case (each {int(table['pairs'].iloc[0]):,} eligible pairs)")
        axes.set_title(f"{suites}: time per case (median of the runs)")
    else:
        axes.set_xscale("log")
        axes.set_xlabel("eligible (stake, service) pairs")
        axes.set_title(f"{suites}: time against size (median of the runs)")
    axes.set_yscale("log")
    axes.set_ylabel("seconds, load to answer")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as staged:
        figure.savefig(staged, format="png", dpi=120)
    plt.close(figure)


def _num(value: object, spec: str = ".2f") -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if np.isnan(number) else format(number, spec)


def _int(value: object) -> str:
    try:
        return f"{int(value):,}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "-"
