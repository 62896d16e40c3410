"""The three spellings load to the same instance, and round trips change nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import optimizer
from optimizer.instance import Instance
from optimizer.instance.columns import TABLES
from optimizer.instance.generate import generate_instance

from .conftest import INSTANCES, instance_index


def assert_same(a: Instance, b: Instance) -> None:
    assert (a.name, a.numeraire, a.description, a.source) == (
        b.name, b.numeraire, b.description, b.source)
    assert a.parameters == b.parameters
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_dtype=False,
                                      check_index_type=False)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)


SHIPPED = [row["file"] for row in instance_index()]


@pytest.mark.parametrize("file", SHIPPED)
@pytest.mark.parametrize("chain", [("json", "csv", "toml"), ("csv", "json"), ("toml",)])
def test_round_trip_is_lossless(file: str, chain: tuple[str, ...], tmp_path: Path) -> None:
    original = optimizer.load_instance(INSTANCES / file)
    current = original
    for step, spelling in enumerate(chain):
        target = tmp_path / (f"s{step}.{spelling}" if spelling != "csv" else f"s{step}")
        current.write(target)
        current = optimizer.load_instance(target)
        assert_same(original, current)


def test_round_trip_of_every_column(tmp_path: Path) -> None:
    """An instance that sets every table and column survives every spelling."""
    frames = {
        "assets": pd.DataFrame({"asset": ["ETH", "EIGEN"], "price": [1.0, 0.000123456789]}),
        "holders": pd.DataFrame({"holder": ["h", "k"], "max_services": [2.0, float("nan")]}),
        "stakes": pd.DataFrame({
            "stake": ["h-eth", "k-eigen"], "holder": ["h", "k"], "asset": ["ETH", "EIGEN"],
            "amount": [10.5, 1e6], "max_restaking": [2.0, 1.0],
            "max_per_service": [0.5, 1.0], "max_expected_loss": [0.01, float("nan")],
            "max_worst_case_loss": [float("nan"), 0.3]}),
        "services": pd.DataFrame({
            "service": ["s1", "s2"], "reward_rate": [0.05, 0.0], "reward_pool": [0.0, 5.0],
            "external_stake": [0.0, 100.0], "slash_probability": [0.01, 0.1],
            "slash_fraction": [0.5, 1.0], "accepts": [["ETH"], "*"],
            "capacity": [100.0, float("nan")], "min_security": [1.0, 0.0],
            "required": [True, False], "profit_from_corruption": [3.0, 0.0],
            "attack_threshold": [0.5, 1 / 3], "max_holder_share": [float("nan"), 0.2],
            "opt_in_cost": [0.1, 0.0], "min_allocation": [0.0, 2.0],
            "groups": [["g"], []]}),
        "groups": pd.DataFrame({"group": ["g"], "max_exposure": [0.7], "correlation": [0.3]}),
        "eligibility": pd.DataFrame({"holder": ["h", None], "stake": [None, "k-eigen"],
                                     "service": ["s1", "s1"], "allowed": [True, False]}),
        "scenarios": pd.DataFrame({"scenario": ["w1", "w1", "w2"],
                                   "probability": [0.25, 0.25, 0.75],
                                   "service": ["s1", "s2", None],
                                   "slash_fraction": [0.5, 1.0, 0.0]}),
        "current": pd.DataFrame({"stake": ["h-eth"], "service": ["s1"], "fraction": [0.25]}),
    }
    parameters = {"risk_aversion": 0.5, "cvar_alpha": 0.9, "cvar_limit": 10.0,
                  "worst_case_k": 2, "security_margin": 0.25, "turnover_cost": 0.001,
                  "turnover_limit": 50.0, "scenario_count": 500, "scenario_seed": 3}
    original = Instance.from_frames(**frames, parameters=parameters, name="every column",
                                    numeraire="USD", description="all of it",
                                    source="a test")
    for target in (tmp_path / "a.toml", tmp_path / "a.json", tmp_path / "a-csv"):
        original.write(target)
        assert_same(original, optimizer.load_instance(target))


def test_generated_round_trip(tmp_path: Path) -> None:
    original = generate_instance(300, 20, seed=5, holder_share=True, required=2)
    original.write(tmp_path / "g")
    assert_same(original, optimizer.load_instance(tmp_path / "g"))


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.toml"
    target.write_text("previous")
    instance = optimizer.load_instance(INSTANCES / "contract" / "knapsack.toml")
    instance.stakes.loc["vault-steth", "amount"] = float("inf")  # cannot be written
    with pytest.raises(ValueError):
        instance.write(target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.toml"]


@pytest.mark.parametrize(("file", "arguments"), [
    ("generated/small-200x20-seed1.toml",
     {"stakes": 200, "services": 20, "seed": 1, "required": 2, "holder_share": True,
      "worst_case_k": 2}),
    ("generated/medium-2000x100-seed2",
     {"stakes": 2000, "services": 100, "seed": 2, "required": 3}),
])
def test_shipped_generated_instances_come_from_their_command(file: str, arguments: dict
                                                             ) -> None:
    arguments = dict(arguments)
    shipped = optimizer.load_instance(INSTANCES / file)
    regenerated = generate_instance(arguments.pop("stakes"), arguments.pop("services"),
                                    **arguments)
    assert_same(shipped, regenerated)
