"""Scenarios and CVaR: sampling, the exact CVaR, and the model's CVaR against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.instance.scenarios import sample
from optimizer.results.evaluate import conditional_value_at_risk


def test_sampled_marginals_match_slash_probabilities() -> None:
    p = np.array([0.1, 0.05, 0.02, 0.08, 0.0, 0.3])
    f = np.array([0.5, 0.2, 1.0, 0.3, 0.4, 0.1])
    group_of = np.array([0, 0, -1, 1, 1, 0])
    count = 100_000
    chosen = sample(p, f, group_of, np.array([0.8, 0.3]), count, seed=1)
    assert chosen.probability.sum() == pytest.approx(1.0)
    marginal = np.bincount(chosen.services, weights=chosen.probability[chosen.rows],
                           minlength=len(p))
    sigma = np.sqrt(p * (1 - p) / count)
    assert np.all(np.abs(marginal - p) <= 5 * sigma + 1e-12)
    assert marginal[4] == 0.0  # p = 0 never slashes
    assert np.allclose(chosen.fractions, f[chosen.services])


def test_group_correlation_makes_services_fail_together() -> None:
    p = np.array([0.1, 0.1, 0.1, 0.1])
    chosen = sample(p, np.ones(4), np.array([0, 0, -1, -1]), np.array([0.9]), 50_000, seed=2)
    both = {}
    for pair in ((0, 1), (2, 3)):
        rows_a = set(chosen.rows[chosen.services == pair[0]])
        rows_b = set(chosen.rows[chosen.services == pair[1]])
        both[pair] = sum(chosen.probability[w] for w in rows_a & rows_b)
    assert both[(2, 3)] == pytest.approx(0.01, abs=0.003)  # independent: p^2
    assert both[(0, 1)] > 0.07  # correlation 0.9: close to p


def test_sampling_is_seeded_and_merges_duplicates() -> None:
    args = (np.array([0.05, 0.02]), np.array([0.5, 0.5]), np.array([-1, -1]), np.array([]))
    first, second = sample(*args, 1000, 7), sample(*args, 1000, 7)
    assert first.ids == second.ids and np.array_equal(first.rows, second.rows)
    assert first.count <= 4  # at most four distinct outcomes of two services


@pytest.mark.parametrize("seed", range(4))
def test_exact_cvar_equals_rockafellar_uryasev(seed: int) -> None:
    rng = np.random.default_rng(seed)
    losses = rng.exponential(size=30) * (rng.random(30) < 0.4)
    probability = rng.random(30)
    probability /= probability.sum()
    alpha = 0.9
    etas = np.concatenate([losses, np.linspace(0, losses.max(), 2001)])
    ru = min(eta + (probability * np.maximum(losses - eta, 0)).sum() / (1 - alpha)
             for eta in etas)
    assert conditional_value_at_risk(losses, probability, alpha) == pytest.approx(ru, rel=1e-9)


def _book(**parameters: float) -> optimizer.Instance:
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a", "b"], "holder": ["a", "b"], "asset": ["ETH", "ETH"],
                             "amount": [1000.0, 400.0], "max_restaking": [2.0, 1.0]}),
        services=pd.DataFrame({
            "service": ["s1", "s2", "s3", "s4"], "reward_rate": [0.08, 0.06, 0.05, 0.02],
            "slash_probability": [0.05, 0.04, 0.03, 0.0], "slash_fraction": [0.5, 0.3, 0.6, 0.0],
            "groups": [["g"], ["g"], [], []]}),
        groups=pd.DataFrame({"group": ["g"], "correlation": [0.6]}),
        parameters={"cvar_alpha": 0.9, "scenario_count": 400, "scenario_seed": 3, **parameters},
        name="cvar-book")


def test_model_cvar_equals_evaluator_cvar_with_risk_aversion() -> None:
    # With lambda > 0 the model's objective contains - lambda x (its CVaR); the evaluator's
    # contains - lambda x (the exact CVaR of the same scenarios). Equal objectives mean
    # equal CVaR at the optimum.
    result = optimizer.solve(_book(risk_aversion=0.2))
    assert result.status == "optimal" and result.violations == []
    assert result.cvar > 0 and result.scenario_count > 0
    assert result.model_objective == pytest.approx(result.objective, rel=1e-7)
    neutral = optimizer.solve(_book())
    assert result.cvar < neutral.expected_loss * 100  # sanity: finite and positive
    assert result.reward - result.expected_loss <= neutral.objective + 1e-9


def test_cvar_limit_binds_and_is_met_exactly() -> None:
    free = optimizer.solve(_book(risk_aversion=1e-9))
    limit = 0.5 * free.cvar
    limited = optimizer.solve(_book(cvar_limit=limit))
    assert limited.status == "optimal" and limited.violations == []
    assert limited.cvar == pytest.approx(limit, rel=1e-6)
    assert limited.objective < free.objective


def test_scenarios_written_out_and_read_back(tmp_path) -> None:
    instance = _book(cvar_limit=50.0)
    written = instance.with_scenarios(instance.scenario_set())
    written.write(tmp_path / "with-scenarios.toml")
    loaded = optimizer.load_instance(tmp_path / "with-scenarios.toml")
    assert len(loaded.scenarios) > 0
    original = optimizer.solve(instance)
    again = optimizer.solve(loaded)
    assert again.objective == pytest.approx(original.objective, rel=1e-9)
    assert again.cvar == pytest.approx(original.cvar, rel=1e-9)
