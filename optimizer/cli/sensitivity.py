"""``restake sensitivity``: stability ranges of the services' rates and probabilities.

See ``optimizer.analysis.sensitivity`` and ``docs/sensitivity.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from optimizer.cli.errors import guarded
from optimizer.cli.inputs import check_writable, load
from optimizer.cli.options import (
    allow_extra_columns,
    current_option,
    instance_argument,
    json_option,
    output_option,
)

if TYPE_CHECKING:
    import pandas as pd


@click.command()
@instance_argument
@click.option("--service", "services", multiple=True, metavar="ID",
              help="A service to analyse (repeat for several; all by default).")
@click.option("--tolerance", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=1e-7, show_default=True,
              help="A pair is in the support when its fraction of the stake is above this.")
@click.option("--mip-gap", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True, help="Relative MIP gap of every solve of a MILP instance.")
@json_option("Print the ranges as JSON (with the notes).")
@output_option("Also write the ranges to FILE.csv.")
@current_option
@allow_extra_columns
@guarded
def sensitivity(instance: str, services: tuple[str, ...], tolerance: float, mip_gap: float,
                as_json: bool, output: str | None) -> None:
    """Stability ranges of INSTANCE's service reward rates and slash probabilities.

    How far each service's reward_rate and slash_probability may move before the optimal
    allocation's support (the pairs with a nonzero fraction) changes.
    Each end is found by fast re-solves, then confirmed by two solves of the whole
    pipeline just inside and just outside it; the table says which (stake, service)
    pairs leave or enter the support past each end, narrowest ranges first. Notes (what
    the ranges assume) go to standard error.
    """
    if output is not None and not output.lower().endswith(".csv"):
        raise click.UsageError(f"--output {output}: the file name must end in .csv")
    check_writable(output, "file")
    from optimizer.analysis.sensitivity import stability_ranges

    problem = load(instance)
    frame = stability_ranges(problem, services=list(services) or None, tolerance=tolerance,
                             mip_rel_gap=mip_gap)
    frame = frame.sort_values("relative_width", kind="stable").reset_index(drop=True)
    for note in frame.attrs.get("notes", []):
        click.echo(f"note: {note}", err=True)
    if output is not None:
        _write_csv(frame, output)
    _show(frame, problem.name, as_json)


def _show(frame: pd.DataFrame, name: str, as_json: bool) -> None:
    """Print the ranges as a table, or as JSON (an infinite relative width is null)."""
    import json
    import math

    from optimizer.results.report import json_records, readable_table

    if as_json:
        records = json_records(frame)
        for record in records:
            if not math.isfinite(record["relative_width"]):
                record["relative_width"] = None
        click.echo(json.dumps({"instance": name, "notes": frame.attrs.get("notes", []),
                               "ranges": records}, indent=2, default=str))
        return
    number = "{:.6g}".format
    click.echo(readable_table(frame, {"value": number, "low": number, "high": number,
                                      "relative_width": "{:.3g}".format}))


def _write_csv(frame: pd.DataFrame, output: str) -> None:
    from pathlib import Path

    from optimizer.atomic import atomic_path

    with atomic_path(Path(output)) as staged:
        frame.to_csv(staged, index=False)
