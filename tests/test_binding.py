"""What binds and what it is worth: each shadow price against re-solves, and by hand.

A limit's shadow price (``Result.binding``, ``binding.csv``) is the derivative of the
optimal expected net reward with respect to the instance cell that sets it. Each one is
checked against a finite difference: the instance is copied with that one cell moved by
a small step in the direction that relaxes it, solved again from scratch (a new model, so
a row the first build left out is there if it now can bind), and the change of the
optimum divided by the step. Two steps, h and h / 2, are combined (Richardson) so that a
limit entering as a coefficient, whose optimum is smooth rather than linear in it, is
differentiated to second order. The optimum differentiated is the model's
(``Result.model_objective``): with reward pools, the chords' (docs/model.md, "What binds").
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from optimizer import load_instance, solve
from optimizer.instance import Instance
from optimizer.solve.binding import COLUMNS
from optimizer.solve.limit_cells import MINIMA

ROOT = Path(__file__).resolve().parent.parent / "instances"

CASES = [
    "tiny/fractional-knapsack.toml", "tiny/worst-case-k.toml", "tiny/mesh-security.toml",
    "tiny/capacity.toml", "tiny/holder-concentration.toml", "tiny/group-exposure.toml",
    "tiny/required-security.toml", "tiny/eligibility.toml", "tiny/pair-bounds.toml",
    "tiny/semi-continuous.toml",
    "tiny/opt-in-cost.toml", "tiny/min-allocation.toml", "tiny/max-services.toml",
    "tiny/cvar-limit.toml", "tiny/risk-aversion.toml", "tiny/turnover.toml",
    "tiny/pools-mixed.toml", "contract/knapsack.toml", "contract/worstcase.toml",
    "contract/pools.toml", "tiny/robust-knapsack.toml", "tiny/robust-fractional.toml",
    "tiny/robust-all-high.toml", "tiny/transition-unique.toml", "tiny/transition-loss.toml",
    "realistic/eigenlayer-symbiotic-2026.toml",
]

RELATIVE_STEP = 1e-3
"""The finite difference's step h, as a fraction of the limit's value."""

TOLERANCE = 1e-6
"""Agreement asked of a shadow price and its finite difference (relative)."""


def moved(instance: Instance, column: str, row_id: str, value: float) -> Instance:
    """A copy of ``instance`` with one cell (``table.column`` of row ``row_id``) set."""
    table, name = column.split(".")
    if table == "parameters":
        return instance.with_changes(keep_scenarios=True, parameters={name: value})
    frame = getattr(instance, table).copy()
    if table == "eligibility":  # no row ids: the row is named by its owner and service
        key = dict(part.split("=", 1) for part in row_id.split(", "))
        owner = "holder" if "holder" in key else "stake"
        row = frame.index[(frame[owner] == key[owner]) & (frame["service"] == key["service"])]
        assert len(row) == 1, row_id
        frame.loc[row[0], name] = value
        return instance.with_changes(keep_scenarios=True, eligibility=frame)
    frame.loc[row_id, name] = value
    return instance.with_changes(keep_scenarios=True, **{table: frame})


def finite_difference(instance: Instance, limit: pd.Series, base: float) -> float:
    """d(optimum)/d(limit's value), from re-solves at value + h, h / 2, h / 4...

    Halved until the Richardson estimates of two consecutive steps agree (a step that
    crosses a kink of the optimum, such as where another limit takes over, is too long).
    """
    value = float(limit["value"])
    h = RELATIVE_STEP * abs(value) * (-1.0 if limit["column"].split(".")[1] in MINIMA else 1.0)

    def slope(step: float) -> float:
        result = solve(moved(instance, limit["column"], limit["id"], value + step),
                       binding=False)
        assert result.status == "optimal"
        return (result.model_objective - base) / step

    coarse, estimates = slope(h), []
    for _ in range(8):
        h /= 2
        fine = slope(h)
        estimates.append(2 * fine - coarse)
        if len(estimates) > 1 and math.isclose(estimates[-1], estimates[-2], rel_tol=1e-8,
                                               abs_tol=1e-10):
            break
        coarse = fine
    return estimates[-1]


@pytest.mark.parametrize("case", CASES)
def test_every_shadow_price_is_the_derivative_of_the_optimum(case: str) -> None:
    instance = load_instance(ROOT / case)
    result = solve(instance)
    assert result.status == "optimal"
    binding = result.binding
    assert list(binding.columns) == list(COLUMNS)
    # A count of binaries (max_services) is priced by one more, below, not by a derivative.
    priced = binding[(binding["shadow_price"] != 0) & (binding["value"] != 0)
                     & (binding["basis"] != "milp")]
    for _, limit in priced.iterrows():
        derivative = finite_difference(instance, limit, result.model_objective)
        assert derivative == pytest.approx(limit["shadow_price"], rel=TOLERANCE,
                                           abs=TOLERANCE * 1e-3), limit["limit"]
        assert limit["measured"], limit["limit"]
    if result.is_mip:
        assert set(binding["basis"]) <= {"lp with binaries fixed", "milp"}


def test_the_families_are_all_priced_somewhere() -> None:
    """The cases above price a limit of every family that has one."""
    columns: set[str] = set()
    for case in CASES:
        binding = solve(load_instance(ROOT / case)).binding
        columns |= set(binding.loc[binding["shadow_price"] != 0, "column"])
    assert columns >= {
        "stakes.max_restaking", "stakes.max_per_service", "stakes.max_expected_loss",
        "stakes.max_worst_case_loss", "groups.max_exposure", "services.capacity",
        "services.min_security", "services.max_holder_share", "parameters.cvar_limit",
        "parameters.turnover_limit", "eligibility.max_fraction",
        "eligibility.min_fraction"}, columns


def test_hand_derived_prices_of_the_capacity_instance() -> None:
    """instances/tiny/capacity.toml, whose derivation is in the file.

    At the optimum a-steth is all in hi, b-reth splits hi/mid, c-eigen splits mid/eig.
    - capacity of hi: one more ETH in hi is taken from b-reth, which moves it from mid,
      where c-eigen refills it from eig: 0.08 - 0.05 + 0.05 - 0.03 = 0.05 ETH/yr per ETH.
    - capacity of mid: one more ETH of c-eigen moves from eig to mid: 0.05 - 0.03 = 0.02.
    - max_restaking of b-reth (280 ETH): a unit more of fraction is 280 ETH more in mid,
      made room for by c-eigen going back to eig: 280 x (0.05 - 0.02) = 8.4.
    - max_restaking of a-steth (300 ETH): its hi pair is at max_per_service 1 already, so
      the extra fraction goes to lo: 300 x 0.02 = 6 (the LP dual credits 9, split with
      the bound, which relaxing the restaking degree alone does not earn).
    - max_restaking of c-eigen (200 ETH): the extra goes to eig: 200 x 0.03 = 6.
    Relaxing a limit by 1% earns its price times 1% of its value (every step stays on the
    first linear piece here).
    """
    binding = solve(load_instance(ROOT / "tiny/capacity.toml")).binding.set_index("limit")
    expected = {"capacity of service hi": 0.05, "capacity of service mid": 0.02,
                "max_restaking of stake b-reth": 8.4, "max_restaking of stake a-steth": 6.0,
                "max_restaking of stake c-eigen": 6.0}
    for limit, price in expected.items():
        assert binding.loc[limit, "shadow_price"] == pytest.approx(price, rel=1e-9)
        assert binding.loc[limit, "gain_of_1pct"] == pytest.approx(
            price * 0.01 * binding.loc[limit, "value"], rel=1e-9)
        assert binding.loc[limit, "slack"] == 0 and binding.loc[limit, "measured"]
    assert set(binding.index[binding["shadow_price"] != 0]) == set(expected)


def test_hand_derived_prices_of_the_pair_bounds_instance() -> None:
    """instances/tiny/pair-bounds.toml, whose derivation is in the file.

    A holder row's max_fraction is priced on the pairs it bounds (a's only: b's stake row
    overrides it); a min_fraction has a negative price (lowering it earns); the fixed
    pair's max_fraction earns nothing, its min_fraction all.
    """
    binding = solve(load_instance(ROOT / "tiny/pair-bounds.toml")).binding.set_index("limit")
    expected = {"max_fraction of holder h1 for service s1": 4.0,
                "max_fraction of stake b for service s1": 8.0,
                "min_fraction of stake a for service s3": -2.0,
                "min_fraction of stake c for service s2": -2.0,
                "max_fraction of stake c for service s2": 0.0}
    for limit, price in expected.items():
        row = binding.loc[limit]
        assert row["shadow_price"] == pytest.approx(price, abs=1e-9), limit
        assert row["column"] == "eligibility." + limit.split(" ")[0]
        assert row["slack"] == 0
    assert binding.loc["max_fraction of holder h1 for service s1", "id"] == \
        "holder=h1, service=s1"


def test_a_count_of_opt_ins_is_priced_by_one_more() -> None:
    """instances/tiny/max-services.toml, whose derivation is in the file.

    Holder B (b-steth, 60 ETH) may open one service and opens s2; with two it would also
    open s3 (s1 is full with A's stake): 60 x 0.04 = 2.4 ETH/yr more. Holder A (a-steth)
    already fills its max_restaking of 2 with s1 and s2: a third opt-in earns nothing.
    """
    instance = load_instance(ROOT / "tiny/max-services.toml")
    binding = solve(instance).binding.set_index("limit")
    for holder, gain in (("B", 2.4), ("A", 0.0)):
        row = binding.loc[f"max_services of holder {holder}"]
        assert row["shadow_price"] == pytest.approx(gain, abs=1e-9)
        assert row["gain_of_1pct"] == pytest.approx(gain, abs=1e-9)
        assert row["basis"] == "milp" and row["measured"]
    frame = instance.holders.copy()
    frame.loc["B", "max_services"] = 2
    more = solve(instance.with_changes(holders=frame), binding=False)
    assert more.model_objective - solve(instance).model_objective == pytest.approx(2.4)
