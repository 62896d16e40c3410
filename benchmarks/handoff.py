"""Measure the ways of handing a built Pyomo model to HiGHS, on generated instances.

Paths compared, each on its own freshly built model, all solving the same LP with the
same HiGHS options (interior point, one thread, seed 0):

- ``matrix``: the project's adapter (``optimizer.solve.highs``): the model compiled to a
  CSR matrix (``optimizer.solve.matrices``), one ``highspy`` ``passModel`` call, solution
  mapped back;
- ``highs``: Pyomo's ``SolverFactory("highs")`` (``pyomo.contrib.solver``);
- ``appsi_highs``: Pyomo's ``SolverFactory("appsi_highs")``.

The Pyomo interfaces report no separate hand-off time, so theirs is taken as their wall
time (solve call to solution loaded) minus the HiGHS run time measured on the matrix path
for the same LP and options (deterministic: the same iterations). Every path must
reach the same objective. Usage::

    python benchmarks/handoff.py --sizes 1000x50 5000x100 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyomo.environ as pyo

from optimizer.instance.generate import generate_instance
from optimizer.model.build import build_model
from optimizer.solve.options import SolveOptions
from optimizer.solve.outcome import solve_model

OPTIONS = {"solver": "ipm", "threads": 1, "random_seed": 0}


def run_matrix(instance) -> tuple[float, float, float]:
    built = build_model(instance)
    outcome = solve_model(built, SolveOptions(**OPTIONS))
    return outcome.handoff_seconds, outcome.solve_seconds, float(outcome.objective)


def run_pyomo(instance, name: str) -> tuple[float, float]:
    """Wall time of Pyomo's own interface ``name`` (build excluded) and its objective."""
    built = build_model(instance)
    solver = pyo.SolverFactory(name)
    start = time.perf_counter()
    solver.solve(built.model, options=dict(OPTIONS), load_solutions=True)
    wall = time.perf_counter() - start
    # The model is in units of built.scale numeraire (see optimizer.model.scaling).
    return wall, float(pyo.value(built.model.net_reward)) * built.scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x50", "5000x100"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| size | pairs | path | hand-off s (median) | HiGHS s (median) | objective |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        stakes, services = (int(n) for n in size.split("x"))
        instance = generate_instance(stakes, services, seed=0)
        runs = [run_matrix(instance) for _ in range(args.repeats)]
        handoff = statistics.median(r[0] for r in runs)
        highs_seconds = statistics.median(r[1] for r in runs)
        reference = runs[0][2]
        print(f"| {size} | {len(instance.pairs)} | matrix | {handoff:.3f} | "
              f"{highs_seconds:.3f} | {reference:.6g} |", flush=True)
        for path in ("highs", "appsi_highs"):
            walls = []
            for _ in range(args.repeats):
                wall, objective = run_pyomo(instance, path)
                assert abs(objective - reference) <= 1e-6 * max(1.0, abs(reference)), (
                    path, objective, reference)
                walls.append(wall)
            print(f"| {size} | {len(instance.pairs)} | {path} | "
                  f"{statistics.median(walls) - highs_seconds:.3f} | (same LP) | "
                  f"{objective:.6g} |", flush=True)


if __name__ == "__main__":
    main()
