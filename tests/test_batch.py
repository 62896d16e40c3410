"""Batches of re-solves: serial, one worker and two give the same answers; restake sweep."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer import load_instance
from optimizer.analysis import batch
from optimizer.analysis import cluster as cluster_module
from optimizer.analysis.batch import Change, run_batch
from optimizer.errors import InstanceError

ROOT = Path(__file__).resolve().parent.parent
REALISTIC = ROOT / "instances" / "realistic" / "eigenlayer-symbiotic-2026.toml"
MULTIPLIERS = (0.5, 1.0, 2.0, 1.5, 0.25, 3.0, 0.8)


@pytest.fixture(scope="module")
def instance():
    return load_instance(REALISTIC)


@pytest.fixture(scope="module")
def points():
    # Rates only (warm chunks) and one reward change per point; the last chunk is one task
    # (a pipeline solve), so both paths run.
    return [(Change("services", "slash_probability", m, multiply=True),
             Change("services", "reward_rate", 0.01 * m, rows=("eigenda",)))
            for m in MULTIPLIERS]


@pytest.fixture(scope="module")
def serial(instance, points):
    return run_batch(instance, points, workers=0, chunk_size=3, progress=False)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR,
                                  scheduler_kwargs={"dashboard_address": ":0"}) as local:
        yield local


def same(one, other):
    assert [r.task for r in one] == [r.task for r in other] == list(range(len(one)))
    for a, b in zip(one, other, strict=True):
        assert a.status == b.status == "optimal"
        assert a.warm == b.warm
        assert a.objective == pytest.approx(b.objective, abs=1e-9, rel=0)
        assert a.allocation.reset_index(drop=True).equals(b.allocation.reset_index(drop=True))


def test_serial_warm_chunks_agree_with_pipeline_solves(instance, points, serial):
    cold = run_batch(instance, points, workers=0, chunk_size=1, progress=False)
    assert [r.warm for r in serial] == [True] * 6 + [False]
    assert not any(r.warm for r in cold)
    for warm, alone in zip(serial, cold, strict=True):
        assert warm.objective == pytest.approx(alone.objective, rel=1e-7)
        assert warm.seconds > 0 and warm.changes == alone.changes


def test_one_and_two_workers_match_serial_and_the_instance_is_sent_once(
        instance, points, serial, cluster, monkeypatch):
    from distributed import Client

    scatters = []
    scatter = Client.scatter

    def counted(client, data, **kwargs):
        future = scatter(client, data, **kwargs)
        scatters.append(len(client.who_has(future)[future.key]))
        return future

    monkeypatch.setattr(Client, "scatter", counted)
    one = run_batch(instance, points, scheduler=cluster.scheduler_address, chunk_size=3,
                    progress=False)
    same(one, serial)
    cluster.scale(2)
    with Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
    two = run_batch(instance, points, chunk_size=3, progress=False)
    same(two, serial)
    assert scatters == [1, 2]  # one scatter per batch, held by every worker


def test_bad_changes_are_refused_before_any_solve(instance):
    with pytest.raises(InstanceError) as error:
        run_batch(instance, [Change("services", "slash_probability", 2.0),
                             Change("services", "nope", 1.0),
                             Change("services", "reward_rate", 1.0, rows=("ghost",))],
                  workers=0, progress=False)
    said = str(error.value)
    assert "services.slash_probability" in said and "must be in [0, 1]" in said
    assert "nope" in said and "ghost" in said
    with pytest.raises(ValueError, match="not both"):
        run_batch(instance, [], workers=2, scheduler="tcp://127.0.0.1:1")


def test_apply_changes_sets_multiplies_and_keeps_the_original(instance):
    moved = batch.apply_changes(instance, [
        Change("services", "slash_probability", 2.0, multiply=True),
        Change("services", "reward_rate", 0.5, rows=("eigenda",)),
        Change("parameters", "worst_case_k", 1.0)])
    before = instance.services["slash_probability"]
    assert (moved.services["slash_probability"] == 2.0 * before).all()
    assert moved.services.loc["eigenda", "reward_rate"] == 0.5
    assert moved.parameters.worst_case_k == 1
    assert instance.services.loc["eigenda", "reward_rate"] != 0.5


def restake(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_sweep_prints_only_its_table_or_json(tmp_path, cluster):
    out = tmp_path / "sweep.csv"
    run = restake("sweep", str(REALISTIC), "--set", "services.slash_probability=x0.5,x2",
                  "--set", "services.reward_rate[eigenda]=0.01,0.02", "--json",
                  "--scheduler", cluster.scheduler_address, "-o", str(out))
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"optimal"}
    assert rows[1]["services.slash_probability"] == "x0.5"
    assert rows[1]["services.reward_rate[eigenda]"] == "0.02"
    assert out.read_text().splitlines()[0].startswith("point,services.slash_probability,")
    grid = tmp_path / "grid.csv"
    grid.write_text("services.slash_probability,parameters.worst_case_k\nx1,1\n0.01,2\n")
    run = restake("sweep", str(REALISTIC), "--grid", str(grid), "--workers", "1")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3 and lines[0].split()[:3] == [
        "point", "services.slash_probability", "parameters.worst_case_k"]


@pytest.mark.parametrize("setting, named", [
    ("services.slash_probability=x0.5,oops", "'oops' is not a number"),
    ("services.slash_probabilty=x0.5", "slash_probabilty"),
    ("services.slash_probability=x100", "must be in [0, 1]"),
])
def test_a_bad_set_exits_2_naming_it_and_writes_nothing(tmp_path, setting, named):
    out = tmp_path / "sweep.csv"
    run = restake("sweep", str(REALISTIC), "--set", setting, "--workers", "0", "-o", str(out))
    assert run.returncode == 2
    assert named in run.stderr and run.stdout == ""
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_scheduler_that_does_not_answer_is_named(instance, points, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cluster_module, "CONNECT_SECONDS", 1)
    with pytest.raises(ConnectionError, match="no Dask scheduler answered at tcp://127.0.0.1:9"):
        run_batch(instance, points, scheduler="tcp://127.0.0.1:9", progress=False)
