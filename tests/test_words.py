"""One word per thing: a missing value reads "-" in every printed table, null in JSON; the
two worst cases have two names; holders failing the security condition are said.

Each command runs as its own process (``restake`` in ``test_stdout``), on tiny instances
built so that the value in question is missing, or the two worst cases differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import optimizer
from optimizer.analysis.baselines import compare
from optimizer.analysis.frontier import portfolio_worst_case
from optimizer.cli import main

from .conftest import INSTANCES, write_toml
from .test_stdout import assert_clean, restake

NOT_A_VALUE = re.compile(r"\b(nan|none)\b|empty dataframe", re.IGNORECASE)
"""What a missing value (or an empty table) must never read as in a printed table."""

KNAPSACK = str(INSTANCES / "contract" / "knapsack.toml")  # no CVaR: its cvar does not exist


def _rows(table: str) -> list[dict[str, str]]:
    """A printed table (header, then rows of single-word cells) as dicts by column."""
    header, *lines = [line.split() for line in table.strip().splitlines()]
    assert all(len(line) == len(header) for line in lines), table
    return [dict(zip(header, line, strict=True)) for line in lines]


def _service(name: str, **columns: object) -> dict[str, object]:
    return {"service": name, "reward_rate": 0.05, "slash_probability": 0.0,
            "slash_fraction": 1.0, **columns}


GRAPH = {
    # Holders v0 and v1 put 1 ETH each behind s1 and s2 (profit 1, threshold 1/2, so each
    # term is 1 / (0.5 x 2) = 1 and each holder's condition is 2 > 1), and a solve puts
    # them behind s3 too, which has no profit from corruption (no coverage, no term);
    # idle secures nothing (no worst service).
    "instance": {"name": "graph"},
    "assets": [{"asset": "ETH", "price": 1.0}],
    "stakes": [{"stake": s, "holder": s, "asset": "ETH", "amount": a, "max_restaking": 3.0}
               for s, a in (("v0", 1.0), ("v1", 1.0), ("idle", 0.0))],
    "services": [_service("s1", profit_from_corruption=1.0, attack_threshold=0.5),
                 _service("s2", profit_from_corruption=1.0, attack_threshold=0.5),
                 _service("s3", reward_rate=0.01)],
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("words")
    instance = write_toml(folder / "graph.toml", GRAPH)
    allocation = folder / "allocation.csv"
    pd.DataFrame({"stake": ["v0", "v0", "v1", "v1"], "service": ["s1", "s2", "s1", "s2"],
                  "fraction": 1.0}).to_csv(allocation, index=False)
    return str(instance), str(allocation)


def test_security_tables_print_a_dash_where_a_value_is_missing(graph: tuple[str, str]) -> None:
    done = restake("security", *graph)
    assert_clean(done)
    assert not NOT_A_VALUE.search(done.stdout), done.stdout
    services, holders = (block.split("\n", 1)[1] for block in done.stdout.split("\n\n"))
    coverage = {row["service"]: row["coverage"] for row in _rows(services)}
    assert coverage == {"s1": "1.0", "s2": "1.0", "s3": "-"}  # s3: no profit, no coverage
    worst = {row["holder"]: row["worst_service"] for row in _rows(holders)}
    assert worst == {"v0": "s1", "v1": "s1", "idle": "-"}
    assert done.stderr.splitlines() == [
        "warning: the restaking-graph security condition fails for holder v0 "
        "(2 > 1; worst service s1)",
        "warning: the restaking-graph security condition fails for holder v1 "
        "(2 > 1; worst service s1)"]


def test_simulate_prints_no_empty_frame_for_a_table_without_rows(
        graph: tuple[str, str]) -> None:
    # Nothing ever slashes (p = 0), so no service has a share of the tail to show.
    done = restake("simulate", *graph, "--runs", "200", "--quiet")
    assert_clean(done)
    assert not NOT_A_VALUE.search(done.stdout), done.stdout
    assert done.stdout.rstrip().endswith("services by share of the 95% tail loss\n(no rows)")


def test_frontier_prints_a_dash_and_writes_null_where_cvar_does_not_exist(
        tmp_path: Path) -> None:
    target = tmp_path / "frontier.json"
    done = restake("frontier", KNAPSACK, "--points", "2", "--risk", "expected_loss",
                   "--quiet", "--output", str(target))
    assert_clean(done)
    assert not NOT_A_VALUE.search(done.stdout), done.stdout
    assert [row["cvar"] for row in _rows(done.stdout)] == ["-", "-"]
    assert [point["cvar"] for point in json.loads(target.read_text())["points"]] == [None, None]


def test_frontier_json_says_null_for_a_missing_number(monkeypatch, tmp_path: Path) -> None:
    # A point without a rebuilt answer among points with one: pandas holds it as NaN,
    # which json.dumps would write as the non-standard NaN.
    from optimizer.analysis import frontier as module

    def traced(*_args: object, **_kwargs: object) -> module.Frontier:
        points = pd.DataFrame({"point": [0, 1], "status": ["optimal", "optimal"],
                               "objective": [1.0, 2.0], "seconds": [0.1, 0.1],
                               "rebuild_objective": [1.0, None]})
        return module.Frontier("cvar", points, pd.DataFrame(), 0.1)

    monkeypatch.setattr(module, "frontier", traced)
    target = tmp_path / "frontier.json"
    result = CliRunner().invoke(main, ["frontier", KNAPSACK, "--quiet", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert not NOT_A_VALUE.search(result.stdout), result.stdout

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    points = json.loads(target.read_text(), parse_constant=refuse)["points"]
    assert [point["rebuild_objective"] for point in points] == [1.0, None]


def test_compare_baselines_prints_a_dash_where_cvar_does_not_exist() -> None:
    done = restake("solve", KNAPSACK, "--compare-baselines")
    assert_clean(done)
    assert not NOT_A_VALUE.search(done.stdout), done.stdout
    table = done.stdout.split("uplift = optimizer - baseline)\n", 1)[1]
    header = table.splitlines()[0].split()
    assert "stake_worst_case_sum" in header and "worst_case_loss" not in header
    column = header.index("cvar")
    assert [line.split()[column] for line in table.splitlines()[1:]] == ["-"] * 4


def test_solve_report_prints_a_dash_where_coverage_does_not_exist(
        graph: tuple[str, str]) -> None:
    done = restake("solve", graph[0])
    assert_clean(done)
    assert not NOT_A_VALUE.search(done.stdout), done.stdout
    services = done.stdout.split("services (security in ETH)\n", 1)[1]
    coverage = {row["service"]: row["coverage"] for row in _rows(services)}
    assert coverage["s3"] == "-" and coverage["s1"] == "1.00x"


def test_bench_report_prints_a_dash_for_a_run_without_numbers(monkeypatch,
                                                               tmp_path: Path) -> None:
    from optimizer.bench import report, runner

    failed = {"instance": "lp-budgets-tiny", "class": "lp", "stakes": 10, "services": 3,
              "pairs": None, "model_stakes": None, "method": "restake", "algorithm": "choose",
              "status": "error", "violations": None, "objective": None, "gap": None,
              "load_s": None, "build_s": None, "handoff_s": None, "solve_s": None,
              "extract_s": None, "total_s": 1.5, "peak_mb": None, "highs": "1", "package": "1",
              "git": "abc", "pyomo": "1", "numpy": "1", "python": "3"}
    monkeypatch.setattr(runner, "run_suite", lambda *_args, **_kwargs: [failed])
    monkeypatch.setattr(report, "scaling_plot", lambda *_args: None)  # the text is tested
    result = CliRunner().invoke(main, ["bench", "tiny", "-o", str(tmp_path / "out"),
                                       "--cache", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "| lp-budgets-tiny | lp | - | - | error | - |" in result.stdout
    assert not NOT_A_VALUE.search(result.stdout), result.stdout


def _failing_book(path: Path) -> str:
    """Six holders of 1 ETH each, five of them failing the security condition.

    Every pair is allocated in full (rewards, no slashing). sigma_1 = 6 (every holder),
    sigma_2 = 5 (not solo), sigma_3 = 1 + 3.5 external (z only); profit 2, threshold 1/2,
    so the terms are 2 / (0.5 sigma): 2/3, 4/5 and 8/9. z: 2/3 + 4/5 + 8/9 = 2.36 (worst
    s3); h0..h3: 2/3 + 4/5 = 1.47 (worst s2); solo: 2/3, which holds.
    """
    assets = {"z": "ZETH", "solo": "SETH", **{f"h{n}": "ETH" for n in range(4)}}
    corrupt = {"profit_from_corruption": 2.0, "attack_threshold": 0.5}
    document = {
        "instance": {"name": "insecure"},
        "assets": [{"asset": a, "price": 1.0} for a in ("ETH", "ZETH", "SETH")],
        "stakes": [{"stake": h, "holder": h, "asset": a, "amount": 1.0, "max_restaking": 3.0}
                   for h, a in [*list(assets.items())[2:], *list(assets.items())[:2]]],
        "services": [_service("s1", accepts=["ETH", "ZETH", "SETH"], **corrupt),
                     _service("s2", accepts=["ETH", "ZETH"], **corrupt),
                     _service("s3", accepts=["ZETH"], external_stake=3.5, **corrupt)],
    }
    return str(write_toml(path / "insecure.toml", document))


@pytest.mark.parametrize("as_json", [False, True])
def test_solve_warns_of_holders_failing_the_security_condition(tmp_path: Path,
                                                               as_json: bool) -> None:
    done = restake("solve", _failing_book(tmp_path), *(["--json"] if as_json else []))
    assert_clean(done)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the restaking-graph security condition fails for holder z "
        "(2.36 > 1; worst service s3)",
        "warning: the restaking-graph security condition fails for holder h0 "
        "(1.47 > 1; worst service s2)",
        "warning: the restaking-graph security condition fails for holder h1 "
        "(1.47 > 1; worst service s2)",
        "warning: and 2 more holders fail it too (the holders table lists every one)"]
    if as_json:  # standard output stays the summary alone
        assert sorted(json.loads(done.stdout)["insecure_holders"]) == [
            "h0", "h1", "h2", "h3", "z"]


@pytest.mark.parametrize(("k", "stake_sum", "portfolio"), [(1, 10.0, 5.0), (2, 14.0, 10.0)])
def test_the_two_worst_cases_differ_and_each_is_its_definition(
        k: int, stake_sum: float, portfolio: float) -> None:
    # Stakes a (asset A) and b (asset B) of 10 ETH, every pair in full (no slashing in
    # expectation, positive rewards). a secures SA (f 0.5) and SC (f 0.2); b secures SB
    # (f 0.5) and SC. Per stake, the k largest f x 10: k = 1, 5 each; k = 2, 5 + 2 = 7 each.
    # Their sum: 10 or 14. The portfolio: f X = 5 (SA), 5 (SB), 0.2 x 20 = 4 (SC); the k
    # largest: 5, or 5 + 5 = 10. Each stake's worst set differs, so the portfolio's is less.
    instance = optimizer.Instance.from_frames(
        assets=pd.DataFrame({"asset": ["A", "B"], "price": [1.0, 1.0]}),
        stakes=pd.DataFrame({"stake": ["a", "b"], "holder": ["a", "b"], "asset": ["A", "B"],
                             "amount": [10.0, 10.0], "max_restaking": [2.0, 2.0]}),
        services=pd.DataFrame({"service": ["SA", "SB", "SC"], "reward_rate": 0.05,
                               "slash_probability": 0.0, "slash_fraction": [0.5, 0.5, 0.2],
                               "accepts": [["A"], ["B"], ["A", "B"]]}),
        parameters={"worst_case_k": k}, name="two-worst-cases")
    result = optimizer.solve(instance)
    assert result.allocation["fraction"].tolist() == pytest.approx([1.0] * 4)
    evaluation = optimizer.evaluate(instance, result.allocation)
    table = compare(instance, evaluation).set_index("allocation")
    assert table.loc["optimizer", "stake_worst_case_sum"] == pytest.approx(stake_sum)
    assert evaluation.stakes["worst_case_loss"].tolist() == pytest.approx([stake_sum / 2] * 2)
    assert portfolio_worst_case(instance, evaluation.services) == pytest.approx(portfolio)
    assert portfolio < stake_sum


def test_the_two_worst_cases_by_their_names_on_the_command_line(tmp_path: Path) -> None:
    # k = 1 of the case above, through the two commands that print them.
    document = {
        "instance": {"name": "two-worst-cases"},
        "assets": [{"asset": "A", "price": 1.0}, {"asset": "B", "price": 1.0}],
        "stakes": [{"stake": s, "holder": s, "asset": s.upper(), "amount": 10.0,
                    "max_restaking": 2.0} for s in ("a", "b")],
        "services": [_service("SA", slash_fraction=0.5, accepts=["A"]),
                     _service("SB", slash_fraction=0.5, accepts=["B"]),
                     _service("SC", slash_fraction=0.2, accepts=["A", "B"])],
    }
    path = str(write_toml(tmp_path / "two.toml", document))
    done = restake("solve", path, "--compare-baselines", "--json")
    assert_clean(done)
    optimized = json.loads(done.stdout)["baselines"][0]
    assert optimized["allocation"] == "optimizer"
    assert optimized["stake_worst_case_sum"] == pytest.approx(10.0)
    assert "worst_case_loss" not in optimized
    done = restake("frontier", path, "--risk", "portfolio_worst_case", "--points", "2",
                   "--quiet")
    assert_clean(done)
    last = _rows(done.stdout)[-1]
    assert float(last["portfolio_worst_case"]) == pytest.approx(5.0)
    assert float(last["risk_limit"]) == pytest.approx(5.0)
