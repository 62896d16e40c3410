"""Outputs are replaced in one step: old or new, never a mix, never missing.

Interrupted at every line of the swap (as a signal would, by an exception), killed with
SIGKILL at many moments of a write, and raced by four solves writing one folder.
"""

from __future__ import annotations

import ctypes
import errno
import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from optimizer import atomic
from optimizer.atomic import atomic_path, remove_leftovers
from optimizer.errors import OutputError
from optimizer.results.write import SOLUTION_FILES, write_solution

from .conftest import INSTANCES, ROOT

OWNED = frozenset({"a.csv", "b.csv", "summary.json"})
LEFTOVER = re.compile(r"\.out\.[0-9a-f]{8}\.partial")


def write_folder(staged: Path, tag: str) -> None:
    staged.mkdir()
    for name in sorted(OWNED):
        (staged / name).write_text(f"{tag}\n" * 50)


def content(folder: Path) -> dict[str, str] | None:
    if not folder.is_dir():
        return None
    return {p.name: p.read_text() for p in folder.iterdir()}


class Stop(KeyboardInterrupt):
    """What a SIGINT or SIGTERM handler raises: an exception at an arbitrary line."""


def write_stopped_at(line: int, target: Path, owned: frozenset[str] | None) -> int:
    """Write ``target`` (tag ``new``), raising Stop at the ``line``-th line run in the
    module of ``atomic_path``; 0 runs to the end. Returns the lines run."""
    module_file = atomic_path.__wrapped__.__code__.co_filename  # type: ignore[attr-defined]
    count = 0

    def local(frame, event, arg):  # noqa: ANN001, ANN202
        nonlocal count
        # Not on a ``try:`` line: CPython 3.11 ran no enclosing ``finally`` for an exception
        # raised there by a tracer, and a signal is never delivered there (only at calls
        # and jumps), so that would test the tracer, not the code.
        if event == "line" and linecache.getline(module_file, frame.f_lineno).strip() != "try:":
            count += 1
            if count == line:
                raise Stop
        return local

    def calls(frame, event, arg):  # noqa: ANN001, ANN202
        return local if frame.f_code.co_filename == module_file else None

    sys.settrace(calls)
    try:
        with atomic_path(target, owned) as staged:
            if owned is None:
                staged.write_text("new\n")
            else:
                write_folder(staged, "new")
    finally:
        sys.settrace(None)
    return count


@pytest.fixture(params=["exchange", "no renameat2", "refused by the file system"])
def swap_path(request, monkeypatch):  # noqa: ANN001, ANN201
    """The exchange where the system has it, and the two-rename fallback elsewhere."""
    if request.param == "exchange" and atomic._renameat2 is None:
        pytest.skip("this system has no renameat2")
    if request.param == "no renameat2":
        monkeypatch.setattr(atomic, "_renameat2", None)
    elif request.param == "refused by the file system":
        def refuse(*args: object) -> int:
            ctypes.set_errno(errno.EINVAL)
            return -1
        monkeypatch.setattr(atomic, "_renameat2", refuse)
    return request.param


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_interrupted_at_every_line_leaves_old_or_new(tmp_path: Path, swap_path: str,
                                                      kind: str) -> None:
    if kind == "file" and swap_path != "exchange":
        pytest.skip("a file is put in place by rename alone")
    target = tmp_path / "out"
    owned = OWNED if kind == "folder" else None

    def reset() -> None:
        for path in tmp_path.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        if owned is None:
            target.write_text("old\n")
        else:
            target.mkdir()
            for name in sorted(OWNED):
                (target / name).write_text("old\n" * 50)

    reset()
    old = target.read_text() if owned is None else content(target)
    lines = write_stopped_at(0, target, owned)
    new = target.read_text() if owned is None else content(target)
    assert new != old and lines > 10
    outcomes = set()
    for line in range(1, lines + 1):
        reset()
        try:
            write_stopped_at(line, target, owned)
        except Stop:
            pass
        now = (target.read_text() if target.is_file() else None) if owned is None \
            else content(target)
        assert now in (old, new), f"stopped at line {line} of {lines}: {now!r}"
        outcomes.add("new" if now == new else "old")
        strays = [p.name for p in tmp_path.iterdir() if p.name != "out"]
        assert all(LEFTOVER.fullmatch(name) for name in strays), strays
    assert outcomes == {"old", "new"}


def test_a_killed_writers_staging_folder_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "out"
    stale = tmp_path / ".out.0badf00d.partial"
    (stale / "out").mkdir(parents=True)
    (stale / "out" / "a.csv").write_text("half")
    other = tmp_path / ".out-notes"
    other.mkdir()
    with atomic_path(target, OWNED) as staged:
        write_folder(staged, "new")
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out-notes", "out"]


def test_a_live_writers_staging_folder_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_path(target, OWNED) as first:
        write_folder(first, "first")
        with atomic_path(target, OWNED) as second:  # finishes while the first one writes
            write_folder(second, "second")
        assert set(content(target).values()) == {"second\n" * 50}
        assert set(content(first).values()) == {"first\n" * 50}  # untouched by the second
        assert remove_leftovers(tmp_path, "out") == []
    assert set(content(target).values()) == {"first\n" * 50}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_staging_folder_removed_before_its_lock_is_replaced_by_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another writer's cleaner can remove a staging folder made a moment ago, before its
    # writer locks it (seen with four solves writing one folder): the writer takes another
    # name instead of failing.
    real_lock = atomic._lock
    calls: list[Path] = []

    def cleaned_first(folder: Path) -> int | None:
        calls.append(folder)
        if len(calls) == 1:
            shutil.rmtree(folder)  # what remove_leftovers does to an unlocked folder
        return real_lock(folder)

    monkeypatch.setattr(atomic, "_lock", cleaned_first)
    target = tmp_path / "out.toml"
    with atomic_path(target) as staged:
        staged.write_text("new")
    assert target.read_text() == "new" and len(calls) == 2


