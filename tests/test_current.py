"""A previous solution as the current allocation: ``restake solve --current SOLUTION``.

instances/tiny/turnover.toml (derivation in the file) solves to a-steth old 0.7, new 0.3
and b-reth restake 1 (7.8 ETH/yr of rewards). Taken as the current allocation (the
instance's own, with its stranded legacy row, is replaced), that answer starts the next
rebalance: moving an ETH of a-steth from old (0.03) to new (0.07) earns 0.04 and counts
twice against turnover (out of old, into new), 0.02 of cost; the turnover limit of 130
allows 65 ETH, so a-steth ends old 0.05, new 0.95, and the optimum is
7.8 + 65 x 0.02 = 9.1 ETH/yr (turnover cost 0.01 x 130 = 1.3).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optimizer
from optimizer.instance.current import current_from_solution

from .conftest import INSTANCES

TURNOVER = INSTANCES / "tiny" / "turnover.toml"


def restake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def last_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("solutions") / "A"
    done = restake("solve", str(TURNOVER), "--output", str(folder), "--no-binding")
    assert done.returncode == 0, done.stderr
    return folder


def test_rebalancing_from_last_months_answer_is_one_command(last_month: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "B"
    done = restake("solve", str(TURNOVER), "--current", str(last_month), "--output", str(out),
                   "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout is the summary, whole
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(9.1, rel=1e-9)
    assert summary["turnover_cost"] == pytest.approx(1.3, rel=1e-9)
    assert "replaces the instance's own (2 rows)" in done.stderr
    allocation = pd.read_csv(out / "allocation.csv")
    assert allocation.set_index(["stake", "service"])["fraction"].to_dict() == pytest.approx(
        {("a-steth", "old"): 0.05, ("a-steth", "new"): 0.95, ("b-reth", "restake"): 1.0})


def test_the_table_output_keeps_its_form(last_month: Path) -> None:
    done = restake("solve", str(TURNOVER), "--current", str(last_month), "--no-binding")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("instance   turnover:")
    assert "note:" not in done.stdout and "note:" in done.stderr


def test_the_python_api_reads_a_solution_as_current(last_month: Path) -> None:
    instance = optimizer.load_instance(TURNOVER)
    current = optimizer.current_from_solution(last_month)
    assert list(current.columns[:3]) == ["stake", "service", "fraction"]
    moved = instance.with_current(current)
    assert set(zip(moved.current["stake"], moved.current["service"], strict=True)) == {
        ("a-steth", "old"), ("a-steth", "new"), ("b-reth", "restake")}
    assert optimizer.solve(moved).objective == pytest.approx(9.1, rel=1e-9)
    assert current_from_solution(last_month / "allocation.csv").equals(current)


def _solution_with(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "allocation.csv").write_text(text)
    return folder


@pytest.mark.parametrize(("allocation", "fragments"), [
    ("stake,holder,service,asset,fraction,amount,value\n"
     "a-steth,A,old,stETH,0.5,50,50\nzz,A,old,stETH,0.5,50,50\n",
     ["allocation.csv row 3 (stake=zz, service=old): stake names 'zz'"]),
    ("stake,holder,service,asset,fraction,amount,value\na-steth,A,nowhere,stETH,0.5,50,50\n",
     ["allocation.csv row 2 (stake=a-steth, service=nowhere): service names 'nowhere'"]),
    ("stake,holder,service,asset,fraction,amount,value\na-steth,A,old,stETH,lots,50,50\n",
     ["allocation.csv row 2 (stake=a-steth, service=old): fraction is 'lots', not a number"]),
    ("stake,holder,service,asset,fraction,amount,value\na-steth,A,old,stETH,1.5,50,50\n",
     ["allocation.csv row 2", "fraction is 1.5", "in [0, 1]"]),
    ("stake,service\na-steth,old\n", ["allocation.csv row 1: fraction is missing"]),
])
def test_a_bad_solution_is_refused_with_its_row_and_column(
        allocation: str, fragments: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = restake("solve", str(TURNOVER), "--current", str(_solution_with(tmp_path, allocation)),
                   "--output", str(out))
    assert done.returncode == 2, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr
    assert done.stdout == "" and not out.exists()


def test_a_missing_solution_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = restake("solve", str(TURNOVER), "--current", str(tmp_path / "nothing"), "--output",
                   str(out))
    assert done.returncode == 2
    assert "nothing: does not exist (--current reads the allocation.csv" in done.stderr
    assert done.stdout == "" and not out.exists()
