"""One benchmark run in its own process, so that its peak memory is its own.

``python -m optimizer.bench.worker '{"cache": ..., "family": ..., "tier": ...,
"method": "restake" | "direct", "algorithm": ..., "time_limit": ...}'`` prints one JSON
object: status, objective, phase seconds and peak memory (MB, the process's maximum
resident set).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from optimizer.bench.suites import Case


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Load, build, hand off, solve and extract once; the phases timed.

    Imports (Pyomo, scipy, highspy) happen first, untimed: they cost both methods the same
    second or two per process, not per solve.
    """
    import highspy  # noqa: F401
    import pyomo.environ  # noqa: F401
    import scipy.sparse  # noqa: F401
    from pyomo.repn import standard_repn  # noqa: F401

    import optimizer.bench.direct
    import optimizer.pipeline  # noqa: F401

    case = Case(spec["family"], spec["tier"], spec.get("seed", 1))
    start = time.perf_counter()
    instance = case.load(Path(spec["cache"]))
    load = time.perf_counter() - start
    row: dict[str, Any] = {"load_s": load, "stakes": len(instance.stakes),
                           "services": len(instance.services), "pairs": len(instance.pairs)}
    if spec["method"] == "restake":
        row.update(_restake(instance, spec))
    else:
        row.update(_direct(instance, spec))
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return row


def _restake(instance: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from optimizer.pipeline import build, solve_built

    merge = spec.get("merge", True)
    built = build(instance, merge_stakes=merge)
    result = solve_built(built, time_limit=spec["time_limit"], solver=spec["algorithm"])
    timings = result.timings
    return {
        "status": result.status, "termination": result.termination,
        "objective": result.objective, "bound": result.bound, "gap": result.gap,
        "model_stakes": len(built.merge.instance.stakes) if built.merge else len(instance.stakes),
        "build_s": timings.get("build", 0.0), "handoff_s": timings.get("handoff", 0.0),
        "solve_s": timings.get("solve", 0.0),
        "extract_s": timings.get("extract", 0.0) + timings.get("evaluate", 0.0),
        "violations": len(result.violations),
    }


def _direct(instance: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from optimizer.bench.direct import direct_lp, solve_direct

    start = time.perf_counter()
    lp = direct_lp(instance)
    build = time.perf_counter() - start
    outcome = solve_direct(lp, spec["algorithm"], spec["time_limit"])
    return {
        "status": outcome.status, "termination": outcome.status,
        "objective": outcome.objective, "bound": outcome.objective,
        "gap": 0.0 if outcome.objective is not None else None,
        "model_stakes": len(instance.stakes), "build_s": build,
        "handoff_s": outcome.handoff_seconds, "solve_s": outcome.solve_seconds,
        "extract_s": outcome.extract_seconds, "violations": 0,
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
