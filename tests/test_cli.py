"""The command line, in-process and as a real subprocess: outputs, files and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer.cli import main

from .conftest import INSTANCES, ROOT, write_toml

REALISTIC = str(INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_solve_prints_a_table() -> None:
    code, out, _ = run("solve", REALISTIC)
    assert code == 0
    assert "status     optimal" in out and "eigenda" in out and "ETH/yr" in out


def test_solve_json_and_output_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "solution"
    code, out, _ = run("solve", REALISTIC, "--json", "--output", str(out_dir), "--seed", "3")
    assert code == 0
    summary = json.loads(out)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(2117.358333, rel=1e-7)
    assert summary["options"]["random_seed"] == 3
    assert summary["solver"]["name"] == "HiGHS" and summary["solver"]["version"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "allocation.csv", "binding.csv", "holders.csv", "services.csv", "stakes.csv",
        "summary.json"]
    holders_header = (out_dir / "holders.csv").read_text().splitlines()[0]
    assert holders_header == "holder,services,condition,holds,worst_service"
    header = (out_dir / "allocation.csv").read_text().splitlines()[0]
    assert header == "stake,holder,service,asset,fraction,amount,value"
    stakes_header = (out_dir / "stakes.csv").read_text().splitlines()[0]
    assert stakes_header == ("stake,holder,asset,amount,value,allocated_fraction,reward,"
                             "expected_loss,worst_case_loss,net_reward,net_apr")
    services_header = (out_dir / "services.csv").read_text().splitlines()[0]
    assert services_header == ("service,security,total_security,reward,expected_loss,holders,"
                               "secured,cost_of_corruption,profit_from_corruption,coverage")
    on_disk = json.loads((out_dir / "summary.json").read_text())
    for key in ("status", "termination", "objective", "bound", "gap", "reward",
                "expected_loss", "opt_in_cost", "turnover_cost", "cvar", "build_seconds",
                "solve_seconds", "solver", "instance"):
        assert key in on_disk
    assert on_disk["instance"] == {"name": "eigenlayer-symbiotic-2026", "numeraire": "ETH",
                                   "stakes": 12, "services": 13, "pairs": 61}


def test_output_replaces_a_previous_solution_only(tmp_path: Path) -> None:
    out_dir = tmp_path / "solution"
    assert run("solve", REALISTIC, "-o", str(out_dir))[0] == 0
    (out_dir / "summary.json").write_text("stale")
    assert run("solve", REALISTIC, "-o", str(out_dir))[0] == 0  # a previous solution: replaced
    assert json.loads((out_dir / "summary.json").read_text())["status"] == "optimal"
    assert [p.name for p in tmp_path.iterdir()] == ["solution"]
    (out_dir / "notes.txt").write_text("mine")
    code, _, err = run("solve", REALISTIC, "-o", str(out_dir))
    assert code == 2 and "notes.txt" in err and "nothing was written" in err
    assert (out_dir / "notes.txt").read_text() == "mine"


def test_convert_never_replaces_a_folder_with_a_file(tmp_path: Path) -> None:
    (tmp_path / "d.toml").mkdir()
    code, _, err = run("convert", REALISTIC, str(tmp_path / "d.toml"))
    assert code == 2 and "is a folder" in err


def test_failed_solve_writes_nothing(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, _, _ = run("solve", str(INSTANCES / "generated" / "medium-2000x100-seed2"),
                     "--time-limit", "0.001", "-o", str(out_dir))
    if code == 3:
        assert not out_dir.exists()


def test_generate_usage_error_exit_2() -> None:
    code, _, err = run("generate", "g.toml", "--stakes", "3", "--services", "2",
                       "--required", "5")
    assert code == 2 and "Traceback" not in err


def test_infeasible_exit_1_with_explanation(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run("solve", str(INSTANCES / "contract" / "infeasible-required.toml"),
                       "-o", str(out_dir))
    assert code == 1
    assert "service da requires" in err
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["status"] == "infeasible" and "service da" in summary["explanation"][0]


def test_bad_input_exit_2_nothing_written(base_document: dict, tmp_path: Path) -> None:
    base_document["stakes"][1]["amount"] = -5.0
    path = write_toml(tmp_path / "bad.toml", base_document)
    out_dir = tmp_path / "out"
    code, out, err = run("solve", str(path), "-o", str(out_dir))
    assert code == 2
    assert "bad.toml stakes[2] (stake=b-eigen): amount is -5" in err
    assert "Traceback" not in err and out == ""
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_validate_and_convert(tmp_path: Path) -> None:
    code, out, _ = run("validate", REALISTIC)
    assert code == 0 and "valid: 12 stakes, 13 services, 61 eligible pairs" in out
    for target in ("x.json", "x-csv", "x.toml"):
        assert run("convert", REALISTIC, str(tmp_path / target))[0] == 0
        assert run("validate", str(tmp_path / target))[0] == 0


def test_generate_then_solve(tmp_path: Path) -> None:
    target = tmp_path / "gen"
    code, _, err = run("generate", str(target), "--stakes", "50", "--services", "8",
                       "--seed", "2", "--required", "1", "--holder-share")
    assert code == 0 and "50 stakes, 8 services" in err
    assert (target / "stakes.csv").exists()
    code, out, _ = run("solve", str(target), "--json")
    assert code == 0 and json.loads(out)["status"] == "optimal"


def test_usage_errors_exit_2() -> None:
    assert run("solve")[0] == 2
    assert run("solve", REALISTIC, "--time-limit", "-1")[0] == 2
    assert run("generate", "x.toml", "--stakes", "0", "--services", "5")[0] == 2


def test_subprocess_entry_points(tmp_path: Path) -> None:
    for command in ([sys.executable, "-m", "optimizer"], [str(Path(sys.executable).parent /
                                                             "restake")]):
        done = subprocess.run([*command, "solve", REALISTIC, "--json"], capture_output=True,
                              text=True, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "optimal"
    bad = tmp_path / "bad.toml"
    bad.write_text("[instance]\nname = 'x'\n[[assets]]\nasset = 'a'\nprice = -1\n")
    done = subprocess.run([sys.executable, "-m", "optimizer", "solve", str(bad)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "price is -1, must be > 0" in done.stderr and "Traceback" not in done.stderr


def test_verbose_log_goes_to_stderr() -> None:
    done = subprocess.run([sys.executable, "-m", "optimizer", "solve", REALISTIC, "--json",
                           "-v"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "HiGHS" in done.stderr
    json.loads(done.stdout)  # stdout stays pure JSON


def test_write_lp(tmp_path: Path) -> None:
    target = tmp_path / "model.lp"
    assert run("solve", REALISTIC, "--write-lp", str(target))[0] == 0
    text = target.read_text()
    # Written by HiGHS from what it is handed: the rows named after their families.
    assert "restaking_degree(" in text and text.splitlines()[1].startswith("max")
    # Read back and solved, the file gives the model's optimum (in its scaled units).
    import highspy

    import optimizer
    from optimizer.pipeline import build

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.readModel(str(target))
    highs.run()
    built = build(optimizer.load_instance(REALISTIC))
    objective = highs.getInfo().objective_function_value * built.scale
    assert objective == pytest.approx(optimizer.solve(optimizer.load_instance(REALISTIC))
                                      .model_objective, rel=1e-9)


@pytest.mark.parametrize("name", ["model.txt", "model"])
def test_write_lp_with_no_known_format_is_refused_before_solving(name: str,
                                                                 tmp_path: Path) -> None:
    code, out, err = run("solve", REALISTIC, "--write-lp", str(tmp_path / name))
    assert code == 2 and out == ""
    assert f"cannot write the model to {tmp_path / name}: its name must end in .lp" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_time_limit_without_allocation_exit_3() -> None:
    code, out, err = run("solve", str(INSTANCES / "generated" / "medium-2000x100-seed2"),
                         "--time-limit", "0.001", "--json")
    summary = json.loads(out)
    if summary["status"] == "error":
        assert summary["termination"] == "time_limit"
        assert code == 3 and "raise --time-limit" in err
    else:  # a machine fast enough to finish, or to find an allocation, in a millisecond
        assert summary["status"] in ("feasible", "optimal") and code == 0


def test_output_that_is_a_file_is_refused_before_solving(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("mine")
    code, _, err = run("solve", REALISTIC, "--output", str(blocker))
    assert code == 2 and "is not a folder" in err and "Traceback" not in err
    assert blocker.read_text() == "mine"


def test_scenarios_command_writes_what_solve_samples(tmp_path: Path) -> None:
    target = tmp_path / "with-scenarios.json"
    code, _, err = run("scenarios", REALISTIC, str(target), "--count", "300", "--seed", "5")
    assert code == 0 and "distinct scenarios" in err
    import optimizer

    loaded = optimizer.load_instance(target)
    assert len(loaded.scenarios) > 0
    assert loaded.parameters.scenario_count == 300 and loaded.parameters.scenario_seed == 5
    assert run("scenarios", str(target), str(tmp_path / "again.toml"))[0] == 2


def test_cli_solve_uses_cvar_scenarios() -> None:
    code, out, _ = run("solve", str(INSTANCES / "tiny" / "cvar-limit.toml"), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["objective"] == pytest.approx(3.18, rel=1e-7)
    assert summary["cvar"] == pytest.approx(11.0, rel=1e-7)


def test_same_input_same_files_bit_for_bit(tmp_path: Path) -> None:
    instance = str(INSTANCES / "generated" / "small-200x20-seed1.toml")
    for name in ("a", "b"):
        assert run("solve", instance, "-o", str(tmp_path / name), "--seed", "7")[0] == 0
    for file in ("allocation.csv", "stakes.csv", "services.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["options"]["random_seed"] == 7 and summary["solver"]["version"]


def test_too_large_for_memory_is_refused_before_building(monkeypatch, tmp_path: Path) -> None:
    import optimizer.model.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 100e6)
    code, _, err = run("solve", REALISTIC, "-o", str(tmp_path / "out"))
    assert code == 2 and "needs an estimated" in err and "GB are available" in err
    assert "make fewer pairs eligible" in err and not (tmp_path / "out").exists()


def test_security_command(tmp_path: Path) -> None:
    out_dir = tmp_path / "solution"
    assert run("solve", REALISTIC, "-o", str(out_dir))[0] == 0
    code, out, _ = run("security", REALISTIC, str(out_dir))
    assert code == 0 and "eigenda" in out and "condition" in out
    code, _, err = run("security", REALISTIC, str(tmp_path / "missing"))
    assert code == 2 and "allocation" in err


def test_simulate_command(tmp_path: Path) -> None:
    out_dir = tmp_path / "solution"
    assert run("solve", REALISTIC, "-o", str(out_dir))[0] == 0
    code, out, _ = run("simulate", REALISTIC, str(out_dir), "--runs", "20000", "--json",
                       "--plot", str(tmp_path / "losses.png"))
    assert code == 0
    assert (tmp_path / "losses.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(out)["summary"]
    expected = json.loads((out_dir / "summary.json").read_text())["expected_loss"]
    assert summary["expected_loss"] == pytest.approx(expected, rel=0.3)
    assert summary["cvar_0.99"] >= summary["cvar_0.95"] >= summary["var_0.95"]


def test_compare_baselines() -> None:
    code, out, _ = run("solve", REALISTIC, "--compare-baselines")
    assert code == 0 and "baselines" in out and "greedy" in out and "uplift" in out
    code, out, _ = run("solve", REALISTIC, "--compare-baselines", "--json")
    rows = {r["allocation"]: r for r in json.loads(out)["baselines"]}
    assert set(rows) == {"optimizer", "equal", "pro_rata", "greedy"}
    assert rows["optimizer"]["violations"] == 0
    assert rows["equal"]["violations"] > 0 and rows["equal"]["breaks"]
