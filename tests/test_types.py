"""The package's types are checked: mypy on ``optimizer`` (``[tool.mypy]`` in pyproject.toml).

``py.typed`` is shipped, so the annotations are a promise to every program that embeds
the package; this keeps them true. The cache goes to a temporary folder, so that two
suites running at once in one tree (CI's newest releases and floors) do not share one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_mypy_finds_no_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
