"""Check of the portfolio's tail risk: MODEL.md family 9, CVaR_alpha <= B."""

from __future__ import annotations

import numpy as np

from optimizer.results.checks.base import Violation, broken_values
from optimizer.results.checks.context import Context


def cvar_limit(context: Context) -> list[Violation]:
    """Family 9: the exact CVaR_alpha of the scenario losses <= B (``cvar_limit``).

    One row, ``portfolio``, in numeraire; nothing to check when the instance does not
    use CVaR or sets no limit.
    """
    if context.cvar is None:
        return []
    limit = context.instance.parameters.cvar_limit
    return broken_values("cvar_limit", ["portfolio"], np.array([context.cvar]),
                         np.array([np.nan if limit is None else limit]))
