"""A name the format does not know is refused, with the closest known one, unless allowed.

A misspelt column (``slash_probabilty``) used to be ignored with a warning, so the
service was solved as risk-free; a misspelt ``max_expected_los`` dropped a loss budget.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optimizer
from optimizer.errors import InstanceError

from .test_validation import write_spelling

RESTAKE = str(Path(sys.executable).parent / "restake")


def problems_of(path: Path, **options: bool) -> list[str]:
    with pytest.raises(InstanceError) as caught:
        optimizer.load_instance(path, **options)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(("spelling", "where"), [
    ("toml", "bad.toml services[1] (service=s1)"),
    ("json", "bad.json services[1] (service=s1)"),
    ("csv", "services.csv row 1"),
])
def test_misspelt_column_is_refused_with_the_closest_name(base_document: dict, tmp_path: Path,
                                                          spelling: str, where: str) -> None:
    service = base_document["services"][0]
    service["slash_probabilty"] = service.pop("slash_probability")
    base_document["stakes"][1]["max_expected_los"] = 0.001
    found = problems_of(write_spelling(base_document, spelling, tmp_path))
    assert f"{where}: slash_probabilty is not a column of 'services' (did you mean " \
           "slash_probability?)" in found
    stake_where = "stakes.csv row 1" if spelling == "csv" else \
        f"bad.{spelling} stakes[2] (stake=b-eigen)"
    assert f"{stake_where}: max_expected_los is not a column of 'stakes' (did you mean " \
           "max_expected_loss?)" in found
    assert len(found) == 2


def test_unknown_parameter_and_instance_key(base_document: dict, tmp_path: Path) -> None:
    base_document["parameters"] = {"scenario_cout": 50, "name": "x"}
    base_document["instance"]["worst_case_k"] = 2
    base_document["instance"]["Numeraire"] = "BTC"
    found = problems_of(write_spelling(base_document, "toml", tmp_path))
    assert found == [
        "bad.toml [instance]: worst_case_k is not a key of [instance] (it is a parameter: put "
        "it in [parameters])",
        "bad.toml [instance]: Numeraire is not a key of [instance] (did you mean numeraire?)",
        "bad.toml [parameters]: scenario_cout is not a parameter (did you mean scenario_count?)",
        "bad.toml [parameters]: name is not a parameter (it is a key of [instance])",
    ]


def test_column_of_another_table_and_one_like_no_column(base_document: dict,
                                                        tmp_path: Path) -> None:
    base_document["services"][1]["max_expected_loss"] = 0.01
    base_document["assets"][0]["colour"] = "blue"
    found = problems_of(write_spelling(base_document, "toml", tmp_path))
    assert "bad.toml services[2] (service=s2): max_expected_loss is not a column of " \
           "'services' (it is a column of 'stakes')" in found
    assert "bad.toml assets[1] (asset=stETH): colour is not a column of 'assets' (if it is " \
           "there on purpose, allow extra columns: --allow-extra-columns, or " \
           "allow_extra_columns=True in Python)" in found


@pytest.mark.parametrize("spelling", ["toml", "json", "csv"])
def test_unknown_table_is_refused(base_document: dict, tmp_path: Path, spelling: str) -> None:
    base_document["group"] = [{"group": "g", "max_exposure": 0.5}]
    found = problems_of(write_spelling(base_document, spelling, tmp_path))
    where = "group.csv" if spelling == "csv" else f"bad.{spelling}"
    assert found == [f"{where}: 'group' is not a table of the format (did you mean groups?)"]


def test_from_frames_refuses_unknown_columns_and_parameters() -> None:
    frames = {
        "assets": pd.DataFrame({"asset": ["ETH"], "price": [1.0]}),
        "stakes": pd.DataFrame({"stake": ["x"], "holder": ["h"], "asset": ["ETH"],
                                "amount": [1.0]}),
        "services": pd.DataFrame({"service": ["s"], "reward_rate": [0.1],
                                  "slash_probabilty": [0.5], "slash_fraction": [1.0]}),
    }
    with pytest.raises(InstanceError) as caught:
        optimizer.Instance.from_frames(**frames, parameters={"risk_aversoin": 1.0})
    assert [str(p) for p in caught.value.problems] == [
        "instance [parameters]: risk_aversoin is not a parameter (did you mean risk_aversion?)",
        "services frame: slash_probabilty is not a column of 'services' (did you mean "
        "slash_probability?)",
    ]
    instance = optimizer.Instance.from_frames(**frames, parameters={"risk_aversoin": 1.0},
                                              allow_extra_columns=True)
    assert instance.parameters.risk_aversion == 0.0
    assert "slash_probabilty is not a column of 'services': ignored (did you mean " \
           "slash_probability?)" in [str(w).split(": ", 1)[1] for w in instance.warnings]


@pytest.mark.parametrize("spelling", ["toml", "json", "csv"])
def test_the_switch_ignores_extras_with_a_warning(base_document: dict, tmp_path: Path,
                                                  spelling: str) -> None:
    base_document["stakes"][0]["note"] = "kept for the back office"
    base_document["parameters"] = {"desk": "east"}
    base_document["memo"] = [{"text": "hello"}]
    path = write_spelling(base_document, spelling, tmp_path)
    instance = optimizer.load_instance(path, allow_extra_columns=True)
    warnings = "\n".join(str(w) for w in instance.warnings)
    assert "note is not a column of 'stakes': ignored" in warnings
    assert "desk is not a parameter: ignored" in warnings
    assert "'memo' is not a table of the format: ignored" in warnings
    (tmp_path / "clean").mkdir()
    clean = optimizer.load_instance(write_spelling(_without_extras(base_document), spelling,
                                                   tmp_path / "clean"))
    pd.testing.assert_frame_equal(instance.stakes, clean.stakes)
    assert instance.parameters == clean.parameters


def _without_extras(document: dict) -> dict:
    clean = {k: v for k, v in document.items() if k not in ("memo", "parameters")}
    clean["stakes"] = [{k: v for k, v in row.items() if k != "note"} for row in clean["stakes"]]
    return clean


def test_cli_exit_2_with_the_suggestion_and_the_switch(base_document: dict,
                                                       tmp_path: Path) -> None:
    service = base_document["services"][0]
    service["slash_probabilty"] = service.pop("slash_probability")
    path = write_spelling(base_document, "toml", tmp_path)
    out = tmp_path / "out"
    for command in (["validate", str(path)], ["solve", str(path), "-o", str(out)]):
        done = subprocess.run([RESTAKE, *command], capture_output=True, text=True, check=False)
        assert done.returncode == 2 and done.stdout == ""
        assert "bad.toml services[1] (service=s1): slash_probabilty is not a column of " \
               "'services' (did you mean slash_probability?)" in done.stderr
        assert "Traceback" not in done.stderr and not out.exists()
    done = subprocess.run([RESTAKE, "validate", str(path), "--allow-extra-columns"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith(f"{path}: valid: 2 stakes")
    assert "warning: bad.toml services[1] (service=s1): slash_probabilty is not a column of " \
           "'services': ignored (did you mean slash_probability?)" in done.stderr
