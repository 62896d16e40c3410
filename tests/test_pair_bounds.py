"""Per-pair bounds (eligibility ``min_fraction``, ``max_fraction``): model, evaluator, merge.

The hand-derived optimum is instances/tiny/pair-bounds.toml's (tests/test_known_optima.py
solves it, tests/test_binding.py prices it); the rules refused at load are in
tests/test_validation.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.instance import Instance
from optimizer.model.merge import merge_interchangeable
from optimizer.results.evaluate import evaluate

from .conftest import INSTANCES

PAIR_BOUNDS = INSTANCES / "tiny" / "pair-bounds.toml"


def _book(eligibility: pd.DataFrame | None = None, **stake_columns: list[float]) -> Instance:
    """Two stETH stakes of one holder and two services, s1 paying more."""
    return Instance.from_frames(
        assets=pd.DataFrame({"asset": ["stETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a", "b"], "holder": ["h", "h"],
                             "asset": ["stETH", "stETH"], "amount": [100.0, 100.0],
                             **stake_columns}),
        services=pd.DataFrame({"service": ["s1", "s2"], "reward_rate": [0.05, 0.03]}),
        eligibility=eligibility, name="book")


def _fractions(result: optimizer.Result) -> dict[tuple[str, str], float]:
    return {(r.stake, r.service): r.fraction for r in result.allocation.itertuples()}


def test_the_optimum_keeps_every_bound() -> None:
    result = optimizer.solve(optimizer.load_instance(PAIR_BOUNDS))
    assert result.status == "optimal" and result.objective == pytest.approx(28.6)
    x = _fractions(result)
    assert x[("a", "s1")] == pytest.approx(0.4)  # the holder row's cap
    assert x[("b", "s1")] == pytest.approx(0.7)  # the stake row's, overriding it
    assert x[("a", "s3")] == pytest.approx(0.3)  # a minimum in a poorer service
    assert x[("c", "s2")] == pytest.approx(0.5)  # the fixed pair


def test_a_row_without_allowed_neither_whitelists_nor_forbids() -> None:
    instance = optimizer.load_instance(PAIR_BOUNDS)
    assert instance.eligibility["allowed"].isna().all()
    assert len(instance.pairs) == 9  # every stake may use every service


def test_a_fixed_pair_stays_fixed_whatever_pays_more() -> None:
    fixed = pd.DataFrame({"stake": ["a"], "service": ["s2"], "min_fraction": [0.25],
                          "max_fraction": [0.25]})
    instance = _book(fixed)
    for rates in ([0.05, 0.03], [0.01, 0.09], [0.0, 0.0]):
        services = instance.services.assign(reward_rate=rates)
        result = optimizer.solve(instance.with_changes(services=services))
        assert result.status == "optimal"
        assert _fractions(result).get(("a", "s2"), 0.0) == pytest.approx(0.25, abs=1e-9)


def test_the_evaluator_catches_either_bound_broken() -> None:
    instance = optimizer.load_instance(PAIR_BOUNDS)
    good = optimizer.solve(instance).allocation[["stake", "service", "fraction"]]
    assert not evaluate(instance, good).violations
    too_much = good.copy()
    too_much.loc[(too_much["stake"] == "a") & (too_much["service"] == "s1"), "fraction"] = 0.5
    broken = evaluate(instance, too_much).violations
    assert [(v.constraint, v.where, v.limit) for v in broken
            if v.constraint == "allocation_bounds"] == [
        ("allocation_bounds", "stake a, service s1", pytest.approx(0.4))]
    too_little = good.copy()
    too_little.loc[(too_little["stake"] == "c") & (too_little["service"] == "s2"),
                   "fraction"] = 0.2
    broken = evaluate(instance, too_little).violations
    assert any(v.constraint == "allocation_bounds" and v.where == "stake c, service s2"
               and v.sense == ">=" and v.limit == pytest.approx(0.5) for v in broken), broken
    # A pair with a minimum that the allocation leaves out holds 0.
    left_out = good[~((good["stake"] == "a") & (good["service"] == "s3"))]
    broken = evaluate(instance, left_out).violations
    assert any(v.where == "stake a, service s3" and v.value == 0.0 for v in broken), broken


def test_merge_keeps_apart_stakes_whose_pair_bounds_differ() -> None:
    assert merge_interchangeable(_book()) is not None  # alike, they merge
    capped = pd.DataFrame({"stake": ["a"], "service": ["s1"], "max_fraction": [0.3]})
    instance = _book(capped)
    assert merge_interchangeable(instance) is None
    merged = optimizer.solve(instance)
    apart = optimizer.solve(instance, merge_stakes=False)
    assert merged.objective == pytest.approx(apart.objective)
    assert _fractions(merged)[("a", "s1")] == pytest.approx(0.3)
    assert _fractions(merged)[("b", "s1")] == pytest.approx(1.0)


def test_the_baselines_keep_the_bounds() -> None:
    from optimizer.analysis.baselines import BASELINES, baseline_allocation

    instance = optimizer.load_instance(PAIR_BOUNDS)
    for name in BASELINES:
        found = evaluate(instance, baseline_allocation(instance, name)).violations
        assert not [v for v in found if v.constraint == "allocation_bounds"], (name, found)


def test_a_bad_bound_is_refused_by_the_command_line(tmp_path: Path) -> None:
    text = PAIR_BOUNDS.read_text().replace("max_fraction = 0.7", "max_fraction = 0.2\n"
                                           "min_fraction = 0.3")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "optimizer", "solve", str(bad), "--output",
                           str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stderr
    assert "bad.toml eligibility[2] (stake=b, service=s1)" in done.stderr
    assert "min_fraction is 0.3, above the row's max_fraction 0.2" in done.stderr
    assert not out.exists() and done.stdout == ""


def test_a_minimum_on_a_pair_that_is_not_eligible_is_refused() -> None:
    rules = pd.DataFrame({"holder": ["h", None], "stake": [None, "a"],
                          "service": ["s1", "s1"], "allowed": [None, False],
                          "min_fraction": [0.1, np.nan]})
    with pytest.raises(optimizer.InstanceError) as caught:
        _book(rules)
    text = str(caught.value)
    assert "eligibility row 1 (holder=h, service=s1): min_fraction is 0.1" in text
    assert "stake a (an eligibility row forbids it)" in text
    # A cap there is harmless.
    rules["min_fraction"] = np.nan
    rules["max_fraction"] = [0.5, np.nan]
    assert ("a", "s1") not in set(zip(_book(rules).pairs["stake"], _book(rules).pairs["service"],
                                      strict=True))
