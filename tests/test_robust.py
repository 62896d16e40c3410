"""The robust expected loss (family 12) against a brute-force formulation of its worst case.

The brute force never uses the dual: it lists every vertex of the uncertainty set
{u in [0, 1]^n : sum u <= Gamma} that can be the worst (floor(Gamma) services whole, plus
one more by the fractional part) and writes one budget row per stake and vertex, and one
epigraph row of the objective's extra loss per vertex, then solves that LP with scipy's
HiGHS. Neither Pyomo nor the optimizer's model is involved.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st

import optimizer
from optimizer.model.build import build_model
from optimizer.results.checks.robust_loss import worst_deviation

from .conftest import INSTANCES, instance_index, write_toml

ROBUST = [row for row in instance_index() if row["class"] == "LP (robust)"]
GAMMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def vertices(n: int, gamma: float) -> list[np.ndarray]:
    """Every u in {0, frac, 1}^n with floor(Gamma) ones and, if room, one fractional entry."""
    whole = min(math.floor(gamma), n)
    part = gamma - math.floor(gamma) if whole < n else 0.0
    found = []
    for chosen in itertools.combinations(range(n), whole):
        extra = [e for e in range(n) if e not in chosen] if part > 0 else [None]
        for e in extra:
            u = np.zeros(n)
            u[list(chosen)] = 1.0
            if e is not None:
                u[e] = part
            found.append(u)
    return found


def brute_force(instance: optimizer.Instance, gamma: float) -> float:
    """The robust optimum by enumeration (fixed-rate rewards, degrees, per-service caps,
    expected-loss budgets; the families the random instances use)."""
    pairs = instance.pairs
    stake, service = pairs["stake_pos"].to_numpy(), pairs["service_pos"].to_numpy()
    stakes, services = instance.stakes, instance.services
    value = instance.stake_value.to_numpy()[stake]
    p = services["slash_probability"].to_numpy()[service]
    f = services["slash_fraction"].to_numpy()[service]
    high = services["slash_probability_high"].to_numpy()[service]
    d = np.where(np.isnan(high), 0.0, high - p) * f  # deviation per unit of x, per pair
    n_services = len(services)
    uncertain = np.flatnonzero(np.bincount(service, weights=d, minlength=n_services) > 0)
    corners = vertices(len(uncertain), gamma)
    # Columns: x (n), then t, the objective's extra loss at the worst corner.
    cost = np.r_[-(services["reward_rate"].to_numpy()[service] - p * f) * value, 1.0]
    rows, upper = [], []
    for u in corners:  # t >= sum_s u_s d_s X_s
        weight = np.zeros(n_services)
        weight[uncertain] = u
        rows.append(np.r_[weight[service] * d * value, -1.0])
        upper.append(0.0)
    for i in range(len(stakes)):
        mine = (stake == i).astype(float)
        rows.append(np.r_[mine, 0.0])
        upper.append(stakes["max_restaking"].iloc[i])
        budget = stakes["max_expected_loss"].iloc[i]
        if np.isnan(budget):
            continue
        for u in corners:  # sum_s (p_s f_s + u_s d_s) x_{i,s} <= b_i
            weight = np.zeros(n_services)
            weight[uncertain] = u
            rows.append(np.r_[mine * (p * f + weight[service] * d), 0.0])
            upper.append(budget)
    bounds = [(0.0, m) for m in stakes["max_per_service"].to_numpy()[stake]] + [(0.0, None)]
    done = scipy.optimize.linprog(cost, A_ub=np.array(rows), b_ub=np.array(upper),
                                  bounds=bounds, method="highs")
    assert done.status == 0, done.message
    return -float(done.fun)


def with_gamma(instance: optimizer.Instance, gamma: float | None) -> optimizer.Instance:
    return instance.with_changes(parameters={"uncertainty_budget": gamma})


# --- (a) the tiny instances: derivation, and brute force for several Gamma -------------------

@pytest.mark.parametrize("row", ROBUST, ids=[r["file"] for r in ROBUST])
def test_tiny_optimum_matches_derivation(row: dict[str, str]) -> None:
    instance = optimizer.load_instance(INSTANCES / row["file"])
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(float(row["optimal_objective"]), rel=1e-9)
    assert result.model_objective == pytest.approx(result.objective, rel=1e-9)
    assert result.objective == pytest.approx(
        result.reward - result.robust_expected_loss, rel=1e-12)
    assert result.robust_expected_loss > result.expected_loss  # the nominal one is kept
    summary = result.summary()
    assert summary["robust_expected_loss"] == result.robust_expected_loss


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("row", ROBUST, ids=[r["file"] for r in ROBUST])
def test_tiny_robust_optimum_equals_brute_force(row: dict[str, str], gamma: float) -> None:
    instance = with_gamma(optimizer.load_instance(INSTANCES / row["file"]), gamma)
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.violations == []
    assert result.objective == pytest.approx(brute_force(instance, gamma), rel=1e-8, abs=1e-9)


def test_robust_knapsack_derivation_allocation() -> None:
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "tiny" / "robust-knapsack.toml"))
    fractions = result.allocation.set_index("service")["fraction"]
    assert fractions.to_dict() == pytest.approx({"s1": 2 / 3, "s2": 1.0, "s3": 1.0})
    assert result.expected_loss == pytest.approx(5 / 3)
    assert result.robust_expected_loss == pytest.approx(3.0)
    # One limit, one price: the robust rows replace the nominal budget rows.
    limits = result.binding[result.binding["column"] == "stakes.max_expected_loss"]
    assert list(limits["family"]) == ["robust_expected_loss"]
    assert limits["shadow_price"].iloc[0] == pytest.approx(200 / 3)


# --- (b) Gamma = 0 is the nominal model -------------------------------------------------------

@pytest.mark.parametrize("row", ROBUST, ids=[r["file"] for r in ROBUST])
def test_gamma_zero_is_the_nominal_model(row: dict[str, str]) -> None:
    instance = optimizer.load_instance(INSTANCES / row["file"])
    nominal, zero = with_gamma(instance, None), with_gamma(instance, 0.0)
    for built in (build_model(nominal), build_model(zero)):
        model = built.model
        assert len(model.robust_loss_budget) == len(model.robust_objective_dual) == 0
        assert len(model.robust_loss_excess) == 0
    first, second = optimizer.solve(nominal), optimizer.solve(zero)
    assert second.objective == pytest.approx(first.objective, rel=1e-12)
    assert second.model_objective == pytest.approx(first.model_objective, rel=1e-12)
    pd.testing.assert_frame_equal(first.allocation, second.allocation)
    assert first.robust_expected_loss is None
    assert second.robust_expected_loss == pytest.approx(second.expected_loss)
    robust = optimizer.solve(instance)
    assert robust.objective < first.objective - 1e-6  # the uncertainty costs something


def test_nominal_budget_rows_are_replaced_not_doubled() -> None:
    instance = optimizer.load_instance(INSTANCES / "tiny" / "robust-knapsack.toml")
    # Every row a limit could need, kept: the nominal one would never bind here (0.02 <= 0.03).
    model = build_model(instance, keep_all_rows=True).model
    assert len(model.expected_loss_budget) == 0 and len(model.robust_loss_budget) == 1
    nominal = build_model(with_gamma(instance, None), keep_all_rows=True).model
    assert len(nominal.expected_loss_budget) == 1 and len(nominal.robust_loss_budget) == 0


# --- (c) the evaluator recomputes the worst subset on its own ---------------------------------

def test_evaluator_flags_a_robust_breach_the_nominal_budget_allows() -> None:
    instance = optimizer.load_instance(INSTANCES / "tiny" / "robust-knapsack.toml")
    everything = pd.DataFrame({"stake": "a-eth", "service": ["s1", "s2", "s3"],
                               "fraction": 1.0})
    # Nominal loss 0.01 + 0.01 = 0.02 <= 0.03; with s1 at its high value 0.02 + 0.02 = 0.04.
    (violation,) = optimizer.evaluate(instance, everything).violations
    assert (violation.constraint, violation.where) == ("robust_loss_budget", "stake a-eth")
    assert violation.value == pytest.approx(0.04) and violation.limit == pytest.approx(0.03)
    assert optimizer.evaluate(with_gamma(instance, None), everything).violations == []
    # Gamma = 0.5: half of the larger deviation, 0.02 + 0.01 = 0.03 <= 0.03: it holds.
    assert optimizer.evaluate(with_gamma(instance, 0.5), everything).violations == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=5), st.floats(0, 6))
def test_worst_deviation_is_the_worst_vertex(deviations: list[float], gamma: float) -> None:
    values = np.array(deviations)
    worst = worst_deviation(np.zeros(len(values), dtype=np.int64), values, gamma, 1)[0]
    # The LP max over {0 <= u <= 1, sum u <= Gamma}, solved independently.
    done = scipy.optimize.linprog(-values, A_ub=np.ones((1, len(values))), b_ub=[gamma],
                                  bounds=[(0, 1)] * len(values), method="highs")
    # HiGHS takes a reduced cost below 1e-7 for zero (its dual feasibility tolerance), so
    # it may leave out a deviation that small: up to 5 of them, 5e-7 at most.
    assert worst == pytest.approx(-done.fun, abs=1e-6)


# --- (d) bad uncertainty input: exit 2, the file, row and column named -----------------------

@pytest.mark.parametrize(("change", "named"), [
    ({"slash_probability_low": 0.02}, ["services[1] (service=s1)", "slash_probability_low",
                                        "above slash_probability 0.01"]),
    ({"slash_probability_high": 1.5}, ["services[1] (service=s1)", "slash_probability_high",
                                        "must be in [0, 1]"]),
    ({"slash_probability_high": 0.005}, ["services[1] (service=s1)", "slash_probability_high",
                                          "below slash_probability"]),
    ({"reward_rate_high": 0.01}, ["services[1] (service=s1)", "reward_rate_high", "below"]),
    ({"prior_strength": 0.0}, ["services[1] (service=s1)", "prior_strength", "> 0"]),
])
def test_bad_uncertainty_is_refused_by_validate(tmp_path, base_document, change, named) -> None:
    base_document["services"][0].update(change)
    path = write_toml(tmp_path / "bad.toml", base_document)
    done = subprocess.run([sys.executable, "-m", "optimizer", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "bad.toml" in said
    for words in named:
        assert words in said


def test_negative_uncertainty_budget_is_refused(tmp_path, base_document) -> None:
    base_document["parameters"] = {"uncertainty_budget": -1}
    path = write_toml(tmp_path / "bad.toml", base_document)
    done = subprocess.run([sys.executable, "-m", "optimizer", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "[parameters]" in done.stderr + done.stdout
    assert "uncertainty_budget" in done.stderr + done.stdout


# --- (e) random small instances: the model equals brute force ---------------------------------

def grid(high: float) -> st.SearchStrategy[float]:
    """Values in [0, high] on a grid of 1,000 steps (no subnormal or tiny rates)."""
    return st.integers(0, 1000).map(lambda k: k * high / 1000)


@st.composite
def small_instances(draw: st.DrawFn) -> optimizer.Instance:
    n_stakes = draw(st.integers(1, 3))
    n_services = draw(st.integers(1, 4))
    rate, probability = grid(0.1), grid(0.2)
    services = []
    for s in range(n_services):
        p = draw(probability)
        row = {"service": f"s{s}", "reward_rate": draw(rate), "slash_probability": p,
               "slash_fraction": draw(grid(1.0))}
        if draw(st.booleans()):
            row["slash_probability_high"] = p + draw(grid(0.3))
        services.append(row)
    stakes = [{"stake": f"k{i}", "holder": f"h{i}", "asset": "ETH",
               "amount": 1.0 + draw(grid(99.0)),
               "max_restaking": draw(st.sampled_from([1.0, 2.0, 4.0])),
               "max_per_service": draw(st.sampled_from([0.5, 1.0])),
               "max_expected_loss": draw(st.sampled_from([np.nan, 0.005, 0.02, 0.1]))}
              for i in range(n_stakes)]
    gamma = draw(st.sampled_from([0.0, 0.3, 1.0, 1.5, 2.0, 3.7]))
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame(stakes), services=pd.DataFrame(services),
        parameters={"uncertainty_budget": gamma})


@given(small_instances())
def test_random_robust_optimum_equals_brute_force(instance: optimizer.Instance) -> None:
    result = optimizer.solve(instance)
    assert result.status == "optimal"
    assert result.violations == []
    expected = brute_force(instance, instance.parameters.uncertainty_budget)
    assert result.objective == pytest.approx(expected, rel=1e-7, abs=1e-8)


def test_a_robust_conflict_is_explained_in_the_instance_words(tmp_path) -> None:
    # s1 must get all of a-eth (100 ETH): nominal loss 0.01 <= 0.02, robust 0.01 + 0.02 > 0.02.
    text = (INSTANCES / "tiny" / "robust-knapsack.toml").read_text()
    text = text.replace("max_expected_loss = 0.03", "max_expected_loss = 0.02").replace(
        'service = "s1"', 'service = "s1"\nmin_security = 100.0\nrequired = true')
    path = tmp_path / "conflict.toml"
    path.write_text(text)
    instance = optimizer.load_instance(path)
    assert optimizer.solve(with_gamma(instance, None)).status == "optimal"
    result = optimizer.solve(instance)
    assert result.status == "infeasible"
    assert "max_expected_loss of stake a-eth (uncertainty_budget 1" in result.explanation[0]


def test_report_says_which_expected_loss_the_objective_subtracts() -> None:
    from optimizer.results.report import format_result

    result = optimizer.solve(optimizer.load_instance(INSTANCES / "tiny" / "robust-knapsack.toml"))
    assert "reward 9.33333 - robust expected loss 3 (nominal 1.66667)" in format_result(result)
