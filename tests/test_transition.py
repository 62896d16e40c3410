"""Transition exposure (family 11): every stake limit also holds for w = max(x0, x).

(a) The tiny instances against their hand derivations, with and without the family;
(b) an independent formulation: a plain LP with an explicit w_{i,s} for every pair that
has an x or an x0 (w >= x, w >= x0; w = x0 off the eligible pairs), every stake limit
written twice (for x and for w) by enumeration (each subset of k services for the worst
case, each vertex of the uncertainty set for Gamma), solved with scipy's HiGHS, on seeded
random instances; (c) the parameter off is the model without the family; and the
evaluator's check against a hand-made allocation that breaks it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
import scipy.optimize

import optimizer
from optimizer.model.build import build_model
from optimizer.model.families import FAMILIES
from optimizer.model.rows import MatrixRows
from optimizer.results.transition import COLUMNS, in_flight_allocation

from .conftest import INSTANCES, instance_index

TRANSITION = [row for row in instance_index() if row["class"] == "LP (transition)"]
FAMILY = next(family for family in FAMILIES if family.number == "11")


def load(name: str) -> optimizer.Instance:
    return optimizer.load_instance(INSTANCES / "tiny" / f"{name}.toml")


def switched(instance: optimizer.Instance, on: bool) -> optimizer.Instance:
    return instance.with_changes(parameters={"transition_exposure": on})


def fractions(result: optimizer.Result) -> dict[tuple[str, str], float]:
    table = result.allocation
    return dict(zip(zip(table["stake"], table["service"], strict=True), table["fraction"],
                    strict=True))


# --- the independent formulation --------------------------------------------------------------

def corners(n: int, gamma: float) -> list[np.ndarray]:
    """The vertices of {u in [0, 1]^n : sum u <= Gamma} that can be the worst."""
    whole = min(math.floor(gamma), n)
    part = gamma - math.floor(gamma) if whole < n else 0.0
    found = []
    for chosen in itertools.combinations(range(n), whole):
        for extra in ([e for e in range(n) if e not in chosen] if part > 0 else [None]):
            u = np.zeros(n)
            u[list(chosen)] = 1.0
            if extra is not None:
                u[extra] = part
            found.append(u)
    return found


def plain_lp(instance: optimizer.Instance) -> float | None:
    """The optimum by a plain LP with explicit w (None: infeasible). Fixed-rate rewards,
    the four stake limits (and Gamma), per-service caps: what the random instances use."""
    stakes, services, pairs = instance.stakes, instance.services, instance.pairs
    n_stakes, n_services = len(stakes), len(services)
    parameters = instance.parameters
    p = services["slash_probability"].to_numpy()
    f = services["slash_fraction"].to_numpy()
    high = services["slash_probability_high"].to_numpy(dtype=float)
    deviation = np.where(np.isnan(high), 0.0, np.maximum(high - p, 0.0)) * f
    gamma = parameters.uncertainty_budget or 0.0
    value = instance.stake_value.to_numpy()
    # Columns: x per eligible pair, then w per (stake, service) with an x or an x0, then theta.
    x_of = {(int(i), int(s)): q for q, (i, s) in
            enumerate(zip(pairs["stake_pos"], pairs["service_pos"], strict=True))}
    current = instance.current
    x0 = {(stakes.index.get_loc(i), services.index.get_loc(s)): float(v) for i, s, v in
          zip(current["stake"], current["service"], current["fraction"], strict=True)}
    on = parameters.transition_exposure
    w_keys = sorted(set(x_of) | {key for key, v in x0.items() if v > 0}) if on else []
    w_of = {key: len(x_of) + j for j, key in enumerate(w_keys)}
    theta = len(x_of) + len(w_keys)
    width = theta + 1
    cost = np.zeros(width)
    bounds = []
    for (i, s), q in x_of.items():
        cost[q] = -(services["reward_rate"].iloc[s] - p[s] * f[s]) * value[i]
        bounds.append((0.0, float(stakes["max_per_service"].iloc[i])))
    for key in w_keys:
        bounds.append((x0.get(key, 0.0), x0.get(key, 0.0) if key not in x_of else None))
    bounds.append((0.0, None))
    cost[theta] = 1.0
    rows: list[np.ndarray] = []
    upper: list[float] = []

    def row(entries: dict[int, float], bound: float) -> None:
        line = np.zeros(width)
        for column, coefficient in entries.items():
            line[column] += coefficient
        rows.append(line)
        upper.append(bound)

    for key, q in x_of.items():
        if key in w_of:
            row({q: 1.0, w_of[key]: -1.0}, 0.0)  # w >= x
    uncertain = np.flatnonzero(deviation > 0)
    vertices = corners(len(uncertain), gamma) if gamma > 0 and len(uncertain) else []
    for u in vertices:  # theta >= the objective's extra loss at this corner
        weight = np.zeros(n_services)
        weight[uncertain] = u
        row({q: weight[s] * deviation[s] * value[i] for (i, s), q in x_of.items()}
            | {theta: -1.0}, 0.0)
    groups = [(g, [s for s, names in enumerate(services["groups"]) if g in names], limit)
              for g, limit in instance.groups["max_exposure"].dropna().items()]
    for exposure in [x_of] + ([w_of] if on else []):
        for i in range(n_stakes):
            mine = {s: column for (j, s), column in exposure.items() if j == i}
            row({column: 1.0 for column in mine.values()}, stakes["max_restaking"].iloc[i])
            budget = stakes["max_expected_loss"].iloc[i]
            if not np.isnan(budget):
                for u in vertices or [np.zeros(len(uncertain))]:
                    weight = np.zeros(n_services)
                    weight[uncertain] = u
                    row({column: p[s] * f[s] + weight[s] * deviation[s]
                         for s, column in mine.items()}, budget)
            worst = stakes["max_worst_case_loss"].iloc[i]
            if not np.isnan(worst):
                k = min(parameters.worst_case_k, len(mine))
                for chosen in itertools.combinations(sorted(mine), k):
                    row({mine[s]: f[s] for s in chosen}, worst)
            for _, members, limit in groups:
                inside = {column for s, column in mine.items() if s in members}
                if inside:
                    row({column: 1.0 for column in inside}, limit)
    done = scipy.optimize.linprog(cost, A_ub=np.array(rows), b_ub=np.array(upper),
                                  bounds=bounds, method="highs")
    if done.status == 2:
        return None
    assert done.status == 0, done.message
    return -float(done.fun)


def random_instance(seed: int) -> optimizer.Instance:
    """A few stakes of two assets, services accepting one or both, a random current
    allocation (some of it on pairs no longer eligible) and random stake limits."""
    rng = np.random.default_rng(seed)
    n_stakes, n_services = int(rng.integers(1, 4)), int(rng.integers(2, 5))
    services = []
    for s in range(n_services):
        p = float(rng.choice([0.0, 0.01, 0.03]))
        row = {"service": f"s{s}", "reward_rate": float(rng.uniform(0.0, 0.08)),
               "slash_probability": p, "slash_fraction": float(rng.choice([0.25, 0.5, 1.0])),
               "accepts": ["ETH", "BTC"] if rng.random() < 0.6 else [str(rng.choice(
                   ["ETH", "BTC"]))],
               "groups": ["g"] if s < 2 else []}
        if rng.random() < 0.5:
            row["slash_probability_high"] = p + float(rng.choice([0.01, 0.05]))
        services.append(row)
    stakes = [{"stake": f"k{i}", "holder": f"h{i}", "asset": str(rng.choice(["ETH", "BTC"])),
               "amount": float(rng.uniform(1.0, 100.0)),
               "max_restaking": float(rng.choice([1.0, 1.5, 2.0])),
               "max_per_service": float(rng.choice([0.6, 1.0])),
               "max_expected_loss": float(rng.choice([np.nan, 0.004, 0.01, 0.03])),
               "max_worst_case_loss": float(rng.choice([np.nan, 0.3, 0.6, 1.0]))}
              for i in range(n_stakes)]
    current = [{"stake": f"k{i}", "service": f"s{s}",
                "fraction": float(rng.choice([0.1, 0.2, 0.35]))}
               for i in range(n_stakes) for s in range(n_services) if rng.random() < 0.4]
    parameters = {"transition_exposure": True, "worst_case_k": int(rng.integers(1, 4))}
    if rng.random() < 0.3:
        parameters["uncertainty_budget"] = float(rng.choice([0.5, 1.0, 1.5, 2.5]))
    groups = pd.DataFrame({"group": ["g"], "max_exposure": [float(rng.choice([0.4, 0.8]))]})
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH", "BTC"], "price": [1.0, 20.0]}),
        stakes=pd.DataFrame(stakes), services=pd.DataFrame(services), groups=groups,
        current=pd.DataFrame(current, columns=["stake", "service", "fraction"]),
        parameters=parameters)


# --- (a) the tiny instances ---------------------------------------------------------------------

@pytest.mark.parametrize("row", TRANSITION, ids=[r["file"] for r in TRANSITION])
def test_tiny_optimum_matches_derivation_and_the_plain_lp(row: dict[str, str]) -> None:
    instance = optimizer.load_instance(INSTANCES / row["file"])
    result = optimizer.solve(instance)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(float(row["optimal_objective"]), rel=1e-9)
    assert result.model_objective == pytest.approx(result.objective, rel=1e-9)
    assert result.violations == []
    assert optimizer.evaluate(instance, result.allocation).violations == []
    size = instance.size()
    assert (size["stakes"], size["services"], size["pairs"]) == (
        int(row["stakes"]), int(row["services"]), int(row["pairs"]))
    assert plain_lp(instance) == pytest.approx(float(row["optimal_objective"]), rel=1e-9)


def test_unique_stake_derivation() -> None:
    """instances/tiny/transition-unique.toml, whose derivation is in the file."""
    instance = load("transition-unique")
    before = optimizer.solve(switched(instance, False))
    assert before.objective == pytest.approx(11.5, rel=1e-9)
    assert fractions(before) == pytest.approx({("a-steth", "new"): 1.0,
                                               ("b-reth", "old"): 0.5,
                                               ("b-reth", "restake"): 1.0})
    # Its in-flight exposure breaks both restaking degrees, which the evaluator says.
    broken = optimizer.evaluate(instance, before.allocation).violations
    assert [(v.constraint, v.where, v.value, v.limit) for v in broken] == [
        ("transition_exposure", "stake a-steth (max_restaking in flight)", pytest.approx(1.8),
         1.0),
        ("transition_exposure", "stake b-reth (max_restaking in flight)", pytest.approx(2.0),
         1.5)]
    after = optimizer.solve(instance)
    assert after.objective == pytest.approx(5.18, rel=1e-9)
    assert fractions(after) == pytest.approx({("a-steth", "old"): 0.3, ("a-steth", "new"): 0.2,
                                              ("b-reth", "old"): 0.4,
                                              ("b-reth", "restake"): 0.6})
    # Each restaking degree is one limit, priced by the row for w: new's 0.07 x 100 and
    # restake's 0.06 x 60 per unit of L.
    binding = after.binding.set_index("limit")
    for limit, price in (("max_restaking of stake a-steth", 7.0),
                         ("max_restaking of stake b-reth", 3.6)):
        assert binding.loc[limit, "family"] == "transition_exposure"
        assert binding.loc[limit, "shadow_price"] == pytest.approx(price, rel=1e-6)


def test_loss_and_worst_case_derivation() -> None:
    """instances/tiny/transition-loss.toml, whose derivation is in the file."""
    instance = load("transition-loss")
    before = optimizer.solve(switched(instance, False))
    assert before.objective == pytest.approx(6.4, rel=1e-9)
    broken = {v.where: v.value for v in optimizer.evaluate(instance, before.allocation)
              .violations}
    assert broken == pytest.approx({"stake c-steth (max_expected_loss in flight)": 0.018,
                                    "stake d-steth (max_worst_case_loss in flight)": 1.5})
    after = optimizer.solve(instance)
    assert after.objective == pytest.approx(4.95, rel=1e-9)
    assert fractions(after) == pytest.approx({
        ("c-steth", "s1"): 0.4, ("c-steth", "s2"): 0.4, ("d-steth", "s1"): 0.3,
        ("d-steth", "s2"): 0.3, ("d-steth", "s3"): 0.9})
    binding = after.binding.set_index("limit")
    assert binding.loc["max_expected_loss of stake c-steth", "shadow_price"] == pytest.approx(
        300.0, rel=1e-6)  # s2's net / loss rate, 0.015 / 0.005, times 100
    assert binding.loc["max_worst_case_loss of stake d-steth", "shadow_price"] == \
        pytest.approx(4.5, rel=1e-6)  # x1 and x2 together: (0.03 + 0.015) x 100


def test_the_rows_for_w_replace_the_nominal_rows_and_the_model_stays_small() -> None:
    model = build_model(load("transition-unique")).model
    assert len(model.restaking_degree) == 0
    assert list(model.transition_restaking_degree) == [0, 1]
    # An excess only where x0 > 0 on an eligible pair (not on (b-reth, legacy)).
    assert len(model.transition_excess) == len(model.transition_excess_definition) == 3
    model = build_model(load("transition-loss")).model
    assert len(model.expected_loss_budget) == len(model.worst_case_budget) == 0
    assert len(model.transition_expected_loss_budget) == 1
    assert len(model.transition_worst_case_budget) == 1
    assert len(model.transition_worst_case_excess) == 3


def test_with_gamma_the_budget_holds_in_flight_at_the_worst_services() -> None:
    instance = load("transition-loss")
    services = instance.services.assign(slash_probability_high=[0.022, 0.01, np.nan])
    robust = instance.with_changes(services=services, parameters={"uncertainty_budget": 1.0})
    result = optimizer.solve(robust)
    assert result.status == "optimal" and result.violations == []
    model = build_model(robust).model
    assert len(model.robust_loss_budget) == len(model.transition_expected_loss_budget) == 0
    assert len(model.transition_robust_loss_budget) == 1
    assert result.objective == pytest.approx(plain_lp(robust), rel=1e-9)
    assert result.objective < 4.95 - 1e-6  # the uncertainty costs c something
    # At s1's high value 0.03, c's x0 alone, 0.4 x 0.03 = 0.012, is above its 0.01: no
    # allocation is reachable in one stage.
    worse = robust.with_changes(services=services.assign(
        slash_probability_high=[0.03, 0.01, np.nan]))
    assert plain_lp(worse) is None
    assert optimizer.solve(worse).status == "infeasible"


# --- (b) the plain LP on random instances -----------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_random_optimum_equals_the_plain_lp(seed: int) -> None:
    instance = random_instance(seed)
    expected = plain_lp(instance)
    result = optimizer.solve(instance, binding=False)
    if expected is None:
        assert result.status == "infeasible"
        return
    assert result.status == "optimal"
    assert result.objective == pytest.approx(expected, rel=1e-7, abs=1e-8)
    assert result.violations == []
    assert optimizer.evaluate(instance, result.allocation).violations == []


def test_the_random_instances_reach_every_case() -> None:
    """The seeds above include stranded current rows, k = 1 and k >= 2, Gamma, groups and
    infeasible ones (a current allocation that alone breaks a limit)."""
    instances = [random_instance(seed) for seed in range(40)]
    stranded = [len(i.current.merge(i.pairs, on=["stake", "service"], how="left",
                                    indicator=True).query("_merge == 'left_only'"))
                for i in instances]
    assert sum(n > 0 for n in stranded) >= 5
    assert {i.parameters.worst_case_k for i in instances} == {1, 2, 3}
    assert sum(i.parameters.uncertainty_budget is not None for i in instances) >= 5
    assert sum(plain_lp(i) is None for i in instances) >= 2
    assert sum(plain_lp(i) is not None for i in instances) >= 25


# --- (c) the parameter off ----------------------------------------------------------------------

def _rows(model: pyo.ConcreteModel) -> dict[str, tuple]:
    return {c.local_name: (list(c.keys()), c.indptr.tolist(), c.indices.tolist(),
                           c.data.tolist(), c.lower.tolist(), c.upper.tolist())
            for c in model.component_objects(pyo.Constraint) if isinstance(c, MatrixRows)}


@pytest.mark.parametrize("name", ["transition-unique", "transition-loss"])
def test_parameter_off_is_the_model_without_the_family(name: str) -> None:
    instance = switched(load(name), False)
    off = build_model(instance).model
    names = {block.name for block in FAMILY.rows}
    assert all(len(getattr(off, block)) == 0 for block in names)
    assert len(off.transition_excess) == 0
    # Exactly the rows of the same instance with no current allocation at all.
    bare = build_model(switched(instance.with_changes(current=instance.current.iloc[:0]),
                                True)).model
    assert _rows(off) == _rows(bare)


# --- the evaluator -----------------------------------------------------------------------------

def test_in_flight_allocation_is_max_of_current_and_new() -> None:
    instance = load("transition-unique")
    allocation = pd.DataFrame({"stake": ["a-steth", "a-steth", "b-reth"],
                               "service": ["old", "new", "restake"],
                               "fraction": [0.6, 0.4, 0.2]})
    flight = in_flight_allocation(instance, allocation)
    assert list(flight.columns) == list(COLUMNS)
    got = dict(zip(zip(flight["stake"], flight["service"], strict=True), flight["fraction"],
                   strict=True))
    assert got == pytest.approx({("a-steth", "bad"): 0.5, ("a-steth", "new"): 0.4,
                                 ("a-steth", "old"): 0.6, ("b-reth", "legacy"): 0.5,
                                 ("b-reth", "old"): 0.4, ("b-reth", "restake"): 0.2})
    assert flight.set_index(["stake", "service"]).loc[("b-reth", "legacy"), "value"] == \
        pytest.approx(0.5 * 60)
    # No current allocation: the allocation itself.
    bare = instance.with_changes(current=instance.current.iloc[:0])
    assert in_flight_allocation(bare, allocation)["fraction"].tolist() == [0.4, 0.6, 0.2]


def test_the_check_catches_a_hand_made_violation() -> None:
    instance = load("transition-unique")
    # Within max_restaking for x (a: 0.2 + 0.8 = 1, b: 1.5), not in flight:
    # a: max(0.5, 0) + max(0.3, 0.2) + 0.8 = 1.6; b: 0.5 (legacy) + max(0.4, 0) + 1 + 0.5 = 2.4.
    allocation = pd.DataFrame({"stake": ["a-steth", "a-steth", "b-reth", "b-reth"],
                               "service": ["old", "new", "restake", "bad"],
                               "fraction": [0.2, 0.8, 1.0, 0.5]})
    evaluation = optimizer.evaluate(instance, allocation)
    assert [(v.where, v.value, v.limit) for v in evaluation.violations] == [
        ("stake a-steth (max_restaking in flight)", pytest.approx(1.6), 1.0),
        ("stake b-reth (max_restaking in flight)", pytest.approx(2.4), 1.5)]
    assert optimizer.evaluate(switched(instance, False), allocation).violations == []
    # At the limit exactly (a: 0.5 + 0.3 + 0.2; b: 0.5 + 0.4 + 0.6) nothing is broken.
    fine = pd.DataFrame({"stake": ["a-steth", "b-reth"], "service": ["new", "restake"],
                         "fraction": [0.2, 0.6]})
    assert optimizer.evaluate(instance, fine).violations == []


def test_the_check_covers_groups_and_the_worst_case() -> None:
    instance = load("transition-loss")
    groups = pd.DataFrame({"max_exposure": [1.0]}, index=pd.Index(["g"], name="group"))
    services = instance.services.assign(groups=[["g"], [], ["g"]])
    grouped = instance.with_changes(groups=groups, services=services)
    # d: x1 0.3 and x3 0.5 is 0.8 in the group, but w3 = 0.9 makes it 1.2 in flight; the two
    # largest in flight, 0.9 + 0.3, are exactly c = 1.2.
    allocation = pd.DataFrame({"stake": ["d-steth", "d-steth"], "service": ["s1", "s3"],
                               "fraction": [0.3, 0.5]})
    found = [(v.where, v.value) for v in optimizer.evaluate(grouped, allocation).violations]
    assert found == [("stake d-steth, group g (max_exposure in flight)", pytest.approx(1.2))]
