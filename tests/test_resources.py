"""Memory is checked before any large array exists: sampling, eligibility, the model.

The defect: 400 services and scenario_count = 1,000,000 made scenario sampling allocate
a dense 1,000,000 x 400 array of numbers (3 GB) before any memory check, and ended in a
traceback under a 3 GB address-space limit.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

import optimizer
import optimizer.instance.instance as instance_module
from optimizer import resources
from optimizer.errors import ResourceError
from optimizer.instance import eligibility, scenarios
from optimizer.model import memory

from .conftest import INSTANCES

REALISTIC = INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml"
GiB = 2**30


# --- what is available ------------------------------------------------------------------------

def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_limit_less_usage_without_reclaimable_cache(tmp_path: Path) -> None:
    root = write_files(tmp_path / "cgroup", {
        "memory.max": f"{2 * GiB}\n", "memory.current": f"{GiB}\n",
        "memory.stat": f"anon 1\ninactive_file {GiB // 4}\nactive_file 7\n"})
    membership = write_files(tmp_path, {"self": "0::/\n"}) / "self"
    assert resources.cgroup_available_bytes(root, membership) == 2 * GiB - (GiB - GiB // 4)


def test_cgroup_v2_tightest_level_counts_and_max_means_none(tmp_path: Path) -> None:
    root = write_files(tmp_path / "cgroup", {
        "memory.max": "max\n",
        "app/memory.max": f"{GiB}\n", "app/memory.current": f"{GiB // 2}\n",
        "app/worker/memory.max": "max\n", "app/worker/memory.current": "5\n"})
    membership = write_files(tmp_path, {"self": "0::/app/worker\n"}) / "self"
    assert resources.cgroup_available_bytes(root, membership) == GiB // 2
    write_files(root, {"app/memory.max": "max\n"})
    assert resources.cgroup_available_bytes(root, membership) is None


def test_cgroup_v1_limit_and_its_no_limit_value(tmp_path: Path) -> None:
    root = write_files(tmp_path / "cgroup", {
        "memory/memory.limit_in_bytes": f"{GiB}\n",
        "memory/memory.usage_in_bytes": f"{GiB // 2}\n",
        "memory/memory.stat": f"cache 9\ntotal_inactive_file {GiB // 8}\n"})
    membership = write_files(tmp_path, {"self": "4:memory:/docker/abc\n0::/\n"}) / "self"
    assert resources.cgroup_available_bytes(root, membership) == GiB - (GiB // 2 - GiB // 8)
    write_files(root, {"memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert resources.cgroup_available_bytes(root, membership) is None


def fake_machine(monkeypatch, tmp_path: Path, meminfo_kb: int | None,
                 cgroup_max: int | None) -> None:
    files = {"self": "0::/\n"}
    if meminfo_kb is not None:
        files["meminfo"] = f"MemTotal: 99999999 kB\nMemAvailable: {meminfo_kb} kB\n"
    if cgroup_max is not None:
        files["cgroup/memory.max"] = str(cgroup_max)
        files["cgroup/memory.current"] = "0"
    write_files(tmp_path, files)
    (tmp_path / "cgroup").mkdir(exist_ok=True)
    monkeypatch.setattr(resources, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(resources, "CGROUP_ROOT", tmp_path / "cgroup")
    monkeypatch.setattr(resources, "SELF_CGROUP", tmp_path / "self")
    monkeypatch.setattr(resources, "address_space_available_bytes", lambda: None)


def test_model_check_respects_the_container_limit(monkeypatch, tmp_path: Path) -> None:
    instance = optimizer.load_instance(REALISTIC)
    fake_machine(monkeypatch, tmp_path, meminfo_kb=64 * 2**20, cgroup_max=200 * 2**20)
    assert memory.available_bytes() == 200 * 2**20
    with pytest.raises(ResourceError, match=r"needs an estimated 0.5 GB .* only 0.2 GB"):
        memory.check_fits(instance, scenario_terms=200_000)
    fake_machine(monkeypatch, tmp_path, meminfo_kb=64 * 2**20, cgroup_max=64 * GiB)
    memory.check_fits(instance, scenario_terms=200_000)


def test_without_meminfo_or_sysconf_nothing_is_checked_and_a_note_says_so(
        monkeypatch, tmp_path: Path) -> None:
    instance = optimizer.load_instance(REALISTIC)
    fake_machine(monkeypatch, tmp_path, meminfo_kb=None, cgroup_max=None)
    assert resources.system_available_bytes() == pytest.approx(
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))  # meminfo missing
    monkeypatch.delattr(os, "sysconf")
    assert resources.system_available_bytes() is None
    with pytest.warns(RuntimeWarning, match="memory not checked"):
        assert memory.available_bytes() is None
    with pytest.warns(RuntimeWarning, match="memory not checked"):
        memory.check_fits(instance, scenario_terms=10**9)  # not refused: nothing known


def test_address_space_limit_is_read_in_a_subprocess() -> None:
    code = ("import resource; from optimizer import resources; "
            "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
            "print(resources.address_space_available_bytes(), resources.available_bytes())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    left, available = (float(v) for v in done.stdout.split())
    assert 0 < left < 3 * 2**30 and available <= left


# --- scenario sampling ------------------------------------------------------------------------

def dense_sample(probability, fraction, group_of, correlation, count, seed):
    """The sampling as it was: one dense scenario x service array of draws."""
    rng = np.random.default_rng(seed)
    own = rng.random((count, len(probability)))
    draw = own
    if len(correlation):
        shared = rng.random((count, len(correlation)))
        shock = rng.random((count, len(correlation))) < correlation
        follows = shock[:, np.maximum(group_of, 0)] & (group_of >= 0)
        draw = np.where(follows, shared[:, np.maximum(group_of, 0)], own)
    slashed = (draw < probability) & (fraction > 0)
    _, first, counts = np.unique(np.packbits(slashed, axis=1), axis=0, return_index=True,
                                 return_counts=True)
    order = np.argsort(first)
    rows, services = np.nonzero(slashed[first[order]])
    return counts[order] / count, rows, services


@pytest.mark.parametrize(("services", "groups", "count", "seed"),
                         [(37, 3, 3000, 4), (9, 0, 500, 1), (1, 1, 7, 2), (20, 4, 1, 0)])
@pytest.mark.parametrize("chunk_cells", [7, 100, 2**21])
def test_chunked_sampling_gives_todays_scenarios(monkeypatch, services: int, groups: int,
                                                 count: int, seed: int,
                                                 chunk_cells: int) -> None:
    rng = np.random.default_rng(services + groups)
    probability = rng.random(services) * 0.4
    probability[::5] = 1.0
    fraction = rng.random(services)
    fraction[1::4] = 0.0
    group_of = rng.integers(-1, groups, services) if groups else np.full(services, -1)
    correlation = rng.random(groups)
    expected = dense_sample(probability, fraction, group_of, correlation, count, seed)
    monkeypatch.setattr(scenarios, "SAMPLE_CHUNK_CELLS", chunk_cells)
    got = scenarios.sample(probability, fraction, group_of, correlation, count, seed)
    np.testing.assert_array_equal(got.probability, expected[0])
    np.testing.assert_array_equal(got.rows, expected[1])
    np.testing.assert_array_equal(got.services, expected[2])
    np.testing.assert_array_equal(got.fractions, fraction[expected[2]])


def test_sampling_too_large_is_refused_before_any_draw(monkeypatch) -> None:
    def no_draws(*_args: object) -> None:
        raise AssertionError("drew scenarios before checking memory")

    monkeypatch.setattr(scenarios, "_draw_packed", no_draws)
    p = np.full(400, 0.02)
    needed = scenarios.sampling_bytes(1_000_000, 400, 0)
    assert needed < 0.1 * 1_000_000 * 400 * 8  # a tenth of one dense array of draws
    with pytest.raises(ResourceError, match=r"sampling 1,000,000 scenarios of 400 services "
                       rf"needs an estimated {needed / 1e6:.0f} MB, but only 100 MB are "
                       "available"):
        scenarios.sample(p, p, np.full(400, -1), np.zeros(0), 1_000_000, 0,
                         memory_budget=0.1e9)


def test_merged_set_too_large_is_refused_before_it_is_made(monkeypatch) -> None:
    monkeypatch.setattr(scenarios, "SAMPLE_CHUNK_CELLS", 2**12)
    p = np.full(200, 0.5)
    with pytest.raises(ResourceError, match=r"distinct scenarios sampled \(slashing "
                       r"[0-9,]+ scenario-service pairs\) need an estimated 50 MB, but only 10 MB"):
        scenarios.sample(p, p, np.full(200, -1), np.zeros(0), 20_000, 0, memory_budget=10e6)


def wide_instance(path: Path, services: int = 400, count: int = 1_000_000) -> Path:
    path.write_text(tomli_w.dumps({
        "instance": {"name": "wide"},
        "parameters": {"scenario_count": count, "cvar_limit": 5.0},
        "assets": [{"asset": "ETH", "price": 1.0}],
        "stakes": [{"stake": f"k{i}", "holder": f"h{i}", "asset": "ETH", "amount": 100.0}
                   for i in range(10)],
        "groups": [{"group": f"g{g}", "correlation": 0.3} for g in range(10)],
        "services": [{"service": f"s{s}", "reward_rate": 0.02 + 1e-4 * s,
                      "slash_probability": 0.01 + 1e-4 * s, "slash_fraction": 0.5,
                      "groups": [f"g{s % 10}"]} for s in range(services)],
    }))
    return path


def test_million_scenarios_of_400_services_under_3_gb_address_space(tmp_path: Path) -> None:
    path = wide_instance(tmp_path / "wide.toml")
    assert path.stat().st_size < 60_000
    limit = 3 * 10**9

    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run([str(Path(sys.executable).parent / "restake"), "solve", str(path),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True,
                          check=False, preexec_fn=limit_address_space, timeout=300)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and not (tmp_path / "out").exists()
    assert "needs an estimated" in done.stderr and "scenario terms" in done.stderr


# --- eligibility ------------------------------------------------------------------------------

def eligible_by_the_rules(instance: optimizer.Instance) -> set[tuple[str, str]]:
    """docs/format.md "Eligibility", pair by pair."""
    rules = instance.eligibility
    found = set()
    for stake, row in instance.stakes.iterrows():
        if not (instance.stake_value[stake] > 0 and row["max_restaking"] > 0
                and row["max_per_service"] > 0):
            continue
        for service, accepts in instance.services["accepts"].items():
            if accepts != "*" and row["asset"] not in accepts:
                continue
            ok = True
            for level, owner in (("holder", row["holder"]), ("stake", stake)):
                mine = rules[rules[level] == owner]
                # allowed is true, false, or left out (None: the row only bounds the pair).
                listed = mine["allowed"].map(lambda v: v is not None and bool(v)).astype(bool)
                banned = mine["allowed"].map(lambda v: v is not None and not v).astype(bool)
                if ((mine["service"] == service) & banned).any():
                    ok = False
                if listed.any() and not ((mine["service"] == service) & listed).any():
                    ok = False
            if ok:
                found.add((stake, service))
    return found


def ruled_instance() -> optimizer.Instance:
    stakes = pd.DataFrame({
        "stake": [f"k{i}" for i in range(9)],
        "holder": ["a", "a", "a", "b", "b", "c", "c", "d", "d"],
        "asset": ["ETH", "BTC", "ETH", "ETH", "BTC", "ETH", "BTC", "ETH", "ETH"],
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0, 8.0],
        "max_restaking": [1.0] * 8 + [0.0],
    })
    services = pd.DataFrame({
        "service": [f"s{s}" for s in range(7)],
        "accepts": ["*", ["ETH"], ["BTC", "BTC"], "*", ["ETH", "BTC"], ["BTC"], "*"],
    })
    rules = pd.DataFrame({  # the last two rows only bound their pairs: no whitelist, no ban
        "holder": ["a", "a", "b", None, None, None, "c", "d", None],
        "stake": [None, None, None, "k4", "k5", "k5", None, None, "k6"],
        "service": ["s0", "s3", "s6", "s2", "s1", "s6", "s4", "s0", "s5"],
        "allowed": [False, True, True, False, True, True, True, None, None],
        "max_fraction": [None] * 7 + [0.5, 0.25],
    })
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH", "BTC"], "price": [1.0, 20.0]}),
        stakes=stakes, services=services, eligibility=rules)


@pytest.mark.parametrize("block_cells", [1, 5, 2**24])
def test_eligible_pairs_block_by_block_follow_the_rules(monkeypatch, block_cells: int) -> None:
    monkeypatch.setattr(eligibility, "BLOCK_CELLS", block_cells)
    instance = ruled_instance()
    pairs = instance.pairs
    assert set(zip(pairs["stake"], pairs["service"], strict=True)) == \
        eligible_by_the_rules(instance)
    assert len(pairs) == len(eligible_by_the_rules(instance)) > 5
    ordered = pairs.sort_values(["stake_pos", "service_pos"], ignore_index=True)
    pd.testing.assert_frame_equal(pairs, ordered)
    assert (instance.stakes.index[pairs["stake_pos"]] == pairs["stake"]).all()
    assert (instance.services.index[pairs["service_pos"]] == pairs["service"]).all()


def test_too_many_pairs_are_refused_at_load_with_the_estimate(monkeypatch) -> None:
    monkeypatch.setattr(instance_module, "available_bytes", lambda: 4000.0)
    monkeypatch.setattr(eligibility, "BLOCK_CELLS", 13)  # refused midway, still counted
    with pytest.raises(ResourceError, match=r"has 61 eligible stake-service pairs, which need "
                       r"an estimated 0 MB just to load"):
        optimizer.load_instance(REALISTIC)
