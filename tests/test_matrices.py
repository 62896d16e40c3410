"""Matrix families and the compiler to HiGHS's matrices agree with the Pyomo model."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.opt import ProblemFormat

from optimizer.instance.generate import generate_instance
from optimizer.model.build import build_model
from optimizer.model.rows import MatrixRows, positions
from optimizer.solve.matrices import compile_standard_form

EVERY_FAMILY = {"worst_case_k": 2, "holder_share": True, "required": 2, "cvar": "limit",
                "scenarios": 60, "opt_in": True, "min_security": 0.3, "pools": 0.3,
                "turnover": True}


def _small_rows() -> pyo.ConcreteModel:
    model = pyo.ConcreteModel()
    model.v = pyo.Var(range(3), bounds=(0, 1))
    model.w = pyo.Var(["a", "b"], bounds=(0, 2))
    # Row (0, g) repeats column 0 (summed to 2) and has a zero (dropped).
    model.rows = MatrixRows(
        [(0, "g"), (1, "h"), (2, "k")], [model.v, model.w],
        rows=np.array([0, 0, 0, 1, 1, 2, 2, 1]), columns=np.array([0, 1, 0, 1, 2, 3, 4, 0]),
        coefficients=np.array([1.0, -1.0, 1.0, 1.0, -1.0, 2.0, 3.0, 0.0]),
        lower=np.array([np.nan, np.nan, 1.0]), upper=np.array([0.0, 0.0, 1.0]),
        doc="test rows")
    return model


def test_matrix_rows_are_pyomo_constraints() -> None:
    model = _small_rows()
    rows = model.rows
    assert list(rows) == [(0, "g"), (1, "h"), (2, "k")]
    assert str(rows[0, "g"].body) == "2.0*v[0] - v[1]"
    assert rows[0, "g"].lower is None and rows[0, "g"].upper == 0.0
    assert rows[2, "k"].equality and str(rows[2, "k"].expr) == "2.0*w[a] + 3.0*w[b]  ==  1.0"
    for var, value in zip(model.component_data_objects(pyo.Var), [0.5, 0.25, 1.0, 1.0, 0.5],
                          strict=True):
        var.value = value
    assert pyo.value(rows[0, "g"].body) == pytest.approx(0.75)
    assert rows[1, "h"]() == pytest.approx(-0.75)
    with pytest.raises(TypeError, match="cannot be changed"):
        rows[0, "g"].set_value(model.v[0] <= 1)


def test_matrix_rows_refuse_a_nonzero_outside_the_matrix() -> None:
    model = pyo.ConcreteModel()
    model.v = pyo.Var(range(2))
    with pytest.raises(ValueError, match="outside its 1 x 2 matrix"):
        model.rows = MatrixRows([0], [model.v], np.array([0]), np.array([2]), np.array([1.0]),
                                lower=np.nan, upper=1.0, doc="bad")


def test_matrix_rows_are_written_to_an_lp_file(tmp_path) -> None:
    model = _small_rows()
    model.objective = pyo.Objective(expr=model.v[0], sense=pyo.maximize)
    path = tmp_path / "rows.lp"
    model.write(str(path), format=ProblemFormat.cpxlp,
                io_options={"symbolic_solver_labels": True})
    text = path.read_text()
    assert "+2.0 v(0)\n-1.0 v(1)\n<= 0.0" in text
    assert "+2.0 w(a)\n+3.0 w(b)\n= 1.0" in text


def test_compiled_matrices_equal_the_pyomo_model_at_a_point() -> None:
    # Every family present; every row and the objective, as Pyomo evaluates them at a
    # random point, must equal the compiled matrix's: catches any misplaced column.
    instance = generate_instance(40, 8, seed=3, **EVERY_FAMILY)
    built = build_model(instance, instance.scenario_set())
    form = compile_standard_form(built)
    names = {block.name for block in form.blocks}
    assert {"restaking_degree", "worst_case_excess_definition", "holder_concentration",
            "security_definition", "cvar_excess_definition", "opt_in_link"} <= names
    rng = np.random.default_rng(0)
    point = rng.uniform(0.0, 1.0, len(form.columns))
    for var, value in zip(form.columns, point, strict=True):
        var.value = float(value)
    activity = form.matrix @ point
    for block in form.blocks:
        component = getattr(built.model, block.name)
        for row, key in zip(range(block.start, block.stop), block.keys, strict=True):
            con = component[key]
            lower, body, upper = con.to_bounded_expression(evaluate_bounds=True)
            constant = pyo.value(body) - activity[row]
            # What the compiler moved off the body is a constant, into both bounds.
            assert form.row_lower[row] == pytest.approx(-np.inf if lower is None
                                                        else lower - constant)
            assert form.row_upper[row] == pytest.approx(np.inf if upper is None
                                                        else upper - constant)
            if isinstance(component, MatrixRows):
                assert constant == pytest.approx(0.0, abs=1e-9)
    objective = built.model.net_reward
    assert form.cost @ point + form.offset == pytest.approx(pyo.value(objective.expr))
    x_alloc = built.model.x_alloc
    assert all(form.columns[form.pair_column[p]] is x_alloc[p] for p in x_alloc)


def test_a_fixed_binary_is_a_fixed_continuous_column() -> None:
    instance = generate_instance(20, 5, seed=1, opt_in=True)
    built = build_model(instance)
    opted = next(iter(built.model.opted_in.values()))
    opted.fix(1)
    form = compile_standard_form(built)
    column = next(j for j, var in enumerate(form.columns) if var is opted)
    assert form.col_lower[column] == form.col_upper[column] == 1.0
    assert form.integrality[column] == 0


def test_a_row_on_a_missing_variable_is_an_error() -> None:
    model = pyo.ConcreteModel()
    model.security = pyo.Var([0, 2, 5])
    assert positions(model.security, np.array([5, 0, 2])).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="lacks some of the indices"):
        positions(model.security, np.array([0, 3]))
