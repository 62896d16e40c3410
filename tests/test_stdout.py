"""Standard output belongs to the product: every command, run as a real process.

A dependency may print to the process's standard output below Python (HiGHS 1.16 prints
its banner on file descriptor 1 when the first ``Highs`` object is made), which an
in-process test runner never sees. So each command runs here in a subprocess, and its
standard output is parsed exactly: JSON where ``--json`` is given, the documented table
or line otherwise, and nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import INSTANCES, ROOT

TINY = str(INSTANCES / "tiny" / "cvar-limit.toml")
FRONTIER_COLUMNS = ["point", "risk_limit", "status", "objective", "reward", "expected_loss",
                    "cvar", "portfolio_worst_case", "seconds"]


def restake(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m optimizer ARGS`` (or ``python -c CODE ARGS``) as its own process."""
    command = [sys.executable, "-c", code, *args] if code else [
        sys.executable, "-m", "optimizer", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False,
                          timeout=300)


def assert_clean(done: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert done.returncode == code, done.stderr
    assert "Running HiGHS" not in done.stdout and "Copyright" not in done.stdout
    assert "Traceback" not in done.stderr


def table_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


@pytest.fixture(scope="module")
def solution(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stdout") / "solution"
    done = restake("solve", TINY, "--output", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize("extra", [[], ["-v"], ["--compare-baselines"]])
def test_solve_json_is_the_whole_of_stdout(extra: list[str]) -> None:
    done = restake("solve", TINY, "--json", *extra)
    assert_clean(done)
    summary = json.loads(done.stdout)  # the whole stream, not a part of it
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(3.18, abs=1e-9)
    if "-v" in extra:
        assert "HiGHS" in done.stderr  # the log, banner included, goes to stderr
    if "--compare-baselines" in extra:
        assert {row["allocation"] for row in summary["baselines"]} >= {"optimizer"}


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_writing_the_model_keeps_stdout_json(suffix: str, tmp_path: Path) -> None:
    # HiGHS writes the model file itself; whatever it says about it stays off stdout.
    done = restake("solve", TINY, "--json", "-v", "--write-lp", str(tmp_path / f"m{suffix}"))
    assert_clean(done)
    assert json.loads(done.stdout)["status"] == "optimal"
    assert (tmp_path / f"m{suffix}").stat().st_size > 0


def test_solve_table_starts_with_the_instance_line() -> None:
    done = restake("solve", TINY)
    assert_clean(done)
    lines = done.stdout.splitlines()
    assert lines[0] == "instance   cvar-limit: 2 stakes, 3 services, 4 eligible pairs"
    assert lines[1].startswith("status     optimal (solver: optimal; HiGHS ")
    assert lines[2].startswith("objective  3.18 ETH/yr")


def test_validate_prints_one_line() -> None:
    done = restake("validate", TINY)
    assert_clean(done)
    assert done.stdout == f"{TINY}: valid: 2 stakes, 3 services, 4 eligible pairs\n"


def test_frontier_prints_only_its_table() -> None:
    done = restake("frontier", TINY, "--points", "3", "--quiet")
    assert_clean(done)
    rows = table_rows(done.stdout)
    assert rows[0] == FRONTIER_COLUMNS
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    assert all(len(row) == len(FRONTIER_COLUMNS) and row[2] == "optimal" for row in rows[1:])


def test_security_prints_its_two_tables(solution: Path) -> None:
    done = restake("security", TINY, str(solution))
    assert_clean(done)
    first, second = done.stdout.split("\n\n")
    assert first.splitlines()[0] == "services (cost of corruption against profit from corruption)"
    assert second.splitlines()[0] == "holders (condition <= 1 holds)"


@pytest.mark.parametrize("as_json", [True, False])
def test_simulate(solution: Path, as_json: bool) -> None:
    done = restake("simulate", TINY, str(solution), "--runs", "2000", "--quiet",
                   *(["--json"] if as_json else []))
    assert_clean(done)
    if as_json:
        assert json.loads(done.stdout)["runs"] == 2000
    else:
        assert done.stdout.splitlines()[0] == "2,000 slashing scenarios, seed 0 (ETH)"


@pytest.mark.parametrize("command", [["convert"], ["scenarios"], ["generate"]])
def test_writing_commands_print_nothing_on_stdout(command: list[str], tmp_path: Path) -> None:
    out = str(tmp_path / "out.toml")
    sampled = str(tmp_path / "sampled.toml")  # CVaR from sampled scenarios
    assert restake("generate", sampled, "--stakes", "5", "--services", "3",
                   "--cvar").returncode == 0
    args = {"convert": ["convert", TINY, out], "scenarios": ["scenarios", sampled, out],
            "generate": ["generate", out, "--stakes", "5", "--services", "3"]}[command[0]]
    done = restake(*args)
    assert_clean(done)
    assert done.stdout == ""
    assert done.stderr.startswith("wrote ")


def test_version_query_prints_only_the_version() -> None:
    done = restake("--version")
    assert_clean(done)
    assert done.stdout.startswith("restake, version ") and len(done.stdout.splitlines()) == 1
    solver = restake(code="from optimizer.solve.highs import solver_version; "
                     "print(solver_version())")
    assert solver.returncode == 0, solver.stderr
    assert solver.stdout.count("\n") == 1 and "Copyright" not in solver.stdout


def test_bench_prints_only_its_report(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from optimizer.bench import runner, suites\n"
        "suites.SUITES['check'] = [suites.Case('lp-budgets', 'tiny')]\n"
        "runner.direct_algorithms = lambda: ['simplex']\n"
        "from optimizer.cli import main\n"
        "main(sys.argv[1:])\n")
    done = restake("bench", "check", "-o", str(tmp_path / "out"), "--cache",
                   str(tmp_path / "cache"), "--quiet", code=code)
    assert_clean(done)
    assert done.stdout.strip() == (tmp_path / "out" / "report.md").read_text().strip()
