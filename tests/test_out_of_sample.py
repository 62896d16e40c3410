"""The out-of-sample CVaR: its value against exact CVaRs, its error's coverage, the warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.results.out_of_sample import (
    MIN_DRAWS,
    OutOfSample,
    default_draws,
    out_of_sample_cvar,
)
from optimizer.results.report import format_result

from .conftest import INSTANCES, ROOT

ALPHA = 0.95


def _instance(p: list[float], f: list[float], correlation: float | None = None,
              reward: list[float] | None = None, amount: float = 100.0,
              **parameters: float) -> optimizer.Instance:
    """One stake of ``amount`` ETH that may back every service in full (degree n)."""
    n = len(p)
    grouped = correlation is not None
    return optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        stakes=pd.DataFrame({"stake": ["a"], "holder": ["a"], "asset": ["ETH"],
                             "amount": [amount], "max_restaking": [float(n)]}),
        services=pd.DataFrame({
            "service": [f"s{k + 1}" for k in range(n)],
            "reward_rate": reward or [0.1] * n, "slash_probability": p, "slash_fraction": f,
            "groups": [["g"] if grouped else [] for _ in range(n)]}),
        groups=pd.DataFrame({"group": ["g"] if grouped else [],
                             "correlation": [correlation] if grouped else []}),
        parameters={"cvar_alpha": ALPHA, **parameters}, name="out-of-sample")


def _allocation(security: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"service": list(security), "value": list(security.values())})


# Exact CVaRs at alpha = 0.95 (losses f_s X_s: s1 100, s2 60):
# - independent, p = 0.03 and 0.04: both 0.0012 (160), s1 only 0.0288 (100), s2 only
#   0.0388 (60): (160 x 0.0012 + 100 x 0.0288 + 60 x 0.02) / 0.05 = 85.44 (VaR 60, an atom
#   with 0.9312 below it and 0.97 up to it: the quantile is unique);
# - one group of correlation 0.5, p = 0.03 each: both c p + (1 - c) p^2 = 0.01545, each
#   alone 0.01455: (160 x 0.01545 + 100 x 0.01455 + 60 x 0.01455) / 0.05 = 96.0 (VaR 0).
CASES = {
    "independent": (dict(p=[0.03, 0.04], f=[1.0, 0.5]), 85.44),
    "correlated": (dict(p=[0.03, 0.03], f=[1.0, 0.5], correlation=0.5), 96.0),
}
SECURITY = {"s1": 100.0, "s2": 120.0}


@pytest.mark.parametrize("case", list(CASES))
def test_error_covers_the_exact_cvar_at_its_stated_rate(case: str) -> None:
    arguments, exact = CASES[case]
    instance = _instance(**arguments, cvar_limit=1000.0)
    runs = 200
    covered = 0
    for seed in range(runs):
        measured = out_of_sample_cvar(instance, _allocation(SECURITY), draws=5_000, seed=seed)
        assert measured is not None and measured.error > 0
        covered += abs(measured.cvar - exact) <= 1.96 * measured.error
    # A 95% interval: 200 runs cover 190 +/- 3 in expectation; 9 sd is far off either way.
    assert 0.90 * runs <= covered <= 0.99 * runs


def test_one_service_solve_converges_to_the_hand_cvar() -> None:
    # One service, p = 0.02, f = 0.5, all 100 ETH behind it: loss 50 with probability 0.02,
    # so CVaR_0.95 = 50 x 0.02 / 0.05 = 20.
    result = optimizer.solve(_instance([0.02], [0.5], cvar_limit=30.0))
    assert result.status == "optimal"
    assert result.services.set_index("service").loc["s1", "security"] == pytest.approx(100.0)
    assert result.cvar_out_of_sample_draws == MIN_DRAWS
    error = result.cvar_out_of_sample_error
    assert error == pytest.approx(50 * np.sqrt(0.02 * 0.98 / MIN_DRAWS) / 0.05, rel=0.1)
    assert abs(result.cvar_out_of_sample - 20.0) <= 3 * error
    assert result.cvar_out_of_sample_seed == 1  # scenario_seed 0, plus one
    assert not any("out of sample" in w for w in result.warnings)  # 30 is well above 20


def _curse(scenarios: int) -> optimizer.Instance:
    """Ten independent services, a tight CVaR limit: few scenarios leave some unslashed."""
    return _instance([0.04] * 10, [1.0] * 10, reward=[0.1 + 0.001 * k for k in range(10)],
                     cvar_limit=150.0, scenario_count=scenarios, scenario_seed=4)


def test_a_limit_met_on_few_scenarios_is_warned_of() -> None:
    result = optimizer.solve(_curse(20))
    assert result.status == "optimal"
    assert result.cvar <= 150.0 + 1e-6  # met in sample
    assert result.cvar_out_of_sample > 150.0 + 2 * result.cvar_out_of_sample_error
    said = [w for w in result.warnings if "not out of sample" in w]
    assert len(said) == 1 and "limit 150 is met on the" in said[0]
    above = result.cvar_out_of_sample / 150.0 - 1
    assert f"({above:+.1%}) on 20,000 fresh scenarios (seed 5)" in said[0]
    assert "out_of_sample" in result.timings


def test_a_limit_met_out_of_sample_is_not_warned_of() -> None:
    result = optimizer.solve(_curse(20).with_changes(parameters={"cvar_limit": 5_000.0}))
    assert result.cvar_out_of_sample is not None
    assert result.cvar_out_of_sample < 5_000.0
    assert not any("out of sample" in w for w in result.warnings)


def test_exceeds_counts_standard_errors() -> None:
    measured = OutOfSample(cvar=110.0, error=4.0, draws=20_000, distinct=10, seed=1,
                           alpha=ALPHA, seconds=0.0)
    assert measured.exceeds(101.0) and not measured.exceeds(102.0)
    assert not measured.exceeds(None)


def test_same_seed_same_numbers_and_the_seed_is_not_the_models() -> None:
    instance = _curse(50)
    first, second = optimizer.solve(instance), optimizer.solve(instance)
    assert first.summary()["cvar_out_of_sample"] == second.summary()["cvar_out_of_sample"]
    assert first.cvar_out_of_sample_error == second.cvar_out_of_sample_error
    assert first.cvar_out_of_sample_seed == 5  # scenario_seed 4, plus one
    other = out_of_sample_cvar(instance, first.allocation, seed=6)
    assert other is not None and other.cvar != first.cvar_out_of_sample


def test_default_draws_are_bounded_by_the_book() -> None:
    assert default_draws(_instance([0.01], [1.0], cvar_limit=1.0)) == MIN_DRAWS
    assert default_draws(_instance([0.01], [1.0], cvar_limit=1.0,
                                   scenario_count=5_000)) == 50_000
    wide = _instance([0.01] * 5_000, [1.0] * 5_000, cvar_limit=1.0, scenario_count=5_000)
    assert default_draws(wide) == 4_000  # 2e7 draws x services at most


def test_without_cvar_nothing_new_is_reported() -> None:
    result = optimizer.solve(_instance([0.02], [0.5]))
    assert result.cvar_out_of_sample is None and result.cvar_out_of_sample_draws == 0
    assert not any(key.startswith("cvar_out") for key in result.summary())
    assert "out_of_sample" not in result.timings
    assert "\ncvar " not in format_result(result)


def test_scenarios_given_as_a_table_have_no_out_of_sample() -> None:
    # The table is the distribution: its CVaR is exact, there is nothing to draw afresh.
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "tiny" / "cvar-limit.toml"))
    assert result.cvar_out_of_sample is None
    assert "cvar_out_of_sample" not in result.summary()
    lines = format_result(result).splitlines()
    assert [line for line in lines if line.startswith("cvar ")] == [
        "cvar       11 ETH on the 4 distinct scenarios solved"]


def _restake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True,
                          text=True, cwd=ROOT, check=False, timeout=300)


@pytest.fixture(scope="module")
def cursed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("out-of-sample") / "cursed.toml"
    _curse(20).write(path)
    return path


def test_cli_json_stays_json_and_the_warning_goes_to_stderr(cursed_file: Path) -> None:
    done = _restake("solve", str(cursed_file), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout
    assert summary["cvar_out_of_sample"] > 150.0
    assert summary["cvar_out_of_sample_draws"] == MIN_DRAWS
    assert summary["cvar_out_of_sample_seed"] == 5
    assert summary["cvar_out_of_sample_error"] > 0
    assert "warning: the CVaR limit 150 is met on the" in done.stderr
    assert any("not out of sample" in w for w in summary["warnings"])  # as documented


def test_cli_report_has_one_cvar_line(cursed_file: Path) -> None:
    done = _restake("solve", str(cursed_file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("instance   out-of-sample")
    cvar = [line for line in lines if line.startswith("cvar ")]
    assert len(cvar) == 1 and "out of sample" in cvar[0] and "seed 5" in cvar[0]
    assert "warning" not in done.stdout and "not out of sample" in done.stderr
