"""Property tests: any valid instance solves and checks; any invalid one is refused cleanly.

Examples are bounded for CI (profile ``ci``); run ``HYPOTHESIS_PROFILE=long pytest
tests/test_properties.py`` for a longer search.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import optimizer
from optimizer.cli import main
from optimizer.errors import InstanceError
from optimizer.instance.columns import TABLES
from optimizer.instance.generate import generate_instance

from .conftest import BASE
from .test_validation import write_spelling

FEATURES = st.fixed_dictionaries({}, optional={
    "pools": st.sampled_from([0.2, 0.5]),
    "min_security": st.sampled_from([0.2, 0.5]),
    "corruption": st.just(True),
    "opt_in": st.just(True),
    "cvar": st.sampled_from(["limit", "aversion"]),
    "turnover": st.just(True),
    "holder_share": st.just(True),
    "required": st.integers(0, 2),
    "worst_case_k": st.integers(1, 3),
    "groups": st.booleans(),
    "capacities": st.booleans(),
    "density": st.sampled_from([0.2, 0.5, 1.0]),
})


@given(stakes=st.integers(2, 40), services=st.integers(2, 8), seed=st.integers(0, 10**6),
       features=FEATURES)
def test_valid_instances_solve_and_pass_the_evaluator(stakes: int, services: int, seed: int,
                                                      features: dict) -> None:
    if features.get("required", 0) > services:
        features["required"] = services
    instance = generate_instance(stakes, services, seed=seed, scenarios=40, **features)
    result = optimizer.solve(instance, time_limit=30)
    assert result.status in ("optimal", "feasible", "infeasible"), result.termination
    if result.status == "infeasible":
        assert result.explanation
        return
    assert result.violations == []
    assert optimizer.evaluate(instance, result.allocation).violations == []
    if result.status == "optimal" and not features.get("pools"):
        assert math.isclose(result.model_objective, result.objective, rel_tol=1e-6,
                            abs_tol=1e-6)


def _invalid_value(kind: str, column) -> st.SearchStrategy:  # noqa: ANN001
    options: list = []
    if kind in ("float", "int"):
        options.append(st.just("not-a-number"))
        if column.low is not None:
            options.append(st.just(column.low - 1.0 if not column.low_open else column.low))
        if column.high is not None:
            options.append(st.just(column.high + 1.0))
        if kind == "int":
            options.append(st.just(1.5))
    elif kind == "bool":
        options.append(st.just("maybe"))
    elif kind in ("ref", "list"):
        options.append(st.just("no-such-id"))
    elif kind == "id":
        options.append(st.just(""))
        options.append(st.just("a;b"))
    return st.one_of(options)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, int, str, object]:
    table = draw(st.sampled_from(["assets", "stakes", "services"]))
    row = draw(st.integers(0, len(BASE[table]) - 1))
    spec = TABLES[table]
    # A stake's holder may name a holder no table lists: holders are implied by stakes.
    column = draw(st.sampled_from([c for c in spec.columns if c.kind != "str"
                                   and (table, c.name) != ("stakes", "holder")]))
    value = draw(_invalid_value(column.kind, column))
    if column.kind == "list":
        value = [value]
    return table, row, column.name, value


@given(mutation=mutations(), spelling=st.sampled_from(["toml", "json", "csv"]))
def test_invalid_instances_are_refused_cleanly(mutation: tuple, spelling: str) -> None:
    table, row, column, value = mutation
    document = copy.deepcopy(BASE)
    document[table][row][column] = value
    with tempfile.TemporaryDirectory() as folder:
        path = write_spelling(document, spelling, Path(folder))
        try:
            optimizer.load_instance(path)
        except InstanceError as error:
            messages = [str(p) for p in error.problems]
            assert any(column in m for m in messages), messages
        else:
            raise AssertionError(f"{table}[{row}].{column} = {value!r} was accepted")
        out = Path(folder) / "out"
        result = CliRunner().invoke(main, ["solve", str(path), "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.stderr and not out.exists()
