"""The docs stay true: the format reference is the data dictionary, and the code is ruff clean."""

from __future__ import annotations

import subprocess
import sys

from optimizer.instance.reference import markdown_reference

from .conftest import ROOT

MARKER = "<!-- generated from optimizer/instance/columns.py: tests/test_docs.py checks it -->\n"


def test_format_reference_matches_data_dictionary() -> None:
    text = (ROOT / "docs" / "format.md").read_text()
    from optimizer.instance.outputs import markdown_outputs

    assert text.split(MARKER, 1)[1] == markdown_reference() + "\n" + markdown_outputs()


def test_architecture_tables_match_family_records() -> None:
    from optimizer.model.families import markdown_table

    marker = ("<!-- generated from the family records (optimizer/model/families.py): "
              "tests/test_docs.py checks it -->\n")
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert text.split(marker, 1)[1] == markdown_table()


def test_readme_quick_start_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    solve = ("python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/restake solve "
             "instances/realistic/eigenlayer-symbiotic-2026.toml")
    tests = ('python3 -m venv .venv && .venv/bin/pip install -q ".[test]" && '
             ".venv/bin/python -m pytest -q")
    assert solve in readme and tests in readme
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "optimizer", "tests",
                           "benchmarks", "docs"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bad_input_table_lists_every_rule() -> None:
    from .test_validation import RULES

    text = (ROOT / "docs" / "bad-input.md").read_text()
    for rule, *_ in RULES:
        assert f"| {rule} |" in text, f"'{rule}' missing: run python docs/update_bad_input.py"
    assert "(accepted)" not in text.split("| bad input |", 1)[1].split("CSV with a byte")[0]
