"""``restake sweep``: one solve per point of a grid of changed parameters, as a batch.

A ``--set`` is ``table.column=SPEC,SPEC...`` (or ``table.column[row,row]=...`` for some
rows; ``parameters.NAME=...`` for a parameter); a SPEC is a number (the value set) or
``x`` and a number (every value multiplied). Several ``--set`` make their cartesian
product; a ``--grid`` CSV has one column per target and one row per point, its cells
written like SPECs (with ``--set`` too, every grid row meets every combination). The
points run through `optimizer.analysis.batch.run_batch`.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import click

from optimizer.cli.errors import fail, guarded
from optimizer.cli.options import (
    allow_extra_columns,
    current_option,
    instance_argument,
    json_option,
    output_option,
    quiet_option,
    solver_options,
)

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.analysis.batch import BatchResult, Change
    from optimizer.instance import Instance

TARGET = re.compile(r"^(?P<table>[a-z_]+)\.(?P<column>[a-z_0-9]+)(\[(?P<rows>[^\]]+)\])?$")
SPEC = re.compile(r"^(?P<times>[xX*])?(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$")
MEASURES = ["status", "objective", "reward", "expected_loss", "cvar", "seconds"]


def parse_target(text: str, where: str) -> tuple[str, str, tuple[str, ...] | None]:
    """``table.column[rows]`` as (table, column, rows or None); a usage error otherwise."""
    found = TARGET.match(text.strip())
    if found is None:
        raise click.UsageError(f"{where}: {text!r} is not TABLE.COLUMN or "
                               "TABLE.COLUMN[ROW,...] (e.g. services.slash_probability)")
    rows = found["rows"]
    return (found["table"], found["column"],
            tuple(r.strip() for r in rows.split(",")) if rows else None)


def parse_spec(text: str, where: str) -> tuple[float, bool]:
    """A number (set) or ``x`` number (multiply): (value, multiply)."""
    found = SPEC.match(str(text).strip())
    if found is None:
        raise click.UsageError(f"{where}: {text!r} is not a number or x and a number "
                               "(e.g. 0.01 or x0.5)")
    return float(found["number"]), found["times"] is not None


def parse_set(text: str) -> list[Change]:
    """The changes of one ``--set`` option, one per value."""
    target, equals, values = text.partition("=")
    where = f"--set {text}"
    if not equals or not values.strip():
        raise click.UsageError(f"{where}: give TABLE.COLUMN=VALUE[,VALUE...]")
    table, column, rows = parse_target(target, where)
    return [_change(table, column, rows, spec, where) for spec in values.split(",")]


def _change(table: str, column: str, rows: tuple[str, ...] | None, spec: str,
            where: str) -> Change:
    from optimizer.analysis.batch import Change

    value, multiply = parse_spec(spec, where)
    return Change(table, column, value, rows=rows, multiply=multiply)


def read_grid(path: str) -> list[tuple[Change, ...]]:
    """The points of a grid CSV: one column per target, one row per point."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not len(frame.columns) or not len(frame):
        raise click.UsageError(f"--grid {path}: needs a header of targets and one row per point")
    targets = [parse_target(name, f"--grid {path} column") for name in frame.columns]
    points = []
    for number, row in enumerate(frame.itertuples(index=False, name=None), start=2):
        where = f"--grid {path} line {number}"
        points.append(tuple(_change(table, column, rows, cell, where)
                            for (table, column, rows), cell in zip(targets, row, strict=True)))
    return points


def setting(change: Change) -> str:
    """The value as the command line writes it: ``x0.5`` or ``0.01``."""
    values = change.value if isinstance(change.value, tuple) else (change.value,)
    text = ";".join(f"{v:g}" for v in values)
    return f"x{text}" if change.multiply else text


def load_sweep(instance: str, sets: tuple[str, ...], grid: str | None, output: str | None,
               workers: int | None, scheduler: str | None,
               written: str) -> tuple[Instance, list[tuple[Change, ...]]]:
    """Check a sweep's options, load INSTANCE and the sweep's points (all before any solve).

    ``written`` names what ``output`` holds, for the message when it is not a .csv.
    """
    from pathlib import Path

    from optimizer.analysis.batch import check_changes
    from optimizer.cli.inputs import load
    from optimizer.errors import OutputError

    if output and Path(output).suffix.lower() != ".csv":
        raise OutputError(f"cannot write {output}: {written} is written as .csv")
    if workers and scheduler:
        raise click.UsageError("--workers sizes a local cluster: give it or --scheduler")
    points = sweep_points(sets, grid)
    problem = load(instance)
    check_changes(problem, [change for point in points for change in point])
    return problem, points


