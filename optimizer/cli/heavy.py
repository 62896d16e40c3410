"""Start-up cost of the modeling stack that the commands need not pay.

Pyomo registers a hook on the import of scipy that imports scipy.stats, scipy.integrate
and scipy.spatial as soon as any scipy module is imported after Pyomo (about a second;
scipy.stats alone is most of it). The model and the HiGHS adapter use scipy.sparse only,
so a command that builds a model drops the hook before the pipeline's first import.
Pyomo still imports those modules if it ever needs them: its deferred ``scipy`` resolves
on first use.
"""

from __future__ import annotations

import sys


def skip_scipy_submodules() -> None:
    """Stop Pyomo's scipy import hook from importing scipy.stats and its siblings.

    Nothing changes when scipy is already imported (the hook has run) or when Pyomo keeps
    its hooks elsewhere than ``DeferredImportCallbackFinder._callbacks``.
    """
    if "scipy" in sys.modules:
        return
    from pyomo.common.dependencies import DeferredImportCallbackFinder

    hooks = getattr(DeferredImportCallbackFinder, "_callbacks", None)
    if isinstance(hooks, dict):
        hooks.pop("scipy", None)
