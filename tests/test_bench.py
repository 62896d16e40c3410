"""The benchmark suite: the direct formulation agrees with restake, the runner records."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import optimizer
from optimizer.bench import suites
from optimizer.bench.direct import DirectUnsupported, direct_lp, solve_direct
from optimizer.bench.report import release_moves, shifted_geomean
from optimizer.bench.runner import COLUMNS
from optimizer.cli import main
from optimizer.instance.generate import generate_instance

SUPPORTED = {
    "budgets-k2": {"worst_case_k": 2},
    "budgets-k3": {"worst_case_k": 3},
    "cvar-limit": {"cvar": "limit", "scenarios": 120},
    "cvar-aversion": {"cvar": "aversion", "scenarios": 120},
    "coupled": {"holder_share": True, "required": 2, "cvar": "limit", "scenarios": 80},
}


@pytest.mark.parametrize("name", SUPPORTED)
def test_direct_formulation_has_restakes_optimum(name: str) -> None:
    instance = generate_instance(200, 15, seed=9, **SUPPORTED[name])
    result = optimizer.solve(instance)
    lp = direct_lp(instance)
    assert lp.matrix.shape[1] >= len(instance.pairs) + len(instance.services)
    for algorithm in ("simplex", "ipx"):
        run = solve_direct(lp, algorithm)
        assert run.status == "optimal"
        assert run.objective == pytest.approx(result.objective, rel=1e-7)


def test_direct_formulation_rows_bind_like_the_model() -> None:
    # A holder share that binds: without its rows the direct optimum would be higher.
    instance = generate_instance(200, 15, seed=9, holder_share=True)
    services = instance.services.copy()
    services["max_holder_share"] = np.where(services["max_holder_share"] < 1, 0.02, 1.0)
    tight = instance.with_changes(services=services)
    loose = optimizer.solve(instance.with_changes(
        services=services.assign(max_holder_share=1.0)))
    bound = optimizer.solve(tight)
    assert bound.objective < loose.objective - 1e-6
    assert solve_direct(direct_lp(tight), "simplex").objective == pytest.approx(
        bound.objective, rel=1e-7)


@pytest.mark.parametrize("features", [{"pools": 0.5}, {"turnover": True}, {"opt_in": True}])
def test_direct_formulation_refuses_what_it_does_not_cover(features: dict) -> None:
    with pytest.raises(DirectUnsupported, match="does not cover"):
        direct_lp(generate_instance(50, 8, seed=1, **features))


def test_shifted_geometric_mean() -> None:
    assert shifted_geomean([0.0, 0.0]) == pytest.approx(0.0)
    assert shifted_geomean([10.0]) == pytest.approx(10.0)
    assert shifted_geomean([0.0, 30.0]) == pytest.approx(10.0)  # sqrt(10 x 40) - 10
    assert np.isnan(shifted_geomean([]))


def test_every_family_is_in_a_suite_and_covers_the_model() -> None:
    covered = {case.family for cases in suites.SUITES.values() for case in cases}
    assert covered == set(suites.FAMILIES)
    switches = {key for family in suites.FAMILIES.values() for key in family}
    assert {"cvar", "holder_share", "required", "pools", "turnover", "opt_in",
            "min_security", "worst_case_k"} <= switches


def test_bench_command_appends_runs_and_writes_a_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(suites.SUITES, "check", [suites.Case("lp-budgets", "tiny")])
    monkeypatch.setattr("optimizer.bench.runner.direct_algorithms", lambda: ["simplex", "ipx"])
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = CliRunner().invoke(main, ["bench", "check", "-o", str(out), "--cache", str(cache),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    with (out / "runs.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == COLUMNS
    assert [(r["method"], r["algorithm"]) for r in rows] == [
        ("restake", "choose"), ("direct", "simplex"), ("direct", "ipx")]
    assert all(r["status"] == "optimal" for r in rows)
    for row in rows:
        phases = [float(row[k]) for k in ("load_s", "build_s", "handoff_s", "solve_s",
                                          "extract_s")]
        assert float(row["total_s"]) == pytest.approx(sum(phases))
        assert float(row["peak_mb"]) > 10
    objectives = {float(r["objective"]) for r in rows}
    assert max(objectives) - min(objectives) <= 1e-6 * max(objectives)
    report = (out / "report.md").read_text()
    assert "lp-budgets-100x10-seed1" in report and "| True |" in report
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_suite_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "nope", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "unknown suite" in result.output


def test_scaling_plot_of_runs_that_all_failed_is_a_note_not_a_crash(tmp_path: Path) -> None:
    import pandas as pd

    from optimizer.bench.report import scaling_plot
    from optimizer.errors import OutputError

    row = {column: np.nan for column in COLUMNS}
    row.update(instance="lp-budgets-100x10-seed1", method="restake", algorithm="choose",
               status="error", violations=0, **{"class": "lp"})
    failed = pd.DataFrame([row, {**row, "method": "direct", "algorithm": "simplex"}])
    with pytest.raises(OutputError, match="no run has a time to plot"):
        scaling_plot(failed, tmp_path / "scaling.png")
    assert not (tmp_path / "scaling.png").exists()


def test_a_case_that_moved_across_releases_is_flagged() -> None:
    import pandas as pd

    def runs(instance: str, highs: str, seconds: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"instance": instance, "method": "restake", "status": "optimal",
                             "highs": highs, "total_s": seconds})

    history = pd.concat([runs("a", "1.15.1 (x)", [10.0, 12.0]), runs("b", "1.15.1 (x)", [5.0]),
                         runs("a", "1.16.0 (y)", [99.0]),  # this release's own earlier run
                         runs("c", "1.14.0 (z)", [1.0]), runs("c", "1.15.1 (x)", [2.0])])
    now = pd.concat([runs("a", "1.16.0 (y)", [30.0, 40.0]), runs("b", "1.16.0 (y)", [6.0]),
                     runs("c", "1.16.0 (y)", [1.0]), runs("d", "1.16.0 (y)", [1.0])])
    moves = release_moves(now, history).set_index("instance")
    assert list(moves.index) == ["a", "b", "c"]  # d never ran on another release
    # a: median 35 s against 11 s on 1.15.1 (its own earlier 1.16.0 run does not count)
    assert moves.loc["a", "ratio"] == pytest.approx(35 / 11) and moves.loc["a", "moved"]
    assert moves.loc["b", "ratio"] == pytest.approx(1.2) and not moves.loc["b", "moved"]
    # c: against the last other release recorded (1.15.1, 2 s), twice as fast: flagged too
    assert moves.loc["c", "other"] == "1.15.1 (x)" and moves.loc["c", "moved"]


def test_the_report_compares_with_a_run_on_another_release(tmp_path: Path,
                                                           monkeypatch) -> None:
    monkeypatch.setitem(suites.SUITES, "check", [suites.Case("lp-budgets", "tiny")])
    out, cache = tmp_path / "out", tmp_path / "cache"
    arguments = ["bench", "check", "-o", str(out), "--cache", str(cache), "--quiet",
                 "--no-direct"]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    with (out / "runs.csv").open(newline="") as handle:  # make the first run another release's
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["highs"], row["total_s"] = "0.0.1 (old)", str(float(row["total_s"]) / 100)
    with (out / "runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code == 0, again.output
    report = (out / "report.md").read_text()
    assert "Against the last run recorded on another HiGHS release" in report
    assert "0.0.1 (old)" in report and "**moved" in report
    assert "warning: lp-budgets-100x10-seed1 took" in again.stderr
