"""Progress bars as a person sees them: on a real pseudo-terminal, and never in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from optimizer.analysis.progress import note, progress

from .conftest import INSTANCES

RESTAKE = str(Path(sys.executable).parent / "restake")
CVAR = str(INSTANCES / "tiny" / "cvar-limit.toml")


@contextmanager
def terminal(columns: int = 100) -> Iterator[tuple[int, int]]:
    """A pseudo-terminal (controller, terminal side) of ``columns`` that passes bytes as they are.

    Raw mode switches off the terminal's own newline translation, so a carriage return read
    back was written by the program, not added by the terminal.
    """
    controller, side = pty.openpty()
    tty.setraw(side)
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        yield controller, side
    finally:
        for fd in (controller, side):
            try:
                os.close(fd)
            except OSError:
                pass


def read_until_closed(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: every writer on the terminal side has closed it
            return
        if not data:
            return
        into.append(data)


def run_with_terminal_stderr(*args: str) -> tuple[int, str, bytes]:
    """Run ``restake ARGS`` with standard error on a pseudo-terminal, standard output a pipe."""
    with terminal() as (controller, side):
        process = subprocess.Popen([RESTAKE, *args], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=side)
        os.close(side)
        chunks: list[bytes] = []
        reader = threading.Thread(target=read_until_closed, args=(controller, chunks))
        reader.start()
        out, _ = process.communicate(timeout=300)
        reader.join(timeout=60)
    return process.returncode, out.decode(), b"".join(chunks)


def draws(stderr: bytes, label: str) -> list[str]:
    """Every state of the bar labelled ``label``, in the order it was drawn."""
    text = stderr.decode()
    return [part for part in re.split(r"[\r\n]", text) if part.startswith(label)]


def test_frontier_redraws_one_line_on_a_terminal_and_ends_complete() -> None:
    code, out, err = run_with_terminal_stderr("frontier", CVAR, "--points", "8")
    assert code == 0, err.decode()
    assert b"\\r" not in err  # the escape's two characters, never a carriage return
    assert b"\rfrontier points" in err  # each redraw starts from the line's beginning
    states = draws(err, "frontier points")
    assert len(states) >= 2, err  # drawn at the start and redrawn
    assert " 0/8 " in states[0]
    final = states[-1]
    assert " 8/8 " in final and "100%" in final, final
    assert err.index(final.encode()) < err.index(b"first solve")  # left standing, then the rest
    assert err.split(final.encode(), 1)[1].startswith(b"\n")
    # standard output is the table only
    assert "\r" not in out and "frontier points" not in out
    assert out.splitlines()[0].split()[0] == "point"


def test_quiet_draws_nothing_on_a_terminal() -> None:
    code, out, err = run_with_terminal_stderr("frontier", CVAR, "--points", "8", "--quiet")
    assert code == 0, err.decode()
    assert b"frontier points" not in err and b"\r" not in err
    assert b"first solve" in err and out.splitlines()[0].split()[0] == "point"


def test_a_pipe_gets_no_progress() -> None:
    done = subprocess.run([RESTAKE, "frontier", CVAR, "--points", "8"], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert b"\r" not in done.stderr and b"frontier points" not in done.stderr
    assert b"first solve" in done.stderr
    assert b"\r" not in done.stdout and done.stdout.split()[0] == b"point"


def test_simulation_batches_show_and_complete(tmp_path: Path) -> None:
    from optimizer.analysis.simulate import _holder_batches

    instance = INSTANCES / "generated" / "small-200x20-seed1.toml"
    solution = tmp_path / "solution"
    subprocess.run([RESTAKE, "solve", str(instance), "--output", str(solution)], check=True,
                   capture_output=True, timeout=300)
    holders = len({line.split(",")[1] for line in
                   (solution / "allocation.csv").read_text().splitlines()[1:]})
    batches = len(_holder_batches(holders, 100_000))
    assert batches >= 2  # enough work that the bar has steps to show
    code, out, err = run_with_terminal_stderr("simulate", str(instance), str(solution),
                                              "--runs", "100000")
    assert code == 0, err.decode()
    final = draws(err, "simulation batches")[-1]
    assert f" {batches}/{batches} " in final and "100%" in final, final
    assert "\r" not in out and "100,000 slashing scenarios" in out


def test_notes_go_above_the_bar_on_a_terminal(monkeypatch) -> None:
    with terminal() as (controller, side):
        stream = os.fdopen(os.dup(side), "w", encoding="utf-8")
        monkeypatch.setattr(sys, "stderr", stream)
        for step in progress(range(3), 3, "cases"):
            note(f"case {step} done")
        stream.close()
        os.close(side)
        chunks: list[bytes] = []
        read_until_closed(controller, chunks)
    text = b"".join(chunks).decode()
    lines = text.split("\n")
    for step in range(3):  # each note on a line of its own, the bar cleared before it
        assert any(line.rsplit("\r", 1)[-1] == f"case {step} done" for line in lines), text
    assert draws(text.encode(), "cases")[-1].startswith("cases: 100%")
    assert text.rstrip("\n").rsplit("\n", 1)[-1].rsplit("\r", 1)[-1].startswith("cases: 100%")


def test_off_a_terminal_items_pass_through_and_notes_are_plain_lines(capsys) -> None:
    items = [object(), object()]
    assert progress(items, 2, "points") is items  # no wrapper, nothing drawn
    note("a line")
    assert capsys.readouterr().err == "a line\n"
