"""Ctrl-C and SIGTERM stop a solve cleanly: a message, exit 130 or 143, nothing written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer.instance.generate import generate_instance


@pytest.fixture(scope="module")
def long_instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "book"
    generate_instance(6000, 150, seed=3).write(path)  # tens of seconds to build and solve
    return path


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_keeps_previous_output(long_instance: Path, tmp_path: Path,
                                                        signum: int, code: int) -> None:
    out = tmp_path / "solution"
    out.mkdir()
    previous = {"status": "optimal", "note": "an earlier solve"}
    (out / "summary.json").write_text(json.dumps(previous))
    process = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "solve", str(long_instance), "-o", str(out),
         "--solver", "simplex", "--no-merge", "-v"],  # merged, it would finish first
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Signal once HiGHS has started (its log, with -v), not after a fixed wait: on a busy
    # machine Python's start-up alone can outlast any fixed wait.
    deadline = time.monotonic() + 120
    assert process.stderr is not None
    seen = ""
    while "HiGHS" not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.readline()
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    err = seen + rest
    assert process.returncode == code, err
    assert "nothing was written" in err and "Traceback" not in err
    assert json.loads((out / "summary.json").read_text()) == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["solution"]
