"""The solution folder's tables are the ones declared in the outputs' data dictionary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import optimizer
from optimizer.instance.generate import generate_instance
from optimizer.instance.outputs import OUTPUT_TABLES


def test_solution_files_have_exactly_the_declared_columns(tmp_path: Path) -> None:
    instance = generate_instance(30, 6, seed=4, holder_share=True, pools=0.3, turnover=True)
    result = optimizer.solve(instance)
    assert result.status == "optimal"
    result.to_dir(tmp_path / "out")
    for file, table in OUTPUT_TABLES.items():
        written = pd.read_csv(tmp_path / "out" / file)
        assert list(written.columns) == [column.name for column in table.columns], file
        assert len(written) > 0, file
    assert {"reward", "expected_loss"} <= set(result.stakes.columns)


def test_an_undeclared_column_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = optimizer.solve(generate_instance(10, 3, seed=1))
    result.stakes = result.stakes.assign(extra=1.0)
    with pytest.raises(AssertionError, match="declared"):
        result.to_dir(tmp_path / "out")
    assert not (tmp_path / "out").exists()
