from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ROOT / "instances"


def instance_index() -> list[dict[str, str]]:
    with (INSTANCES / "index.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


BASE = {
    "instance": {"name": "base"},
    "assets": [{"asset": "stETH", "price": 1.0}, {"asset": "EIGEN", "price": 0.001}],
    "stakes": [
        {"stake": "a-steth", "holder": "a", "asset": "stETH", "amount": 100.0},
        {"stake": "b-eigen", "holder": "b", "asset": "EIGEN", "amount": 50000.0},
    ],
    "services": [
        {"service": "s1", "reward_rate": 0.05, "slash_probability": 0.01,
         "slash_fraction": 0.5},
        {"service": "s2", "reward_rate": 0.03, "accepts": ["stETH"]},
    ],
}


@pytest.fixture
def base_document() -> dict:
    import copy

    return copy.deepcopy(BASE)


def write_toml(path: Path, document: dict) -> Path:
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


# Property tests: a few examples per run in CI, many with HYPOTHESIS_PROFILE=long.
settings.register_profile("ci", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
