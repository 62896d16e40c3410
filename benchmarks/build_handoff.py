"""Build and hand-off of the modelling layer alone, on a generated instance (no solve).

For each repeat, in this process: build the model (``optimizer.pipeline.build``: scenario
sampling, stake merging, every family) and hand it to HiGHS (compile to arrays, one
``passModel`` call), timed apart; the median of the repeats is printed as one Markdown
row, with the model's size. Run it once per source tree to compare two versions of the
package on the same instance and machine, e.g.::

    python benchmarks/build_handoff.py --size 10000x200 --case lp-coupled --repeats 3
    PYTHONPATH=/path/to/other/checkout python benchmarks/build_handoff.py ...
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import time

import optimizer
from optimizer.bench.suites import FAMILIES
from optimizer.instance.generate import generate_instance
from optimizer.pipeline import build


def hand_off(built: object) -> tuple[float, int, int]:
    """Seconds to compile and pass the model to HiGHS; its rows and columns."""
    start = time.perf_counter()
    try:  # the session of this version of the package
        from optimizer.solve.highs import HighsSession
        from optimizer.solve.options import SolveOptions

        session = HighsSession(built, SolveOptions())  # type: ignore[arg-type]
        form = session.form
    except ImportError:  # a version before the session: its adapter's own steps
        from optimizer.solve import highs
        from optimizer.solve.matrices import compile_standard_form
        from optimizer.solve.options import SolveOptions

        form = compile_standard_form(built)
        highs.pass_to_highs(highs.new_highs(SolveOptions()), form)
    return time.perf_counter() - start, len(form.row_lower), len(form.cost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10000x200")
    parser.add_argument("--case", default="lp-coupled", choices=sorted(FAMILIES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    stakes, services = map(int, args.size.split("x"))
    instance = generate_instance(stakes, services, seed=args.seed, **FAMILIES[args.case])
    builds, handoffs = [], []
    for _ in range(args.repeats):
        gc.collect()
        start = time.perf_counter()
        built = build(instance)
        builds.append(time.perf_counter() - start)
        seconds, rows, columns = hand_off(built)
        handoffs.append(seconds)
        del built
    commit = subprocess.run(["git", "-C", optimizer.__path__[0], "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"| {commit} | {args.case} {args.size} | {rows:,} x {columns:,} | "
          f"{statistics.median(builds):.2f} | {statistics.median(handoffs):.2f} | "
          f"{statistics.median(builds) + statistics.median(handoffs):.2f} |")


if __name__ == "__main__":
    main()
