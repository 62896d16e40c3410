"""The import contract of pyproject.toml ([tool.importlinter]) holds: stages import downwards.

Besides the layers (cli, bench, analysis, pipeline, results, solve, model, instance), the
evaluator and its checks must never reach the model or the solver, only the solve stage and
the benchmark suite import highspy, and the base modules (errors, resources, atomic) no
stage. Within a stage, no two modules import each other, directly or through others.
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


def test_no_module_imports_itself_through_others() -> None:
    # Strongly connected components of the package's import graph (imports made for type
    # checking only excluded): any of more than one module is a cycle.
    import grimp

    graph = grimp.build_graph("optimizer", exclude_type_checking_imports=True)
    edges = {module: sorted(graph.find_modules_directly_imported_by(module))
             for module in graph.modules}
    assert _cycles(edges) == []


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """The groups of modules that import one another (Tarjan's components, iteratively)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in order:
            continue
        work = [(root, iter(edges[root]))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in edges), None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
            elif child not in order:
                order[child] = low[child] = len(order)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], order[child])
    return found


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []
