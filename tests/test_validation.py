"""Every rule of the format's "Bad input": refused with file, row and column, in every spelling."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w

import optimizer
from optimizer.errors import InstanceError

Mutation = Callable[[dict], None]


def write_spelling(document: dict, spelling: str, folder: Path) -> Path:
    """Write a (possibly invalid) document as TOML, JSON or a CSV folder, by hand."""
    if spelling == "toml":
        path = folder / "bad.toml"
        path.write_text(tomli_w.dumps(document), encoding="utf-8")
        return path
    if spelling == "json":
        path = folder / "bad.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        return path
    path = folder / "bad"
    path.mkdir()
    head = {k: document[k] for k in ("instance", "parameters") if k in document}
    (path / "instance.toml").write_text(tomli_w.dumps(head), encoding="utf-8")
    for name, rows in document.items():
        if name in ("instance", "parameters"):
            continue
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        with (path / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])
    return path


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def stake(doc: dict, n: int = 1) -> dict:
    return doc["stakes"][n]


def set_value(table: str, row: int, column: str, value: object) -> Mutation:
    def mutate(doc: dict) -> None:
        doc[table][row][column] = value
    return mutate


def drop_column(table: str, column: str) -> Mutation:
    def mutate(doc: dict) -> None:
        for row in doc[table]:
            row.pop(column, None)
    return mutate


def add_rows(table: str, *rows: dict) -> Mutation:
    def mutate(doc: dict) -> None:
        doc.setdefault(table, []).extend(rows)
    return mutate


# (id, mutation, fragments every message must show, spellings where it applies)
RULES: list[tuple[str, Mutation, list[str], tuple[str, ...]]] = [
    ("negative amount", set_value("stakes", 1, "amount", -5.0),
     ["(stake=b-eigen)", "amount", "is -5", "must be >= 0"], ("toml", "json", "csv")),
    ("zero price", set_value("assets", 0, "price", 0.0),
     ["(asset=stETH)", "price", "must be > 0"], ("toml", "json", "csv")),
    ("text for a number", set_value("stakes", 1, "amount", "lots"),
     ["(stake=b-eigen)", "amount", "'lots', not a number"], ("toml", "json", "csv")),
    ("bool for a number", set_value("stakes", 1, "amount", True),
     ["(stake=b-eigen)", "amount", "not a number"], ("toml", "json")),
    ("infinite number", set_value("stakes", 0, "max_expected_loss", "inf"),
     ["(stake=a-steth)", "max_expected_loss", "must be finite"], ("csv",)),
    ("infinite TOML literal", set_value("stakes", 0, "max_expected_loss", float("inf")),
     ["(stake=a-steth)", "max_expected_loss", "must be finite"], ("toml",)),
    ("probability above one", set_value("services", 0, "slash_probability", 1.5),
     ["(service=s1)", "slash_probability", "must be in [0, 1]"], ("toml", "json", "csv")),
    ("zero attack threshold", set_value("services", 0, "attack_threshold", 0.0),
     ["(service=s1)", "attack_threshold", "in (0, 1]"], ("toml", "json", "csv")),
    ("per-service cap above one", set_value("stakes", 0, "max_per_service", 1.5),
     ["(stake=a-steth)", "max_per_service", "in [0, 1]"], ("toml", "json", "csv")),
    ("bad bool", set_value("services", 0, "required", "maybe"),
     ["(service=s1)", "required", "must be true or false"], ("toml", "json", "csv")),
    ("bad list", set_value("services", 1, "accepts", 5),
     ["(service=s2)", "accepts", "must be a list"], ("toml", "json")),
    ("duplicate id", set_value("stakes", 1, "stake", "a-steth"),
     ["(stake=a-steth)", "stake", "already used"], ("toml", "json", "csv")),
    ("missing id", set_value("stakes", 1, "stake", ""),
     ["stake", "is missing (required)"], ("toml", "json", "csv")),
    ("unknown asset", set_value("stakes", 1, "asset", "DOGE"),
     ["(stake=b-eigen)", "asset", "'DOGE'", "not in 'assets'"], ("toml", "json", "csv")),
    ("unknown accepted asset", set_value("services", 1, "accepts", ["stETH", "XYZ"]),
     ["(service=s2)", "accepts", "'XYZ'"], ("toml", "json", "csv")),
    ("unknown group", set_value("services", 1, "groups", ["bridges"]),
     ["(service=s2)", "groups", "'bridges'", "not in 'groups'"], ("toml", "json", "csv")),
    ("missing required column", drop_column("stakes", "amount"),
     ["amount", "is missing from 'stakes'"], ("toml", "json", "csv")),
    ("pool without external stake", set_value("services", 0, "reward_pool", 10.0),
     ["(service=s1)", "external_stake", "must be > 0 where reward_pool > 0"],
     ("toml", "json", "csv")),
    ("profit without slashing", set_value("services", 1, "profit_from_corruption", 10.0),
     ["(service=s2)", "slash_fraction", "profit_from_corruption > 0"], ("toml", "json", "csv")),
    ("eligibility with both holder and stake",
     add_rows("eligibility", {"holder": "a", "stake": "a-steth", "service": "s1",
                              "allowed": False}),
     ["eligibility", "gives both holder and stake"], ("toml", "json", "csv")),
    ("eligibility with neither", add_rows("eligibility", {"service": "s1", "allowed": True}),
     ["eligibility", "gives neither holder nor stake"], ("toml", "json", "csv")),
    ("eligibility unknown service",
     add_rows("eligibility", {"holder": "a", "service": "s9", "allowed": True}),
     ["(holder=a, service=s9)", "service", "'s9'"], ("toml", "json", "csv")),
    ("duplicate current row",
     add_rows("current", {"stake": "a-steth", "service": "s1", "fraction": 0.5},
              {"stake": "a-steth", "service": "s1", "fraction": 0.2}),
     ["(stake=a-steth, service=s1)", "repeats an earlier row"], ("toml", "json", "csv")),
    ("scenario probabilities do not sum to one",
     add_rows("scenarios", {"scenario": "w1", "probability": 0.5, "service": "s1",
                            "slash_fraction": 0.5}),
     ["probability", "sums to 0.5", "must sum to 1"], ("toml", "json", "csv")),
    ("scenario probability differs within a scenario",
     add_rows("scenarios", {"scenario": "w1", "probability": 0.5, "service": "s1"},
              {"scenario": "w1", "probability": 0.4, "service": "s2"},
              {"scenario": "w2", "probability": 0.5}),
     ["(scenario=w1", "differs between the rows"], ("toml", "json", "csv")),
    ("non-integer parameter", lambda doc: doc.update(parameters={"worst_case_k": 1.5}),
     ["[parameters]", "worst_case_k", "must be an integer"], ("toml", "json", "csv")),
    ("out-of-range parameter", lambda doc: doc.update(parameters={"cvar_alpha": 1.0}),
     ["[parameters]", "cvar_alpha", "in [0, 1)"], ("toml", "json", "csv")),
    ("non-integer holder cap", add_rows("holders", {"holder": "a", "max_services": 2.5}),
     ["(holder=a)", "max_services", "must be an integer"], ("toml", "json", "csv")),
    ("instance without a name", lambda doc: doc["instance"].pop("name"),
     ["[instance]", "name", "is missing"], ("toml", "json", "csv")),
    ("missing stakes table", lambda doc: doc.pop("stakes"),
     ["'stakes' is missing"], ("toml", "json", "csv")),
    ("empty required number", set_value("assets", 0, "price", None),
     ["(asset=stETH)", "price", "is missing (required)"], ("json", "csv")),
    # allowed is optional (a row may only bound its pair), but a row giving neither
    # allowed nor a bound says nothing: refused rather than read as a ban.
    ("eligibility row that says nothing",
     add_rows("eligibility", {"holder": "a", "service": "s1", "allowed": None}),
     ["(holder=a, service=s1)", "allowed", "it says nothing"], ("json", "csv")),
    ("pair minimum above the row's maximum",
     add_rows("eligibility", {"holder": "a", "service": "s1", "min_fraction": 0.5,
                              "max_fraction": 0.25}),
     ["(holder=a, service=s1)", "min_fraction", "is 0.5, above the row's max_fraction 0.25"],
     ("toml", "json", "csv")),
    ("pair minimum on a forbidden pair",
     add_rows("eligibility", {"stake": "a-steth", "service": "s1", "allowed": False,
                              "min_fraction": 0.5}),
     ["(stake=a-steth, service=s1)", "min_fraction", "forbids the pair"],
     ("toml", "json", "csv")),
    ("pair minimum on a pair that is not eligible",
     add_rows("eligibility", {"holder": "b", "service": "s2", "min_fraction": 0.1}),
     ["(holder=b, service=s2)", "min_fraction", "is 0.1", "stake b-eigen",
      "does not accept its asset EIGEN", "cannot be allocated to service s2"],
     ("toml", "json", "csv")),
    ("pair minimum above max_per_service",
     lambda doc: (doc["stakes"][0].update(max_per_service=0.5),
                  add_rows("eligibility", {"stake": "a-steth", "service": "s2",
                                           "min_fraction": 0.6})(doc)),
     ["(stake=a-steth, service=s2)", "min_fraction", "above the max_per_service 0.5"],
     ("toml", "json", "csv")),
    ("stake row minimum above the holder row's maximum",
     add_rows("eligibility", {"holder": "a", "service": "s2", "max_fraction": 0.2},
              {"stake": "a-steth", "service": "s2", "min_fraction": 0.3}),
     ["(stake=a-steth, service=s2)", "min_fraction", "above the max_fraction 0.2",
      "(holder=a, service=s2)"], ("toml", "json", "csv")),
    ("pair bound out of range",
     add_rows("eligibility", {"stake": "a-steth", "service": "s1", "max_fraction": 1.5}),
     ["(stake=a-steth, service=s1)", "max_fraction", "must be in [0, 1]"],
     ("toml", "json", "csv")),
    ("address that is not one", set_value("assets", 0, "eigenlayer_strategy", "0x93c4b9"),
     ["(asset=stETH)", "eigenlayer_strategy", "not an address"], ("toml", "json", "csv")),
    ("address whose mixed case fails its checksum",
     set_value("assets", 0, "eigenlayer_strategy", "0x93C4b944D05dfe6df7645A86cd2206016c51564D"),
     ["(asset=stETH)", "eigenlayer_strategy", "fails its EIP-55 checksum",
      "0x93c4b944D05dfe6df7645A86cd2206016c51564D"], ("toml", "json", "csv")),
    ("magnitude given as a float above 2^53",
     set_value("stakes", 0, "max_magnitude", 9.99e17),
     ["(stake=a-steth)", "max_magnitude", "cannot hold every whole number"], ("toml", "json")),
    ("huge integer parameter", lambda doc: doc.update(parameters={"worst_case_k": 1e30}),
     ["[parameters]", "worst_case_k", "must be at most"], ("toml", "json", "csv")),
    ("too many scenarios", lambda doc: doc.update(parameters={"scenario_count": 10**9}),
     ["[parameters]", "scenario_count", "must be in [1, 1e+06]"], ("toml", "json", "csv")),
    ("date for a number", set_value("assets", 0, "price", __import__("datetime").datetime(
        1979, 5, 27, 7, 32)), ["(asset=stETH)", "price", "not a number"], ("toml",)),
    ("empty accepts list", set_value("services", 1, "accepts", []),
     ["(service=s2)", "accepts", "empty list"], ("toml", "json")),
    ("id with a list separator", set_value("assets", 1, "asset", "LP;ETH"),
     ["asset", "'LP;ETH'", "may not"], ("toml", "json", "csv")),
    ("overflowing value", lambda doc: (doc["assets"][0].update(price=1e300),
                                       doc["stakes"][0].update(amount=1e300)),
     ["(stake=a-steth)", "too large to compute with"], ("toml", "json", "csv")),
    ("empty services table", lambda doc: doc.update(services=[]),
     ["services", "no rows"], ("toml", "json")),
]


def refused_messages(document: dict, mutation: Mutation, fragments: list[str],
                     spelling: str, folder: Path) -> list[str]:
    """Load ``document`` changed by ``mutation`` and written in ``spelling``; the problems.

    Asserts that it is refused with an ``InstanceError`` one of whose messages holds every
    fragment.
    """
    mutation(document)
    path = write_spelling(document, spelling, folder)
    with pytest.raises(InstanceError) as caught:
        optimizer.load_instance(path)
    messages = [str(p) for p in caught.value.problems]
    assert any(all(f in m for f in fragments) for m in messages), messages
    return messages


@pytest.mark.parametrize("spelling", ["toml", "json", "csv"])
@pytest.mark.parametrize(("rule", "mutation", "fragments", "spellings"), RULES,
                         ids=[r[0] for r in RULES])
def test_rule_is_enforced(base_document: dict, tmp_path: Path, spelling: str, rule: str,
                          mutation: Mutation, fragments: list[str],
                          spellings: tuple[str, ...]) -> None:
    if spelling not in spellings:
        pytest.skip(f"{rule} cannot be written in {spelling}")
    messages = refused_messages(base_document, mutation, fragments, spelling, tmp_path)
    # Every message names its file (or the instance head of a CSV folder).
    names = {"toml": "bad.toml", "json": "bad.json", "csv": ".csv"}
    assert all(names[spelling] in m or "instance.toml" in m or "scenarios" in m
               for m in messages), messages


def test_csv_messages_give_spreadsheet_rows(base_document: dict, tmp_path: Path) -> None:
    base_document["stakes"][1]["amount"] = -5
    path = write_spelling(base_document, "csv", tmp_path)
    with pytest.raises(InstanceError) as caught:
        optimizer.load_instance(path)
    assert str(caught.value.problems[0]) == (
        "stakes.csv row 3 (stake=b-eigen): amount is -5, must be >= 0")


def test_every_problem_is_reported_at_once(base_document: dict, tmp_path: Path) -> None:
    base_document["stakes"][0]["amount"] = -1
    base_document["services"][1]["slash_probability"] = 2
    base_document["assets"][1]["price"] = "x"
    path = write_spelling(base_document, "toml", tmp_path)
    with pytest.raises(InstanceError) as caught:
        optimizer.load_instance(path)
    columns = {p.column for p in caught.value.problems}
    assert {"amount", "slash_probability", "price"} <= columns


@pytest.mark.parametrize(("text", "fragment"), [
    ("[instance\nname = 'x'", "is not valid TOML"),
    ("name = = 1", "is not valid TOML"),
])
def test_unparseable_toml(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(InstanceError, match=fragment):
        optimizer.load_instance(path)


def test_json_constants_and_syntax(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"instance": {"name": "x"}, "assets": [{"asset": "a", "price": NaN}]}')
    with pytest.raises(InstanceError, match="NaN is not allowed"):
        optimizer.load_instance(path)
    path.write_text('{"instance": ')
    with pytest.raises(InstanceError, match="is not valid JSON"):
        optimizer.load_instance(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InstanceError, match="does not exist"):
        optimizer.load_instance(tmp_path / "nope.toml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstanceError, match="has no instance.toml"):
        optimizer.load_instance(tmp_path / "empty")


def test_csv_ragged_row(base_document: dict, tmp_path: Path) -> None:
    path = write_spelling(base_document, "csv", tmp_path)
    stakes = path / "stakes.csv"
    stakes.write_text(stakes.read_text() + "c-steth,c,stETH,5,extra\n")
    with pytest.raises(InstanceError, match=r"stakes.csv row 4: has 5 fields, the header has 4"):
        optimizer.load_instance(path)


def test_csv_wrong_delimiter(base_document: dict, tmp_path: Path) -> None:
    path = write_spelling(base_document, "csv", tmp_path)
    stakes = path / "stakes.csv"
    stakes.write_text(stakes.read_text().replace(",", ";"))
    with pytest.raises(InstanceError, match="separated by ';'"):
        optimizer.load_instance(path)


def test_csv_bom_and_quoted_numbers_are_read(base_document: dict, tmp_path: Path) -> None:
    path = write_spelling(base_document, "csv", tmp_path)
    stakes = path / "stakes.csv"
    text = stakes.read_text().replace("100.0", '"100.0"')
    stakes.write_bytes(b"\xef\xbb\xbf" + text.encode())
    instance = optimizer.load_instance(path)
    assert instance.stakes.loc["a-steth", "amount"] == 100.0


def test_suspicious_values_warn_not_refuse(base_document: dict, tmp_path: Path) -> None:
    base_document["stakes"][0]["amount"] = 1e20
    base_document["services"][0]["slash_probability"] = 0.9
    path = write_spelling(base_document, "toml", tmp_path)
    instance = optimizer.load_instance(path)
    text = "\n".join(str(w) for w in instance.warnings)
    assert "wei" in text and "more likely than not" in text


def test_from_frames_validates_like_files() -> None:
    import pandas as pd

    with pytest.raises(InstanceError, match=r"stakes row 1 \(stake=x\): amount is -1"):
        optimizer.Instance.from_frames(
            assets=pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
            stakes=pd.DataFrame({"stake": ["x"], "holder": ["h"], "asset": ["ETH"],
                                 "amount": [-1.0]}),
            services=pd.DataFrame({"service": ["s"]}))


def test_defaults_are_applied(base_document: dict, tmp_path: Path) -> None:
    instance = optimizer.load_instance(write_spelling(base_document, "toml", tmp_path))
    service = instance.services.loc["s1"]
    assert service["accepts"] == "*" and service["groups"] == ()
    assert service["attack_threshold"] == pytest.approx(1 / 3)
    assert math.isnan(service["capacity"]) and not service["required"]
    stake_row = instance.stakes.loc["a-steth"]
    assert stake_row["max_restaking"] == 1.0 and stake_row["max_per_service"] == 1.0
    assert instance.parameters.worst_case_k == 1 and instance.parameters.cvar_alpha == 0.95
    assert list(instance.holders.index) == ["a", "b"]  # implied by the stakes
    assert instance.stake_value["b-eigen"] == pytest.approx(50.0)


def _float_columns() -> list:
    from optimizer.instance.columns import PARAMETERS, TABLES

    columns = [c for table in TABLES.values() for c in table.columns] + list(PARAMETERS)
    return [c for c in columns if c.kind in ("float", "int")]


@pytest.mark.parametrize("column", _float_columns(), ids=lambda c: c.name)
def test_plain_numbers_are_typed_as_the_cell_by_cell_path_types_them(
        column, monkeypatch: pytest.MonkeyPatch) -> None:
    # The numpy path for columns of plain legal numbers must give exactly what the
    # cell-by-cell path gives (which also handles every bad cell).
    import math

    import numpy as np
    import pandas as pd

    from optimizer.instance import cells

    low = column.low if column.low is not None else -5.0
    high = column.high if column.high is not None else low + 10.0
    inside = [low + (high - low) * t for t in (0.25, 0.5, 0.75)]
    if column.kind == "int":
        inside = [int(math.ceil(low)) + k for k in range(3) if math.ceil(low) + k <= high]
    samples = [inside, [*inside, float("nan")], [inside[0]]]
    assert cells._plain_numbers(pd.Series(inside, dtype=object), column) is not None
    for cells_given in samples:
        series = pd.Series(cells_given, dtype=object)
        fast = cells.convert_cells(series, column)
        with monkeypatch.context() as patched:
            patched.setattr(cells, "_plain_numbers", lambda *args: None)
            slow = cells.convert_cells(series, column)
        assert fast[0].dtype == slow[0].dtype, column.name
        np.testing.assert_array_equal(fast[0].to_numpy(), slow[0].to_numpy())
        assert fast[1].tolist() == slow[1].tolist()
