"""Frontier surfaces: one frontier per sweep point, in this process or on Dask alike."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from optimizer import load_instance, solve
from optimizer.analysis.batch import Change, apply_changes
from optimizer.analysis.surface import frontier_surface
from optimizer.instance import Instance

ROOT = Path(__file__).resolve().parent.parent
CVAR = ROOT / "instances" / "tiny" / "cvar-limit.toml"
SWEEP = [Change("services", "slash_probability", factor, multiply=True)
         for factor in (0.5, 1.0, 2.0)]


@pytest.fixture(scope="module")
def instance() -> Instance:
    return load_instance(CVAR)


@pytest.fixture(scope="module")
def serial(instance: Instance) -> pd.DataFrame:
    return frontier_surface(instance, SWEEP, points=4, workers=0, progress=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR,
                      scheduler_kwargs={"dashboard_address": ":0"}) as local:
        yield local.scheduler_address


def test_each_point_is_the_frontier_of_the_changed_instance(instance: Instance,
                                                            serial: pd.DataFrame) -> None:
    assert list(serial["sweep_point"].unique()) == [0, 1, 2]
    assert list(serial["services.slash_probability"].unique()) == ["x0.5", "x1", "x2"]
    for position, change in enumerate(SWEEP):
        frontier = serial[serial["sweep_point"] == position]
        assert len(frontier) == 4 and (frontier["status"] == "optimal").all()
        # Its last point is the changed instance's optimum without a limit on the measure:
        # solved independently, as restake solve would with the CVaR limit lifted.
        moved = apply_changes(instance, [change])
        loose = moved.with_changes(keep_scenarios=True, parameters={"cvar_limit": None})
        assert frontier["objective"].iloc[-1] == pytest.approx(
            solve(loose, binding=False).objective, rel=1e-7)
    # Slashing twice as often costs more at every risk level past the first.
    half, double = (serial.loc[serial["sweep_point"] == k, "objective"].to_numpy()
                    for k in (0, 2))
    assert (half[1:] > double[1:]).all()


def test_dask_gives_the_same_surface(instance: Instance, serial: pd.DataFrame,
                                     cluster: str) -> None:
    on_dask = frontier_surface(instance, SWEEP, points=4, scheduler=cluster, progress=False)
    same = serial.drop(columns="seconds")
    pd.testing.assert_frame_equal(on_dask.drop(columns="seconds"), same, rtol=1e-9)


def restake(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *arguments],
                          capture_output=True, text=True, check=False)


def test_command_line_prints_and_writes_the_surface(tmp_path: Path) -> None:
    out = tmp_path / "surface.csv"
    run = restake("frontier", str(CVAR), "--points", "3", "--workers", "0", "-q",
                  "--set", "services.slash_probability=x1,x2", "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0].split()[:3] == ["sweep_point",
                                                     "services.slash_probability", "point"]
    written = pd.read_csv(out)
    assert len(written) == 6 and set(written["sweep_point"]) == {0, 1}
    refused = restake("frontier", str(CVAR), "--set", "services.slash_probability=x2",
                      "--plot", str(tmp_path / "f.png"))
    assert refused.returncode == 2 and "not a surface" in refused.stderr.replace("\n", " ")
    assert refused.stdout == "" and not (tmp_path / "f.png").exists()
    unknown = restake("frontier", str(CVAR), "--workers", "0", "--set",
                      "services.no_such_column=x2")
    assert unknown.returncode == 2 and "no_such_column" in unknown.stderr
