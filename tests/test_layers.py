"""The import contract of pyproject.toml ([tool.importlinter]) holds: stages import downwards.

Besides the layers (cli | bench, analysis, pipeline, results, solve, model, instance), the
evaluator and its checks must never reach the model or the solver, and the base modules
(errors, resources, atomic) no stage.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from .conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_every_import_contract_is_kept() -> None:
    # --no-cache: nothing written into the work tree, and no stale graph read from it.
    run = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=False)
    code = run.returncode
    assert code == 0, f"lint-imports exited {code}:\n{run.stdout}\n{run.stderr}"


def test_the_contracts_cover_every_stage() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    stages = {f"optimizer.{p.stem}" for p in (ROOT / "optimizer").iterdir()
              if (p.is_dir() and (p / "__init__.py").exists())}
    assert stages <= named, f"stages in no layer: {sorted(stages - named)}"
    evaluator = next(c for c in contracts["contracts"]
                     if "optimizer.results.checks" in c.get("source_modules", []))
    assert set(evaluator["forbidden_modules"]) == {"optimizer.model", "optimizer.solve"}
