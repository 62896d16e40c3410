"""The simplex's starting basis for LPs with many worst-case rows: valid, and the same optimum.

``crash_basis`` only changes where HiGHS's simplex starts, never the answer: each case here is
solved with it (its row threshold lowered so that small books use it) and without it.
"""

from __future__ import annotations

import highspy
import pytest

import optimizer
from optimizer.solve import highs_run

from .conftest import INSTANCES


@pytest.fixture
def crash_everywhere(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Lower the threshold to one row, and record whether HiGHS accepted each basis."""
    accepted: list[bool] = []
    original = highspy.Highs.setBasis

    def record(self: highspy.Highs, *args: object) -> object:
        status = original(self, *args)
        accepted.append(status == highspy.HighsStatus.kOk)
        return status

    monkeypatch.setattr(highs_run, "CRASH_MIN_ROWS", 1)
    monkeypatch.setattr(highspy.Highs, "setBasis", record)
    return accepted


def generated(tmp_path, seed: int) -> optimizer.Instance:
    path = tmp_path / f"book-{seed}.toml"
    from click.testing import CliRunner

    from optimizer.cli import main

    done = CliRunner().invoke(main, ["generate", str(path), "--stakes", "60", "--services",
                                     "12", "--seed", str(seed), "--worst-case-k", "2",
                                     "--holder-share", "--required", "2"])
    assert done.exit_code == 0, done.output
    return optimizer.load_instance(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_optimum_from_the_crash_basis(tmp_path, crash_everywhere, seed):
    instance = generated(tmp_path, seed)
    with_crash = optimizer.solve(instance, binding=False)
    assert crash_everywhere and all(crash_everywhere)  # the basis was given and taken
    crash_everywhere.clear()
    highs_run.CRASH_MIN_ROWS = 10**9  # monkeypatch restores it after the test
    plain = optimizer.solve(instance, binding=False)
    assert not crash_everywhere
    assert with_crash.status == plain.status == "optimal"
    assert with_crash.objective == pytest.approx(plain.objective, rel=1e-9)
    assert optimizer.evaluate(instance, with_crash.allocation).feasible


def test_tiny_worst_case_instance_keeps_its_hand_derived_optimum(crash_everywhere):
    result = optimizer.solve(optimizer.load_instance(INSTANCES / "tiny" / "worst-case-k.toml"),
                             binding=False)
    assert all(crash_everywhere)
    assert result.objective == pytest.approx(43.5, rel=1e-9)


def test_no_basis_for_a_mip_or_another_algorithm(crash_everywhere):
    instance = optimizer.load_instance(INSTANCES / "tiny" / "worst-case-k.toml")
    optimizer.solve(instance, binding=False, solver="ipx")
    assert not crash_everywhere