def sweep_points(sets: tuple[str, ...], grid: str | None) -> list[tuple[Change, ...]]:
    """The points of ``--set`` options (their cartesian product) and a ``--grid`` file."""
    axes: list[list[tuple[Change, ...]]] = [[(change,) for change in parse_set(text)]
                                            for text in sets]
    if grid:
        axes.insert(0, read_grid(grid))
    if not axes:
        raise click.UsageError("give at least one --set or a --grid")
    return [sum(combination, ()) for combination in itertools.product(*axes)]


def table_of(results: list[BatchResult]) -> pd.DataFrame:
    """One row per point: the values set, then status and measures (cvar where present)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for result in results:
        row: dict[str, Any] = {"point": result.task}
        row.update({change.target: setting(change) for change in result.changes})
        row.update({name: getattr(result, name) for name in MEASURES})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "cvar" in frame and frame["cvar"].isna().all():
        frame = frame.drop(columns="cvar")
    return frame


@click.command()
@instance_argument
@click.option("--set", "sets", multiple=True, metavar="TABLE.COLUMN=SPEC,...",
              help="Values of a column (or TABLE.COLUMN[ROW,...] for some rows, "
              "parameters.NAME for a parameter): a number sets it, x0.5 multiplies it. "
              "Several --set make their cartesian product.")
@click.option("--grid", type=click.Path(exists=True, dir_okay=False),
              help="CSV with one column per TABLE.COLUMN and one row per point.")
@output_option("Write the table to FILE.csv.")
@json_option("Print the table as JSON (a list of points).")
@click.option("--workers", type=click.IntRange(min=0), help="Local Dask worker processes "
              "(0: serial, no cluster; default one per core).")
@click.option("--scheduler", metavar="ADDRESS", help="An existing Dask scheduler "
              "(default: $DASK_SCHEDULER_ADDRESS, else a local cluster).")
@click.option("--chunk-size", type=click.IntRange(min=1), help="Points per task of a "
              "worker (default 8; results depend on it, never on the workers).")
@solver_options
@quiet_option
@current_option
@allow_extra_columns
@guarded
def sweep(instance: str, sets: tuple[str, ...], grid: str | None, output: str | None,
          as_json: bool, workers: int | None, scheduler: str | None, chunk_size: int | None,
          time_limit: float | None, mip_gap: float | None, threads: int | None,
          random_seed: int, presolve: str, solver: str, quiet: bool) -> None:
    """Solve INSTANCE once per point of a grid of changed parameters (on Dask)."""
    from optimizer.analysis.batch import run_batch

    problem, points = load_sweep(instance, sets, grid, output, workers, scheduler,
                                 "the sweep's table")
    try:
        results = run_batch(problem, points, workers=workers, scheduler=scheduler,
                            chunk_size=chunk_size, progress=not quiet, time_limit=time_limit,
                            mip_rel_gap=mip_gap, threads=threads, random_seed=random_seed,
                            presolve=presolve, solver=solver)
    except ConnectionError as error:  # a wrong --scheduler or DASK_SCHEDULER_ADDRESS
        fail(f"error: {error} (nothing was written)", 2)
    show_table(table_of(results), output, as_json)


for _parameter in sweep.params:  # the shared option's text speaks of one solve
    if _parameter.name == "time_limit" and isinstance(_parameter, click.Option):
        _parameter.help = "Time limit of each point's solve, seconds."
del _parameter


def show_table(frame: pd.DataFrame, output: str | None, as_json: bool) -> None:
    """Print the table (or JSON) on standard output; write the CSV atomically."""
    import json
    from pathlib import Path

    from optimizer.atomic import atomic_path
    from optimizer.results.report import readable_table

    if output:
        with atomic_path(Path(output)) as staged:
            frame.to_csv(staged, index=False)
    if as_json:
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        click.echo(json.dumps(records, indent=2))
    else:
        click.echo(readable_table(frame))
