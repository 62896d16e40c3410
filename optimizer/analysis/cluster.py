"""Running chunks of tasks on a Dask cluster: a local one, or a running one by address.

``dask.distributed`` is imported only when a cluster is asked for. The instance is
scattered to every worker once; each chunk is one Dask task, run by a chunk function
(``optimizer.analysis.batch.run_chunk`` for solves, ``optimizer.analysis.surface`` for
frontiers). See ``docs/batch.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from optimizer.instance import Instance

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
"""The environment variable naming an existing scheduler (Dask's own)."""

CONNECT_SECONDS = 10
"""How long a scheduler given by address has to answer (``ConnectionError`` after)."""

Task = TypeVar("Task")
Result = TypeVar("Result")


def scheduler_address(scheduler: str | None, workers: int | None) -> str | None:
    """The scheduler to use: ``scheduler``, else ``DASK_SCHEDULER_ADDRESS`` without workers."""
    given = scheduler or (os.environ.get(SCHEDULER_VARIABLE) if workers is None else None)
    return given or None


def on_dask(instance: Instance, chunks: list[list[Task]],
            run: Callable[[Instance, list[Task], dict[str, Any]], list[Result]],
            options: dict[str, Any], workers: int | None,
            scheduler: str | None) -> Iterator[Result]:
    """Run ``run(instance, chunk, options)`` for every chunk on a Dask cluster.

    Yields each chunk's results as the chunk ends (in the order chunks finish). The
    cluster is the one at ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS`` when ``workers`` is
    None), else a local one of ``workers`` processes (one per core when None).

    Raises
    ------
    ConnectionError
        When a scheduler given by address does not answer within ``CONNECT_SECONDS``.
    """
    from distributed import Client, LocalCluster, as_completed

    address = scheduler_address(scheduler, workers)
    with contextlib.ExitStack() as stack:
        if address:
            try:
                client = stack.enter_context(Client(address, set_as_default=False,
                                                    timeout=CONNECT_SECONDS))
            except (OSError, TimeoutError) as error:
                raise ConnectionError(f"no Dask scheduler answered at {address} within "
                                      f"{CONNECT_SECONDS} s ({type(error).__name__})") from error
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                processes=True, silence_logs=logging.ERROR, dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"}))  # no 8787: it may be taken
            client = stack.enter_context(Client(cluster, set_as_default=False))
        shared = client.scatter(instance, broadcast=True, hash=False)
        futures = [client.submit(run, shared, chunk, options, pure=False) for chunk in chunks]
        try:
            for future in as_completed(futures, loop=client.loop):
                yield from future.result()
        finally:
            client.cancel([*futures, shared])
