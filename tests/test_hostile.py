"""Hostile input, second tier: what a careless or malicious file does, refused or survived.

Ids that round-trip through every spelling and every solution file, ids that are refused
(line breaks, control characters, spreadsheet formulas), documents nested past any
sense, unpaired surrogates, numbers too far apart for the solver or too small to matter,
output paths that cannot be written, an instance without services. The cases listed in
``HOSTILE_RULES``, ``HOSTILE_FILES``, ``HOSTILE_WARNINGS`` and ``OUTPUT_CASES`` are also
the rows ``docs/update_bad_input.py`` writes to docs/bad-input.md.
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import optimizer
from optimizer.atomic import atomic_path
from optimizer.errors import InstanceError, OutputError
from optimizer.instance.cells import FORMULA_STARTS
from optimizer.results.write import SOLUTION_FILES, read_allocation

from .conftest import BASE, INSTANCES, ROOT, write_toml
from .test_validation import Mutation, add_rows, refused_messages, set_value, write_spelling

TINY = str(INSTANCES / "tiny" / "fractional-knapsack.toml")


def nested(depth: int) -> object:
    value: object = 1.0
    for _ in range(depth):
        value = [value]
    return value


def far_apart(doc: dict) -> None:
    """A third stake of 1e30 beside two ordinary ones: the median is an ordinary stake."""
    doc["stakes"].append({"stake": "c-steth", "holder": "c", "asset": "stETH", "amount": 1e30})


# (case, mutation, fragments the message must show, spellings), as in test_validation.RULES
HOSTILE_RULES: list[tuple[str, Mutation, list[str], tuple[str, ...]]] = [
    ("id with a line break", set_value("stakes", 1, "stake", "b\neigen"),
     ["(stake=b\\neigen)", "'b\\neigen'", "line breaks"], ("toml", "json", "csv")),
    ("id with a control character (a terminal escape)",
     set_value("services", 0, "service", "s1\x1b[2J"),
     ["(service=s1\\x1b[2J)", "control characters"], ("toml", "json", "csv")),
    ("id a spreadsheet would run as a formula (=, +, -, @ first)",
     set_value("stakes", 1, "stake", "=HYPERLINK(\"http://x\")"),
     ["stake", "may not start with '='", "formula"], ("toml", "json", "csv")),
    ("holder named only by a stake, formula-like", set_value("stakes", 0, "holder", "@a"),
     ["(stake=a-steth)", "holder", "may not start with '@'"], ("toml", "json", "csv")),
    ("value nested in lists", set_value("stakes", 0, "amount", nested(20)),
     ["stakes[1]", "amount", "nested more than 8 levels deep"], ("toml", "json")),
    ("stake worth more than 1e12 x the median stake", far_apart,
     ["(stake=c-steth)", "amount", "more than 1e+12 times the median stake value"],
     ("toml", "json", "csv")),
    ("service value beyond the solver's range", set_value("services", 0, "min_security", 1e30),
     ["(service=s1)", "min_security", "more than 1e+12 times the median stake value"],
     ("toml", "json", "csv")),
    ("minimum security from a tiny slash fraction",
     lambda doc: doc["services"][0].update(profit_from_corruption=10.0, slash_fraction=1e-300),
     ["(service=s1)", "profit_from_corruption", "gives a minimum security"],
     ("toml", "json", "csv")),
    ("empty services file (no services)", lambda doc: doc.update(services=[]),
     ["services.csv", "no rows"], ("csv",)),
]

# (case, file name, its text, fragments): inputs no mutation of a document can write
HOSTILE_FILES: list[tuple[str, str, str, list[str]]] = [
    ("JSON nested past Python's recursion limit", "deep.json",
     '{"instance": {"name": "x"}, "stakes": ' + "[" * 100_000 + "]" * 100_000 + "}",
     ["deep.json", "nests lists or tables hundreds of levels deep"]),
    ("TOML nested past Python's recursion limit", "deep.toml",
     "[instance]\nname = 'x'\nnote = " + "[" * 5_000 + "]" * 5_000 + "\n",
     ["deep.toml", "nests lists or tables hundreds of levels deep"]),
    ("JSON unpaired surrogate escape", "surrogate.json",
     json.dumps(BASE).replace('"a-steth"', '"a-\\ud800"', 1),
     ["surrogate.json stakes[1]", "stake", "unpaired surrogate"]),
]

# (case, mutation, fragment of the warning): legal, loaded, solved, and warned about
HOSTILE_WARNINGS: list[tuple[str, Mutation, str]] = [
    ("probability of 1e-300", set_value("services", 0, "slash_probability", 1e-300),
     "below 1e-12 a year"),
    ("scenario probability of 1e-300",
     add_rows("scenarios", {"scenario": "rare", "probability": 1e-300, "service": "s1",
                            "slash_fraction": 0.5},
              {"scenario": "calm", "probability": 1.0 - 1e-300}),
     "weighs nothing in the CVaR"),
    ("amount of 1e30 in every stake (all on one scale)",
     lambda doc: [row.update(amount=1e30) for row in doc["stakes"]], "wei"),
]


def _blocker(folder: Path) -> Path:
    blocker = folder / "taken"
    blocker.write_text("mine")
    return blocker


def _taken_folder(folder: Path) -> Path:
    taken = folder / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("mine")
    return taken


# (case, a write that must be refused, given a scratch folder, fragment of the message)
OUTPUT_CASES: list[tuple[str, Callable[[Path], object], str]] = [
    ("output folder that is an existing file",
     lambda folder: write_folder_at(_blocker(folder)), "exists and is not a folder"),
    ("output file inside a path that is a file",
     lambda folder: write_file_at(_blocker(folder) / "sub" / "out.toml"),
     "is a file, not a folder"),
    ("output file where a folder is",
     lambda folder: write_file_at(_taken_folder(folder)), "is a folder: give a file name"),
]


def write_folder_at(target: Path) -> None:
    with atomic_path(target, frozenset({"instance.toml"})) as staged:
        staged.mkdir()


def write_file_at(target: Path) -> None:
    with atomic_path(target) as staged:
        staged.write_text("x")


@pytest.mark.parametrize("spelling", ["toml", "json", "csv"])
@pytest.mark.parametrize(("case", "mutation", "fragments", "spellings"), HOSTILE_RULES,
                         ids=[r[0] for r in HOSTILE_RULES])
def test_hostile_rule_is_refused(base_document: dict, tmp_path: Path, spelling: str, case: str,
                                 mutation: Mutation, fragments: list[str],
                                 spellings: tuple[str, ...]) -> None:
    if spelling not in spellings:
        pytest.skip(f"{case} cannot be written in {spelling}")
    messages = refused_messages(base_document, mutation, fragments, spelling, tmp_path)
    assert all(m.isprintable() for m in messages), messages


@pytest.mark.parametrize(("case", "name", "text", "fragments"), HOSTILE_FILES,
                         ids=[f[0] for f in HOSTILE_FILES])
def test_hostile_file_is_refused(tmp_path: Path, case: str, name: str, text: str,
                                 fragments: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InstanceError) as caught:
        optimizer.load_instance(path)
    assert all(f in str(caught.value.problems[0]) for f in fragments), caught.value.problems


@pytest.mark.parametrize(("case", "mutation", "fragment"), HOSTILE_WARNINGS,
                         ids=[w[0] for w in HOSTILE_WARNINGS])
def test_hostile_value_is_warned_and_solved(base_document: dict, tmp_path: Path, case: str,
                                            mutation: Mutation, fragment: str) -> None:
    mutation(base_document)
    instance = optimizer.load_instance(write_spelling(base_document, "json", tmp_path))
    assert any(fragment in str(w) for w in instance.warnings), instance.warnings
    result = optimizer.solve(instance)
    assert result.status == "optimal" and result.objective is not None
    assert result.objective > 0 and not result.violations


@pytest.mark.parametrize(("case", "write", "fragment"), OUTPUT_CASES,
                         ids=[o[0] for o in OUTPUT_CASES])
def test_output_that_cannot_be_written_is_refused(tmp_path: Path, case: str,
                                                  write: Callable[[Path], object],
                                                  fragment: str) -> None:
    with pytest.raises(OutputError, match=fragment):
        write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    taken = tmp_path / "taken"
    assert (taken if taken.is_file() else taken / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("start", FORMULA_STARTS)
@pytest.mark.parametrize("table", ["assets", "stakes", "services"])
def test_formula_ids_refused_in_every_table(base_document: dict, tmp_path: Path, start: str,
                                            table: str) -> None:
    column = {"assets": "asset", "stakes": "stake", "services": "service"}[table]
    base_document[table][0][column] = f"  {start}1"  # spaces are stripped first
    with pytest.raises(InstanceError, match=f"may not start with '\\{start}'"):
        optimizer.load_instance(write_spelling(base_document, "toml", tmp_path))


def test_formula_character_inside_an_id_is_kept(base_document: dict, tmp_path: Path) -> None:
    base_document["stakes"][0]["stake"] = "a=b+c-d@e"
    instance = optimizer.load_instance(write_spelling(base_document, "toml", tmp_path))
    assert "a=b+c-d@e" in instance.stakes.index


# --- ids that round-trip through every spelling and every solution file ---------------------

ROUND_TRIP_IDS = ["a,b", 'say "hi"', "it's", "Ünïcødé-中文 ✓", "NA", "null", "nan", "007",
                  "1e3", "True", "x=1", "a b", "'quoted"]
"""Ids a careful user may write and expects back exactly: commas, quotes, non-ASCII, and
text that pandas or a CSV reader might take for a number, a boolean or a missing value."""


def round_trip_document() -> dict:
    """Every id of ROUND_TRIP_IDS as a stake, holder, service, group and (one) asset."""
    ids = ROUND_TRIP_IDS
    return {
        "instance": {"name": "ids"},
        "assets": [{"asset": ids[3], "price": 1.0}],
        "stakes": [{"stake": s, "holder": f"{s} ", "asset": ids[3], "amount": 10.0 + n}
                   for n, s in enumerate(ids)],
        "services": [{"service": s, "reward_rate": 0.01 + 0.001 * n, "groups": [ids[0]]}
                     for n, s in enumerate(ids)],
        "groups": [{"group": ids[0], "max_exposure": 1e9}],
    }


def restake(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``restake`` commands as subprocesses, side by side (each starts Python anew)."""
    started = [(command, subprocess.Popen([sys.executable, "-m", "optimizer", *command],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, cwd=ROOT)) for command in commands]
    done = []
    for command, process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


