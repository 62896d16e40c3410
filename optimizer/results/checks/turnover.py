"""Check of the turnover against the current allocation: MODEL.md family 10."""

from __future__ import annotations

import numpy as np

from optimizer.results.checks.base import Violation, broken_values
from optimizer.results.checks.context import Context


def turnover_limit(context: Context) -> list[Violation]:
    """Family 10: sum V_i |x_{i,s} - x0_{i,s}| <= T (``turnover_limit``).

    One row, ``portfolio``, in numeraire; nothing to check when no limit is set.
    """
    limit = context.instance.parameters.turnover_limit
    if limit is None:
        return []
    return broken_values("turnover_limit", ["portfolio"], np.array([context.moved]),
                         np.array([limit]))
