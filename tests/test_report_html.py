"""``restake report``: one self-contained HTML page, checked as text and in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import optimizer
from optimizer.analysis import plots
from optimizer.analysis.report_html import BINDING_COLUMNS, write_report
from optimizer.cli import main

from .conftest import INSTANCES, ROOT, write_toml

pytest.importorskip("matplotlib")

REALISTIC = INSTANCES / "realistic" / "eigenlayer-symbiotic-2026.toml"
TINY = INSTANCES / "tiny" / "capacity.toml"
SENSITIVITY = "optimizer.analysis.sensitivity"
SECTIONS = ("allocation", "binding", "stability", "security", "losses", "frontier",
            "assumptions")
NETWORK = re.compile(r"""(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*"""
                     r"""(?:[a-z][a-z0-9+.-]*:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                     re.IGNORECASE)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def restake(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The realistic instance solved by ``restake solve --output``, as written."""
    folder = tmp_path_factory.mktemp("realistic") / "solution"
    done = restake("solve", str(REALISTIC), "--output", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def realistic_solution(solved: Path) -> Path:
    """The same solution without binding.csv, as an older version wrote it."""
    folder = solved.parent / "older"
    shutil.copytree(solved, folder)
    (folder / "binding.csv").unlink(missing_ok=True)
    return folder


@pytest.fixture
def realistic() -> optimizer.Instance:
    return optimizer.load_instance(REALISTIC)


def _with_binding(source: Path, target: Path, rows: list[dict]) -> Path:
    shutil.copytree(source, target)
    pd.DataFrame(rows, columns=list(BINDING_COLUMNS)).to_csv(target / "binding.csv",
                                                            index=False)
    return target


def _row(limit: str, value: float, slack: float, price: float, gain: float,
         basis: str = "lp", unit: str = "fraction of stake", measured: bool = False) -> dict:
    return {"limit": limit, "family": "restaking_degree", "column": "stakes.max_restaking",
            "id": limit.rsplit(" ", 1)[-1], "value": value, "unit": unit, "slack": slack,
            "shadow_price": price, "gain_of_1pct": gain, "measured": measured, "basis": basis}


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no section {anchor}"
    return match.group(1)


def _fake_sensitivity(monkeypatch: pytest.MonkeyPatch, rows: int = 12) -> None:
    """A stand-in ``optimizer.analysis.sensitivity`` returning ``rows`` made-up ranges."""
    frame = pd.DataFrame({
        "service": [f"svc-{i}" for i in range(rows)], "parameter": "reward_rate",
        "value": 0.01, "low": 0.009, "high": 0.011, "low_change": "a enters b",
        "high_change": "a leaves b", "relative_width": [0.5 - 0.01 * i for i in range(rows)],
        "confirmed": True})
    module = types.ModuleType(SENSITIVITY)
    module.stability_ranges = lambda instance, **options: frame  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, SENSITIVITY, module)


def test_report_renders_in_a_real_browser(solved: Path, tmp_path: Path) -> None:
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        pytest.skip("no chromium on PATH: install Debian's chromium (.ci/run does in CI)")
    report = tmp_path / "report.html"
    done = restake("report", str(REALISTIC), str(solved), "--output", str(report),
                   "--simulate", "2000", "--frontier", "3", "--no-sensitivity")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{report}\n"
    if (solved / "binding.csv").is_file():  # what restake solve writes: its limits, priced
        binding = _section(report.read_text(encoding="utf-8"), "binding")
        assert "<table>" in binding and "max_restaking of stake lrt-large-eth" in binding
    screenshot = tmp_path / "screenshot.png"
    shown = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={screenshot}",
         "--window-size=1280,4000", report.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert shown.returncode == 0 and screenshot.is_file(), shown.stderr[-2000:]
    import matplotlib.image
    import numpy as np

    pixels = (matplotlib.image.imread(screenshot)[..., :3] * 255).astype(np.uint8)
    assert pixels.shape[:2] == (4000, 1280)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200, "the page looks blank: too few colours"
    assert (pixels < 235).any(axis=2).mean() > 0.03, "the page looks blank: nearly all white"


def test_page_has_its_sections_and_loads_nothing(realistic: optimizer.Instance,
                                                 realistic_solution: Path,
                                                 tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_report(realistic, realistic_solution, report, simulate_runs=1000, frontier_points=3,
                 sensitivity=False)
    page = report.read_text(encoding="utf-8")
    assert NETWORK.findall(page) == []
    assert not re.search(r"<script|<link|<iframe", page, re.IGNORECASE)
    for anchor in SECTIONS:
        _section(page, anchor)
    assert page.count("data:image/png;base64,") == 3  # allocation, losses, frontier
    assert "2,117 ETH/yr" in page and "solved by HiGHS 1." in page
    assert "Numeraire ETH" in page and "eigenlayer-symbiotic-2026" in page
    assert "no binding.csv" in _section(page, "binding")
    assert "Not computed: the report was asked for without it." in _section(page, "stability")
    assert "Every holder meets the condition." in _section(page, "security")
    assumptions = _section(page, "assumptions")
    assert "estimates (guesses)" in assumptions and "32,500 ETH" in assumptions
    assert "1,000 scenarios drawn (seed 0)" in assumptions


def test_binding_limits_sorted_by_gain_with_units(realistic: optimizer.Instance,
                                                  realistic_solution: Path,
                                                  tmp_path: Path) -> None:
    rows = [_row("max_restaking of stake slack-one", 1.0, 0.4, 0.0, 0.0),
            _row("max_restaking of stake small-gain", 1.0, 0.0, 12.0, 0.12),
            _row("capacity of service big-gain", 8000.0, 0.0, 0.0186, 1.49,
                 basis="lp with binaries fixed", unit="numeraire", measured=True),
            _row("max_restaking of stake tight-free", 1.0, 0.0, 0.0, 0.0)]
    folder = _with_binding(realistic_solution, tmp_path / "solution", rows)
    write_report(realistic, folder, tmp_path / "report.html", sensitivity=False)
    binding = _section((tmp_path / "report.html").read_text(encoding="utf-8"), "binding")
    order = [binding.find(name) for name in ("big-gain", "small-gain", "tight-free")]
    assert -1 not in order and order == sorted(order)
    assert "slack-one" not in binding
    assert "8,000" in binding and "<td>ETH</td>" in binding  # the numeraire by its name
    assert "shadow price (ETH/yr per unit)" in binding and "gain of 1% (ETH/yr)" in binding
    assert "binaries fixed" in binding and "first order" in binding
    assert binding.count("<td>re-solved</td>") == 1
    assert binding.count("<td>first order</td>") == 2


def test_binding_csv_without_its_columns_is_refused(realistic: optimizer.Instance,
                                                    realistic_solution: Path,
                                                    tmp_path: Path) -> None:
    folder = tmp_path / "solution"
    shutil.copytree(realistic_solution, folder)
    (folder / "binding.csv").write_text("limit,value\nx,1\n", encoding="utf-8")
    with pytest.raises(optimizer.InstanceError, match="lacks the columns"):
        write_report(realistic, folder, tmp_path / "report.html", sensitivity=False)
    assert not (tmp_path / "report.html").exists()


def test_stability_shows_the_narrowest_ten(realistic: optimizer.Instance,
                                           realistic_solution: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_sensitivity(monkeypatch)
    write_report(realistic, realistic_solution, tmp_path / "report.html")
    stability = _section((tmp_path / "report.html").read_text(encoding="utf-8"), "stability")
    assert "The 10 narrowest of 12 ranges" in stability and "re-solves" in stability
    assert "svc-11" in stability and "svc-1<" not in stability and "svc-0" not in stability
    assert stability.find("svc-11") < stability.find("svc-2")
    assert "0.9% to 1.1%" in stability


def test_stability_without_the_analysis_says_so(realistic: optimizer.Instance,
                                                realistic_solution: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, SENSITIVITY, None)  # as if the module did not exist
    write_report(realistic, realistic_solution, tmp_path / "report.html")
    stability = _section((tmp_path / "report.html").read_text(encoding="utf-8"), "stability")
    assert "Not computed: this version of the optimizer has no stability analysis" in stability


def test_stability_with_the_real_analysis(tmp_path: Path) -> None:
    pytest.importorskip(SENSITIVITY)
    instance = optimizer.load_instance(TINY)
    optimizer.solve(instance).to_dir(tmp_path / "solution")
    write_report(instance, tmp_path / "solution", tmp_path / "report.html")
    stability = _section((tmp_path / "report.html").read_text(encoding="utf-8"), "stability")
    assert "narrowest of" in stability and "<table>" in stability


def test_instance_strings_are_escaped(tmp_path: Path) -> None:
    document = {
        "instance": {"name": "<b>evil</b> & co", "description": "<script>alert(1)</script>"},
        "assets": [{"asset": "stETH", "price": 1.0}],
        "stakes": [{"stake": "a<i>", "holder": "h&<x>", "asset": "stETH", "amount": 100.0}],
        "services": [{"service": "s<1>", "reward_rate": 0.05, "slash_probability": 0.01,
                      "slash_fraction": 0.5}, {"service": 's2"', "reward_rate": 0.03}]}
    instance = optimizer.load_instance(write_toml(tmp_path / "evil.toml", document))
    optimizer.solve(instance).to_dir(tmp_path / "solution")
    write_report(instance, tmp_path / "solution", tmp_path / "report.html", sensitivity=False)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    for raw in ("<b>evil", "<script>", "a<i>", "h&<x>", "s<1>", 's2"'):
        assert raw not in page
    assert "&lt;b&gt;evil&lt;/b&gt; &amp; co" in page and "&lt;script&gt;" in page
    assert "s&lt;1&gt;" in page and "s2&quot;" in page


@pytest.mark.parametrize("case", ["missing", "empty", "other instance"])
def test_cli_refuses_a_folder_that_is_not_a_solution_of_the_instance(
        case: str, realistic_solution: Path, tmp_path: Path) -> None:
    folder = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty",
              "other instance": realistic_solution}[case]
    (tmp_path / "empty").mkdir()
    instance = TINY if case == "other instance" else REALISTIC
    report = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(instance), str(folder), "-o", str(report),
                                       "--no-sensitivity"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "nothing was written" in result.stderr and str(folder) in result.stderr
    assert not report.exists() and list(tmp_path.glob(".report.html*")) == []


def test_cli_without_matplotlib_exits_2(realistic_solution: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise plots.PlotUnavailableError(
            "plots need matplotlib: pip install 'restake-optimizer[plot]'")

    monkeypatch.setattr(plots, "pyplot", missing)
    report = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(REALISTIC), str(realistic_solution),
                                       "-o", str(report)])
    assert result.exit_code == 2
    assert "plots need matplotlib" in result.stderr and not report.exists()


def test_a_frontier_the_instance_cannot_have_is_a_note(tmp_path: Path) -> None:
    instance = optimizer.load_instance(INSTANCES / "tiny" / "opt-in-cost.toml")  # risks nothing
    optimizer.solve(instance).to_dir(tmp_path / "solution")
    write_report(instance, tmp_path / "solution", tmp_path / "report.html", frontier_points=3,
                 sensitivity=False)
    frontier = _section((tmp_path / "report.html").read_text(encoding="utf-8"), "frontier")
    assert "Not traced: instance opt-in-cost: slash_probability x slash_fraction is 0" in frontier