def test_folder_that_cannot_be_created_is_refused_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("mine")
    with pytest.raises(OutputError, match=r"taken is a file, not a folder"):
        with atomic_path(blocker / "sub" / "out.toml"):
            pass
    with pytest.raises(OutputError, match="exists and is not a folder"):
        with atomic_path(blocker, OWNED):
            pass
    assert blocker.read_text() == "mine"


# --- SIGKILL at many moments of a write -----------------------------------------------------

HOST = r'''
import json, os, sys, time, types
import pandas as pd
from pathlib import Path
from optimizer.results.write import write_solution

ROWS = 2000
target = Path(sys.argv[1])


def result(generation):
    tag = [f"g{generation}"] * ROWS
    frame = pd.DataFrame({"tag": tag, "row": range(ROWS), "value": [0.125] * ROWS})
    summary = json.dumps({"generation": generation, "rows": ROWS})
    return types.SimpleNamespace(allocation=frame, stakes=frame, services=frame,
                                 holders=frame, binding=frame, to_json=lambda: summary)


start = time.perf_counter()
write_solution(result(0), target)
print(time.perf_counter() - start, flush=True)
for line in sys.stdin:
    generation = int(line)
    pid = os.fork()
    if pid == 0:  # the writer: writes new generations until it is killed
        while True:
            write_solution(result(generation), target)
            generation += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)  # the test kills it
    print("dead", flush=True)
'''


def check_solution(folder: Path) -> int:
    """The generation of a complete, consistent solution folder (fails otherwise)."""
    assert folder.is_dir(), "the output is missing"
    assert sorted(p.name for p in folder.iterdir()) == sorted(SOLUTION_FILES)
    summary = json.loads((folder / "summary.json").read_text())
    tag = f"g{summary['generation']}"
    for name in SOLUTION_FILES[:-1]:
        lines = (folder / name).read_text().splitlines()
        assert lines[0] == "tag,row,value" and len(lines) == summary["rows"] + 1, name
        assert all(line.startswith(tag + ",") for line in lines[1:]), f"{name}: a mix"
    return int(summary["generation"])


def _wait_for_generation(target: Path, series: int, seconds: float = 60.0) -> None:
    """Wait until ``target`` holds an output of the writer of ``series`` (a busy machine
    can make a write slower than the one measured at start)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            summary = json.loads((target / "summary.json").read_text())
        except (OSError, ValueError):
            summary = {}
        if int(summary.get("generation", -1)) // 1000 == series:
            return
        time.sleep(0.002)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_at_many_moments_of_a_write(tmp_path: Path) -> None:
    target = tmp_path / "solution"
    script = tmp_path / "host.py"
    script.write_text(HOST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    host = subprocess.Popen([sys.executable, str(script), str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    kills, interrupted, generations = 40, 0, set()
    try:
        write_seconds = float(host.stdout.readline())
        previous = check_solution(target)
        for kill in range(kills):
            host.stdin.write(f"{(kill + 1) * 1000}\n")
            host.stdin.flush()
            writer = int(host.stdout.readline())
            if kill % 2:  # every other kill lands after a write of its own, however slow
                _wait_for_generation(target, kill + 1)
            time.sleep(write_seconds * 3 * kill / kills)  # from at once to a few writes in
            os.kill(writer, signal.SIGKILL)
            assert host.stdout.readline() == "dead\n"
            generation = check_solution(target)
            assert generation == previous or generation // 1000 == kill + 1
            generations.add(generation)
            previous = generation
            leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".solution.")]
            assert all(re.fullmatch(r"\.solution\.[0-9a-f]{8}\.partial", n) for n in leftovers)
            interrupted += bool(leftovers)
    finally:
        host.kill()
        host.communicate()
    assert interrupted >= kills // 4, f"only {interrupted} kills hit a write"
    assert len(generations) > kills // 4
    # the next successful write removes what killed writers left
    frame = pd.DataFrame({"tag": ["g7"] * 3, "row": range(3), "value": [0.5] * 3})
    write_solution(SimpleNamespace(allocation=frame, stakes=frame, services=frame,  # type: ignore[arg-type]
                                   holders=frame, binding=frame,
                                   to_json=lambda: '{"generation": 7, "rows": 3}'),
                   target)
    assert check_solution(target) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.py", "solution"]


def test_four_solves_writing_one_folder(tmp_path: Path) -> None:
    target = tmp_path / "solution"
    instance = str(INSTANCES / "tiny" / "fractional-knapsack.toml")
    solves = [subprocess.Popen([sys.executable, "-m", "optimizer", "solve", instance, "--json",
                                "--output", str(target)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
              for _ in range(4)]
    for solve in solves:
        out, err = solve.communicate(timeout=300)
        assert solve.returncode == 0, err
        assert json.loads(out)["status"] == "optimal" and "Traceback" not in err
    assert sorted(p.name for p in target.iterdir()) == sorted(SOLUTION_FILES)
    assert json.loads((target / "summary.json").read_text())["status"] == "optimal"
    assert (target / "allocation.csv").read_text().startswith("stake,holder,service")
    assert [p.name for p in tmp_path.iterdir()] == ["solution"]