def read_column(file: Path, column: str) -> list[str]:
    with file.open(newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def test_ids_round_trip_through_every_spelling_and_solution_file(tmp_path: Path) -> None:
    source = write_toml(tmp_path / "ids.toml", round_trip_document())
    spelt = [tmp_path / "ids.json", tmp_path / "ids-csv"]
    back = [tmp_path / "back.toml", tmp_path / "back.json"]
    solution = tmp_path / "solution"
    # toml -> json and csv -> toml and json, and a solve, as a user would
    for done in restake(*[["convert", str(source), str(p)] for p in spelt],
                        ["solve", str(source), "--output", str(solution)]):
        assert done.returncode == 0, done.stderr
    for done in restake(*[["convert", str(a), str(b)] for a, b in zip(spelt, back, strict=True)]):
        assert done.returncode == 0 and done.stdout == "", done.stderr
    expected = set(ROUND_TRIP_IDS)
    for path in [source, *spelt, *back]:
        instance = optimizer.load_instance(path)
        assert set(instance.stakes.index) == expected, path
        assert set(instance.services.index) == expected, path
        assert set(instance.holders.index) == expected, path  # spaces stripped, as documented
        assert list(instance.assets.index) == [ROUND_TRIP_IDS[3]]
        assert list(instance.groups.index) == [ROUND_TRIP_IDS[0]]
    assert sorted(p.name for p in solution.iterdir()) == sorted(SOLUTION_FILES)
    allocation = read_allocation(solution)
    assert set(allocation["stake"]) == expected  # every stake is allocated
    assert set(allocation["holder"]) == expected and set(allocation["service"]) <= expected
    assert set(allocation["asset"]) == {ROUND_TRIP_IDS[3]}
    assert set(read_column(solution / "stakes.csv", "stake")) == expected
    assert set(read_column(solution / "services.csv", "service")) == expected
    assert set(read_column(solution / "holders.csv", "holder")) == expected
    for name in SOLUTION_FILES[:-1]:
        with (solution / name).open(newline="", encoding="utf-8") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not any(cell.startswith(FORMULA_STARTS) and not _is_number(cell)
                       for cell in cells), name


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_read_allocation_names_a_bad_number(tmp_path: Path) -> None:
    file = tmp_path / "allocation.csv"
    file.write_text("stake,service,fraction\nNA,007,0.5\nb,s,half\n", encoding="utf-8")
    with pytest.raises(InstanceError, match=r"allocation.csv row 3: fraction is 'half', not a"):
        read_allocation(file)
    file.write_text("stake,service,fraction\nNA,007,0.5\nnull,1e3,\n", encoding="utf-8")
    frame = read_allocation(file)
    assert list(frame["stake"]) == ["NA", "null"] and list(frame["service"]) == ["007", "1e3"]
    assert frame["fraction"].iloc[0] == 0.5 and frame["fraction"].isna().iloc[1]


# --- the command line: exit code 2, the reason on stderr, stdout clean, nothing written ------

def assert_refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert all(f in done.stderr for f in fragments), done.stderr


def test_cli_refuses_hostile_instances(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(HOSTILE_FILES[0][2])
    bad_id = copy.deepcopy(BASE)
    bad_id["stakes"][1]["stake"] = "=cmd|' /C calc'!A0"
    far = copy.deepcopy(BASE)
    far_apart(far)
    empty = copy.deepcopy(BASE)
    empty["services"] = []
    (tmp_path / "empty").mkdir()
    cases = [
        (deep, ["nests lists or tables hundreds of levels deep"]),
        (write_spelling(bad_id, "csv", tmp_path), ["stakes.csv row 3", "formula"]),
        (write_toml(tmp_path / "far.toml", far), ["more than 1e+12 times the median stake"]),
        (write_spelling(empty, "csv", tmp_path / "empty"),
         ["services.csv: the table 'services' has no rows"]),
    ]
    outputs = [tmp_path / f"out-{n}" for n in range(len(cases))]
    runs = restake(*[["solve", str(path), "--output", str(out)]
                     for (path, _), out in zip(cases, outputs, strict=True)])
    for done, (_, fragments), out in zip(runs, cases, outputs, strict=True):
        assert_refused(done, *fragments)
        assert not out.exists()


def test_cli_refuses_outputs_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = _blocker(tmp_path)
    folder, inside, solve = restake(["convert", TINY, str(blocker)],
                                    ["convert", TINY, str(blocker / "sub" / "x.toml")],
                                    ["solve", TINY, "--output", str(blocker / "sub")])
    assert_refused(folder, "exists and is not a folder")
    assert_refused(inside, "is a file, not a folder")
    assert_refused(solve, "taken")
    assert blocker.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_cli_warns_of_a_tiny_probability_and_solves(tmp_path: Path) -> None:
    document = copy.deepcopy(BASE)
    document["services"][0]["slash_probability"] = 1e-300
    (done,) = restake(["solve", str(write_toml(tmp_path / "tiny.toml", document)), "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "optimal"
    assert "warning: " in done.stderr and "slash_probability is 1e-300" in done.stderr


def test_bad_input_table_lists_every_hostile_case() -> None:
    text = (ROOT / "docs" / "bad-input.md").read_text(encoding="utf-8")
    cases = [r[0] for r in HOSTILE_RULES] + [f[0] for f in HOSTILE_FILES] + \
        [w[0] for w in HOSTILE_WARNINGS] + [o[0] for o in OUTPUT_CASES]
    missing = [case for case in cases if f"| {case} |" not in text]
    assert not missing, f"{missing}: run python docs/update_bad_input.py"
