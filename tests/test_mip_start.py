"""The MILP's starting allocation: feasible, handed to HiGHS, and the optimum unchanged."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from optimizer.instance.generate import generate_instance
from optimizer.pipeline import build, solve
from optimizer.solve.matrices import compile_standard_form
from optimizer.solve.mip_start import (
    MipStart,
    broken_blocks,
    find_mip_start,
    hard_features,
    set_mip_start,
)
from optimizer.solve.options import SolveOptions

outcome = importlib.import_module("optimizer.solve.outcome")

CASES = [dict(opt_in=True, seed=1), dict(opt_in=True, min_security=0.5, seed=3),
         dict(opt_in=True, min_security=0.3, worst_case_k=2, holder_share=True, seed=2)]


@pytest.mark.parametrize("options", CASES)
def test_the_start_keeps_every_row_and_bound(options: dict[str, Any]) -> None:
    instance = generate_instance(80, 10, **options)
    form = compile_standard_form(build(instance))
    assert form.integrality.any()
    start = find_mip_start(form, SolveOptions(threads=1))
    assert start.values is not None and start.objective is not None
    values = start.values
    assert broken_blocks(form, values) == []
    assert (values >= form.col_lower - 1e-6).all() and (values <= form.col_upper + 1e-6).all()
    binaries = values[form.integrality.astype(bool)]
    assert np.array_equal(binaries, np.round(binaries))
    assert np.isclose(float(form.cost @ values) + form.offset, start.objective, rtol=1e-6,
                      atol=1e-6)


@pytest.mark.parametrize("options", CASES)
def test_the_start_is_handed_to_highs_and_the_optimum_is_unchanged(
        options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    instance = generate_instance(80, 10, **options)
    taken: list[bool] = []

    def spy(highs: Any, start: MipStart) -> bool:
        taken.append(set_mip_start(highs, start))
        return taken[-1]

    monkeypatch.setattr(outcome, "set_mip_start", spy)
    started = solve(instance, mip_rel_gap=0.0, binding=False)
    assert taken == [True]
    monkeypatch.setattr(outcome, "set_mip_start", lambda highs, start: False)
    plain = solve(instance, mip_rel_gap=0.0, binding=False)
    assert started.status == plain.status == "optimal"
    assert started.objective == pytest.approx(plain.objective, rel=1e-6, abs=1e-6)
    assert not started.violations


def test_an_lp_gets_no_start(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(outcome, "find_mip_start", lambda *a, **k: calls.append(a))
    assert solve(generate_instance(30, 5, seed=1), binding=False).status == "optimal"
    assert calls == []


def test_no_start_names_the_features_that_made_it_hard() -> None:
    start = MipStart(None, None, 2.0, ["opt_in_link", "min_allocation", "security_switch"])
    (sentence,) = hard_features(start)
    assert "opt-in links" in sentence and "minimum allocations" in sentence
    assert "semi-continuous minimum securities" in sentence
    assert hard_features(MipStart(np.zeros(1), 0.0, 1.0, ["opt_in_link"])) == []
