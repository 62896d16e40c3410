"""The family records are the one declaration of each family, and everything reads them."""

from __future__ import annotations

import ast
import re

import pyomo.environ as pyo
import pytest

from optimizer.instance.generate import generate_instance
from optimizer.model.build import build_model
from optimizer.model.families import FAMILIES, ROW_BLOCKS, binary_components
from optimizer.model.rows import MatrixRows

from .conftest import ROOT

EVERY_FAMILY = {"worst_case_k": 2, "holder_share": True, "required": 2, "cvar": "limit",
                "scenarios": 60, "opt_in": True, "min_security": 0.3, "pools": 0.3,
                "turnover": True}


def _models() -> list:
    instance = generate_instance(40, 8, seed=3, **EVERY_FAMILY)
    scenarios = instance.scenario_set()
    return [build_model(instance, scenarios), build_model(instance, scenarios, elastic=True),
            build_model(instance, scenarios, risk_limit=("expected_loss", 1.0)),
            build_model(instance, scenarios, risk_limit=("portfolio_worst_case", 1.0))]


def test_every_row_family_built_has_a_record_and_every_record_is_built() -> None:
    built_names: set[str] = set()
    for built in _models():
        for component in built.model.component_objects(pyo.Constraint):
            assert isinstance(component, MatrixRows), component.name
            assert component.local_name in ROW_BLOCKS, component.local_name
            built_names.add(component.local_name)
    assert built_names == set(ROW_BLOCKS)  # no record of rows that are never written


def test_every_binary_variable_is_declared_by_its_family() -> None:
    declared = set(binary_components())
    for built in _models():
        for var in built.model.component_objects(pyo.Var):
            if any(v.is_binary() for v in var.values()):
                assert var.local_name in declared, var.local_name


def test_records_and_evaluator_checks_name_each_other() -> None:
    from optimizer.results.checks import CHECKS

    named = [check for family in FAMILIES for check in family.checks]
    assert len(named) == len(set(named))  # each check verifies one family
    assert set(named) == set(CHECKS)


def test_row_words_name_the_instance_and_its_column() -> None:
    instance = generate_instance(40, 8, seed=3, **EVERY_FAMILY)
    said = ROW_BLOCKS["restaking_degree"].describe(instance, 0)
    assert said == f"max_restaking of stake {instance.stakes.index[0]}"
    for name, block in ROW_BLOCKS.items():
        if block.limit is not None:
            assert block.limit.split(".")[0] in ("stakes", "services", "groups", "holders",
                                                 "eligibility", "parameters",
                                                 "frontier risk limit"), name


def test_duals_convert_by_the_unit_of_their_rows() -> None:
    assert ROW_BLOCKS["restaking_degree"].dual_factor(8.0) == 8.0  # fraction of stake
    assert ROW_BLOCKS["cvar_limit"].dual_factor(8.0) == 1.0  # numeraire


PYOMO_PRIVATE = re.compile(r"\._(component|active|index|expr|data|constructed|rule)\s*=[^=]")


def test_no_pyomo_private_attribute_is_written() -> None:
    for path in (ROOT / "optimizer").rglob("*.py"):
        text = path.read_text()
        assert not PYOMO_PRIVATE.search(text), path


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


@pytest.mark.parametrize("path", sorted((ROOT / "optimizer").rglob("*.py")),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_modules_and_functions_fit_on_a_few_screens(path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name} is {length} lines"
