"""Monte Carlo slashing agrees with what the optimizer reported, within sampling error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.analysis.simulate import simulate

from .test_tail_risk import _book


def test_expected_loss_and_cvar_agree_with_the_solve() -> None:
    instance = _book(risk_aversion=0.05)
    result = optimizer.solve(instance)
    # The same draws as the solve: the same CVaR, exactly.
    same = simulate(instance, result.allocation, runs=instance.parameters.scenario_count,
                    seed=instance.parameters.scenario_seed)
    measures = same.summary.set_index("measure")["value"]
    assert measures["cvar_0.9"] == pytest.approx(result.cvar, rel=1e-9)
    # Many fresh draws: the mean within sampling error of sum p f X.
    many = simulate(instance, result.allocation, runs=200_000, seed=11)
    values = many.summary.set_index("measure")["value"]
    security = result.services.set_index("service")["security"]
    p = instance.services["slash_probability"] * instance.services["slash_fraction"]
    variance = float(((p * (1 - p)) * security**2).sum())  # ignores correlation: a floor
    assert values["expected_loss"] == pytest.approx(result.expected_loss,
                                                    abs=6 * np.sqrt(variance / 200_000) * 3)
    assert values["var_0.9"] <= values["cvar_0.9"] <= values["cvar_0.99"]
    assert many.contributions["share_of_tail_loss"].sum() == pytest.approx(1.0)
    assert set(many.holders["holder"]) == set(result.allocation["holder"])


def test_holder_losses_add_up() -> None:
    instance = _book(risk_aversion=0.05)
    result = optimizer.solve(instance)
    run = simulate(instance, result.allocation, runs=50_000, seed=2)
    total = run.summary.set_index("measure")["value"]["expected_loss"]
    assert run.holders["expected_loss"].sum() == pytest.approx(total, rel=1e-9)
    assert isinstance(run.contributions, pd.DataFrame)


def test_holder_batches_do_not_change_the_answer(monkeypatch) -> None:
    # One holder per batch against all holders in one batch: identical per-holder numbers.
    import optimizer.analysis.simulate as simulation

    instance = _book(risk_aversion=0.05)
    allocation = optimizer.solve(instance).allocation
    whole = simulate(instance, allocation, runs=20_000, seed=4).holders
    monkeypatch.setattr(simulation, "BATCH_CELLS", 1)
    assert len(simulation._holder_batches(2, 20_000)) == 2
    batched = simulate(instance, allocation, runs=20_000, seed=4).holders
    pd.testing.assert_frame_equal(whole, batched)
