"""The floors CI tests are the floors pyproject.toml declares, for every runtime dependency."""

from __future__ import annotations

import re
import tomllib

from .conftest import ROOT

FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)>=([0-9.]+)$")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([0-9.]+)$")


def release(version: str) -> tuple[int, ...]:
    """``2.0`` and ``2.0.0`` are the same release."""
    parts = [int(part) for part in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def name(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def declared_floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"] + project["optional-dependencies"]["plot"]:
        match = FLOOR.match(requirement.replace(" ", ""))
        assert match, f"{requirement!r} has no plain >= floor to test"
        floors[name(match[1])] = match[2]
    return floors


def pinned_floors() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"{line!r} in .ci/floors.txt is not an exact pin"
            pins[name(match[1])] = match[2]
    return pins


def test_every_declared_floor_is_pinned_at_that_release() -> None:
    declared, pinned = declared_floors(), pinned_floors()
    assert "tqdm" in declared and "matplotlib" in declared
    assert sorted(pinned) == sorted(declared)
    for package, floor in declared.items():
        assert release(pinned[package]) == release(floor), package


def test_ci_runs_the_suite_on_the_floors() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    # The floors install the package built from this tree (a wheel, so that the README's
    # command can build in the tree at the same time) with the floors pinned.
    assert "pip wheel -q --no-deps -w \"$work/wheel\" ." in script
    assert '-c .ci/floors.txt "${wheel}[test]"' in script
    assert ".venv-floors/bin/python -m pytest -q" in script
