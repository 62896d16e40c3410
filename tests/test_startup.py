"""Start-up stays quick: the package and the command line import no heavy dependency.

``import optimizer`` and ``import optimizer.cli`` (hence ``restake --help``) load only
click and the package's light modules; pandas, numpy, scipy, Pyomo, HiGHS and matplotlib
are imported by a command when it runs, or by the first use of a name of the API. Each
case runs in a fresh process under ``-X importtime`` and is checked on the names of the
modules imported, not on times (a loaded machine makes timed tests flaky).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import optimizer

from .conftest import INSTANCES, ROOT

TINY = str(INSTANCES / "tiny" / "cvar-limit.toml")
HEAVY = ("pandas", "numpy", "scipy", "pyomo", "highspy", "matplotlib")


def imported_modules(*arguments: str) -> set[str]:
    """The modules a fresh ``python -X importtime ARGUMENTS`` imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def heavy(modules: set[str]) -> list[str]:
    """The heavy dependencies among ``modules`` (their top-level packages)."""
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.mark.parametrize("arguments", [
    ["-c", "import optimizer"],
    ["-c", "import optimizer.cli"],
    ["-c", "from optimizer import InstanceError, OptimizerError, Problem"],
    ["-m", "optimizer", "--help"],
    ["-m", "optimizer", "solve", "--help"],
    ["-m", "optimizer", "bench", "--help"],
], ids=" ".join)
def test_start_up_imports_no_heavy_dependency(arguments: list[str]) -> None:
    modules = imported_modules(*arguments)
    assert "optimizer" in modules
    assert heavy(modules) == []


def test_solve_imports_no_scipy() -> None:
    # The model, the compiler and the eligibility sets use numpy only. Any scipy import
    # after Pyomo would also fire Pyomo's hook that imports scipy.stats (about a second).
    modules = imported_modules("-m", "optimizer", "solve", TINY, "--json")
    assert {"pyomo", "highspy"} <= modules
    assert sorted(m for m in modules if m.split(".")[0] == "scipy") == []


def test_the_check_sees_a_heavy_import() -> None:
    assert "numpy" in heavy(imported_modules("-c", "import optimizer.instance.instance"))


def test_solve_is_the_function_whatever_was_imported_first() -> None:
    code = ("import optimizer.cli, optimizer.solve.options, optimizer\n"
            "from optimizer import solve\n"
            "import optimizer.solve.highs\n"
            "assert callable(solve) and optimizer.solve is solve, optimizer.solve\n"
            "assert solve.__module__ == 'optimizer.pipeline'\n")
    imported_modules("-c", code)


def test_every_public_name_resolves() -> None:
    for name in optimizer.__all__:
        assert getattr(optimizer, name) is not None, name
    assert set(optimizer.__all__) <= set(dir(optimizer))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        optimizer.nothing  # noqa: B018
