"""Run a suite: every case through ``restake`` and, for LPs, the direct formulation.

Each run is its own process (``optimizer.bench.worker``), one at a time, and appends one
row to ``runs.csv``. The direct formulation is tried with every HiGHS LP algorithm; each
try after the first gets the best time so far as its limit (a slower one cannot be the
fastest), and the fastest is then repeated like ``restake``.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optimizer.analysis.progress import progress
from optimizer.bench.direct import ALGORITHMS
from optimizer.bench.suites import TIERS, Case

COLUMNS = [
    "suite", "instance", "family", "class", "stakes", "services", "pairs", "model_stakes",
    "method", "algorithm", "repeat", "status", "termination", "objective", "bound", "gap",
    "load_s", "build_s", "handoff_s", "solve_s", "extract_s", "total_s", "peak_mb",
    "violations", "highs", "package", "pyomo", "numpy", "python", "git", "started",
]
"""One row per run of ``runs.csv``."""

MARGIN = 120.0
"""Seconds a run may take beyond its solver time limit (load, build) before it is stopped."""


def hipo_available() -> bool:
    """Whether HiGHS's HiPO interior point is installed (the highspy-extras package)."""
    return importlib.util.find_spec("highspy_extras") is not None


def direct_algorithms() -> list[str]:
    """The LP algorithms to try, in ``ALGORITHMS`` order; HiPO only when installed."""
    return [a for a in ALGORITHMS if a != "hipo" or hipo_available()]


def versions() -> dict[str, str]:
    """Solver, package and interpreter versions, and the git revision when known."""
    from optimizer.solve.highs import solver_version

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    root = Path(__file__).resolve().parents[2]
    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = "unknown"
    return {"highs": solver_version(), "package": version("restake-optimizer"),
            "pyomo": version("pyomo"), "numpy": version("numpy"),
            "python": platform.python_version(), "git": git}


def run_suite(suite: str, cases: list[Case], output: Path, cache: Path, repeats: int = 1,
              direct: bool = True, restake_algorithm: str = "choose",
              show_progress: bool = True,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``cases``, appending to ``output / "runs.csv"``; returns this run's rows."""
    output.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    info = versions()
    rows: list[dict[str, Any]] = []
    for case in progress(cases, len(cases), f"bench {suite}", show_progress):
        case.instance(cache)  # generated outside the timings
        restake = [_record(suite, case, "restake", restake_algorithm, repeat, cache, info,
                           output, on_row) for repeat in range(repeats)]
        rows += restake
        if not direct or case.is_mip:
            continue
        best: tuple[float, str] | None = None
        for algorithm in direct_algorithms():
            tier_limit = TIERS[case.tier].time_limit
            limit = tier_limit if best is None else min(tier_limit, max(1.0, best[0]))
            row = _record(suite, case, "direct", algorithm, 0, cache, info, output, on_row,
                          limit)
            rows.append(row)
            if row["status"] == "unsupported":
                break
            if _agrees(row, restake[0]) and (best is None or row["total_s"] < best[0]):
                best = (row["total_s"], algorithm)
        if best is not None:
            for repeat in range(1, repeats):
                rows.append(_record(suite, case, "direct", best[1], repeat, cache, info,
                                    output, on_row))
    return rows


def _record(suite: str, case: Case, method: str, algorithm: str, repeat: int, cache: Path,
            info: dict[str, str], output: Path,
            on_row: Callable[[dict[str, Any]], None] | None,
            time_limit: float | None = None) -> dict[str, Any]:
    limit = time_limit if time_limit is not None else TIERS[case.tier].time_limit
    spec = {"cache": str(cache), "family": case.family, "tier": case.tier, "seed": case.seed,
            "method": method, "algorithm": algorithm, "time_limit": limit}
    row: dict[str, Any] = {
        "suite": suite, "instance": case.name, "family": case.family,
        "class": "MILP" if case.is_mip else "LP", "method": method, "algorithm": algorithm,
        "repeat": repeat, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
    row.update(_run_worker(spec, limit + MARGIN))
    row["total_s"] = sum(float(row.get(k) or 0.0) for k in
                         ("load_s", "build_s", "handoff_s", "solve_s", "extract_s"))
    _append(output / "runs.csv", row)
    if on_row is not None:
        on_row(row)
    return row


def _run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; a crash or a timeout becomes a status."""
    command = [sys.executable, "-m", "optimizer.bench.worker", json.dumps(spec)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "termination": f"stopped after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        status = "unsupported" if "DirectUnsupported" in last else "error"
        return {"status": status, "termination": last[:200]}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"status": "error", "termination": "the run printed no result"}


def _agrees(row: dict[str, Any], reference: dict[str, Any]) -> bool:
    """An optimal direct run whose optimum matches restake's (when restake has one).

    A first-order method (PDLP) can stop "optimal" at a looser tolerance; such a run does
    not count as the fastest.
    """
    if row["status"] != "optimal":
        return False
    if reference.get("status") != "optimal" or reference.get("objective") is None:
        return True
    target = float(reference["objective"])
    return abs(float(row["objective"]) - target) <= 1e-6 * max(1.0, abs(target))


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
