"""Tasks per second of run_batch: serial, and local Dask clusters of 1 and 2 workers.

Each task re-solves the instance with every service's slash_probability multiplied by its
own seeded log-normal draw (sigma 0.5, capped at 1). Times are wall times of run_batch:
``cold`` includes starting the local cluster, ``warm`` runs on a cluster already started
(passed as ``scheduler``). Usage::

    python benchmarks/batch.py INSTANCE [INSTANCE...] --draws 200 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np

from optimizer import load_instance
from optimizer.analysis.batch import Change, run_batch
from optimizer.solve.highs import solver_version


def draws(instance, count, seed=0):
    rng = np.random.default_rng(seed)
    base = instance.services["slash_probability"].to_numpy(dtype=float)
    factors = rng.lognormal(0.0, 0.5, size=(count, len(base)))
    return [Change("services", "slash_probability", tuple(np.minimum(base * f, 1.0)))
            for f in factors]


def timed(function):
    start = time.perf_counter()
    results = function()
    return time.perf_counter() - start, results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("instances", nargs="+")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from distributed import LocalCluster

    print(f"HiGHS {solver_version()}; {args.draws} draws; median of {args.repeats}")
    print("instance | run | seconds | tasks/s | warm tasks | objective checksum")
    for path in args.instances:
        instance = load_instance(path)
        points = draws(instance, args.draws)
        runs = {f"{n} worker{'s' if n > 1 else ''} cold" if n else "serial":
                (lambda n=n, i=instance, p=points: run_batch(i, p, workers=n, progress=False))
                for n in (0, 1, 2)}
        for name, function in runs.items():
            report(path, name, [timed(function) for _ in range(args.repeats)], args.draws)
        for n in (1, 2):
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR,
                              scheduler_kwargs={"dashboard_address": ":0"}) as cluster:
                address = cluster.scheduler_address
                report(path, f"{n} worker warm", [timed(lambda a=address, i=instance, p=points:
                    run_batch(i, p, scheduler=a, progress=False))
                    for _ in range(args.repeats)], args.draws)


def report(path, name, measured, count):
    seconds = statistics.median(s for s, _ in measured)
    results = measured[0][1]
    total = sum(r.objective or 0.0 for r in results)
    warm = sum(r.warm for r in results)
    print(f"{path} | {name} | {seconds:.2f} | {count / seconds:.1f} | {warm} | {total:.6f}",
          flush=True)


if __name__ == "__main__":
    main()
